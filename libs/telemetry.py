"""OpenTelemetry set-up, the same in every process.

W3C trace context propagates over gRPC metadata and HTTP headers. With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set,
spans go to that collector; otherwise they go to the local span store (``libs.spanstore``). Which flows are
kept: a sampled share (``SHOP_TRACE_SAMPLE_RATIO``, parent-based) and every failed or slow one
(``libs.sampling``). Custom span attributes live in the ``shop.`` namespace (``shop.sku``,
``shop.order_id``); never personal data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from libs import config
from libs.sampling import FlowSampler, StatementSampler, TailKeep
from libs.spanstore import LocalSpanExporter

_provider: TracerProvider | None = None


def setup_telemetry(service: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Installs the process's tracer provider for ``service`` (once; later calls return the first)."""
    global _provider
    if _provider is not None:
        return _provider
    resource = Resource.create({"service.name": service, "service.namespace": "shop"})
    provider = TracerProvider(resource=resource, sampler=FlowSampler(config.trace_sample_ratio()))
    if exporter is None:
        if config.otlp_endpoint():
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        else:
            exporter = LocalSpanExporter(config.span_dir(), service)
    # A short delay keeps the local tree current a moment after a request ends.
    batches = BatchSpanProcessor(exporter, schedule_delay_millis=250)
    tail = TailKeep(batches, slow_ms=config.trace_slow_ms())
    provider.add_span_processor(tail)
    trace.set_tracer_provider(provider)
    # Statement spans come from a provider of their own, sharing the export, that makes them in sampled
    # flows only (libs.sampling).
    statements = TracerProvider(resource=resource, sampler=StatementSampler())
    statements.add_span_processor(tail)
    _instrument_sqlalchemy(statements)
    _provider = provider
    return provider


@contextmanager
def untraced() -> Iterator[None]:
    """For a background loop's own housekeeping (a relay's poll, the database health check, pruning): its
    SQL makes no spans, so it starts no trace of its own. Such traces, one a second per process, would
    bury the flows an SRE looks for; work done for a flow runs outside this, in that flow's trace."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        yield


def shutdown_telemetry() -> None:
    """Flushes and stops span export; called on process shutdown."""
    if _provider is not None:
        _provider.shutdown()


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def set_attributes(**attributes: str | int | Sequence[str]) -> None:
    """Adds ``shop.<name>`` attributes to the current span; a batch of orders is ``order_ids=[...]``, which
    ``make trace ORDER=<id>`` finds as well as a single ``order_id``."""
    span = trace.get_current_span()
    for key, value in attributes.items():
        span.set_attribute(f"shop.{key}", value if isinstance(value, str | int) else sorted(value))


def grpc_server_interceptors() -> list[Any]:
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]  # type: ignore[no-untyped-call]


def grpc_client_interceptors() -> list[Any]:
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors())  # type: ignore[no-untyped-call]


def _instrument_sqlalchemy(provider: TracerProvider) -> None:
    """Every engine created after this (``libs.db``) gets a span per SQL statement of a sampled flow."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(enable_commenter=False, tracer_provider=provider)
