"""`ebroker up`: the whole broker on this machine — embedded NATS (JetStream under --state), SQLite,
gateway, planner, two CANFAR site agents against local Skaha stand-ins and a data agent per site, each
child restarted if it exits. Ctrl-C stops every child cleanly."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
import yaml

from srcnet_eb.shared.settings import DEV_IDENTITY, DEV_TOKEN

from . import client
from .children import Children
from .nats import EmbeddedNats
from .ports import free_port, wait_listening
from .slurm import detect as detect_slurm
from .supervisor import GaveUp, Supervisor

SITES = Path(__file__).resolve().parents[2] / "standins" / "skaha" / "sites"
DEMO_SITES = {"site-a": {"total_cores": 16, "total_memory_gb": 64, "singularity_image": "images.canfar.net/skaha/apptainer:1.3"},
              "site-b": {"total_cores": 32, "total_memory_gb": 128, "total_gpus": 1}}
# What the demo sites' offers cost (README "Costs and energy"): site-a on a hydro grid, unpriced; site-b
# on a mixed grid, efficient CPUs, a GPU, priced in EUR.
DEMO_FIGURES = {"site-a": {"watts_per_core": 12, "pue": 1.2, "grid_intensity": 30},
                "site-b": {"watts_per_core": 7.5, "watts_per_gpu": 300, "pue": 1.4, "grid_intensity": 250,
                           "price_per_core_hour": 0.02, "price_per_gpu_hour": 1.2, "price_currency": "EUR"}}

app = typer.Typer(add_completion=False, help="SRCNet Execution Broker")


@app.command()
def up(
    port: Annotated[int, typer.Option(help="gateway port on 127.0.0.1")] = 8080,
    nats_url: Annotated[str | None, typer.Option(envvar="EB_NATS_URL", help="use this NATS instead of an embedded one")] = None,
    database_url: Annotated[str | None, typer.Option(envvar="EB_DATABASE_URL", help="SQLAlchemy URL; default SQLite in --state")] = None,
    rucio_url: Annotated[str | None, typer.Option(envvar="EB_RUCIO_HOST", help="the sites' data agents ask this "
                                                  "Rucio (EB_RUCIO_* settings); default: they judge URLs only")] = None,
    collect_timeout: Annotated[float, typer.Option(help="seconds the planner waits for sites")] = 5.0,
    state: Annotated[Path, typer.Option(help="folder for the database, the JetStream store and logs")] = Path("var"),
    slurm: Annotated[bool, typer.Option(help="add a Slurm site when a Slurm cluster answers here")] = True,
) -> None:
    """Bring the broker up on its embedded default and keep it up until Ctrl-C. A child that exits is
    started again; a restart on the same --state keeps the database and the streams."""
    state = state.resolve()
    children = Children(state / "logs")
    supervisor = Supervisor(children, lambda line: typer.echo(line, err=True))
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        nats = None if nats_url else EmbeddedNats(store=state / "nats")
        if nats:  # first started, last stopped
            children.run("nats", nats.command(), {})
            wait_listening("127.0.0.1", nats.port)
        url = nats_url or nats.url
        common = {"EB_NATS_URL": url, "EB_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{state}/broker.db"}
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
        # After the agents: a planner that starts (or restarts) re-plans what was left COLLECTING, with them.
        children.spawn("planner", "srcnet_eb.services.planner", {**common, "EB_COLLECT_TIMEOUT": str(collect_timeout)})
        # Identity: the embedded default is for development: static mode, one token (an operator).
        auth = {"EB_AUTH_MODE": "static", "EB_AUTH_TOKENS": json.dumps({DEV_TOKEN: DEV_IDENTITY.model_dump()})}
        children.spawn("gateway", "srcnet_eb.services.gateway", {**auth, **common, "EB_HOST": "127.0.0.1", "EB_PORT": str(port)})
        wait_listening("127.0.0.1", port, timeout=30)
        base = f"http://127.0.0.1:{port}"
        live = _wait_for_agents(base, 2 * len(DEMO_SITES) + bool(slurm_site))
        typer.echo(f"Execution Broker up ({live} live agents: platform and data agents of each site)\n"
                   f"  gateway   {base}   (OpenAPI: {base}/docs)\n"
                   f"  requests  POST {base}/requests   (offers; /offersets too)   POST {base}/direct   (run now)\n"
                   f"  agents    {base}/agents\n"
                   f"  token     {DEV_TOKEN}   (development; send 'Authorization: Bearer {DEV_TOKEN}', "
                   f"the ebroker client does)\n"
                   f"  NATS      {url}{f'  (embedded, JetStream in {nats.store})' if nats else ''}\n"
                   f"  database  {common['EB_DATABASE_URL']}\n"
                   f"  data      {f'Rucio {rucio_url}' if rucio_url else 'simple-data-resource URLs (no Rucio configured)'}\n"
                   f"  logs      {children.log_dir}\n"
                   f"  Skaha stand-ins: " + ", ".join(f"{s} http://127.0.0.1:{p}/skaha" for s, (p, _) in skaha.items()) +
                   (f"\n  Slurm site: {slurm_site['EB_SITE']} ({slurm_site['EB_TOTAL_CORES']} cores, partition "
                    f"{slurm_site['EB_PARTITION']})" if slurm_site else "") +
                   "\nCtrl-C stops everything.")
        while not stopping.wait(0.25):
            supervisor.check()
    except GaveUp as exc:
        typer.echo(f"stopping: {exc} (see {children.log_dir})", err=True)
        raise typer.Exit(1) from None
    finally:
        typer.echo("stopping…")
        children.stop()


def _wait_for_agents(base: str, expected: int, timeout: float = 20.0) -> int:
    live = 0
    for _ in range(int(timeout / 0.25)):
        try:
            found = httpx.get(f"{base}/agents", headers={"Accept": "application/json",
                                                         "Authorization": f"Bearer {DEV_TOKEN}"}, timeout=2).json()
            live = len(found.get("agents", []))
        except (httpx.HTTPError, ValueError):
            live = 0
        if live >= expected:
            break
        time.sleep(0.25)
    return live


@app.command()
def asyncapi(
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Print the AsyncAPI document of every NATS subject, generated from the code."""
    from .asyncapi import document

    text = document()
    if out:
        out.write_text(text)
    else:
        typer.echo(text)


