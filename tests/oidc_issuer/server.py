"""Run the OIDC issuer stand-in on a free loopback port for the length of a test.

    async with running_issuer() as issuer:          # an OidcIssuer whose url is http://127.0.0.1:PORT/
        token = issuer.mint("alice", "ebroker", groups=["/ska/operators"])
        httpx.post(issuer.control("outage"), json={"down": True})
"""

from __future__ import annotations

import httpx

from srcnet_eb.standins.threaded import ThreadedServer
from .app import create_app
from .issuer import OidcIssuer


class RunningIssuer(OidcIssuer):
    def control(self, name: str) -> str:
        return f"{self.url.rstrip('/')}/standin/{name.lstrip('/')}"

    def fetches(self) -> dict[str, int]:
        return httpx.get(self.control("stats"), timeout=5).json()


class running_issuer(ThreadedServer[RunningIssuer]):  # noqa: N801 - used like a contextlib function
    """Serve the stand-in with uvicorn in a thread; sync or async context manager."""

    name = "OIDC stand-in"

    def build(self, root: str) -> tuple[object, RunningIssuer, str]:
        issuer = RunningIssuer(url=f"{root}/")
        return create_app(issuer), issuer, issuer.control("health")
