"""The `ebroker` command: `up` (the embedded default), the client commands (`ask`, `accept`, …; see
client.py), `agent` (one site agent for a plug-in), `nats-config` (a deployment's NATS
configuration), `platforms` and `asyncapi`."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from srcnet_eb.services.embedded import default
from srcnet_eb.services.embedded.ports import PortBusy
from srcnet_eb.services.embedded.stopping import Stopping
from srcnet_eb.services.embedded.supervisor import GaveUp

from . import client

# Completion: `ebroker --install-completion` (bash, zsh, fish, PowerShell). No rich tracebacks: main()
# turns every usage error into one line.
app = typer.Typer(help="SRCNet Execution Broker", pretty_exceptions_enable=False, no_args_is_help=True)


@app.command()
def up(
    port: Annotated[int, typer.Option(help="gateway port on 127.0.0.1", min=1, max=65535)] = 8080,
    nats_url: Annotated[str | None, typer.Option(envvar="EB_NATS_URL", help="use this NATS instead of an embedded one")] = None,
    database_url: Annotated[str | None, typer.Option(envvar="EB_DATABASE_URL", help="SQLAlchemy URL; default SQLite in --state")] = None,
    rucio_url: Annotated[str | None, typer.Option(envvar="EB_RUCIO_HOST", help="the sites' data agents ask this "
                                                  "Rucio (EB_RUCIO_* settings); default: they judge URLs only")] = None,
    collect_timeout: Annotated[float, typer.Option(help="seconds the planner waits for sites")] = 5.0,
    state: Annotated[Path, typer.Option(help="folder for the database, the JetStream store and logs")] = Path("var"),
    slurm: Annotated[bool, typer.Option(help="add a Slurm site when a Slurm cluster answers here")] = True,
    docker: Annotated[bool, typer.Option(help="add a Docker site when a Docker engine answers here")] = True,
    jupyterhub: Annotated[bool, typer.Option(help="add a JupyterHub site (a hub of its own) when "
                                                  "scripts/jupyterhub/install.sh has installed one")] = True,
) -> None:
    """Bring the broker up on its embedded default and keep it up until Ctrl-C. A child that exits is
    started again; a restart on the same --state keeps the database and the streams."""
    stopping = Stopping()  # not threading.Event: its set() may deadlock in a signal handler
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    options = default.Options(port, nats_url, database_url, rucio_url, collect_timeout, state, slurm, docker, jupyterhub)
    try:
        default.run(options, stopping, typer.echo, lambda line: typer.echo(line, err=True))
    except PortBusy as exc:
        typer.echo(f"ebroker up: {exc}", err=True)
        raise typer.Exit(2) from None
    except GaveUp as exc:
        typer.echo(f"stopping: {exc} (see {(state / 'logs').resolve()})", err=True)
        raise typer.Exit(1) from None


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
    from srcnet_eb.services.deployment.natsconfig import Node, write_deployment

    sites = dict((s.split("=", 1)[0], s.split("=", 1)[1]) if "=" in s else (s, None) for s in site or [])
    nodes = [Node(name=host, host=host) for host in node or ["nats-1", "nats-2", "nats-3"]]
    topology, written = write_deployment(out, nodes, sites, tuple(leaf or ()))
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"EB_NATS_URL={topology.servers}")


@app.command()
def platforms() -> None:
    """List the installed platform plug-ins."""
    from srcnet_eb.shared.platform.plugins import available

    for name, where in sorted(available().items()):
        typer.echo(f"{name:12} {where}")


client.install(app)


def main() -> None:
    """`ebroker`: a usage error is one line on stderr (exit 2), not click's box."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="ebroker", standalone_mode=False)
    except typer.Abort:
        code = 130
    except typer.TyperException as exc:  # click's usage errors, as typer ships them
        ctx = getattr(exc, "ctx", None)
        where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"ebroker: {exc.format_message()}{where}", err=True)
        code = getattr(exc, "exit_code", 2)
    sys.exit(code if isinstance(code, int) else 0)
