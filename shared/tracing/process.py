"""The one start of every process's logging and tracing (shared/service.py, the gateway's main)."""

from __future__ import annotations

from srcnet_eb.shared.settings import Common

from .logs import configure_logging
from .setup import configure_tracing


_configured: list[str] = []


def configure_process(service_name: str, settings: Common | None = None) -> None:
    """Log lines as EB_LOG_FORMAT and EB_LOG_LEVEL say; traces as the OTEL_* variables say, under
    `service_name` (eb-gateway, eb-planner, eb-agent-<site>…) unless OTEL_SERVICE_NAME names it.

    Once per process (a second call changes nothing): before the process builds what is instrumented
    (HTTP clients, engines, its app), which a main that builds its service first calls it for."""
    if _configured:
        return
    _configured.append(service_name)
    settings = settings if settings is not None else Common()
    configure_logging(settings.log_format, settings.log_level)
    configure_tracing(service_name)
