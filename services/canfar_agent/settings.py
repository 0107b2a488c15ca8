"""Settings of a CANFAR (Skaha) site agent."""

from __future__ import annotations

from pydantic import Field

from shared.settings import AgentSettings


class CanfarSettings(AgentSettings):
    skaha_url: str = Field(description="base URL of the Skaha service, e.g. https://ws-uv.canfar.net")
    skaha_token: str | None = None
    skaha_cache_ttl: float = 30.0
    skaha_timeout: float = 5.0
    total_cores: int = Field(32, description="cores this site gives the broker")
    total_memory_gb: int = 128
    total_gpus: int = 0
