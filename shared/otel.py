"""OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.

When on, each process exports its spans over OTLP/HTTP under its service name, and the official instrumentations
cover FastAPI (server spans, continuing the caller's traceparent), httpx and aiohttp (client spans, which carry the
traceparent to the next service), asyncpg and Redis. When off, nothing here is imported: the request path does not
change (benchmarks/gateway.py measures both).
"""

import logging
import time
from dataclasses import dataclass

from fastapi import FastAPI

from shared.config import BaseServiceSettings
from shared.tracing import TraceContext

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _State:
    enabled: bool = False


_state = _State()


def tracing_enabled() -> bool:
    return _state.enabled


def configure_tracing(app: FastAPI, settings: BaseServiceSettings) -> None:
    """Instrument this app (and, once per process, the client libraries) when an OTLP endpoint is configured."""
    if not settings.otel_exporter_otlp_endpoint:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    if not _state.enabled:
        _install_provider(settings.service_name, settings.otel_exporter_otlp_endpoint)
        _state.enabled = True
    FastAPIInstrumentor.instrument_app(app, excluded_urls="health,ready,metrics")


def _install_provider(service_name: str, endpoint: str) -> None:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    AioHttpClientInstrumentor().instrument()
    AsyncPGInstrumentor().instrument()
    RedisInstrumentor().instrument()
    logger.info("tracing on", extra={"otlp_endpoint": endpoint})


def current_trace() -> TraceContext | None:
    """The active OpenTelemetry span as this hop's trace context, so request ids in logs and the exported trace
    agree; None when tracing is off or no span is active."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return TraceContext(
        trace_id=format(context.trace_id, "032x"),
        span_id=format(context.span_id, "016x"),
        parent_span_id=None,
        flags=format(int(context.trace_flags), "02x"),
    )


def record_finished_span(name: str, *, duration_ms: float, attributes: dict[str, str | int | float | bool]) -> None:
    """A span for work that has just ended (its start is now - duration), under the current span; nothing when
    tracing is off. The ai-runtime records each LLM call this way, with its model, tokens and cost."""
    if not _state.enabled:
        return
    from opentelemetry import trace

    ended = time.time_ns()
    span = trace.get_tracer("cognitionos").start_span(
        name, start_time=ended - int(duration_ms * 1_000_000), attributes=attributes
    )
    span.end(end_time=ended)
