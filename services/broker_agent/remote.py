"""An HTTP client of another IVOA Execution Broker: ask it for offers (either dialect), read and update
its sessions. Every failure is a `RemoteError` whose reason names the broker and what went wrong."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urljoin
from uuid import UUID

import httpx
from srcnet_eb.client.errors import BrokerError
from srcnet_eb.shared import model as m

from .settings import BrokerSettings
from .wire import (
    RemoteDialect,
    RemoteOfferSet,
    RemoteSession,
    read_offerset,
    read_session,
    request_body,
    update_body,
)

JSON = "application/json"
REDIRECTS = (301, 302, 303, 307, 308)
NOT_THERE = (404, 405)  # no such endpoint: the other dialect's broker


class RemoteError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RemoteBroker:
    def __init__(self, settings: BrokerSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings, self.name = settings, settings.remote
        token = settings.remote_token.get_secret_value() if settings.remote_token else None
        self.http = httpx.AsyncClient(base_url=settings.remote_url, timeout=settings.remote_http_timeout,
                                      transport=transport, follow_redirects=False,
                                      headers={"Accept": JSON, **({"Authorization": f"Bearer {token}"} if token else {})})
        fixed = settings.remote_dialect
        self.dialect: RemoteDialect | None = None if fixed == "auto" else RemoteDialect(fixed)
        self.problem: str | None = None  # the last call's failure (None: it answered), for capabilities

    async def aclose(self) -> None:
        await self.http.aclose()

    async def ask(self, request: m.ExecutionRequest) -> RemoteOfferSet:
        """POST the request and follow its OfferSet until it is complete, all within `remote_timeout`."""
        loop, limit = asyncio.get_running_loop(), self.settings.remote_timeout
        deadline, found = loop.time() + limit, None
        try:
            async with asyncio.timeout(limit):
                where, doc = await self._post(request)
                while True:
                    found = read_offerset(doc) if doc is not None else None
                    if found is not None and found.complete:
                        return found
                    if where is None:  # an OfferSet not complete that says nowhere to look again
                        raise TimeoutError
                    wait = int(deadline - loop.time())  # it holds its answer that long (RFC 7240), if it can
                    got = await self._call("GET", where, headers={"Prefer": f"wait={wait}"} if wait >= 1 else None,
                                           timeout=wait + self.settings.remote_http_timeout)
                    if got.status_code != 200:
                        raise RemoteError(self._refused("its OfferSet", got))
                    doc = _json(got)
                    if not read_offerset(doc).complete and not got.headers.get("preference-applied"):
                        await asyncio.sleep(self.settings.remote_poll)  # it does not hold answers: poll
        except TimeoutError:
            which = f" {found.uuid}" if found and found.uuid else ""
            raise RemoteError(f"{self.name} did not complete its OfferSet{which} within {limit:g} s") from None

    async def _post(self, request: m.ExecutionRequest) -> tuple[str | None, Any]:
        """The OfferSet's URL and the document answered, in the first dialect the broker has."""
        tried = [self.dialect] if self.dialect else [RemoteDialect.V2026_07, RemoteDialect.V2026_05]
        for dialect in tried:
            got = await self._call("POST", dialect.path, json=request_body(request, dialect))
            if got.status_code in NOT_THERE and dialect is not tried[-1]:
                continue
            if got.status_code in REDIRECTS and got.headers.get("location"):
                self.dialect = dialect
                return urljoin(str(got.url), got.headers["location"]), _json(got, None)
            if got.status_code in (200, 201, 202):
                self.dialect = dialect
                doc = _json(got)
                where = got.headers.get("location") or _href(doc)
                return (urljoin(str(got.url), where) if where else None), doc
            raise RemoteError(self._refused(f"the request ({dialect} form)", got))
        raise AssertionError("unreachable")  # (the last dialect always returns or raises)

    async def session(self, uuid: UUID) -> RemoteSession | None:
        """The other broker's session; None when it does not know it."""
        got = await self._call("GET", f"/sessions/{uuid}")
        if got.status_code == 404:
            return None
        if got.status_code != 200:
            raise RemoteError(self._refused(f"session {uuid}", got))
        return read_session(_json(got))

    async def update(self, uuid: UUID, phase: m.Phase) -> tuple[int, str]:
        """Ask to move a session to `phase`: (HTTP status, the broker's reason when not 200)."""
        tried = [self.dialect] if self.dialect else [RemoteDialect.V2026_07, RemoteDialect.V2026_05]
        for dialect in tried:
            got = await self._call("POST", f"/sessions/{uuid}", json=update_body(phase, dialect))
            if got.status_code in (400, 415, 422) and dialect is not tried[-1]:
                continue  # not this dialect's update form: the other one's
            return got.status_code, "" if got.status_code == 200 else self._refused(f"{phase} of {uuid}", got)
        raise AssertionError("unreachable")

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            got = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.problem = f"{self.name} is unreachable: {type(exc).__name__}: {exc}".rstrip(": ")
            raise RemoteError(self.problem) from exc
        self.problem = f"{self.name} answers HTTP {got.status_code}" if got.status_code >= 500 else None
        return got

    def _refused(self, what: str, got: httpx.Response) -> str:
        return f"{self.name} refused {what}: HTTP {got.status_code}: {BrokerError.of(got).line()}"


def _json(got: httpx.Response, default: Any = ...) -> Any:
    try:
        return got.json()
    except ValueError:
        if default is not ...:
            return default
        raise RemoteError(f"the answer to {got.request.method} {got.request.url} is not JSON "
                          f"({got.headers.get('content-type', 'no Content-Type')})") from None


def _href(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    return meta.get("url") or doc.get("href")
