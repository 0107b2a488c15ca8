"""/metrics as Prometheus reads it: the text format (or OpenMetrics, if the scraper asks), behind an
optional bearer token. Used by the gateway's route and by the metrics port of planners and agents."""

from __future__ import annotations

import hmac

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from pydantic import SecretStr

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}


def authorized(authorization: str | None, token: SecretStr | None) -> bool:
    """Open without a token; else only `Authorization: Bearer <token>` (compared in constant time)."""
    if token is None:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


def render(registry: Collector, accept: str | None) -> tuple[bytes, str]:
    """The registry's samples now, and their content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
