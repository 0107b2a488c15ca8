"""How uvicorn serves the gateway on a public endpoint: header, connection and idle limits (README "Limits")."""

from __future__ import annotations

from typing import Any

import uvicorn

from srcnet_eb.shared.settings import GatewaySettings


def uvicorn_config(app: Any, settings: GatewaySettings, **overrides: Any) -> uvicorn.Config:
    """h11, not httptools: only h11 bounds a request's head (h11_max_incomplete_event_size); with
    httptools a client can send headers without end. Body time is bounded by the gateway (408)."""
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_level": "warning",
        "http": "h11", "h11_max_incomplete_event_size": settings.max_header_bytes,
        "limit_concurrency": settings.max_connections,  # beyond: 503 at once, not an unbounded queue
        "backlog": settings.backlog,
        "timeout_keep_alive": settings.keep_alive_timeout,
    }
    return uvicorn.Config(app, **(options | overrides))
