"""Settings of every process, read from the environment (prefix ``EB_``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .capacity.demand import Demand

DEFAULT_NATS = "nats://127.0.0.1:4222"
DEFAULT_DATABASE = "sqlite+aiosqlite:///./var/broker.db"


class Common(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EB_", extra="ignore")

    nats_url: str = Field(DEFAULT_NATS, description="one URL, or a comma-separated list of a cluster's nodes")
    jetstream_replicas: int = Field(1, ge=1, le=5, description="replicas of each stream and bucket (3 on a cluster)")
    nats_nkey_seed: Path | None = Field(None, description="file with this process's NATS nkey seed (preferred)")
    nats_creds: Path | None = Field(None, description="NATS .creds file (user JWT and seed), for an operator-mode NATS")
    nats_user: str | None = Field(None, description="NATS user, with nats_password, when neither file is given")
    nats_password: SecretStr | None = None
    # Metrics (docs/operations.md "Metrics"): the gateway serves /metrics on its own port; a planner or an
    # agent has no HTTP server, so it serves them on this one (a planner with every agent's, from NATS).
    metrics_port: int | None = Field(None, ge=0, le=65535, description="port of this process's own /metrics "
                                                                       "(planner, agents); empty: none")
    metrics_host: str = Field("0.0.0.0", description="interface the metrics port listens on")
    metrics_interval: float = Field(15.0, gt=0, description="seconds between an agent's metrics publishes on "
                                                            "NATS (and a planner's refresh of sessions by phase)")
    metrics_token: SecretStr | None = Field(None, description="bearer token /metrics asks for; empty: open")
    # Logs (docs/operations.md "Traces and logs"); traces are configured by the standard OTEL_* variables.
    log_format: Literal["text", "json"] = Field("text", description="text lines, or one JSON object a line")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field("INFO", description="least level logged")

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class StoreSettings(Common):
    database_url: str = Field(DEFAULT_DATABASE, description="SQLAlchemy async URL (sqlite+aiosqlite or postgresql+asyncpg)")


class StaticIdentity(BaseModel):
    """Who a static (development) token stands for."""

    sub: str
    roles: list[str] = Field(default_factory=list)


# The embedded default's (`ebroker up`) one development token; the CLI sends it unless told otherwise.
DEV_TOKEN = "eb-dev-token"
DEV_IDENTITY = StaticIdentity(sub="dev", roles=["operator"])


class GatewaySettings(StoreSettings):
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = Field(None, description="base URL put in Location and meta.url; default: from the request")
    access_log: bool = Field(False, description="log every request (the embedded default does)")
    # Intake limits (README "Limits"): every body is checked against them while it is read and parsed,
    # and at start-up the largest request they let through is checked to fit the NATS server's max_payload.
    max_body_bytes: int = Field(262_144, gt=0, description="largest request body, bytes (413 beyond)")
    max_body_depth: int = Field(32, ge=4, le=256, description="deepest nesting of objects and lists (400 beyond)")
    max_body_items: int = Field(2_000, ge=16, description="most values (objects, lists, scalars) in a body")
    max_string_length: int = Field(65_536, ge=256, description="longest string or field name, characters (422)")
    max_number_digits: int = Field(40, ge=20, le=4000, description="longest number literal, characters (422)")
    body_timeout: float = Field(10.0, gt=0, description="seconds a client has to send the whole body (408 beyond)")
    max_header_bytes: int = Field(16_384, ge=1024, description="largest request line and headers, bytes (431/400)")
    max_connections: int = Field(1_000, ge=1, description="open connections and requests at once (503 beyond)")
    backlog: int = Field(2_048, ge=1, description="connections the kernel queues before accept")
    keep_alive_timeout: float = Field(5.0, gt=0, description="seconds an idle keep-alive connection stays open")
    max_wait: float = Field(60.0, description="longest Prefer: wait honoured, seconds")
    direct_wait: float = Field(30.0, gt=0, description="seconds POST /direct waits for the planner to complete "
                                                       "and accept; later it answers 202 with the OfferSet")
    plan_ack_timeout: float = Field(10.0, description="seconds to keep trying to store an offer request in JetStream "
                                              "(a cluster that lost a node elects new stream leaders meanwhile)")
    # Identity (docs/identity.md). `static`: tokens listed in auth_tokens, for development and tests;
    # `oidc`: bearer JWTs of one issuer (SKA IAM), checked against its published keys.
    auth_mode: Literal["static", "oidc"] = Field("static", description="how callers are identified")
    auth_tokens: dict[str, StaticIdentity] = Field(
        default_factory=dict, description='static mode: token -> identity, JSON: {"TOKEN": {"sub": "alice", '
                                          '"roles": ["operator"]}}; none by default, so nobody is let in')
    operator_role: str = Field("operator", description="the role (OIDC: group) that may read every OfferSet "
                                                       "and session and GET /accounting")
    oidc_issuer: str | None = Field(None, description="exactly as in the tokens' `iss`, e.g. https://ska-iam.stfc.ac.uk/")
    oidc_audience: str | None = Field(None, description="the `aud` tokens must carry for this broker")
    oidc_client_id: str | None = Field(None, description="the dashboard's public client at the issuer (sign-in "
                                                         "by authorization code + PKCE); empty: no sign-in there")
    oidc_scope: str = Field("openid profile wlcg.groups", description="scopes the dashboard asks the issuer for")
    oidc_roles_claims: list[str] = Field(["groups", "wlcg.groups"], description="claims listing the caller's "
                                                                                "groups; a leading / is ignored")
    oidc_algorithms: list[str] = Field(["RS256"], description="signature algorithms accepted")
    oidc_leeway: float = Field(30.0, ge=0, description="seconds of clock skew allowed on exp, nbf and iat")
    oidc_jwks_ttl: float = Field(300.0, gt=0, description="seconds the issuer's keys are used before fetched again")
    oidc_jwks_refetch: float = Field(10.0, ge=0, description="fewest seconds between fetches of the keys (a token "
                                                             "naming an unknown key, or the issuer failing)")
    oidc_timeout: float = Field(5.0, gt=0, description="seconds to wait for the issuer's discovery and keys")
    # Push (README "Push: events and callbacks").
    callback_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="hosts (or host:port) a callback URL may name, comma-separated; none by "
                                          "default, so no callback is accepted")
    events_poll: float = Field(0.5, gt=0, description="seconds between the gateway's looks for sessions' phase "
                                                      "changes while some event stream is open (one look for all)")
    events_keepalive: float = Field(15.0, gt=0, le=15.0, description="seconds between keep-alive comments on an "
                                                                     "idle event stream")

    @field_validator("callback_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        if isinstance(value, str):  # EB_CALLBACK_HOSTS=a.example.org,b.example.org:8443 (or a JSON list)
            value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        return [h.strip().lower() for h in value if h.strip()] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _oidc_complete(self) -> GatewaySettings:
        if self.auth_mode == "oidc" and not (self.oidc_issuer and self.oidc_audience):
            raise ValueError("auth_mode oidc needs oidc_issuer and oidc_audience (EB_OIDC_ISSUER, EB_OIDC_AUDIENCE)")
        return self


class PlannerSettings(StoreSettings):
    collect_timeout: float = Field(5.0, description="seconds to wait for sites before closing an OfferSet")
    agent_ttl_beats: float = Field(3.0, description="an agent is live for this many heartbeat intervals")
    sweep_interval: float = Field(1.0, description="seconds between expiry and hand-over sweeps")
    redelivery: float = Field(15.0, gt=0, description="seconds before an offer request whose planner went "
                                                      "silent goes to another planner")
    # Callbacks (README "Push: events and callbacks"), sent from the durable outbox in the database.
    callback_secret: SecretStr | None = Field(None, description="the HMAC-SHA256 key of EB-Signature; without it "
                                                                "no callback is sent (they wait in the outbox)")
    callback_poll: float = Field(1.0, gt=0, description="seconds between looks for callbacks due")
    callback_timeout: float = Field(10.0, gt=0, description="seconds a receiver has to answer one delivery")
    callback_backoff: float = Field(1.0, gt=0, description="seconds before the first retry; doubled each time")
    callback_backoff_max: float = Field(600.0, gt=0, description="longest wait between two attempts, seconds")
    callback_attempts: int = Field(15, ge=1, description="attempts at one delivery before it is given up")


class AgentSettings(Common):
    site: str
    heartbeat_interval: float = 5.0
    offer_expiry: float = Field(300.0, description="seconds an offer (and its reservation) stays open")
    max_offers: int = 4
    offer_queue: int = Field(1024, ge=1, description="offer requests one agent holds at once; more, or any it "
                                                     "could not answer before its deadline, are answered busy")
    prepare_seconds: float = Field(60.0, description="start-up (image pull) before AVAILABLE")
    release_seconds: float = 60.0
    # Results put where a request says (a storage `destination`): the release block grows by the time to move
    # them out, the storages' size (GiB, min) at this rate plus the overhead.
    output_mbps: float = Field(100.0, gt=0, description="rate at which results leave the site (upload to Rucio or "
                                                        "S3), Mbit/s, for the release block of offers")
    output_overhead: float = Field(30.0, ge=0, description="seconds to start and register an upload of results")
    default_duration: float = Field(3600.0, description="session length when the request gives none")
    max_duration: float = Field(7 * 24 * 3600.0, description="longest session the site runs")
    horizon: float = Field(7 * 24 * 3600.0, description="how far ahead offers may start")
    max_storage_gb: int | None = Field(100, ge=0, description="most storage (GiB, all of a request's storage "
                                                              "resources) a session may have here; empty: no limit")
    poll_interval: float = Field(5.0, description="seconds between looks at a running session")
    grace: float = Field(300.0, description="seconds past the offered start before a session still "
                                            "waiting for the platform or its data is FAILED")
    agent_name: str | None = Field(None, description="this replica's name in heartbeats and session leases "
                                                     "(e.g. the pod's); default: <site>-<platform>-<random>")
    session_lease: float = Field(10.0, gt=0, description="seconds a replica's claim on a session lasts unrenewed; "
                                                         "then another replica of the site takes the session over")
    lease_renewal: float = Field(3.0, gt=0, description="seconds between renewals of the leases a replica holds "
                                                        "(and its looks for lapsed ones); well under session_lease")
    # Costs and energy (README): the figures behind every offer's estimates. Defaults: world averages
    # (Green Algorithms, Lannelongue et al. 2021); a site sets its own.
    watts_per_core: float = Field(10.0, ge=0, description="power drawn by one busy core, W")
    watts_per_gpu: float = Field(300.0, ge=0, description="power drawn by one busy GPU, W")
    watts_per_gb: float = Field(0.3725, ge=0, description="power drawn by one GiB of memory, W")
    pue: float = Field(1.5, ge=1.0, description="power usage effectiveness of the data centre")
    grid_intensity: float = Field(475.0, ge=0, description="carbon intensity of the site's electricity, gCO2e/kWh")
    price_per_core_hour: float | None = Field(None, ge=0, description="price of a core-hour, in price_currency")
    price_per_gpu_hour: float | None = Field(None, ge=0, description="price of a GPU-hour, in price_currency")
    price_currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="ISO 4217 code of the prices")
    session_retention: float = Field(600.0, description="seconds a finished session's record stays in the bucket, "
                                                        "so a LAUNCH delivered again late is known, not run again")

    @model_validator(mode="after")
    def _priced_in(self) -> AgentSettings:
        if (self.price_per_core_hour is not None or self.price_per_gpu_hour is not None) and not self.price_currency:
            raise ValueError("a price (price_per_core_hour, price_per_gpu_hour) needs price_currency (EB_PRICE_CURRENCY)")
        return self


class PlatformSettings(AgentSettings):
    """A platform agent's settings: what every agent has, and the site's capacity (`EB_TOTAL_CORES`,
    `EB_TOTAL_MEMORY_GB`, `EB_TOTAL_GPUS`), which offers never exceed at any time. A platform's own
    settings subclass it (and may give other defaults)."""

    total_cores: int = Field(32, ge=0, description="cores this site gives the broker")
    total_memory_gb: int = Field(128, ge=0, description="memory (GiB) this site gives the broker")
    total_gpus: int = Field(0, ge=0, description="GPUs this site gives the broker")

    def capacity(self) -> Demand:
        return Demand(self.total_cores, self.total_memory_gb, self.total_gpus)
