"""HTTP face of the Skaha stand-in: Skaha's ``/skaha/v1`` API plus ``/standin`` controls.

Payload shapes mirror opencadc/science-platform (skaha): image/GetAction +
image/Image, context/LimitRangeResourceContext, session/Session +
SessionBuilder, session/PostAction and webapp/service.yaml.  Errors are
text/plain, like the CADC REST framework Skaha runs on.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from .config import SkahaStandInConfig
from .session_table import PENDING, RUNNING, SessionError, SessionStore


class Outage(BaseModel):
    down: bool
    status_code: int = 503


class Faults(BaseModel):
    malformed: bool = False  # image/context answer 200 with a non-JSON body
    delay_seconds: float = 0.0  # every /skaha answer is delayed (client timeouts)


def _text(status: int, message: str) -> PlainTextResponse:
    return PlainTextResponse(message + "\n", status_code=status)


def create_app(config: SkahaStandInConfig) -> FastAPI:
    app = FastAPI(title="Skaha stand-in (not Skaha)", docs_url=None, redoc_url=None)
    store = SessionStore(config)
    counts: Counter[str] = Counter()
    outage = Outage(down=False)
    faults = Faults()
    app.state.store = store  # handy for in-process tests

    @app.middleware("http")
    async def skaha_gate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if not path.startswith("/skaha/"):
            return await call_next(request)
        # Count what arrives, even failures, so tests can see every client call.
        parts = path.split("/")
        counts[parts[3] if len(parts) > 3 else "other"] += 1
        counts["total"] += 1
        if faults.delay_seconds > 0:
            await asyncio.sleep(faults.delay_seconds)
        if outage.down:
            return _text(outage.status_code, "Service busy (stand-in outage)")
        if config.token is not None:
            auth = request.headers.get("authorization", "")
            if auth != f"Bearer {config.token}":
                return _text(401, "NotAuthenticatedException: missing or invalid bearer token")
        return await call_next(request)

    # --- Skaha v1 ------------------------------------------------------------
    @app.get("/skaha/v1/image", response_model=None)
    async def images(type: str | None = None) -> Response:
        if faults.malformed:
            return Response("<html>proxy error</html>", media_type="application/json")
        return JSONResponse([
            i.model_dump() for i in config.images if type is None or type in i.types
        ])

    @app.get("/skaha/v1/context", response_model=None)
    async def context() -> Response:
        if faults.malformed:
            return Response('{"cores": ', media_type="application/json")
        return JSONResponse({
            "cores": _range(config.cores_default, config.cores_options),
            "memoryGB": _range(config.memory_default, config.memory_options),
            # Skaha emits only options for GPUs, [] when the site has none.
            "gpus": {"options": sorted(config.gpu_options)},
            "maxInteractiveSessions": config.max_interactive_sessions,
        })

    @app.get("/skaha/v1/session", response_model=None)
    async def list_sessions(
        type: str | None = None, status: str | None = None, view: str | None = None
    ) -> Response:
        if view == "stats":
            return JSONResponse(store.stats())
        store.tick()
        chosen = [
            s for s in store.sessions.values()
            if (type is None or s.type == type)
            and (status is None or s.status.lower() == status.lower())
        ]
        if view == "all":  # other users' sessions, reduced to PublicSession
            return JSONResponse([
                {"userid": config.userid, "type": s.type, "status": s.status,
                 "startTime": store.to_json(s)["startTime"]}
                for s in chosen
            ])
        return JSONResponse([store.to_json(s) for s in chosen])

    @app.post("/skaha/v1/session", response_model=None)
    async def create_session(request: Request) -> Response:
        session = store.create(await _params(request))
        return PlainTextResponse(session.id + "\n")  # Skaha answers the bare ID

    @app.get("/skaha/v1/session/{sid}", response_model=None)
    async def get_session(sid: str) -> Response:
        return JSONResponse(store.to_json(store.get(sid)))

    @app.post("/skaha/v1/session/{sid}", response_model=None)
    async def session_action(sid: str, request: Request) -> Response:
        action = (await _params(request)).get("action", [""])[0]
        if not action:
            return _text(400, "Cannot modify an existing session")
        if action.lower() != "renew":
            return _text(400, "unrecognized action")
        store.renew(sid)
        return Response(status_code=200)

    @app.delete("/skaha/v1/session/{sid}", response_model=None)
    async def delete_session(sid: str) -> Response:
        store.delete(sid)
        return Response(status_code=200)

    @app.exception_handler(SessionError)
    async def session_error(_: Request, exc: SessionError) -> Response:
        return _text(exc.status, exc.message)

    # --- stand-in controls (not part of Skaha) -----------------------------
    @app.get("/standin/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/standin/outage")
    async def set_outage(body: Outage) -> Outage:
        outage.down, outage.status_code = body.down, body.status_code
        return outage

    @app.post("/standin/faults")
    async def set_faults(body: Faults) -> Faults:
        faults.malformed, faults.delay_seconds = body.malformed, body.delay_seconds
        return faults

    @app.get("/standin/sessions/{sid}")
    async def launched(sid: str) -> dict[str, Any]:
        """What a session was launched with (Skaha shows no cmd/args back): the pod's command and args
        as Skaha builds them (`args` split on single spaces)."""
        s = store.sessions.get(sid)
        if s is None:
            raise SessionError(404, f"session {sid} not found")
        return {"id": s.id, "type": s.type, "image": s.image, "command": [s.cmd] if s.cmd else None,
                "args": s.args.split(" ") if s.args is not None else None, "env": s.env}

    @app.get("/standin/stats")
    async def stats() -> dict[str, Any]:
        active = sum(s.status in (PENDING, RUNNING) for s in store.sessions.values())
        return {
            "image": counts["image"], "context": counts["context"],
            "session": counts["session"], "total": counts["total"],
            "active_sessions": active,
        }

    return app


def _range(default: int, options: list[int]) -> dict[str, Any]:
    # Newest Skaha (LimitRange-based) shape; default == defaultRequest there.
    return {
        "default": default,
        "defaultRequest": default,
        "defaultLimit": max(options),
        "options": sorted(options),
    }


async def _params(request: Request) -> dict[str, list[str]]:
    """Query and form parameters merged, as Skaha's SyncInput sees them."""
    merged: dict[str, list[str]] = {}
    pairs = list(request.query_params.multi_items())
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        pairs += parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
    for key, value in pairs:
        merged.setdefault(key, []).append(value)
    return merged
