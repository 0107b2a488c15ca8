"""A second, whole broker of our own for the federation tests: gateway, planner and a quick CANFAR site
on the Skaha stand-in, with its own NATS server and SQLite database, run on an event loop in a thread of
its own, so that a test's broker (on the test's loop) reaches it only as any client would: over HTTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from srcnet_eb.services.embedded.nats import EmbeddedNats
from srcnet_eb.shared.store import Store
from srcnet_eb.standins.skaha.config import load_config

from .broker import Broker
from .conftest import SITES
from .quick_site import AGENT, FAST

T = TypeVar("T")
START_PATIENCE = 60.0  # seconds the whole second broker may take to start or stop


@dataclass
class RemoteBroker:
    url: str  # its gateway; alice's token (tests/broker.TOKENS) is good there
    site: str
    broker: Broker
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the second broker's loop (to look inside it), from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(START_PATIENCE)


@contextmanager
def running_remote(folder: Path, site: str = "remote-a", **agent: Any) -> Iterator[RemoteBroker]:
    """`agent`: more of its site agent's settings (e.g. total_cores)."""
    nats = EmbeddedNats().start()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="remote-broker", daemon=True)
    thread.start()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(START_PATIENCE)

    async def up() -> Broker:
        store = await Store.open(f"sqlite+aiosqlite:///{folder}/remote.db")
        b = Broker(nats.url, store)
        b.stack.push_async_callback(store.close)  # (the stack closes last what it took first)
        try:
            await b.start_planner()
            b.planner.tracker.sweep_interval = 0.2
            await b.start_gateway()
            config = load_config(SITES / "site-a.yaml").model_copy(update=FAST)
            await b.add_site(site, config, **(AGENT | agent))
            await b.wait_for_agents(1)
        except BaseException:
            await b.close()
            raise
        return b

    try:
        broker = run(up())
        try:
            yield RemoteBroker(broker.base_url, site, broker, loop)
        finally:
            run(broker.close())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_PATIENCE)
        loop.close()
        nats.stop()
