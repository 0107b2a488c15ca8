"""Does a Docker engine answer here? The embedded default then adds a Docker site (`ebroker up`)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

SOCKET = "/var/run/docker.sock"


def detect(state: Path) -> dict[str, str] | None:
    """EB_* settings for a local Docker site agent, or None when no engine answers. DOCKER_HOST (unix:// or
    tcp://) or the default socket; the sessions' storage goes under `state`/docker; the capacity and
    the images are the host's (the plug-in's defaults), containers get no network."""
    host = os.environ.get("DOCKER_HOST") or f"unix://{SOCKET}"
    if host.startswith("unix://"):
        if not Path(host.removeprefix("unix://")).exists():
            return None
        base, transport = "http://docker", httpx.HTTPTransport(uds=host.removeprefix("unix://"))
    elif host.startswith("tcp://"):
        base, transport = "http://" + host.removeprefix("tcp://"), None
    else:
        return None
    try:
        with httpx.Client(base_url=base, transport=transport, timeout=3) as http:
            if http.get("/_ping").status_code != 200:
                return None
    except httpx.HTTPError:
        return None
    return {"EB_SITE": "docker-local", "EB_DOCKER_HOST": host, "EB_WORK_ROOT": str(state / "docker"),
            "EB_NETWORK_MODE": "none"}
