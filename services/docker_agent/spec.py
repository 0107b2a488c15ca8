"""The Engine API's container-create body for an accepted session (`docker run` in one document)."""

from __future__ import annotations

import shlex
import uuid
from typing import Any

from srcnet_eb.shared import model as m
from srcnet_eb.shared.capacity import Demand

LABEL = "org.srcnet.eb"  # every container the agent makes carries <LABEL>.session and <LABEL>.site
GiB = 2**30


def container_name(session: uuid.UUID) -> str:
    """One name per session: a second launch of the same session finds the first container (409 Conflict)."""
    return "eb-" + session.hex


def create_body(session: m.ExecutionSession, image: str, demand: Demand, *, site: str, network_mode: str,
                mounts: list[dict], gpu_driver: str = "", owner: str | None = None,
                argv: list[str] | None = None) -> dict[str, Any]:
    """`argv`: the site's own command (a notebook run headless) instead of the executable's."""
    executable = session.executable
    assert argv is not None or isinstance(executable, m.DockerContainer)
    body: dict[str, Any] = {
        "Image": image,
        "Env": [f"{k}={v}" for k, v in (getattr(executable, "environment", None) or {}).items()],
        "Labels": {f"{LABEL}.session": str(session.meta.uuid), f"{LABEL}.site": site},
        "HostConfig": {
            "NanoCpus": demand.cores * 10**9,  # docker run --cpus
            "Memory": demand.memory_gb * GiB,  # --memory; swap as much again (the engine's default)
            "NetworkMode": network_mode,
            "Mounts": mounts,
            "Init": True,  # a PID 1 that reaps and forwards SIGTERM, so a cancel stops the job promptly
            "SecurityOpt": ["no-new-privileges:true"],  # no setuid way up to the host's root from a user's job
        },
    }
    # As in `docker run`: `entrypoint` replaces the image's, `command` is its arguments (each a word).
    if argv is not None:
        body["Entrypoint"], body["Cmd"] = argv, []
    else:
        if executable.entrypoint:
            body["Entrypoint"] = shlex.split(executable.entrypoint)
        if executable.command is not None:
            body["Cmd"] = list(executable.command)
        elif executable.entrypoint:
            body["Cmd"] = []  # not the image's CMD after a new entrypoint (docker run does the same)
    if owner:
        body["Labels"][f"{LABEL}.owner"] = owner
    if demand.gpus:
        body["HostConfig"]["DeviceRequests"] = [{"Driver": gpu_driver, "Count": demand.gpus,
                                                 "Capabilities": [["gpu"]]}]
    return body
