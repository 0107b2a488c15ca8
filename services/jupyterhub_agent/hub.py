"""A small typed client of the JupyterHub REST API (`/hub/api`): users and their named servers.

Checked against JupyterHub 5.5: starting (POST .../servers/<name>, body = user_options) and stopping
(DELETE, body {"remove": true} to forget the server too) answer 201/204 when done at once and 202 when
still under way; a server already running is a 400 "is already running". A single server has no GET of
its own: it is read from its user's model (`include_stopped_servers`, so a stopped server still shows its
user_options). The token goes in `Authorization: token <t>`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Field

START_OK = {201, 202}
STOP_OK = {202, 204, 404}


class HubUnavailable(Exception):
    """The hub cannot be reached, or answers with a server error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HubRejected(Exception):
    """The hub refused the request (a 4xx other than the ones the caller expects)."""


class HubServer(BaseModel):
    """One of a user's servers, as the hub's user model lists it."""

    name: str = ""
    ready: bool = False
    pending: str | None = None  # "spawn", "stop", ...
    stopped: bool = False
    url: str = ""  # the proxy's path to it, e.g. /user/alice/eb-0123/
    user_options: dict[str, Any] = Field(default_factory=dict)
    started: datetime | None = None


class HubClient:
    def __init__(self, api_url: str, token: str | None, timeout: float = 10.0) -> None:
        headers = {"Authorization": f"token {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=api_url.rstrip("/") + "/", headers=headers, timeout=timeout)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise HubUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code in (401, 403):  # down, or our token is not
            raise HubUnavailable(f"HTTP {response.status_code} from {method} {path}: {_said(response)}")
        return response

    async def version(self) -> str:
        response = await self._call("GET", "")
        return str(response.json().get("version", "unknown"))

    async def ensure_user(self, user: str) -> None:
        """Create the user unless the hub has it (409)."""
        response = await self._call("POST", f"users/{_part(user)}")
        if response.status_code not in (200, 201, 409):
            raise HubRejected(f"user {user}: HTTP {response.status_code}: {_said(response)}")

    async def server(self, user: str, name: str) -> HubServer | None:
        response = await self._call("GET", f"users/{_part(user)}", params={"include_stopped_servers": "1"})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise HubRejected(f"user {user}: HTTP {response.status_code}: {_said(response)}")
        found = (response.json().get("servers") or {}).get(name)
        return HubServer.model_validate(found) if found is not None else None

    async def start(self, user: str, name: str, options: dict[str, Any]) -> None:
        response = await self._call("POST", f"users/{_part(user)}/servers/{_part(name)}", json=options)
        if response.status_code in START_OK or "already running" in _said(response):
            return
        raise HubRejected(f"server {user}/{name}: HTTP {response.status_code}: {_said(response)}")

    async def stop(self, user: str, name: str, *, remove: bool) -> None:
        """Stop it (and with `remove`, forget it); no error if it is gone."""
        response = await self._call("DELETE", f"users/{_part(user)}/servers/{_part(name)}", json={"remove": remove})
        if response.status_code not in STOP_OK and "not running" not in _said(response):
            raise HubRejected(f"server {user}/{name}: HTTP {response.status_code}: {_said(response)}")


def _part(value: str) -> str:
    return quote(value, safe="")


def _said(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return response.text[:200]
