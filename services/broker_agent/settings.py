"""Settings of a site agent whose platform is another Execution Broker."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from srcnet_eb.shared.settings import PlatformSettings


class BrokerSettings(PlatformSettings):
    remote_url: str = Field(description="base URL of the other broker (its POST /requests or /offersets)")
    remote_token: SecretStr | None = Field(None, description="bearer token sent to the other broker")
    remote_name: str | None = Field(None, description="the other broker's name in offers and messages; "
                                                      "default: its URL's host:port")
    remote_dialect: Literal["auto", "2026-07", "2026-05"] = Field(
        "auto", description="2026-07: POST /requests; 2026-05: POST /offersets (the older form); auto: "
                            "2026-07, falling back to 2026-05 when the other broker has no /requests")
    remote_poll: float = Field(0.5, gt=0, description="seconds between looks at the other broker's OfferSet "
                                                      "(it is also asked to hold its answer: Prefer: wait)")
    remote_timeout: float = Field(4.0, gt=0, description="seconds the other broker has to complete its "
                                                         "OfferSet; keep below the planner's EB_COLLECT_TIMEOUT")
    remote_http_timeout: float = Field(10.0, gt=0, description="seconds for one HTTP call to the other broker")
    remote_expiry_margin: float = Field(5.0, ge=0, description="seconds our offers expire before the other "
                                                               "broker's, so an accept still reaches it")
    prepare_seconds: float = Field(5.0, description="start-up at the other broker before AVAILABLE")
    release_seconds: float = Field(5.0, description="release at the other broker after the session")

    @field_validator("remote_url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("remote_url must be an http(s) URL, e.g. https://broker.example.org")
        return value.rstrip("/")

    @property
    def remote(self) -> str:
        return self.remote_name or urlsplit(self.remote_url).netloc
