"""`callback=` on POST /requests, /offersets and /direct: where the broker POSTs each change of the OfferSet.

Only a URL the operator allows (no SSRF): http or https, no userinfo, and a host (or host:port) listed in
`EB_CALLBACK_HOSTS`. The name is not resolved here: the allowlist is of names, as the operator writes them
(the sender follows no redirect, so the host checked is the host reached)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Query, Request

from srcnet_eb.shared import contracts as c

from .problems import Problem
from .state import Gateway

MAX_LENGTH = 2048  # the column's size
_DEFAULT_PORTS = {"http": 80, "https": 443}

CallbackQuery = Annotated[str | None, Query(
    max_length=MAX_LENGTH,
    description="An http(s) URL to POST each change to (the OfferSet COMPLETE, each phase change of its sessions), "
                "signed in `EB-Signature`; its host (or host:port) must be in the operator's allowlist "
                "(`EB_CALLBACK_HOSTS`), else 422 naming `callback`.")]


def _refuse(reason: str) -> Problem:
    return Problem.field(422, "Callback not allowed", "callback", reason)


def allowed(url: str, hosts: list[str]) -> str:
    """The URL if the allowlist lets it through; a 422 naming `callback` saying why not otherwise."""
    if any(ch <= " " or ch == "\x7f" for ch in url):
        raise _refuse("the URL has spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _refuse(f"the scheme must be http or https, not '{parts.scheme}'")
    if "@" in parts.netloc:
        raise _refuse("the URL may carry no user name or password")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise _refuse("the port is not a number from 0 to 65535") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise _refuse("the URL names no host")
    name = f"[{host}]" if ":" in host else host
    if not {name, f"{name}:{port}"} & set(hosts):
        raise _refuse(f"host {name}:{port} is not one the operator allows (EB_CALLBACK_HOSTS)")
    return url


def target(gw: Gateway, request: Request, url: str | None) -> c.CallbackTarget | None:
    if url is None:
        return None
    return c.CallbackTarget(url=allowed(url, gw.settings.callback_hosts), base_url=gw.base_url(request))
