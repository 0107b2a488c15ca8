"""A whole broker on loopback for tests: real nats-server, real HTTP, real database.

Planner, gateway and agents run in the test's event loop (so tests can look inside them);
every hop between them goes over real NATS and real sockets.
"""

from __future__ import annotations

import asyncio
import io
import json
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import httpx
import uvicorn

from srcnet_eb.services.canfar_agent import plugin as canfar_plugin
from srcnet_eb.services.canfar_agent.platform import CanfarPlatform
from srcnet_eb.services.canfar_agent.settings import CanfarSettings
from srcnet_eb.services.gateway.app import create_app
from srcnet_eb.services.gateway.serve import uvicorn_config
from srcnet_eb.services.embedded.ports import free_port
from srcnet_eb.services.planner.service import Planner
from srcnet_eb.services.rucio_agent.service import RucioAgent
from srcnet_eb.services.rucio_agent.settings import RucioSettings
from srcnet_eb.shared.agent import AgentRuntime
from srcnet_eb.shared.settings import GatewaySettings, PlannerSettings, StaticIdentity
from srcnet_eb.shared.store import Store
from srcnet_eb.standins.skaha.config import SkahaStandInConfig
from srcnet_eb.standins.skaha.server import StandInURL, running_standin

from . import schemas


# Static tokens of the harness's gateway: two users and an operator. `Broker.http` is alice's.
TOKENS = {"alice-token": StaticIdentity(sub="alice"), "bob-token": StaticIdentity(sub="bob"),
          "operator-token": StaticIdentity(sub="olivia", roles=["operator"])}
ALICE, BOB, OPERATOR = "alice-token", "bob-token", "operator-token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# The same for gateways run as processes (EB_* variables), and alice's header for their clients.
AUTH_ENV = {"EB_AUTH_MODE": "static", "EB_AUTH_TOKENS": json.dumps({t: who.model_dump() for t, who in TOKENS.items()})}
HEADERS = bearer(ALICE)


STOP_PATIENCE = 30.0  # seconds a part of the broker may take to stop before the test fails naming it


def bounded(name: str, stop):
    """`stop`, failing after STOP_PATIENCE with what every task was waiting on (a hung teardown otherwise
    ends in pytest's timeout, whose thread dump shows only the event loop's select)."""
    async def run() -> None:
        try:
            async with asyncio.timeout(STOP_PATIENCE):
                await stop()
        except TimeoutError:
            stacks = io.StringIO()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.print_stack(limit=8, file=stacks)
            raise AssertionError(f"{name} did not stop within {STOP_PATIENCE:g} s; tasks:\n{stacks.getvalue()}")
    return run


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

    async def start_planner(self, name: str | None = None, **more) -> Planner:
        """`more`: other PlannerSettings (e.g. callback_secret)."""
        settings = PlannerSettings(nats_url=self.nats_url, collect_timeout=self.collect_timeout,
                                   database_url="unused://", **more)
        self.planner = Planner(settings, store=self.store, name=name)
        await self.planner.start()
        self.stack.push_async_callback(bounded("the planner", self.planner.stop))
        return self.planner

    async def start_gateway(self, **auth) -> str:
        """`auth`: GatewaySettings for identity (e.g. auth_mode="oidc", oidc_issuer=...); default the TOKENS."""
        port = free_port()
        settings = GatewaySettings(nats_url=self.nats_url, database_url="unused://", port=port, max_wait=30,
                                   **({"auth_tokens": TOKENS} | auth))
        config = uvicorn_config(create_app(settings, store=self.store), settings, host="127.0.0.1",
                                lifespan="on", access_log=False)
        self.server = server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)

        async def stop() -> None:  # this one: a test may start a second gateway beside it
            server.should_exit = True
            await task

        self.stack.push_async_callback(bounded("the gateway", stop))
        self.base_url = f"http://127.0.0.1:{port}"
        self.http = self.client(ALICE)
        return self.base_url

    def client(self, token: str | None) -> httpx.AsyncClient:
        """An HTTP client of the gateway sending this bearer token (None: none), closed with the broker."""
        # Every OfferSet and session it reads is checked against the reference schema of its dialect.
        http = httpx.AsyncClient(base_url=self.base_url, timeout=30, follow_redirects=False,
                                 headers=bearer(token) if token else None,
                                 event_hooks={"response": [schemas.check_response]})
        self.stack.push_async_callback(http.aclose)
        return http

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
        self.stack.push_async_callback(bounded(f"agent {name}", agent.stop))
        return agent

    async def add_silent_site(self, name: str, live: int) -> AgentRuntime:
        """A live agent (heartbeats go on) whose loop is wedged: it takes questions and answers none, not
        even busy. `live`: the agents live once it is."""
        agent = await self.start_agent(name, "http://127.0.0.1:9/skaha")
        await self.wait_for_agents(live)

        async def never(msg, reply=None):
            await asyncio.sleep(30)

        agent.answer = never
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
        self.stack.push_async_callback(bounded(f"data agent {site}", agent.stop))
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
