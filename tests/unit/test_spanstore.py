"""The local span store: spans of a private tracer provider written as JSON lines and read back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from libs.spanstore import LocalSpanExporter, StoredSpan, read_spans
from libs.traces import build_tree, service_edges


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "spans"


def _provider(store: Path, service: str) -> tuple[TracerProvider, LocalSpanExporter]:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = LocalSpanExporter(store, service)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
def written(store: Path) -> Iterator[tuple[LocalSpanExporter, int, int, int]]:
    """Two nested spans of the inventory service, exported; yields the exporter and their ids."""
    provider, exporter = _provider(store, "inventory")
    tracer = provider.get_tracer("unit-test")
    try:
        with tracer.start_as_current_span("StockIn", kind=trace.SpanKind.SERVER) as parent:
            parent.set_attribute("shop.sku", "TEA-1")
            parent.set_attribute("shop.qty", 5)
            with tracer.start_as_current_span("INSERT stock_movements") as child:
                child.set_attribute("shop.lines", [1, 2, 3])
                child.set_status(trace.StatusCode.ERROR, "boom")
        yield (
            exporter,
            parent.get_span_context().trace_id,
            parent.get_span_context().span_id,
            child.get_span_context().span_id,
        )
    finally:
        provider.shutdown()


def test_exporter_writes_one_file_per_process(
    store: Path, written: tuple[LocalSpanExporter, int, int, int]
) -> None:
    exporter = written[0]
    assert exporter.path == store / f"inventory-{os.getpid()}.jsonl"
    lines = exporter.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert all(isinstance(json.loads(line), dict) for line in lines)


def test_spans_are_read_back_with_parent_ids(
    store: Path, written: tuple[LocalSpanExporter, int, int, int]
) -> None:
    _, trace_id, parent_id, child_id = written
    spans = {s.name: s for s in read_spans(store)}
    assert set(spans) == {"StockIn", "INSERT stock_movements"}
    parent, child = spans["StockIn"], spans["INSERT stock_movements"]

    assert parent.trace_id == child.trace_id == format(trace_id, "032x")
    assert parent.span_id == format(parent_id, "016x")
    assert child.span_id == format(child_id, "016x")
    assert parent.parent_span_id is None
    assert child.parent_span_id == parent.span_id

    assert parent.service == child.service == "inventory"
    assert parent.kind == "SERVER"
    assert child.kind == "INTERNAL"
    assert parent.status == "UNSET"
    assert (child.status, child.status_description) == ("ERROR", "boom")
    assert parent.attributes == {"shop.sku": "TEA-1", "shop.qty": 5}
    assert child.attributes == {"shop.lines": [1, 2, 3]}
    assert parent.start_ns <= child.start_ns <= child.end_ns <= parent.end_ns
    assert parent.duration_ms == (parent.end_ns - parent.start_ns) / 1e6


def test_read_spans_joins_processes_into_one_tree(store: Path) -> None:
    gateway, _ = _provider(store, "gateway")
    inventory, _ = _provider(store, "inventory-other")
    try:
        # The context crosses "processes" the way a propagated traceparent would.
        with (
            gateway.get_tracer("t").start_as_current_span("POST /v1/stock-in"),
            inventory.get_tracer("t").start_as_current_span("StockIn"),
        ):
            pass
    finally:
        gateway.shutdown()
        inventory.shutdown()
    spans = list(read_spans(store))
    assert len({p.name for p in store.iterdir()}) == 2
    tree = build_tree(spans[0].trace_id, spans)
    assert tree.orphans == []
    assert service_edges(tree) == {("gateway", "inventory-other")}


def test_truncated_last_line_is_skipped(
    store: Path, written: tuple[LocalSpanExporter, int, int, int]
) -> None:
    exporter = written[0]
    with exporter.path.open("a", encoding="utf-8") as fh:
        fh.write('{"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b71')
    spans = list(read_spans(store))
    assert sorted(s.name for s in spans) == ["INSERT stock_movements", "StockIn"]


def test_last_line_truncated_inside_a_multibyte_character_is_skipped(
    store: Path, written: tuple[LocalSpanExporter, int, int, int]
) -> None:
    exporter = written[0]
    with exporter.path.open("ab") as fh:
        fh.write('{"name": "Grö'.encode()[:-1])  # the first of the two bytes of "ö" only
    spans = list(read_spans(store))
    assert sorted(s.name for s in spans) == ["INSERT stock_movements", "StockIn"]


def test_non_ascii_attributes_round_trip(store: Path) -> None:
    provider, _ = _provider(store, "inventory")
    try:
        with provider.get_tracer("t").start_as_current_span("Größe prüfen") as s:
            s.set_attribute("shop.colour", "crème")
    finally:
        provider.shutdown()
    [stored] = list(read_spans(store))
    assert stored.name == "Größe prüfen"
    assert stored.attributes == {"shop.colour": "crème"}


def test_missing_folder_reads_as_empty(tmp_path: Path) -> None:
    assert list(read_spans(tmp_path / "nowhere")) == []


def test_other_files_are_ignored(store: Path, written: tuple[LocalSpanExporter, int, int, int]) -> None:
    (store / "notes.txt").write_text("not spans\n", encoding="utf-8")
    assert len(list(read_spans(store))) == 2


def test_stored_span_duration() -> None:
    s = StoredSpan("t", "s", None, "n", "svc", "INTERNAL", 1_000_000, 3_500_000, "OK")
    assert s.duration_ms == 2.5
