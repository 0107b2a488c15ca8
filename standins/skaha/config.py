"""Configuration of the Skaha stand-in: what one fake CANFAR site offers."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class StandInImage(BaseModel):
    """One entry of ``GET /skaha/v1/image`` (same field names as Skaha)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    types: list[str] = Field(min_length=1)
    digest: str = "sha256:" + "0" * 64


class SkahaStandInConfig(BaseModel):
    # Typos in a site YAML should fail loudly rather than silently use defaults.
    model_config = ConfigDict(extra="forbid")

    images: list[StandInImage] = Field(default_factory=list)
    cores_options: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])
    memory_options: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 16])  # GB
    gpu_options: list[int] = Field(default_factory=list)  # [] = no GPUs at this site
    default_cores: int | None = None  # None -> smallest option
    default_memory_gb: int | None = None  # None -> smallest option
    max_interactive_sessions: int = 3

    # Capacity of the whole fake cluster; sessions that do not fit stay Pending.
    total_cores: int = 64
    total_memory_gb: int = 256
    total_gpus: int = 0

    token: str | None = None  # when set: Authorization: Bearer <token> or 401
    userid: str = "standin-user"
    sessions_host: str = "standin.skaha.invalid"  # only used to build connectURL

    session_pending_seconds: float = 1.0
    session_run_seconds: float = 5.0  # headless sessions complete after this
    session_terminating_seconds: float = 0.5  # Terminating shown after DELETE
    session_expiry_seconds: float = 4 * 24 * 3600  # activeDeadlineSeconds
    finished_ttl_seconds: float = 3600.0  # finished sessions stay listed this long
    fail_images: list[str] = Field(default_factory=list)
    # Newest Skaha says "Completed"; releases before 2025 said "Succeeded".
    completed_status: Literal["Completed", "Succeeded"] = "Completed"

    @model_validator(mode="after")
    def _check(self) -> SkahaStandInConfig:
        if not self.cores_options or not self.memory_options:
            raise ValueError("cores_options and memory_options must not be empty")
        for name, default, options in (
            ("default_cores", self.default_cores, self.cores_options),
            ("default_memory_gb", self.default_memory_gb, self.memory_options),
        ):
            if default is not None and default not in options:
                raise ValueError(f"{name}={default} is not one of the options {options}")
        return self

    @property
    def cores_default(self) -> int:
        return self.default_cores if self.default_cores is not None else min(self.cores_options)

    @property
    def memory_default(self) -> int:
        return (
            self.default_memory_gb
            if self.default_memory_gb is not None
            else min(self.memory_options)
        )


def load_config(path: str | Path) -> SkahaStandInConfig:
    """Read a site YAML file (see ``standins/skaha/sites/``)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return SkahaStandInConfig.model_validate(data)
