"""The process's TracerProvider, from the standard OTEL_* variables.

An SDK provider (spans recorded, batched, exported over OTLP/HTTP) only where an exporter is asked for:
OTEL_TRACES_EXPORTER=otlp (or console), or an OTLP endpoint set. Otherwise the SDK is not even imported,
the API's no-op tracer stays, and our own hops make no span at all (`installed()` is False): they only
carry on a traceparent that came in, so a trace recorded by the processes that do export stays whole.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry import trace

log = logging.getLogger(__name__)

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_installed = False  # read on every message: a flag, not a look-up of the global provider (microseconds)


def installed() -> bool:
    """Whether a TracerProvider was installed (an exporter is configured, or a test records). Without one
    our own spans are not even started: only a trace that came in is carried on, as the no-op tracer does."""
    return _installed


def install(provider: trace.TracerProvider) -> None:
    """Make `provider` the process's (once per process: OpenTelemetry keeps the first)."""
    global _installed
    trace.set_tracer_provider(provider)
    _installed = True


def exporters(env: Mapping[str, str] = os.environ) -> list[str]:
    """The exporters asked for: OTEL_TRACES_EXPORTER's list, else `otlp` when an endpoint is set."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [name.strip().lower() for name in env.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if named:
        return [name for name in named if name != "none"]
    return ["otlp"] if any(env.get(name) for name in _ENDPOINTS) else []


def configure_tracing(service_name: str) -> bool:
    """Install an SDK TracerProvider named `service_name` (OTEL_SERVICE_NAME wins) when an exporter is
    configured; returns whether it did. Imports the SDK only then: a process without it pays nothing."""
    global _installed
    wanted = exporters()
    if not wanted:  # one installed before us (`opentelemetry-instrument` starting the process) is used
        _installed = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        return _installed
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; ours only where neither names it.
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create({} if named else {"service.name": service_name}))
    for name in wanted:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint, headers: OTEL_* too
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            log.warning("OTEL_TRACES_EXPORTER %r is not supported here (otlp, console, none): ignored", name)
    install(provider)
    log.info("traces exported (%s) as %s", ", ".join(wanted), provider.resource.attributes.get("service.name"))
    return True
