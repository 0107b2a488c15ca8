"""Settings of every process, read from the environment (prefix ``EB_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NATS = "nats://127.0.0.1:4222"
DEFAULT_DATABASE = "sqlite+aiosqlite:///./var/broker.db"


class Common(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EB_", extra="ignore")

    nats_url: str = Field(DEFAULT_NATS, description="one URL, or a comma-separated list of a cluster's nodes")
    jetstream_replicas: int = Field(1, ge=1, le=5, description="replicas of each stream and bucket (3 on a cluster)")


class StoreSettings(Common):
    database_url: str = Field(DEFAULT_DATABASE, description="SQLAlchemy async URL (sqlite+aiosqlite or postgresql+asyncpg)")


class GatewaySettings(StoreSettings):
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = Field(None, description="base URL put in Location and meta.url; default: from the request")
    max_body_bytes: int = 1_048_576
    max_wait: float = Field(60.0, description="longest Prefer: wait honoured, seconds")
    plan_ack_timeout: float = Field(5.0, description="seconds to keep trying to store an offer request in JetStream")


class PlannerSettings(StoreSettings):
    collect_timeout: float = Field(5.0, description="seconds to wait for sites before closing an OfferSet")
    agent_ttl_beats: float = Field(3.0, description="an agent is live for this many heartbeat intervals")
    sweep_interval: float = Field(1.0, description="seconds between expiry and hand-over sweeps")
    redelivery: float = Field(15.0, gt=0, description="seconds before an offer request whose planner went "
                                                      "silent goes to another planner")


class AgentSettings(Common):
    site: str
    heartbeat_interval: float = 5.0
    offer_expiry: float = Field(300.0, description="seconds an offer (and its reservation) stays open")
    max_offers: int = 4
    prepare_seconds: float = Field(60.0, description="start-up (image pull) before AVAILABLE")
    release_seconds: float = 60.0
    default_duration: float = Field(3600.0, description="session length when the request gives none")
    max_duration: float = Field(7 * 24 * 3600.0, description="longest session the site runs")
    horizon: float = Field(7 * 24 * 3600.0, description="how far ahead offers may start")
    poll_interval: float = Field(5.0, description="seconds between looks at a running session")
    grace: float = Field(300.0, description="seconds past the offered start before a session still "
                                            "waiting for the platform or its data is FAILED")
