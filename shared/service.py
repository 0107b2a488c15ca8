"""Run a service (anything with async start/stop) until SIGINT or SIGTERM, then stop it cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Protocol

from srcnet_eb.shared.tracing import configure_process

try:  # uvicorn[standard] brings it where it builds
    from uvloop import new_event_loop as _new_loop
except ImportError:  # pragma: no cover - a platform without uvloop: the stdlib loop
    _new_loop = None


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def run_until_stopped(service: Service, name: str | None = None) -> None:
    """`name`: the process's service name in traces (eb-planner, eb-agent-<site>…)."""
    configure_process(name or f"eb-{type(service).__name__.lower()}", getattr(service, "settings", None))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log = logging.getLogger(type(service).__module__)
    await service.start()
    log.info("%s started", type(service).__name__)  # every process's log says it is up, and when it stops
    try:
        await stop.wait()
    finally:
        log.info("%s stopping", type(service).__name__)
        await service.stop()


def serve(service: Service, name: str | None = None) -> None:
    """A process's main: `service` until SIGINT or SIGTERM, on uvloop where installed (as uvicorn runs the
    gateway): nats-py's per-message work costs markedly less CPU on it than on the stdlib loop."""
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        runner.run(run_until_stopped(service, name))
