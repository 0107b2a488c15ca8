"""Structured 4xx answers: IVOA `messages[]` naming the field, in the negotiated media type."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as SQLTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from srcnet_eb.shared.model import Message, error
from srcnet_eb.shared.store.pg_lane import UNAVAILABLE as PG_UNAVAILABLE

from . import problem_page
from .wire import media


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer."""

    status: int
    title: str
    messages: list[Message]


class Problem(Exception):
    def __init__(self, status: int, title: str, messages: Sequence[Message],
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.messages = list(messages)
        self.headers = headers  # e.g. WWW-Authenticate on a 401

    @classmethod
    def field(cls, status: int, title: str, field: str, reason: str) -> Problem:
        return cls(status, title, [error("{field}: {reason}", field=field, reason=reason)])


def field_path(loc: Iterable[Any]) -> str:
    """pydantic's error location as a field path, without the union tags it inserts."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and ("://" in part or part == "unknown"):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def from_validation(exc: ValidationError | RequestValidationError, prefix: str = "") -> Problem:
    messages = []
    for err in exc.errors():
        where = field_path(err["loc"])
        where = f"{prefix}{where}" if prefix and where != "body" else where
        reason = err["msg"].removeprefix("Value error, ")
        messages.append(error("{field}: {reason}", field=where, reason=reason))
    return Problem(422, "The request is not valid", messages)


def render(problem: Problem, request: Request) -> Response:
    if problem_page.wanted(request.method, request.headers.get("accept")):  # a person's browser opened an API URL
        gw = getattr(request.app.state, "gateway", None)
        base = gw.base_url(request) if gw else str(request.base_url).rstrip("/")
        return Response(problem_page.page(problem.status, problem.title, problem.messages, base),
                        status_code=problem.status, media_type=problem_page.HTML, headers=problem.headers)
    accept = media.negotiate(request.headers.get("accept")) or media.JSON
    body = ErrorResponse(status=problem.status, title=problem.title, messages=problem.messages)
    doc = body.model_dump(mode="json", exclude_none=True)
    return Response(media.encode(doc, accept, "error"), status_code=problem.status, media_type=accept,
                    headers=problem.headers)


async def on_problem(request: Request, exc: Problem) -> Response:
    return render(exc, request)


async def on_request_validation(request: Request, exc: RequestValidationError) -> Response:
    return render(from_validation(exc), request)


async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
    field = "path" if exc.status_code in (404, 405) else "request"
    problem = Problem.field(exc.status_code, str(exc.detail), field, str(exc.detail))
    problem.headers = dict(exc.headers) if exc.headers else None  # 405: Allow, as RFC 9110 requires
    allowed = _allowed(request) if exc.status_code == 405 else None
    if allowed:  # every method of the path (Starlette names only those of the first route matching it)
        problem.headers = (problem.headers or {}) | {"Allow": ", ".join(allowed)}
    return render(problem, request)


def _allowed(request: Request) -> list[str]:
    """From the OpenAPI document, whose paths are every route's (several routers may share a path)."""
    path = request.url.path
    methods = {method.upper() for template, item in request.app.openapi().get("paths", {}).items()
               if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path) for method in item}
    return sorted(methods)


async def on_store_unavailable(request: Request, exc: Exception) -> Response:
    # The database restarting or unreachable is a passing condition of the service, not a bug: 503.
    if isinstance(exc, (IntegrityError, ProgrammingError, DataError)):  # those are ours
        return await on_unexpected(request, exc)
    reason = error("The database is unavailable, try again shortly: {kind}", kind=type(exc).__name__)
    response = render(Problem(503, "Store unavailable", [reason]), request)
    response.headers["Retry-After"] = "1"
    return response


async def on_unexpected(request: Request, exc: Exception) -> Response:
    # Last resort: still structured, and it says the fault is ours.
    return render(Problem(500, "Internal error", [error("internal error: {kind}", kind=type(exc).__name__)]), request)


def install(app) -> None:
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # sqlite3.OperationalError, PG_UNAVAILABLE: the hot paths (store/sqlite_lane.py, store/pg_lane.py) run
    # without SQLAlchemy's wrapping.
    for unavailable in (DBAPIError, DisconnectionError, SQLTimeoutError, ConnectionError, sqlite3.OperationalError,
                        *PG_UNAVAILABLE):
        app.add_exception_handler(unavailable, on_store_unavailable)
    app.add_exception_handler(Exception, on_unexpected)