@app.command()
def agent(
    platform: Annotated[str, typer.Argument(help="plug-in name (see `ebroker platforms`) or module:attribute")],
    config: Annotated[Path | None, typer.Option(help="YAML file of settings; EB_* variables win")] = None,
) -> None:
    """Run one site agent for a platform plug-in until Ctrl-C."""
    from srcnet_eb.shared.agent.main import run_agent

    run_agent(platform, config)


@app.command("nats-config")
def nats_config(
    out: Annotated[Path, typer.Argument(help="folder for the server configurations (secrets go to its secrets/)")]
    = Path("deploy/nats"),
    site: Annotated[list[str] | None, typer.Option(
        "--site", help="NAME (its nkey is made here) or NAME=UPUBLICKEY (the site made its own and keeps the seed)")] = None,
    leaf: Annotated[list[str] | None, typer.Option("--leaf", help="also write this site's leaf node configuration")] = None,
    node: Annotated[list[str] | None, typer.Option("--node", help="host name of a cluster node; default nats-1..3")] = None,
) -> None:
    """Write the NATS cluster's configurations (an account per site), the central and per-site nkeys and leaf
    node configurations. Running it again keeps the keys already written; reload the servers after."""
    from .natsconfig import Node, write_deployment

    sites = dict((s.split("=", 1)[0], s.split("=", 1)[1]) if "=" in s else (s, None) for s in site or [])
    nodes = [Node(name=host, host=host) for host in node or ["nats-1", "nats-2", "nats-3"]]
    topology, written = write_deployment(out, nodes, sites, tuple(leaf or ()))
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"EB_NATS_URL={topology.servers}")


@app.command()
def platforms() -> None:
    """List the installed platform plug-ins."""
    from srcnet_eb.shared.plugins import available

    for name, where in sorted(available().items()):
        typer.echo(f"{name:12} {where}")


client.install(app)


def main() -> None:
    app()
