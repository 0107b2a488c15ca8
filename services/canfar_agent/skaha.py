"""Async client for a CANFAR Skaha science platform (v1 REST API).

Shapes follow opencadc/science-platform (skaha): ``GET /v1/image`` is a JSON
array of ``{id, types, digest}``; ``GET /v1/context`` is
``{cores: {default, defaultRequest, defaultLimit, options}, memoryGB: {...},
gpus: {options}, maxInteractiveSessions}`` (2021 releases used flat
``defaultCores/availableCores/defaultRAM/availableRAM``); sessions are created
with form parameters and answered with the bare session ID in text/plain. What it answers, as
types: skaha_types.py; as read off the wire: skaha_wire.py.

Failure policy: anything that means "this Skaha cannot serve us right now"
(connect error, timeout, 5xx, 401/403, malformed payload) raises
``SkahaUnavailable``; a 4xx refusal of one particular request raises
``SkahaRejected``.  Nothing else escapes, and no call outlives ``timeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError
from srcnet_eb.shared.platform.cache import Cached
from srcnet_eb.shared.tracing.instrument import instrument_http_client

from .skaha_types import (
    SkahaContext,
    SkahaImage,
    SkahaRejected,
    SkahaSession,
    SkahaUnavailable,
)
from .skaha_wire import (
    IMAGES,
    SESSIONS,
    WireContext,
    WireSession,
    default_of,
    session_of,
)

T = TypeVar("T")


class SkahaClient:
    """One Skaha service, e.g. ``SkahaClient("https://ws-uv.canfar.net/skaha", token)``.

    ``base_url`` may also be the bare host (``https://ws-uv.canfar.net``, Skaha's
    default ``/skaha`` is then assumed) or end in ``/skaha/v1``.
    """

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 5.0,
                 cache_ttl: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = _service_url(base_url)
        self._timeout = timeout
        self._http = instrument_http_client(httpx.AsyncClient(base_url=self.base_url + "/", headers=headers,
                                                              timeout=httpx.Timeout(timeout), transport=transport))
        self._images = Cached(cache_ttl, self._fetch_images)
        self._context = Cached(cache_ttl, self._fetch_context)

    async def __aenter__(self) -> SkahaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def invalidate_cache(self) -> None:
        self._images.clear()
        self._context.clear()

    # --- discovery (cached) ------------------------------------------------
    async def images(self, type: str | None = None) -> list[SkahaImage]:
        """Images offered to this user; ``type`` filters locally so one cache serves all."""
        images = await self._images.get()
        return [i for i in images if type is None or type in i.types]

    async def context(self) -> SkahaContext:
        return await self._context.get()

    async def _fetch_images(self) -> list[SkahaImage]:
        wire = self._parse(IMAGES, await self._request("GET", "v1/image"), "v1/image")
        return [SkahaImage(w.id, tuple(w.types), w.digest) for w in wire]

    async def _fetch_context(self) -> SkahaContext:
        w = self._parse(WireContext, await self._request("GET", "v1/context"), "v1/context")
        cores = w.cores.options if w.cores else (w.availableCores or [])
        memory = w.memoryGB.options if w.memoryGB else (w.availableRAM or [])
        gpus = w.gpus.options if w.gpus else (w.availableGPUs or [])
        if not cores or not memory:
            raise SkahaUnavailable("malformed payload from v1/context: no cores or memory options")
        return SkahaContext(
            cores=tuple(sorted(set(cores))), memory_gb=tuple(sorted(set(memory))),
            gpus=tuple(sorted(set(gpus))),
            default_cores=default_of(w.cores, w.defaultCores),
            default_memory_gb=default_of(w.memoryGB, w.defaultRAM),
            max_interactive_sessions=w.maxInteractiveSessions,
        )

    # --- sessions -------------------------------------------------------------
    async def create_session(
        self, *, name: str, image: str, type: str = "headless", cores: int | None = None,
        ram: int | None = None, gpus: int | None = None, cmd: str | None = None,
        args: Sequence[str] | str | None = None, env: Mapping[str, str] | None = None,
    ) -> str:
        """Launch a session; returns its ID.  ``ram`` is in GB, as in ``context().memory_gb``."""
        form: list[tuple[str, str]] = [("name", name), ("image", image), ("type", type)]
        for key, value in (("cores", cores), ("ram", ram), ("gpus", gpus), ("cmd", cmd)):
            if value is not None:
                form.append((key, str(value)))
        if args is not None:  # Skaha splits args on spaces
            form.append(("args", args if isinstance(args, str) else " ".join(args)))
        form += [("env", f"{k}={v}") for k, v in (env or {}).items()]
        # Encoded by hand: env repeats, and httpx's data= takes no list of pairs.
        resp = await self._request(
            "POST", "v1/session", content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        session_id = resp.text.strip()
        if not session_id or any(c.isspace() for c in session_id):
            raise SkahaUnavailable(f"malformed session ID from v1/session: {resp.text[:80]!r}")
        return session_id

    async def sessions(self, *, type: str | None = None,
                       status: str | None = None) -> list[SkahaSession]:
        params = {k: v for k, v in (("type", type), ("status", status)) if v}
        resp = await self._request("GET", "v1/session", params=params)
        return [session_of(w) for w in self._parse(SESSIONS, resp, "v1/session")]

    async def session(self, session_id: str) -> SkahaSession | None:
        """The session, or ``None`` once Skaha no longer knows it (404)."""
        path = _session_path(session_id)
        try:
            resp = await self._request("GET", path)
        except SkahaRejected as exc:
            if exc.status_code == 404:
                return None
            raise
        return session_of(self._parse(WireSession, resp, path))

    async def delete_session(self, session_id: str) -> bool:
        """Delete; ``False`` if it was already gone (so callers can retry idempotently)."""
        try:
            await self._request("DELETE", _session_path(session_id))
        except SkahaRejected as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    async def renew_session(self, session_id: str) -> None:
        """Push the expiry time out by Skaha's configured session lifetime."""
        await self._request("POST", _session_path(session_id), params={"action": "renew"})

    # --- plumbing ---------------------------------------------------------------
    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        what = f"{method} {self.base_url}/{path}"
        try:
            # httpx timeouts are per phase; this is the hard deadline for the whole call.
            async with asyncio.timeout(self._timeout):
                resp = await self._http.request(method, path, **kwargs)
        except (TimeoutError, httpx.TimeoutException):
            raise SkahaUnavailable(f"{what}: no answer within {self._timeout}s") from None
        except httpx.HTTPError as exc:
            raise SkahaUnavailable(f"{what}: {type(exc).__name__}: {exc}") from None
        if resp.is_success:
            return resp
        detail = resp.text.strip()[:200]
        if resp.status_code in (401, 403):
            raise SkahaUnavailable(f"{what}: credentials refused (HTTP {resp.status_code}): "
                                   f"{detail}", resp.status_code)
        if 400 <= resp.status_code < 500:
            raise SkahaRejected(detail or f"HTTP {resp.status_code}", resp.status_code)
        raise SkahaUnavailable(f"{what}: HTTP {resp.status_code}: {detail}", resp.status_code)

    @staticmethod
    def _parse(adapter: TypeAdapter[T] | type[BaseModel], resp: httpx.Response, path: str) -> Any:
        try:
            if isinstance(adapter, TypeAdapter):
                return adapter.validate_json(resp.content)
            return adapter.model_validate_json(resp.content)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise SkahaUnavailable(
                f"malformed payload from {path}: {first['msg']} at {first['loc']}"
            ) from None


def _service_url(base_url: str) -> str:
    url = httpx.URL(base_url.rstrip("/"))
    path = url.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    if not path:  # Skaha's service.yaml basePath is /skaha
        path = "/skaha"
    return str(url.copy_with(path=path)).rstrip("/")


def _session_path(session_id: str) -> str:
    if not session_id:  # "" would silently address the session list instead
        raise ValueError("session_id must not be empty")
    return "v1/session/" + quote(session_id, safe="")
