"""The processes one benchmark scenario runs: planner, the sites' agents (bench.sites) and gateway.

Each is a process of its own on the given NATS and database, so its CPU can be read from /proc; they
are stopped when the scenario ends, however it ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp

from srcnet_eb.services.embedded.ports import free_port, wait_listening
from srcnet_eb.shared.settings import DEV_IDENTITY, DEV_TOKEN

ROOT = Path(__file__).resolve().parents[1]
# The gateway's identity as in the embedded default: a static development token, sent by every client.
AUTH_ENV = {"EB_AUTH_MODE": "static", "EB_AUTH_TOKENS": json.dumps({DEV_TOKEN: DEV_IDENTITY.model_dump()})}
HEADERS = {"Authorization": f"Bearer {DEV_TOKEN}"}
COLLECT_TIMEOUT = 5.0  # the planner's, as in the figures


def cpu_seconds(proc: subprocess.Popen) -> float:
    """User + system CPU seconds of a running process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(proc: subprocess.Popen) -> tuple[float, float]:
    """(resident, peak resident) in MB, from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def spawn(module: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *args], env={**os.environ, **env}, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_for_agents(base_url: str, expected: int, timeout: float = 60.0) -> None:
    """Until the gateway lists `expected` live agents (or RuntimeError after `timeout`)."""
    loop = asyncio.get_running_loop()
    end, live = loop.time() + timeout, 0
    async with aiohttp.ClientSession(base_url, headers={**HEADERS, "Accept": "application/json"}) as http:
        while loop.time() < end:
            async with http.get("/agents") as got:
                if got.status == 200:
                    live = len((await got.json()).get("agents", []))
                    if live >= expected:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"only {live} of {expected} agents live after {timeout:.0f} s")


class Stack:
    """planner, `sites` agents in one process, gateway: `async with Stack(...) as s:` then `s.base_url`."""

    NAMES = ("planner", "agents", "gateway")

    def __init__(self, sites: int, nats_url: str, db_url: str, site_args: tuple[str, ...] = (),
                 expected: int | None = None) -> None:
        self.sites, self.nats_url, self.db_url, self.site_args = sites, nats_url, db_url, site_args
        self.expected = sites if expected is None else expected
        self.procs: list[subprocess.Popen] = []
        self.base_url = ""

    async def __aenter__(self) -> Stack:
        port = free_port()
        env = {"EB_NATS_URL": self.nats_url, "EB_DATABASE_URL": self.db_url,
               "EB_COLLECT_TIMEOUT": str(COLLECT_TIMEOUT)}
        self.procs = [spawn("srcnet_eb.services.planner", env),
                      spawn("bench.sites", env, "--count", str(self.sites), "--nats-url", self.nats_url,
                            *self.site_args),
                      spawn("srcnet_eb.services.gateway", {**env, **AUTH_ENV, "EB_PORT": str(port)})]
        try:
            await asyncio.to_thread(wait_listening, "127.0.0.1", port, 30)
            self.base_url = f"http://127.0.0.1:{port}"
            await wait_for_agents(self.base_url, self.expected)
            dead = [name for name, proc in zip(self.NAMES, self.procs) if proc.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited at start")
        except BaseException:
            stop(self.procs)
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        stop(self.procs)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far, by process."""
        return {name: cpu_seconds(proc) for name, proc in zip(self.NAMES, self.procs)}
