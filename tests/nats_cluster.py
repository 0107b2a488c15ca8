"""The deployment's NATS topology as real processes on loopback, for tests and benches.

    async with NatsCluster(nodes=3, sites=["site-a", "site-b"]) as hub:
        hub.url                      # EB_NATS_URL of the central processes: every node, comma-separated
        hub.servers                  # the same as a list
        hub.settings()               # nats_url, nats_nkey_seed (central) and jetstream_replicas, as settings kwargs
        hub.settings("site-a")       # the same with site-a's seed: only site-a's permissions
        hub.env("site-a")            # the same as EB_* variables, for a subprocess
        hub.seed("site-a")           # the seed file itself (hub.seed() is the central one)
        await hub.connect("site-a")  # a raw nats-py connection with those credentials
        hub.kill(1)                  # SIGKILL node 1 (0-based; its store stays)
        await hub.restart(1)         # start it again on the same ports and store; back in the cluster
        hub.nodes[0].http_port       # a node's monitoring port (/jsz, /routez, /leafz ...)
        async with LeafNode("site-a", hub) as leaf:  # netns="NAME": run it in that network namespace
            leaf.url                 # where site-a's agents connect (no credentials: the link has them)
            leaf.settings()          # nats_url and jetstream_replicas for such an agent

Every node runs routes to the others, JetStream (streams and buckets with 3 replicas) and a leaf node
listener; the servers use the configurations `natsconfig` writes for a real deployment: an account
for the central processes and one per site. `start` returns once the cluster has a JetStream meta
leader and the streams.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import nats

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.nats.jetstream import ensure_streams, wait_for_leader
from srcnet_eb.shared.nats.connect import connect_options
from srcnet_eb.shared.settings import Common

from srcnet_eb.services.embedded.nats import nats_server_binary
from srcnet_eb.services.deployment.natsconfig import ROUTE_POOL, SECRETS, NKey, Node, Topology, leaf_config, render
from srcnet_eb.services.embedded.children import stop_processes
from srcnet_eb.services.embedded.ports import free_port

ROUTES_SETTLED = timedelta(seconds=1.5)  # nats-server redials a route that failed after 1 s


class _Running:
    """`async with`: started on entry (stopped again if starting fails), stopped on exit."""

    async def __aenter__(self):
        try:
            return await self.start()
        except BaseException:
            await self.stop()
            raise

    async def __aexit__(self, *exc) -> None:
        await self.stop()


class NatsCluster(_Running):
    def __init__(self, nodes: int = 3, sites: Iterable[str] = (), leaf_host: str = "127.0.0.1",
                 workdir: Path | None = None) -> None:
        """`leaf_host`: where the leaf node listeners bind (loopback; a veth address for a netns site)."""
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="eb-hub-")
        self.workdir = Path(workdir or self._tmp.name)
        self.leaf_host = leaf_host
        # Short pings: a cut leaf link is noticed in seconds, as tests need.
        self.topology = Topology(self._allocate(nodes), {site: NKey.new() for site in sites}, ping_interval="1s",
                                 ping_max=2)
        self.replicas = min(3, nodes)
        self.processes: list[subprocess.Popen | None] = [None] * nodes

    def _allocate(self, count: int) -> list[Node]:
        return [Node(name=f"n{i + 1}", host="127.0.0.1", client_port=free_port(), cluster_port=free_port(),
                     leaf_port=free_port(self.leaf_host), http_port=free_port(), listen="127.0.0.1",
                     leaf_listen=self.leaf_host, store_dir=str(self.workdir / f"n{i + 1}" / "store"))
                for i in range(count)]

    @property
    def nodes(self) -> list[Node]:
        return self.topology.nodes

    # --- what clients need -------------------------------------------------------------------------
    @property
    def servers(self) -> list[str]:
        return [node.client_url for node in self.nodes]

    @property
    def url(self) -> str:
        return self.topology.servers

    @property
    def leaf_urls(self) -> list[str]:
        return [f"nats-leaf://{self.leaf_host}:{node.leaf_port}" for node in self.nodes]

    def seed(self, site: str | None = None) -> Path:
        """The seed file of the central user, or of a site."""
        return self.workdir / SECRETS / f"{site or 'central'}.nk"

    def settings(self, site: str | None = None) -> dict:
        return {"nats_url": self.url, "nats_nkey_seed": self.seed(site), "jetstream_replicas": self.replicas}

    def env(self, site: str | None = None) -> dict[str, str]:
        return {f"EB_{key.upper()}": str(value) for key, value in self.settings(site).items()}

    # --- life --------------------------------------------------------------------------------------
    async def start(self, timeout: float = 30.0) -> NatsCluster:
        for name, key in [("central", self.topology.central), *self.topology.sites.items()]:
            path = self.seed(None if name == "central" else name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(key.seed + "\n")
            path.chmod(0o600)
        for attempt in range(3):
            for i in range(len(self.nodes)):
                self._spawn(i)
            try:
                await self.wait_ready(timeout)
                break
            except RuntimeError as exc:  # a port taken meanwhile by another process: other ports
                if "address already in use" not in str(exc) or attempt == 2:
                    raise
                self._kill_all()
                self.topology.nodes = self._allocate(len(self.nodes))
        await self.ensure_streams()
        return self

    def _spawn(self, i: int) -> None:
        node = self.nodes[i]
        conf = self.workdir / f"{node.name}.conf"
        conf.write_text(render(self.topology.hub_config(node)))
        log = open(self.workdir / f"{node.name}.log", "ab")
        self.processes[i] = subprocess.Popen([nats_server_binary(), "-c", str(conf)], stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every running node is routed to the other running ones and knows the JetStream meta leader."""
        running = [node for node, proc in zip(self.nodes, self.processes) if proc and proc.poll() is None]
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                try:
                    if all([await self._node_ready(http, node, len(running)) for node in running]):
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                for node, proc in zip(self.nodes, self.processes):
                    if proc is not None and proc.poll() is not None and node in running:
                        raise RuntimeError(f"nats-server {node.name} exited: {self.log_tail(node.name)}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"NATS cluster not ready after {timeout}s: "
                                       + " | ".join(self.log_tail(node.name) for node in running))
                await asyncio.sleep(0.1)

    def log_tail(self, name: str, lines: int = 5) -> str:
        """The end of a server's log (the work directory goes when the cluster stops)."""
        try:
            return f"{name}: " + " / ".join((self.workdir / f"{name}.log").read_text().splitlines()[-lines:])
        except OSError:
            return f"{name}: no log"

    @staticmethod
    async def _node_ready(http: httpx.AsyncClient, node: Node, running: int) -> bool:
        base = f"http://127.0.0.1:{node.http_port}"
        routes = (await http.get(f"{base}/routez")).json()
        if routes.get("num_routes", 0) != (running - 1) * (ROUTE_POOL + 1):  # every pooled route, and $SYS's
            return False
        # A node that dialled a peer before it listened dials again a second later; the duplicate routes
        # that makes can replace live ones. A stream created across that churn once kept no leader for
        # 20 s (CI), so the mesh counts as formed only once no route is younger than that redial.
        now = datetime.fromisoformat(routes["now"])
        if any(now - datetime.fromisoformat(route["start"]) < ROUTES_SETTLED for route in routes["routes"]):
            return False
        meta = (await http.get(f"{base}/jsz")).json().get("meta_cluster", {})
        return bool(meta.get("leader"))

    async def connect(self, site: str | None = None, **options) -> nats.aio.client.Client:
        """A raw nats-py connection as the central user (or as a site)."""
        settings = Common(**self.settings(site))
        return await nats.connect(**(connect_options(settings, site=site) | options))

    async def ensure_streams(self) -> None:
        """The streams, with 3 replicas (the gateways and planners would make them too)."""
        nc = await self.connect()
        try:
            js = nc.jetstream(timeout=10.0)
            await ensure_streams(js, self.replicas)
            for name in c.STREAMS:
                try:
                    await wait_for_leader(js, name)
                except TimeoutError as exc:  # rare (about 1 start in 35 under load): keep what the servers said
                    raise TimeoutError(f"{exc}; " + " | ".join(self.log_tail(n.name, 12) for n in self.nodes)) from exc
        finally:
            await nc.close()

    def kill(self, i: int) -> None:
        """SIGKILL node `i` (0-based): no goodbye to clients or peers."""
        proc = self.processes[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    async def restart(self, i: int, timeout: float = 30.0) -> None:
        self.kill(i)
        self._spawn(i)
        await self.wait_ready(timeout)

    def _kill_all(self) -> None:
        for i in range(len(self.processes)):
            self.kill(i)

    async def stop(self) -> None:
        stop_processes(self.processes)
        if self._tmp is not None:
            self._tmp.cleanup()

class LeafNode(_Running):
    """A site's leaf nats-server: serves the site's agents on its own loopback and connects out to
    the hub's leaf ports as the site. `netns`: run it inside that network namespace (`ip netns exec`)."""

    def __init__(self, site: str, hub: NatsCluster, port: int | None = None, netns: str | None = None) -> None:
        self.site, self.hub, self.netns = site, hub, netns
        self.port = port or free_port()
        self.conf = hub.workdir / f"leaf-{site}.conf"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        return f"leaf-{self.site}"

    def settings(self) -> dict:
        """Settings of an agent at the site: the local leaf, no credentials (the link carries them)."""
        return {"nats_url": self.url, "jetstream_replicas": self.hub.replicas}

    def env(self) -> dict[str, str]:
        return {f"EB_{key.upper()}": str(value) for key, value in self.settings().items()}

    async def start(self, timeout: float = 15.0) -> LeafNode:
        seed = self.hub.topology.sites[self.site].seed
        config = leaf_config(self.site, seed, self.hub.leaf_urls, listen=f"127.0.0.1:{self.port}",
                             ping_interval=self.hub.topology.ping_interval, ping_max=self.hub.topology.ping_max)
        self.conf.write_text(render(config))
        self.conf.chmod(0o600)
        command = [nats_server_binary(), "-c", str(self.conf)]
        if self.netns:
            command = [shutil.which("ip") or "ip", "netns", "exec", self.netns, *command]
        log = open(self.hub.workdir / f"{self.name}.log", "ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        await self.wait_linked(timeout)
        return self

    async def linked(self) -> bool:
        """Whether a hub node has this leaf connected (the hub's /leafz)."""
        async with httpx.AsyncClient(timeout=1.0) as http:
            for node, proc in zip(self.hub.nodes, self.hub.processes):
                if proc is None or proc.poll() is not None:
                    continue
                try:
                    leafs = (await http.get(f"http://127.0.0.1:{node.http_port}/leafz")).json().get("leafs") or []
                except (httpx.HTTPError, ValueError):
                    continue
                if any(leaf.get("name") == self.name for leaf in leafs):
                    return True
        return False

    async def wait_linked(self, timeout: float = 15.0, linked: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while await self.linked() is not linked:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"leaf node of {self.site} exited: {self.hub.log_tail(self.name)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"leaf node of {self.site} {'not ' if linked else 'still '}linked after {timeout}s")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        stop_processes([self.process], group=True)

