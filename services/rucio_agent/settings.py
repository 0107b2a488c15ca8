"""Settings of a site's Rucio data agent."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from srcnet_eb.services.s3_data.settings import S3Settings
from srcnet_eb.shared.settings import AgentSettings

from .results_settings import ResultsSettings


class Policy(StrEnum):
    LOCAL_ONLY = "local-only"  # Version 2: not at the site -> NO
    STAGE = "stage"  # Version 3: offer to bring it, later


class RucioSettings(AgentSettings, S3Settings, ResultsSettings):
    """Rucio's, S3's (EB_S3_*: services/s3_data/settings.py) and where results go (results_settings.py);
    Rucio and S3 each may be configured or not."""

    rucio_host: str | None = Field(None, description="Rucio server URL; none: judge simple-data-resource URLs only")
    rucio_auth_host: str | None = Field(None, description="default: rucio_host")
    rucio_account: str = "root"
    rucio_auth_type: str = "userpass"
    rucio_username: str | None = None
    rucio_password: str | None = None
    rucio_vo: str | None = None
    rucio_timeout: float = Field(10.0, description="seconds for one Rucio call")
    rse_expression: str | None = Field(None, description="this site's RSEs; default `site=<site>`")
    policy: Policy = Policy.STAGE
    cache_ttl: float = Field(30.0, description="seconds a locality answer is reused")
    # The staging model (see staging.py): link rates by distance when Rucio has seen no traffic.
    fallback_mbps: dict[int, float] = Field(default_factory=lambda: {0: 1000.0, 1: 200.0, 2: 100.0, 3: 50.0})
    default_mbps: float = Field(20.0, description="link rate for a distance not in fallback_mbps")
    transfer_overhead: float = Field(30.0, description="seconds to queue, submit and verify a transfer")
    download_mbps: float = Field(50.0, description="rate for simple (URL) data resources")
    unknown_size_eta: float = Field(300.0, description="seconds assumed for a download of unknown size")
    max_eta: float = Field(7 * 24 * 3600.0, description="staging longer than this is not offered")

    @property
    def site_rses(self) -> str:
        return self.rse_expression or f"site={self.site}"
