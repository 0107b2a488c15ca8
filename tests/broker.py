"""A whole broker on loopback for tests: real nats-server, real HTTP, real database.

Planner, gateway and agents run in the test's event loop (so tests can look inside them);
every hop between them goes over real NATS and real sockets.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import httpx
import uvicorn

from services.canfar_agent import plugin as canfar_plugin
from services.canfar_agent.platform import CanfarPlatform
from services.canfar_agent.settings import CanfarSettings
from services.gateway.app import create_app
from services.launcher.ports import free_port
from services.planner.service import Planner
from services.rucio_agent.service import RucioAgent
from services.rucio_agent.settings import RucioSettings
from shared.agent import AgentRuntime
from shared.settings import GatewaySettings, PlannerSettings
from shared.store import Store
from standins.skaha.config import SkahaStandInConfig
from standins.skaha.server import StandInURL, running_standin


@dataclass
class Site:
    name: str
    skaha: StandInURL
    agent: AgentRuntime

    @property
    def platform(self) -> CanfarPlatform:
        return self.agent.platform


@dataclass
class Broker:
    nats_url: str
    store: Store
    collect_timeout: float = 3.0
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    planner: Planner | None = None
    server: uvicorn.Server | None = None
    base_url: str = ""
    sites: dict[str, Site] = field(default_factory=dict)
    http: httpx.AsyncClient | None = None

    async def start_planner(self) -> Planner:
        settings = PlannerSettings(nats_url=self.nats_url, collect_timeout=self.collect_timeout,
                                   database_url="unused://")
        self.planner = Planner(settings, store=self.store)
        await self.planner.start()
        self.stack.push_async_callback(self.planner.stop)
        return self.planner

    async def start_gateway(self) -> str:
        port = free_port()
        settings = GatewaySettings(nats_url=self.nats_url, database_url="unused://", port=port, max_wait=30)
        config = uvicorn.Config(create_app(settings, store=self.store), host="127.0.0.1", port=port,
                                log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)

        async def stop() -> None:
            self.server.should_exit = True
            await task

        self.stack.push_async_callback(stop)
        self.base_url = f"http://127.0.0.1:{port}"
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=30, follow_redirects=False)
        self.stack.push_async_callback(self.http.aclose)
        return self.base_url

    async def add_site(self, name: str, standin: SkahaStandInConfig, **settings) -> Site:
        url = await self.stack.enter_async_context(running_standin(standin))
        agent = await self.start_agent(name, url, token=standin.token, **settings)
        site = self.sites[name] = Site(name, url, agent)
        return site

    async def start_agent(self, name: str, url: str, token: str | None = None, **settings) -> AgentRuntime:
        values = {"site": name, "nats_url": self.nats_url, "skaha_url": url, "skaha_token": token,
                  "heartbeat_interval": 0.5, "skaha_cache_ttl": 0.0} | settings
        agent = AgentRuntime.from_plugin(canfar_plugin, CanfarSettings(**values))
        await agent.start()
        self.stack.push_async_callback(agent.stop)
        return agent

    async def add_data_agent(self, site: str, rucio, **settings) -> RucioAgent:
        """A site's Rucio data agent against the real Rucio server of the tests."""
        kwargs = rucio.client_kwargs() if rucio is not None else {}
        values = {"site": site, "nats_url": self.nats_url, "heartbeat_interval": 0.5, "cache_ttl": 0.0,
                  "rucio_host": kwargs.get("rucio_host", "http://127.0.0.1:9"),
                  "rucio_username": kwargs.get("creds", {}).get("username", "nobody"),
                  "rucio_password": kwargs.get("creds", {}).get("password", "none"),
                  "rucio_timeout": 5.0} | settings
        agent = RucioAgent(RucioSettings(**values))
        await agent.start()
        self.stack.push_async_callback(agent.stop)
        return agent

    async def wait_for_agents(self, count: int, timeout: float = 5.0) -> None:
        assert self.planner is not None
        for _ in range(int(timeout / 0.02)):
            if len(self.planner.registry.live()) >= count:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{count} agents not live after {timeout}s: {self.planner.registry.live()}")

    async def close(self) -> None:
        await self.stack.aclose()
