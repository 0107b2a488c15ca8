"""`Broker`: the gateway's endpoints as async methods returning the project's models."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from srcnet_eb.shared.model import ExecutionRequest, ExecutionSession, OfferSet, OfferSetStatus
from srcnet_eb.shared.settings import DEV_TOKEN

from . import events
from .errors import BrokerError, Unreachable, reason_of
from .items import Event, OfferSetItem, Released, SessionItem

DEFAULT_URL = "http://127.0.0.1:8080"  # the embedded default (`ebroker up`)
# The broker's internal dialect: what shared.model reads. Answers for older or newer requests are asked
# in it, so every document parses into the same models.
ACCEPT = "application/json; dialect=2025-11"
MEDIA = {".json": "application/json", ".xml": "application/xml", ".yaml": "application/yaml", ".yml": "application/yaml"}
Request = ExecutionRequest | dict | str | bytes | Path
Ref = str | UUID | ExecutionSession | OfferSet


class Broker:
    """A client of one broker. `url` defaults to EB_URL, then the embedded default's; `token` to
    EB_TOKEN, then the development token. Use it as `async with Broker() as eb:` (or call `aclose`)."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = (url or os.environ.get("EB_URL") or DEFAULT_URL).rstrip("/")
        token = token or os.environ.get("EB_TOKEN") or DEV_TOKEN
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False,
                                       headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT})

    async def __aenter__(self) -> Broker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- where things are --------------------------------------------------------------------------
    def offerset_url(self, ref: Ref) -> str:
        return self._url("offersets", ref)

    def session_url(self, ref: Ref) -> str:
        return self._url("sessions", ref)

    def _url(self, collection: str, ref: Ref) -> str:
        """A URL as given, a model by its `meta.url` (or uuid), a bare uuid under this broker."""
        if isinstance(ref, (OfferSet, ExecutionSession)):
            ref = ref.meta.url or str(ref.meta.uuid)
        ref = str(ref).strip()
        if ref.startswith(("http://", "https://")):
            return ref.rstrip("/")
        try:
            return f"{self.url}/{collection}/{UUID(ref)}"
        except ValueError:
            raise BrokerError(None, "not a URL or uuid", field=collection[:-1], detail=repr(ref)) from None

    # --- offers ------------------------------------------------------------------------------------
    async def ask(self, request: Request, *, wait: float = 0, callback: str | None = None,
                  media_type: str | None = None) -> OfferSet:
        """POST an ExecutionRequest (a model, a dict, a document's text, or a file: its suffix says JSON,
        XML or YAML) and return its OfferSet, after waiting up to `wait` seconds for it to be COMPLETE."""
        body, media = _body(request, media_type)
        params = {"callback": callback} if callback else None
        posted = await self._send("POST", f"{self.url}/requests", content=body, params=params,
                                  headers={"Content-Type": media})
        if posted.status_code != 303:
            raise BrokerError.of(posted)
        if wait <= 0:  # the 303's body is the OfferSet as it stands
            return OfferSet.model_validate(posted.json())
        return await self.offers(posted.headers["location"], wait=wait)

    async def offers(self, offerset: Ref, *, wait: float = 0) -> OfferSet:
        """The OfferSet; with `wait`, held (Prefer: wait) until it is COMPLETE or `wait` seconds pass."""
        url, deadline = self.offerset_url(offerset), time.monotonic() + wait
        while True:
            doc = await self._get(url, max(0.0, deadline - time.monotonic()))
            if doc.get("status") == OfferSetStatus.COMPLETE or time.monotonic() >= deadline:
                return OfferSet.model_validate(doc)

    async def session(self, session: Ref) -> ExecutionSession:
        return ExecutionSession.model_validate(await self._get(self.session_url(session), 0))

    async def direct(self, request: Request, *, media_type: str | None = None) -> ExecutionSession | OfferSet:
        """POST /direct: the best offer accepted at once. The session, or the OfferSet while still planning."""
        body, media = _body(request, media_type)
        answer = await self._send("POST", f"{self.url}/direct", content=body, headers={"Content-Type": media},
                                  timeout=90)
        if answer.status_code == 202:  # its body is the OfferSet still planning
            return OfferSet.model_validate(answer.json())
        if answer.status_code != 303:
            raise BrokerError.of(answer)
        return ExecutionSession.model_validate(answer.json())

    # --- a session's phase -------------------------------------------------------------------------
    async def accept(self, session: Ref) -> ExecutionSession:
        """Accept an offer: its siblings are rejected and their holds released."""
        return await self._update(session, "ACCEPTED")

    async def reject(self, session: Ref) -> ExecutionSession:
        return await self._update(session, "REJECTED")

    async def cancel(self, session: Ref) -> ExecutionSession:
        """Cancel a session: the platform's work is stopped."""
        return await self._update(session, "CANCELLED")

    async def _update(self, session: Ref, phase: str) -> ExecutionSession:
        body = {"kind": "uri:enum-value-update", "path": "phase", "value": phase}
        answer = await self._send("POST", self.session_url(session), json=body)
        if answer.status_code != 200:
            raise BrokerError.of(answer)
        return ExecutionSession.model_validate(answer.json())

    async def release(self, *, offerset: Ref | None = None, keep: Ref | None = None) -> Released:
        """Reject every OFFERED session of the caller (only `offerset`'s; all but `keep`)."""
        params = {}
        if offerset is not None:
            params["offerset"] = self.offerset_url(offerset).rsplit("/", 1)[-1]
        if keep is not None:
            params["keep"] = self.session_url(keep).rsplit("/", 1)[-1]
        answer = await self._send("POST", f"{self.url}/offers/release", params=params)
        if answer.status_code != 200:
            raise BrokerError.of(answer)
        return Released.model_validate(answer.json())

    # --- lists -------------------------------------------------------------------------------------
    def offersets(self, **filters: Any) -> AsyncIterator[OfferSetItem]:
        """The caller's OfferSets, newest first, every page (`status`, `result`, `site`, `since`,
        `until`, `limit` as `GET /offersets` takes them)."""
        return self._list("offersets", OfferSetItem, filters)

    def sessions(self, **filters: Any) -> AsyncIterator[SessionItem]:
        """The caller's sessions, newest first, every page (`phase` — one or a list —, `site`,
        `offerset`, `since`, `until`, `limit`)."""
        return self._list("sessions", SessionItem, filters)

    async def _list(self, collection: str, item: type, filters: dict[str, Any]) -> AsyncIterator[Any]:
        params = {k: (",".join(map(str, v)) if isinstance(v, (list, tuple, set)) else
                      v.isoformat() if hasattr(v, "isoformat") else str(v))
                  for k, v in filters.items() if v is not None}
        url: str | None = f"{self.url}/{collection}"
        while url:
            answer = await self._send("GET", url, params=params, headers={"Accept": "application/json"})
            if answer.status_code != 200:
                raise BrokerError.of(answer)
            page = answer.json()
            for row in page.get("items", []):
                yield item.model_validate(row)
            url, params = page.get("next"), None  # `next` carries the filters and the cursor

    # --- events ------------------------------------------------------------------------------------
    def watch(self, ref: Ref, *, last_event_id: str | None = None) -> AsyncIterator[Event]:
        """The events of an OfferSet (`offer`…, then `offerset`) or a session (`phase`…, to a final
        phase), as they happen. A bare uuid is taken for a session unless it is an OfferSet's. To stop
        early, close it: `async with contextlib.aclosing(eb.watch(s)) as events: async for e in events: …`."""
        return self._watch(ref, last_event_id)

    async def _watch(self, ref: Ref, last_event_id: str | None) -> AsyncIterator[Event]:
        if isinstance(ref, OfferSet):
            url = self.offerset_url(ref)
        elif isinstance(ref, ExecutionSession) or str(ref).startswith(("http://", "https://")):
            url = self.session_url(ref)
        else:
            url = await self._which(str(ref))
        async with aclosing(events.stream(self._http, url, self._get, last_event_id)) as stream:
            async for event in stream:
                yield event

    async def _which(self, uuid: str) -> str:
        session = self.session_url(uuid)
        try:
            await self._get(session, 0)
            return session
        except BrokerError as exc:
            if exc.status != 404:
                raise
        return self.offerset_url(uuid)

    # --- HTTP --------------------------------------------------------------------------------------
    async def _get(self, url: str, wait: float) -> dict:
        headers = {"Prefer": f"wait={wait:g}"} if wait > 0 else {}
        answer = await self._send("GET", url, headers=headers, timeout=wait + 30)
        if answer.status_code != 200:
            raise BrokerError.of(answer)
        return answer.json()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(self.url if url.startswith(self.url) else url, reason_of(exc)) from None


def _body(request: Request, media_type: str | None) -> tuple[bytes, str]:
    if isinstance(request, Path):
        try:
            data = request.read_bytes()
        except OSError as exc:
            raise BrokerError(None, f"cannot read {request}", field="request", detail=exc.strerror) from None
        return data, media_type or MEDIA.get(request.suffix.lower(), "application/yaml")
    if isinstance(request, (ExecutionRequest, dict)):
        doc = request.wire() if isinstance(request, ExecutionRequest) else request
        return json.dumps(doc).encode(), "application/json"
    data = request.encode() if isinstance(request, str) else request
    return data, media_type or ("application/json" if data.lstrip()[:1] in (b"{", b"[") else
                                "application/xml" if data.lstrip()[:1] == b"<" else "application/yaml")
