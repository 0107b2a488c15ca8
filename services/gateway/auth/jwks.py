"""The issuer's signing keys: discovered from `{issuer}/.well-known/openid-configuration`, fetched from
its `jwks_uri`, kept for a TTL, fetched again early when a token names a key not in hand (the issuer
rotated its keys). Tokens naming unknown keys cause at most one fetch per `refetch` seconds, and an
issuer that failed is not asked again sooner either: whatever callers send, the issuer is not hammered."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKSetError

from .principal import IssuerUnavailable

log = logging.getLogger(__name__)


class UnknownKey(LookupError):
    """The token names a key the issuer does not publish."""


class JwksCache:
    def __init__(self, issuer: str, http: httpx.AsyncClient, ttl: float, refetch: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer
        self.discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.http = http
        self.ttl, self.refetch = ttl, refetch
        self._clock = clock
        self._keys: dict[str | None, PyJWK] = {}
        self._fetched: float | None = None  # when the keys in hand were fetched
        self._tried: float | None = None  # when a fetch was last attempted
        self._failure: str | None = None  # why that attempt failed, if it did
        self._unknown: float | None = None  # when a token naming an unknown key last caused a fetch
        self._attempts = 0  # fetches finished, well or not
        self._jwks_uri: str | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> PyJWK:
        if self._fetched is None or self._clock() - self._fetched >= self.ttl:
            await self._refresh()
        found = self._find(kid)
        if found is None:  # perhaps rotated since we fetched: look again (rate-limited)
            await self._refresh(unknown_kid=True)
            found = self._find(kid)
        if found is not None:
            return found
        if self._failure is not None:
            raise IssuerUnavailable(self._failure)
        raise UnknownKey(kid)

    def _find(self, kid: str | None) -> PyJWK | None:
        # Keys we could not renew serve one TTL past their time (the issuer may be down for a moment),
        # then no longer: a key the issuer withdrew must not stay trusted for ever.
        if self._fetched is None or self._clock() - self._fetched >= 2 * self.ttl:
            return None
        if kid is None:  # a token without `kid`: only unambiguous with a single key
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _recent(self, when: float | None) -> bool:
        return when is not None and self._clock() - when < self.refetch

    async def _refresh(self, unknown_kid: bool = False) -> None:
        seen = self._attempts
        async with self._lock:  # one fetch at a time; those who waited for it use its result
            if self._attempts != seen:
                return
            if (self._failure is not None and self._recent(self._tried)) or (unknown_kid and self._recent(self._unknown)):
                return
            self._tried = self._clock()
            if unknown_kid:
                self._unknown = self._tried
            try:
                keys = await self._fetch()
            except IssuerUnavailable as exc:
                log.warning("keys of %s not fetched: %s", self.issuer, exc.reason)
                self._failure = exc.reason
                return
            else:
                self._keys, self._fetched, self._failure = keys, self._tried, None
            finally:
                self._attempts += 1

    async def _fetch(self) -> dict[str | None, PyJWK]:
        try:
            if self._jwks_uri is None:
                found = await self._get(self.discovery_url)
                if found.get("issuer") != self.issuer:
                    raise IssuerUnavailable(f"{self.discovery_url} names issuer {found.get('issuer')!r}, "
                                            f"not {self.issuer!r}")
                if not isinstance(found.get("jwks_uri"), str):
                    raise IssuerUnavailable(f"{self.discovery_url} gives no jwks_uri")
                self._jwks_uri = found["jwks_uri"]
            keyset = PyJWKSet.from_dict(await self._get(self._jwks_uri))
        except IssuerUnavailable:
            self._jwks_uri = None  # discover again next time: the issuer may have moved its keys
            raise
        except PyJWKSetError as exc:
            raise IssuerUnavailable(f"the issuer's key set is unusable: {exc}") from exc
        return {k.key_id: k for k in keyset.keys if k.public_key_use in (None, "sig")}

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            answer = await self.http.get(url, headers={"Accept": "application/json"})
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise IssuerUnavailable(f"{url} cannot be reached: {type(exc).__name__}") from exc
        if answer.status_code != 200:
            raise IssuerUnavailable(f"{url} answered {answer.status_code}")
        try:
            doc = answer.json()
        except ValueError as exc:
            raise IssuerUnavailable(f"{url} did not answer JSON") from exc
        if not isinstance(doc, dict):
            raise IssuerUnavailable(f"{url} did not answer a JSON object")
        return doc
