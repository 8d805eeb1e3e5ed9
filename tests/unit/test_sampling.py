"""Which flows' spans are kept (libs.sampling): a sampled share, decided once per flow, and every failed or
slow part of a flow whatever the share."""

from __future__ import annotations

import random

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from libs import config
from libs.errors import InvalidArgument
from libs.sampling import FlowSampler, StatementSampler, TailKeep

SLOW_MS = 100
MS = 1_000_000


class SeededIds(IdGenerator):
    """Random ids from a fixed seed: the share sampled by trace id is the same on every run."""

    def __init__(self) -> None:
        self.random = random.Random(7)

    def generate_span_id(self) -> int:
        return self.random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self.random.getrandbits(128) or 1


def tracer_with(ratio: float, max_held: int = 50_000) -> tuple[trace.Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=FlowSampler(ratio), id_generator=SeededIds())
    provider.add_span_processor(TailKeep(SimpleSpanProcessor(exporter), slow_ms=SLOW_MS, max_held=max_held))
    return provider.get_tracer("test"), exporter


def flow(
    tracer: trace.Tracer, *, fail: bool = False, took_ms: int = 1, parent: SpanContext | None = None
) -> int:
    """A served call with two statements, the second failing if ``fail``; returns its trace id."""
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent else otel_context.Context()
    root = tracer.start_span("SubmitOrder", context=ctx, kind=trace.SpanKind.SERVER, start_time=1000 * MS)
    inside = trace.set_span_in_context(root)
    tracer.start_span("INSERT orders", context=inside, start_time=1000 * MS).end(end_time=1001 * MS)
    statement = tracer.start_span("INSERT order_lines", context=inside, start_time=1001 * MS)
    if fail:
        statement.set_status(Status(StatusCode.ERROR, "unique violation"))
    statement.end(end_time=1002 * MS)
    root.end(end_time=(1000 + took_ms) * MS)
    return root.get_span_context().trace_id


def test_a_healthy_flow_not_sampled_leaves_no_spans():
    tracer, exporter = tracer_with(0.0)
    flow(tracer)
    assert exporter.get_finished_spans() == ()


def test_a_failed_flow_is_kept_whole_though_not_sampled():
    tracer, exporter = tracer_with(0.0)
    trace_id = flow(tracer, fail=True)
    spans = exporter.get_finished_spans()
    assert sorted(s.name for s in spans) == ["INSERT order_lines", "INSERT orders", "SubmitOrder"]
    assert {s.context.trace_id for s in spans} == {trace_id}
    assert all(s.context.trace_flags.sampled for s in spans)
    (root,) = [s for s in spans if s.name == "SubmitOrder"]
    assert (root.attributes or {})["shop.trace.kept"] == "error"


def test_a_slow_flow_is_kept_and_says_so():
    tracer, exporter = tracer_with(0.0)
    flow(tracer, took_ms=SLOW_MS - 1)
    assert exporter.get_finished_spans() == ()
    flow(tracer, took_ms=SLOW_MS)
    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    assert [(s.attributes or {})["shop.trace.kept"] for s in spans if s.name == "SubmitOrder"] == ["slow"]


def test_every_flow_is_kept_at_ratio_1_with_no_mark():
    tracer, exporter = tracer_with(1.0)
    flow(tracer)
    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    assert all("shop.trace.kept" not in (s.attributes or {}) for s in spans)


def test_the_share_kept_follows_the_ratio_and_whole_flows_are_kept_or_dropped():
    tracer, exporter = tracer_with(0.25)
    flows = 2000
    for _ in range(flows):
        flow(tracer)
    spans = exporter.get_finished_spans()
    by_trace: dict[int, int] = {}
    for s in spans:
        by_trace[s.context.trace_id] = by_trace.get(s.context.trace_id, 0) + 1
    assert set(by_trace.values()) == {3}  # never a part of a flow
    assert 0.22 * flows <= len(by_trace) <= 0.28 * flows


def test_a_process_follows_the_callers_decision_parent_based():
    tracer, exporter = tracer_with(0.0)
    sampled = SpanContext(0xABC, 0x1, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    flow(tracer, parent=sampled)
    assert {s.context.trace_id for s in exporter.get_finished_spans()} == {0xABC}
    exporter.clear()
    tracer, exporter = tracer_with(1.0)
    not_sampled = SpanContext(0xDEF, 0x2, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    flow(tracer, parent=not_sampled)
    assert exporter.get_finished_spans() == ()
    flow(tracer, parent=not_sampled, fail=True)  # the caller did not sample it; it failed here: kept
    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    assert all(s.parent is not None for s in spans)  # the kept root still points at its remote caller


def test_a_child_that_ends_after_its_root_follows_the_roots_decision():
    tracer, exporter = tracer_with(0.0)
    root = tracer.start_span("consume order.paid", start_time=0)
    late = tracer.start_span("publish", context=trace.set_span_in_context(root), start_time=0)
    root.set_status(Status(StatusCode.ERROR, "refused"))
    root.end(end_time=MS)
    late.end(end_time=2 * MS)
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["consume order.paid", "publish"]


def test_spans_held_are_bounded_the_oldest_parts_dropped_first():
    tracer, exporter = tracer_with(0.0, max_held=4)
    old = tracer.start_span("old root")
    tracer.start_span("old child", context=trace.set_span_in_context(old)).end()
    for _ in range(4):
        new = tracer.start_span("new root")
        tracer.start_span("new child", context=trace.set_span_in_context(new)).end()
    old.set_status(Status(StatusCode.ERROR, "late failure"))
    old.end()
    # The old part's held child was dropped to stay within the bound; its root is still kept.
    assert [s.name for s in exporter.get_finished_spans()] == ["old root"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("SHOP_TRACE_SAMPLE_RATIO", "1.5"), ("SHOP_TRACE_SAMPLE_RATIO", "most"), ("SHOP_TRACE_SLOW_MS", "0")],
)
def test_a_bad_setting_is_refused_naming_it(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidArgument) as refused:
        config.trace_sample_ratio() if name == "SHOP_TRACE_SAMPLE_RATIO" else config.trace_slow_ms()
    assert [v.field for v in refused.value.violations] == [name]


def test_statement_spans_are_made_in_sampled_flows_only():
    exporter = InMemorySpanExporter()
    tail = TailKeep(SimpleSpanProcessor(exporter), slow_ms=SLOW_MS)
    flows = TracerProvider(sampler=FlowSampler(0.0), id_generator=SeededIds())
    flows.add_span_processor(tail)
    statements = TracerProvider(sampler=StatementSampler())
    statements.add_span_processor(tail)
    calls, sql = flows.get_tracer("calls"), statements.get_tracer("sql")
    sampled = SpanContext(0xABC, 0x1, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    not_sampled = SpanContext(0xDEF, 0x2, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    for parent in (sampled, not_sampled):
        root = calls.start_span(
            "SubmitOrder", context=trace.set_span_in_context(trace.NonRecordingSpan(parent))
        )
        statement = sql.start_span("INSERT shop_orders", context=trace.set_span_in_context(root))
        assert statement.is_recording() is (parent is sampled)
        statement.end()
        root.set_status(Status(StatusCode.ERROR, "refused"))
        root.end()
    assert not sql.start_span("SELECT 1").is_recording()  # outside any flow
    spans = exporter.get_finished_spans()
    assert [(s.name, s.context.trace_id) for s in spans] == [
        ("INSERT shop_orders", 0xABC),
        ("SubmitOrder", 0xABC),
        ("SubmitOrder", 0xDEF),  # kept for its failure, without statement spans
    ]
