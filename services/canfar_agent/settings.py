"""Settings of a CANFAR (Skaha) site agent."""

from __future__ import annotations

from pydantic import Field

from srcnet_eb.shared.settings import PlatformSettings


class CanfarSettings(PlatformSettings):
    skaha_url: str = Field(description="base URL of the Skaha service, e.g. https://ws-uv.canfar.net")
    skaha_token: str | None = None
    skaha_cache_ttl: float = 30.0
    skaha_timeout: float = 5.0
    # Notebooks (jupyter-notebook executables) open in a Skaha `notebook` session of this image unless the
    # request names one the site offers; empty: the first image Skaha lists with the notebook type.
    notebook_image: str | None = None
    # Singularity/Apptainer images (singularity-container executables) run in a headless session of this
    # Skaha image, which must have the command below; empty: the site runs no Singularity images.
    singularity_image: str | None = None
    singularity_command: str = "apptainer run"
    # Skaha sessions see the shared filesystem (/arc) and the node's scratch space only: mounts go there.
    mount_roots: list[str] = Field(default_factory=lambda: ["/arc", "/scratch"])
