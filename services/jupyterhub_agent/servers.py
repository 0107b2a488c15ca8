"""A broker session as a named server of its user: its name, the user_options it starts with, and what
its state on the hub means for the runtime.

* Name: ``eb-`` + the first 12 hex digits of the session's uuid: how a restarted agent finds it again.
* user_options: `image`, `cpu_limit` (cores), `mem_limit` ("<n>G"), `gpus`, as a spawner takes them (a
  KubeSpawner or the hub config's `pre_spawn_hook` reads them), and `eb_session`, `eb_ends`: the end of
  the offered time, kept by the hub with the server so any agent replica knows when it is over.
* State: pending spawn -> PENDING; ready -> RUNNING (STOPPING once its time is over: the platform stops
  it, so a session ends by itself even where no runtime watches); pending stop -> STOPPING; stopped after
  its end -> SUCCEEDED (and forgotten); stopped before it -> FAILED (its spawn failed, or someone else
  stopped it); unknown to the hub -> GONE.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from srcnet_eb.shared import model as m
from srcnet_eb.shared.platform.port import RunState, RunStatus

from .hub import HubServer

PREFIX = "eb-"


def server_name(session: UUID) -> str:
    return PREFIX + session.hex[:12]


def platform_id(user: str, server: str) -> str:
    return f"{user}/{server}"


def split(platform_id: str) -> tuple[str, str]:
    user, _, server = platform_id.rpartition("/")
    return user, server


def ends_of(session: m.ExecutionSession) -> datetime:
    """The end of the offered time: after preparation, the available block (as the runtime reckons it)."""
    preparing, available = session.schedule.preparing, session.schedule.available
    return preparing.start + m.parse_duration(preparing.duration) + m.parse_duration(available.duration)


def options(session: m.ExecutionSession, image: str | None) -> dict[str, Any]:
    compute = session.compute if isinstance(session.compute, m.SimpleComputeResource) else None
    cores = compute.cores.min if compute and compute.cores and compute.cores.min else 1
    memory = compute.memory.min if compute and compute.memory and compute.memory.min else 1
    gpus = (compute.gpus().min or 0) if compute else 0
    found: dict[str, Any] = {"cpu_limit": cores, "mem_limit": f"{memory}G", "gpus": gpus,
                             "eb_session": str(session.meta.uuid), "eb_ends": ends_of(session).isoformat()}
    if image:
        found["image"] = image
    return found


def ends(server: HubServer) -> datetime | None:
    try:
        return datetime.fromisoformat(str(server.user_options["eb_ends"]))
    except (KeyError, ValueError):
        return None  # not started by the broker: no end of ours


def over(server: HubServer, now: datetime | None = None) -> bool:
    end = ends(server)
    return end is not None and (now or datetime.now(UTC)) >= end


def run_status(server: HubServer | None, public_url: str, pid: str) -> RunStatus:
    if server is None:
        return RunStatus(RunState.GONE, detail=f"the hub no longer knows server {pid}")
    end = ends(server)
    if server.pending == "spawn" or (not server.ready and not server.stopped and server.pending is None):
        return RunStatus(RunState.PENDING, detail="the hub is starting the notebook server", ends=end)
    if server.ready:
        return RunStatus(RunState.RUNNING, access=[public_url.rstrip("/") + server.url], ends=end)
    if server.pending:
        return RunStatus(RunState.STOPPING, detail=f"the hub is stopping the notebook server ({server.pending})")
    if over(server):
        return RunStatus(RunState.SUCCEEDED, detail="the notebook server stopped at the end of its time")
    return RunStatus(RunState.FAILED, detail="the notebook server stopped before its end (its start failed, or it "
                                             "was shut down on the hub)")
