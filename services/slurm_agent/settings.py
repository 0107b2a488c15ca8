"""Settings of a Slurm site agent."""

from __future__ import annotations

from pydantic import Field

from srcnet_eb.shared.platform.notebook_batch import NotebookBatchSettings
from srcnet_eb.shared.settings import PlatformSettings


class SlurmSettings(PlatformSettings, NotebookBatchSettings):
    """jupyter-notebook requests run headless as jobs (EB_NOTEBOOK_*, its Python on the nodes' PATH or named in
    EB_NOTEBOOK_COMMAND), in job folders: only with EB_WORK_ROOT."""

    slurm_conf: str | None = Field(None, description="SLURM_CONF for the CLI tools; default: the system's")
    slurm_bin: str | None = Field(None, description="folder of sbatch/squeue/...; default: PATH")
    slurm_timeout: float = Field(10.0, description="seconds for one Slurm command (they hang while slurmctld is down)")
    partition: str | None = None
    total_cores: int = Field(2, ge=0, description="cores of the partition the broker may use")
    total_memory_gb: int = Field(4, ge=0, description="memory (GiB) of the partition the broker may use")
    # How a container runs: Apptainer/Singularity when the site has it, else this template.
    container_runtime: str | None = Field(None, description="apptainer or singularity; default: whichever is on PATH")
    command_template: str = Field(
        "{entrypoint} {command}", description="the job's command without a container runtime; {image}, "
        "{entrypoint} and {command} (the container's arguments, each shell-quoted) are filled in "
        "(e.g. 'podman run --rm --entrypoint {entrypoint} {image} {command}')")
    prepare_seconds: float = Field(30.0, description="job start-up (image pull) before AVAILABLE")
    release_seconds: float = 30.0
    default_memory_gb: int = Field(1, description="memory when the request gives none (--mem is always set)")
    work_root: str | None = Field(None, description="folder (shared with the nodes) under which each job runs in a "
                                                    "folder of its own, its results (delivered to a storage "
                                                    "destination); empty: jobs run in the agent's folder, keep none")
