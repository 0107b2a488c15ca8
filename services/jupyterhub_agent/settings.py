"""Settings of a JupyterHub site agent (EB_* variables, or a YAML file)."""

from __future__ import annotations

from pydantic import Field

from srcnet_eb.shared.settings import PlatformSettings


class JupyterHubSettings(PlatformSettings):
    hub_api_url: str = Field(description="the hub's REST API, e.g. https://hub.example.org/hub/api")
    hub_token: str | None = Field(None, description="the broker's service token; scopes: admin:users, "
                                  "admin:servers, access:servers, list:users, read:users")
    hub_public_url: str | None = Field(None, description="what users open (the proxy), e.g. https://hub.example.org; "
                                       "default: hub_api_url without /hub/api")
    hub_timeout: float = 10.0
    hub_check_ttl: float = Field(10.0, ge=0, description="seconds a hub that answered is taken as up when offering")
    # The notebook images the hub's spawner takes (as user_options `image`); the first is the default. Empty:
    # the spawner's own image, and a request naming one is refused.
    images: list[str] = Field(default_factory=list)
    # One notebook server's limits (the spawner's), besides the site's capacity (EB_TOTAL_*).
    max_cores: int = Field(4, ge=1)
    max_memory_gb: int = Field(16, ge=1)
    max_gpus: int = Field(0, ge=0)
    # Where a user's server opens (its root), "{username}" filled in: an absolute notebook location must lie
    # under it. Empty: only locations relative to the user's home are opened.
    notebook_root: str | None = None
    # The hub user of a request nobody signed (the gateway without authentication).
    anonymous_user: str = "eb-anonymous"
