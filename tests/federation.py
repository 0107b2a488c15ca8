"""A federation of real processes on loopback, for the fault tests: gateways, planners, Skaha stand-ins
and site agents, each its own OS process (so one can be killed -9), over a given NATS and database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from srcnet_eb.services.embedded.children import Children
from srcnet_eb.services.embedded.ports import free_port, wait_listening

from .broker import AUTH_ENV, HEADERS

SITES = Path(__file__).resolve().parents[1] / "standins" / "skaha" / "sites"
REQUEST = """kind: https://www.purl.org/ivoa.net/EB/schema/v1.0/types/offerset/execution-request-1.0
meta:
  name: {name}
executable:
  kind: https://www.purl.org/ivoa.net/EB/schema/v1.0/types/executable/docker-container-1.0
  image:
    locations: [images.canfar.net/skaha/astroml:24.07]
compute:
  kind: https://www.purl.org/ivoa.net/EB/schema/v1.0/types/compute/simple-compute-resource-1.0
  cores: {{min: {cores}}}
  memory: {{min: 4}}
schedule:
  requested:
    duration: PT1H
"""

@dataclass
class Federation:
    """`nats_env(site)` gives the NATS settings of a process (site None: central) as EB_* variables."""

    root: Path
    database_url: str
    nats_env: Callable[[str | None], dict[str, str]]
    auth_env: dict[str, str] = field(default_factory=lambda: dict(AUTH_ENV))  # static tokens of tests/broker.py
    headers: dict[str, str] = field(default_factory=lambda: dict(HEADERS))  # alice's
    children: Children = field(init=False)
    gateways: dict[str, str] = field(default_factory=dict)  # name -> base URL
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.children = Children(self.root / "logs")

    def _spawn(self, name: str, module: str, env: dict[str, str], *args: str) -> subprocess.Popen:
        self.procs[name] = self.children.spawn(name, module, env, *args)
        return self.procs[name]

    def central(self, **extra: object) -> dict[str, str]:
        return {**self.nats_env(None), "EB_DATABASE_URL": self.database_url, **self.auth_env,
                **{f"EB_{k.upper()}": str(v) for k, v in extra.items()}}

    def skaha(self, site: str) -> tuple[str, str | None]:
        config = SITES / f"{site}.yaml"
        port = free_port()
        self._spawn(f"skaha-{site}", "srcnet_eb.standins.skaha", {}, "--host", "127.0.0.1", "--port", str(port),
                    "--config", str(config), "--log-level", "warning")
        wait_listening("127.0.0.1", port, timeout=20)
        return f"http://127.0.0.1:{port}/skaha", (yaml.safe_load(config.read_text()) or {}).get("token")

    def planner(self, name: str, **settings: object) -> subprocess.Popen:
        return self._spawn(name, "srcnet_eb.services.planner", self.central(**settings))

    def gateway(self, name: str, **settings: object) -> str:
        port = free_port()
        self._spawn(name, "srcnet_eb.services.gateway", self.central(host="127.0.0.1", port=port, **settings))
        wait_listening("127.0.0.1", port, timeout=30)
        self.gateways[name] = f"http://127.0.0.1:{port}"
        return self.gateways[name]

    def agent(self, name: str, site: str, skaha: tuple[str, str | None], **settings: object) -> subprocess.Popen:
        url, token = skaha
        env = {**self.nats_env(site), "EB_SITE": site, "EB_SKAHA_URL": url, "EB_HEARTBEAT_INTERVAL": "0.5",
               **({"EB_SKAHA_TOKEN": token} if token else {}),
               **{f"EB_{k.upper()}": str(v) for k, v in settings.items()}}
        return self._spawn(name, "srcnet_eb.services.canfar_agent", env)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def pause(self, name: str, paused: bool = True) -> None:
        os.kill(self.procs[name].pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def client(self, gateway: str | None = None) -> httpx.AsyncClient:
        base = self.gateways[gateway] if gateway else next(iter(self.gateways.values()))
        return httpx.AsyncClient(base_url=base, timeout=30, headers=self.headers)

    async def wait_for_sites(self, sites: set[str], timeout: float = 30.0) -> None:
        async with self.client() as http:
            for _ in range(int(timeout / 0.25)):
                got = await http.get("/agents", headers={"Accept": "application/json"})
                if got.status_code == 200 and sites <= {a["site"] for a in got.json()["agents"]}:
                    return
                await asyncio.sleep(0.25)
        raise TimeoutError(f"sites {sites} not live after {timeout}s; logs in {self.children.log_dir}")

    def stop(self) -> None:
        for proc in self.procs.values():  # a paused process cannot stop
            try:
                os.kill(proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.children.stop()


def request_body(name: str, cores: int = 1) -> str:
    return REQUEST.format(name=name, cores=cores)


async def post(http: httpx.AsyncClient, name: str, cores: int = 1) -> httpx.Response:
    return await http.post("/offersets", content=request_body(name, cores),
                           headers={"Content-Type": "application/yaml", "Accept": "application/json"})


async def completed(http: httpx.AsyncClient, location: str, timeout: float = 60.0) -> dict:
    """The OfferSet once COMPLETE (polling with Prefer: wait, as a client would)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        try:
            got = await http.get(location, headers={"Accept": "application/json", "Prefer": "wait=5"})
        except httpx.TransportError:
            await asyncio.sleep(0.2)
            continue
        if got.status_code == 200 and got.json()["status"] == "COMPLETE":
            return got.json()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{location} not COMPLETE after {timeout}s")
