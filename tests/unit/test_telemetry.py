"""Which spans start a trace: flows do, a background loop's own SQL does not."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased

from libs.telemetry import FlowRoots


def test_flows_start_traces_and_background_statements_do_not():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(root=FlowRoots()))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    with tracer.start_as_current_span("SELECT shop_inventory", kind=trace.SpanKind.CLIENT):
        pass  # a relay's poll: no trace
    with (
        tracer.start_as_current_span("POST /v1/inventory/stock-receipts", kind=trace.SpanKind.SERVER),
        tracer.start_as_current_span("INSERT shop_inventory", kind=trace.SpanKind.CLIENT),
    ):
        pass  # the same kind of span inside a flow is kept
    with tracer.start_as_current_span(
        "process shop.inventory.v1.stock_available", kind=trace.SpanKind.CONSUMER
    ):
        pass
    with tracer.start_as_current_span("orders.resume_saga"):
        pass

    assert [s.name for s in exporter.get_finished_spans()] == [
        "INSERT shop_inventory",
        "POST /v1/inventory/stock-receipts",
        "process shop.inventory.v1.stock_available",
        "orders.resume_saga",
    ]
