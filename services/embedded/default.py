"""The embedded default (`ebroker up`): the whole broker on this machine — embedded NATS (JetStream
under the state folder), SQLite, gateway, planner, two CANFAR site agents against local Skaha
stand-ins and a data agent per site (and a Slurm site when a Slurm cluster answers here, a Docker site when
a Docker engine does, a JupyterHub site when JupyterHub is installed), each child restarted if it exits."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import httpx
import yaml

from srcnet_eb.shared.settings import DEV_IDENTITY, DEV_TOKEN

from .children import Children
from .nats import EmbeddedNats
from .ports import check_free, free_port, wait_listening
from .docker import detect as detect_docker
from .jupyterhub import detect as detect_jupyterhub
from .slurm import detect as detect_slurm
from .stopping import Stopping
from .supervisor import Supervisor

SITES = files("srcnet_eb.standins.skaha") / "sites"  # the stand-ins' site configurations, shipped in the wheel
DEMO_SITES = {"site-a": {"total_cores": 16, "total_memory_gb": 64, "singularity_image": "images.canfar.net/skaha/apptainer:1.3"},
              "site-b": {"total_cores": 32, "total_memory_gb": 128, "total_gpus": 1}}
# What the demo sites' offers cost (README "Costs and energy"): site-a on a hydro grid, unpriced; site-b
# on a mixed grid, efficient CPUs, a GPU, priced in EUR.
DEMO_FIGURES = {"site-a": {"watts_per_core": 12, "pue": 1.2, "grid_intensity": 30},
                "site-b": {"watts_per_core": 7.5, "watts_per_gpu": 300, "pue": 1.4, "grid_intensity": 250,
                           "price_per_core_hour": 0.02, "price_per_gpu_hour": 1.2, "price_currency": "EUR"}}


@dataclass(frozen=True)
class Options:
    port: int = 8080
    nats_url: str | None = None
    database_url: str | None = None
    rucio_url: str | None = None
    collect_timeout: float = 5.0
    state: Path = Path("var")
    slurm: bool = True
    docker: bool = True
    jupyterhub: bool = True


def run(options: Options, stopping: Stopping, echo: Callable[[str], None],
        warn: Callable[[str], None]) -> None:
    """Start every child, print where things are, and supervise until `stopping` is set. Raises
    supervisor.GaveUp when a child keeps failing; stops every child on the way out."""
    port, nats_url, database_url, rucio_url = options.port, options.nats_url, options.database_url, options.rucio_url
    collect_timeout, slurm = options.collect_timeout, options.slurm
    state = options.state.resolve()
    check_free(port)  # before any child: a busy port is one plain line, not a gateway crash loop
    children = Children(state / "logs")
    supervisor = Supervisor(children, warn)
    try:
        nats = None if nats_url else EmbeddedNats(store=state / "nats")
        if nats:  # first started, last stopped
            children.run("nats", nats.command(), {})
            wait_listening("127.0.0.1", nats.port)
        url = nats_url or nats.url
        common = {"EB_NATS_URL": url, "EB_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{state}/broker.db",
                  "EB_METRICS_INTERVAL": "5"}  # agents publish their metrics, the planner counts sessions
        skaha = {}
        for site in DEMO_SITES:
            config = SITES / f"{site}.yaml"
            skaha_port = free_port()
            children.spawn(f"skaha-{site}", "srcnet_eb.standins.skaha", {}, "--host", "127.0.0.1", "--port", str(skaha_port),
                           "--config", str(config))
            skaha[site] = (skaha_port, (yaml.safe_load(config.read_text()) or {}).get("token"))
        for site, (skaha_port, token) in skaha.items():
            wait_listening("127.0.0.1", skaha_port)
            env = {**common, "EB_SITE": site, "EB_SKAHA_URL": f"http://127.0.0.1:{skaha_port}/skaha",
                   **({"EB_SKAHA_TOKEN": token} if token else {}),
                   **{f"EB_{k.upper()}": str(v) for k, v in {**DEMO_SITES[site], **DEMO_FIGURES[site]}.items()}}
            children.spawn(f"agent-{site}", "srcnet_eb.services.canfar_agent", env)
            # Each site's data agent: Rucio when one is configured, else it judges simple-data-resource URLs.
            children.spawn(f"data-{site}", "srcnet_eb.services.rucio_agent",
                           {**common, "EB_SITE": site, **({"EB_RUCIO_HOST": rucio_url} if rucio_url else {})})
        slurm_site = detect_slurm() if slurm else None
        if slurm_site:
            children.spawn("agent-slurm", "srcnet_eb.services.slurm_agent", {**common, **slurm_site})
        docker_site = detect_docker(state) if options.docker else None
        if docker_site:
            children.spawn("agent-docker", "srcnet_eb.services.docker_agent", {**common, **docker_site})
        hub = detect_jupyterhub(state) if options.jupyterhub else None
        if hub:  # a hub of its own (and its proxy), then its agent
            children.run("jupyterhub", hub.argv(), hub.env())
            wait_listening("127.0.0.1", hub.hub_port, timeout=30)
            children.spawn("agent-jupyterhub", "srcnet_eb.services.jupyterhub_agent", {**common, **hub.agent_env()})
        # After the agents: a planner that starts (or restarts) re-plans what was left COLLECTING, with them.
        # The planner serves its metrics and every agent's (they publish them on NATS) on a port of its own.
        metrics = f"http://127.0.0.1:{(metrics_port := free_port())}/metrics"
        children.spawn("planner", "srcnet_eb.services.planner", {**common, "EB_COLLECT_TIMEOUT": str(collect_timeout),
                                                                 "EB_METRICS_PORT": str(metrics_port),
                                                                 "EB_METRICS_HOST": "127.0.0.1"})
        # Identity: the embedded default is for development: static mode, one token (an operator).
        auth = {"EB_AUTH_MODE": "static", "EB_AUTH_TOKENS": json.dumps({DEV_TOKEN: DEV_IDENTITY.model_dump()})}
        children.spawn("gateway", "srcnet_eb.services.gateway", {**auth, **common, "EB_HOST": "127.0.0.1",
                                                                 "EB_PORT": str(port), "EB_ACCESS_LOG": "true"})
        base = f"http://127.0.0.1:{port}"
        expected = 2 * len(DEMO_SITES) + bool(slurm_site) + bool(docker_site) + bool(hub)
        live = _wait_until_up(base, expected, supervisor, stopping)
        if live is None:
            return
        if live < expected:
            warn(f"only {live} of {expected} agents live after {UP_PATIENCE:g} s (see {children.log_dir})")
        echo(f"Execution Broker up ({live} live agents: platform and data agents of each site)\n"
                   f"  gateway   {base}   (OpenAPI: {base}/docs)\n"
                   f"  dashboard {base}/ui   (in a browser)\n"
                   f"  requests  POST {base}/requests   (offers; /offersets too)   POST {base}/direct   (run now)\n"
                   f"  agents    {base}/agents\n"
                   f"  metrics   {base}/metrics   (gateway)   {metrics}   (planner, with the agents')\n"
                   f"  token     {DEV_TOKEN}   (development; send 'Authorization: Bearer {DEV_TOKEN}', "
                   f"the ebroker client does)\n"
                   f"  NATS      {url}{f'  (embedded, JetStream in {nats.store})' if nats else ''}\n"
                   f"  database  {common['EB_DATABASE_URL']}\n"
                   f"  data      {f'Rucio {rucio_url}' if rucio_url else 'simple-data-resource URLs (no Rucio configured)'}\n"
                   f"  logs      {children.log_dir}\n"
                   f"  Skaha stand-ins: " + ", ".join(f"{s} http://127.0.0.1:{p}/skaha" for s, (p, _) in skaha.items()) +
                   (f"\n  Slurm site: {slurm_site['EB_SITE']} ({slurm_site['EB_TOTAL_CORES']} cores, partition "
                    f"{slurm_site['EB_PARTITION']})" if slurm_site else "") +
                   (f"\n  Docker site: {docker_site['EB_SITE']} ({docker_site['EB_DOCKER_HOST']}, the engine's images)"
                    if docker_site else "") +
                   (f"\n  JupyterHub site: {hub.agent_env()['EB_SITE']} {hub.public_url} (log in as 'dev', any password)"
                    if hub else "") +
                   "\nCtrl-C stops everything.")
        while not stopping.wait(0.25):
            supervisor.check()
    finally:
        echo("stopping…")
        children.stop()


UP_PATIENCE = 60.0  # seconds for the gateway to answer and every agent to be live


def _wait_until_up(base: str, expected: int, supervisor: Supervisor, stopping: Stopping) -> int | None:
    """The number of live agents once the gateway answers `GET /agents` with all `expected` (or after
    UP_PATIENCE, with fewer); None when stopped meanwhile. The supervisor keeps watch meanwhile, so a
    child that dies while starting is started again (and a crash loop raises GaveUp)."""
    deadline, live = time.monotonic() + UP_PATIENCE, 0
    while time.monotonic() < deadline:
        supervisor.check()
        try:
            answer = httpx.get(f"{base}/agents", headers={"Accept": "application/json",
                                                          "Authorization": f"Bearer {DEV_TOKEN}"}, timeout=2)
            live = len(answer.json().get("agents", [])) if answer.status_code == 200 else 0
        except (httpx.HTTPError, ValueError):
            live = 0
        if live >= expected:
            break
        if stopping.wait(0.25):
            return None
    return live


