"""Settings of a Docker site agent (EB_* variables, or a YAML file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from srcnet_eb.shared.platform.notebook_batch import NotebookBatchSettings
from srcnet_eb.shared.settings import PlatformSettings


def _host_cores() -> int:
    return os.cpu_count() or 1


def _host_memory_gb() -> int:
    """This machine's memory, GiB (the agent runs beside the engine it drives, which shares its host dirs)."""
    try:
        return max(1, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**30)
    except (ValueError, OSError):
        return 1


class DockerSettings(PlatformSettings, NotebookBatchSettings):
    docker_host: str = Field("unix:///var/run/docker.sock",
                             description="the engine's API: unix:///path/to/docker.sock or tcp://host:port")
    docker_timeout: float = Field(30.0, gt=0, description="seconds for one Engine API call (an image pull: 10x)")
    images_ttl: float = Field(10.0, ge=0, description="seconds the engine's image list is reused when answering "
                              "offer requests (a launch always asks the engine)")
    # The site's capacity defaults to this host's (a container's --cpus may not exceed the host's CPUs).
    total_cores: int = Field(default_factory=_host_cores, ge=0, description="cores the broker may use; "
                                                                           "default: this host's")
    total_memory_gb: int = Field(default_factory=_host_memory_gb, ge=0, description="memory (GiB) the broker may "
                                                                                   "use; default: this host's")
    images: list[str] = Field(default_factory=list, description="the images sessions may run (allow-list); "
                                                                "empty: every image the host has")
    pull: Literal["never", "if-allowed"] = Field("never", description="never: only images the host has; "
                                                 "if-allowed: an allow-listed image the host lacks is pulled at launch")
    network_mode: str = Field("none", description="the containers' network (docker run --network)")
    work_root: Path = Field(Path("/var/lib/srcnet-eb/docker"),
                            description="host folder of the sessions' storage (one folder per session, bind-mounted)")
    data_paths: dict[str, str] = Field(default_factory=dict, description='data the site holds as host folders, '
                                       'read-only mounts: location prefix -> host path, JSON: {"https://data.example'
                                       '.org/": "/srv/data/"} (a Rucio DID\'s location is scope:name)')
    gpu_driver: str = Field("", description="DeviceRequests driver for GPUs (docker run --gpus); empty: the default")
    default_memory_gb: int = Field(1, ge=1, description="memory when the request gives none (--memory is always set)")
    stop_timeout: int = Field(10, ge=0, description="seconds a cancelled container has between SIGTERM and SIGKILL")
    finished_retention: float = Field(3600.0, ge=0, description="seconds an ended container is kept (its state "
                                                                "and logs; well over poll_interval: the agent must see "
                                                                "it end) before the agent removes it")
    outputs_retention: float | None = Field(86400.0, ge=0, description="seconds a session's storage folder "
                                            "is kept after its container is gone (its results delivered by then); "
                                            "empty: kept")
    notebook_image: str = Field("srcnet/notebook:bookworm", description="the image jupyter-notebook sessions run "
                                "headless in (EB_NOTEBOOK_COMMAND), unless the request names one the site runs; "
                                "scripts/images/build.sh builds it")
    prepare_seconds: float = Field(10.0, description="start-up (container creation) before AVAILABLE")
    release_seconds: float = 10.0
