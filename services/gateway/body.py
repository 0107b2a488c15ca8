"""Reading a request body: bounded in size and time, decoded within the limits, normalized, validated.

Decoding and validation of a body past a few KiB run on a small pool of threads of their own, so that a
body at the limits never holds the event loop: other requests (`GET /agents`) are answered meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from srcnet_eb.shared.model import error, normalize_request

from .wire import media
from .wire.limits import IntakeError, Limits
from .problems import Problem, from_validation

M = TypeVar("M", bound=BaseModel)
# Two: one per core here; more would only share the same CPU (and the GIL) with the event loop.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="intake")
# Bodies up to this size are read on the event loop itself: a typical request (1-2 KiB) in ~0.3 ms, the
# worst 2 KiB (a YAML flow list of 1000 values) in ~1.2 ms; the hop to the pool costs a good part of that.
INLINE_BYTES = 2048


def _too_large(limit: int) -> Problem:
    return Problem.field(413, "Request body too large", "body", f"larger than {limit} bytes")


async def read_limited(request: Request, limit: int, timeout: float | None = None) -> bytes:
    """The whole body, refused (413) past `limit` bytes and (408) when not all sent within `timeout`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        # The connection cannot carry another request (its body is half read): close it.
        reason = f"not received within {timeout:g} s ({size} of {declared or 'unknown'} bytes came)"
        raise Problem(408, "Request body not received in time", [error("{field}: {reason}", field="body",
                      reason=reason)], headers={"Connection": "close"}) from None
    return b"".join(chunks)


def request_media(request: Request) -> str:
    found = media.content_type(request.headers.get("content-type"))
    if found is None:
        raise Problem.field(
            415, "Unsupported media type", "Content-Type",
            f"'{request.headers.get('content-type')}' is not one of {media.JSON}, {media.YAML}, {media.XML}",
        )
    return found


def response_media(request: Request) -> str:
    found = media.negotiate(request.headers.get("accept"))
    if found is None:
        raise Problem.field(
            406, "Not acceptable", "Accept",
            f"'{request.headers.get('accept')}' matches none of {media.JSON}, {media.YAML}, {media.XML}",
        )
    return found


def _intake(raw: bytes, kind: str, model: type[M], limits: Limits, normalize: Callable[[Any], Any]) -> M:
    try:
        doc = media.decode(raw, kind, limits)
    except IntakeError as exc:
        title = "Malformed request body" if exc.status == 400 else "The request is not valid"
        raise Problem.field(exc.status, title, exc.field, exc.reason) from None
    if not isinstance(doc, dict):
        raise Problem.field(422, "The request is not valid", "body", "must be an object (a mapping of fields)")
    try:
        return model.model_validate(normalize(doc))
    except ValidationError as exc:
        raise from_validation(exc) from None


async def parse_request(request: Request, model: type[M], limit: int,
                        normalize: Callable[[Any], Any] = normalize_request) -> M:
    kind = request_media(request)
    settings = request.app.state.gateway.settings
    raw = await read_limited(request, limit, settings.body_timeout)
    if len(raw) <= INLINE_BYTES:  # a typical request: parsed in well under a millisecond, cheaper than the hop
        return _intake(raw, kind, model, Limits.of(settings), normalize)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, _intake, raw, kind, model, Limits.of(settings), normalize)
