"""The EB_S3_* settings of a site's data agent (a mixin: services/rucio_agent/settings.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator

from .resource import normalise


class S3Remote(BaseModel):
    """An S3 endpoint the site copies from; no keys: anonymous (unsigned) requests."""

    access_key: str | None = None
    secret_key: SecretStr | None = None
    region: str | None = None
    mbps: float | None = Field(None, gt=0, description="copy rate from it, MB/s; default s3_copy_mbps")


class S3Settings(BaseModel):
    s3_endpoint: str | None = Field(None, description="this site's own S3 endpoint (URL); none: S3 data is not "
                                                      "judged here")
    s3_access_key: str | None = Field(None, description="key of the site's S3 identity")
    s3_secret_key: SecretStr | None = None
    s3_region: str = Field("us-east-1", description="region the requests are signed for")
    s3_aliases: list[str] = Field(default_factory=list, description="other URLs of the site's own endpoint")
    s3_local_buckets: list[str] = Field(default_factory=list, description="buckets of the site's endpoint whose "
                                                                          "data is local; empty: every bucket")
    s3_staging_bucket: str = Field("eb-staging", description="bucket on the site's endpoint that staging copies into")
    s3_remotes: dict[str, S3Remote] = Field(default_factory=dict, description="endpoints (URL -> keys, rate) this "
                                                                              "site copies from; others: NO")
    s3_copy_mbps: float = Field(100.0, gt=0, description="copy rate from another endpoint, MB/s")
    s3_copy_overhead: float = Field(10.0, ge=0, description="seconds to start and verify a copy")
    s3_timeout: float = Field(10.0, gt=0, description="seconds for one S3 call (a copy's reads and writes too)")
    s3_judge_timeout: float = Field(3.0, gt=0, description="seconds to find an object's size for an offer")
    s3_copy_workers: int = Field(4, ge=1, description="copies (objects) in flight at once")

    @field_validator("s3_endpoint", "s3_aliases", "s3_remotes")
    @classmethod
    def _urls(cls, value):
        """A URL that is not one fails at start-up, naming the setting, not at the first request."""
        for url in ([value] if isinstance(value, str) else list(value or [])):
            normalise(url)  # ValueError: pydantic names the field
        return value
