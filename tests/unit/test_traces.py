"""The cross-service span tree shown by ``python -m libs.traces``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from libs.spanstore import StoredSpan
from libs.traces import build_tree, group_by_trace, main, render, service_edges, touches_order, utc_time

TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER_TRACE = "11111111111111111111111111111111"
MS = 1_000_000


def span(
    span_id: str,
    parent: str | None,
    service: str,
    name: str,
    start_ms: float,
    end_ms: float,
    *,
    trace_id: str = TRACE,
    status: str = "UNSET",
    description: str = "",
    attributes: dict[str, Any] | None = None,
) -> StoredSpan:
    return StoredSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        service=service,
        kind="INTERNAL",
        start_ns=int(1_700_000_000_000 * MS + start_ms * MS),
        end_ns=int(1_700_000_000_000 * MS + end_ms * MS),
        status=status,
        status_description=description,
        attributes=attributes or {},
    )


def sample() -> list[StoredSpan]:
    # Deliberately out of order: the tree orders by start time, not by arrival.
    return [
        span("c3", "c2", "inventory", "INSERT stock_movements", 4, 6),
        span("c2", "c1", "inventory", "shop.inventory.v1.Inventory/StockIn", 3, 8),
        span("c1", "a1", "gateway", "grpc StockIn", 2.5, 8.5),
        span("a1", None, "gateway", "POST /v1/stock-in", 0, 10),
        span("a0", "a1", "gateway", "authenticate", 0.5, 1.0),
        span(
            "o1", "ffffffffffffffff", "orders", "ReserveStock", 20, 22.5, status="ERROR", description="boom"
        ),
        span("x1", None, "payroll", "other trace", 0, 1, trace_id=OTHER_TRACE),
    ]


def test_group_by_trace() -> None:
    groups = group_by_trace(sample())
    assert set(groups) == {TRACE, OTHER_TRACE}
    assert len(groups[TRACE]) == 6
    assert [s.span_id for s in groups[OTHER_TRACE]] == ["x1"]


def test_children_link_to_their_parents_across_services() -> None:
    tree = build_tree(TRACE, sample())
    assert tree.trace_id == TRACE
    assert [r.span.span_id for r in tree.roots] == ["a1"]
    root = tree.roots[0]
    # Sorted by start, not by input order.
    assert [c.span.span_id for c in root.children] == ["a0", "c1"]
    grpc_client = root.children[1]
    assert [c.span.span_id for c in grpc_client.children] == ["c2"]
    server = grpc_client.children[0]
    assert server.span.service == "inventory"
    assert [c.span.span_id for c in server.children] == ["c3"]


def test_spans_of_other_traces_are_left_out() -> None:
    tree = build_tree(TRACE, sample())
    assert "x1" not in {s.span_id for _, s in tree.walk()}
    other = build_tree(OTHER_TRACE, sample())
    assert [s.span_id for _, s in other.walk()] == ["x1"]


def test_span_whose_parent_is_absent_is_an_orphan() -> None:
    tree = build_tree(TRACE, sample())
    assert [o.span.span_id for o in tree.orphans] == ["o1"]
    assert "o1" not in {r.span.span_id for r in tree.roots}


def test_orphans_and_roots_sorted_by_start() -> None:
    spans = [
        span("r2", None, "gateway", "late root", 5, 6),
        span("r1", None, "gateway", "early root", 1, 2),
        span("o2", "missing2", "orders", "late orphan", 9, 10),
        span("o1", "missing1", "orders", "early orphan", 3, 4),
    ]
    tree = build_tree(TRACE, spans)
    assert [r.span.span_id for r in tree.roots] == ["r1", "r2"]
    assert [o.span.span_id for o in tree.orphans] == ["o1", "o2"]


def test_walk_is_depth_first_with_depths_roots_before_orphans() -> None:
    walked = [(depth, s.span_id) for depth, s in build_tree(TRACE, sample()).walk()]
    assert walked == [(0, "a1"), (1, "a0"), (1, "c1"), (2, "c2"), (3, "c3"), (0, "o1")]


def test_service_edges_are_cross_service_parent_child_pairs() -> None:
    assert service_edges(build_tree(TRACE, sample())) == {("gateway", "inventory")}


def test_service_edges_of_a_single_service_trace_are_empty() -> None:
    spans = [span("a", None, "inventory", "x", 0, 2), span("b", "a", "inventory", "y", 1, 2)]
    assert service_edges(build_tree(TRACE, spans)) == set()


def test_render_names_services_spans_and_durations() -> None:
    text = render(build_tree(TRACE, sample()))
    lines = text.splitlines()
    assert lines[0] == f"trace {TRACE}  6 spans  22.5 ms  services: gateway, inventory, orders"
    assert len(lines) == 7
    root_line = lines[1]
    assert root_line.startswith("gateway")
    assert "POST /v1/stock-in" in root_line
    assert "+0.0ms 10.0ms" in root_line
    assert root_line.endswith("OK")
    server_line = next(line for line in lines if "Inventory/StockIn" in line)
    assert server_line.startswith("    └─ inventory")
    assert "+3.0ms 5.0ms" in server_line
    orphan_line = lines[-1]
    assert orphan_line.startswith("orders")
    assert "+20.0ms 2.5ms" in orphan_line
    assert "ERROR (boom)" in orphan_line
    assert orphan_line.endswith("[orphan: parent not in store]")
    assert sum("[orphan" in line for line in lines) == 1


def test_render_of_an_unknown_trace() -> None:
    assert render(build_tree("deadbeef", sample())) == "trace deadbeef: no spans"


def test_service_edges_below_an_orphan_are_reported() -> None:
    spans = [
        span("o1", "ffffffffffffffff", "orders", "ReviewOrders", 0, 10),
        span("o2", "o1", "orders", "grpc Reserve", 1, 9),
        span("i1", "o2", "inventory", "Reserve", 2, 8),
    ]
    assert service_edges(build_tree(TRACE, spans)) == {("orders", "inventory")}


def test_render_without_header_is_the_tree_only() -> None:
    tree = build_tree(TRACE, sample())
    assert render(tree, header=False).splitlines() == render(tree).splitlines()[1:]


# --- python -m libs.traces --order: every trace of one order, as one timeline -----------------------

ORDER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
OTHER_ORDER = "7c9e6679-7425-40de-944b-e07fc1f90ae8"
INTAKE = "a" * 32
REVIEW = "b" * 32
RELEASED = "c" * 32
UNRELATED = "d" * 32
OTHER_BATCH = "e" * 32
S = 1000  # ms


def order_spans() -> list[StoredSpan]:
    """Three traces of ORDER (intake, a batch review, an event consumed later) and two that are not."""
    return [
        # Consumed a minute after intake by another service: its own trace.
        span("c1", None, "logistics", "consume orders.released", 65 * S, 65 * S + 8, trace_id=RELEASED),
        span(
            "c2", "c1", "logistics", "plan shipment", 65 * S + 1, 65 * S + 6,
            trace_id=RELEASED, attributes={"shop.order_id": ORDER},
        ),
        span("a1", None, "gateway", "POST /v1/orders", 0, 40, trace_id=INTAKE),
        span(
            "a2", "a1", "orders", "CreateOrder", 5, 35,
            trace_id=INTAKE, attributes={"shop.order_id": ORDER, "shop.channel": "own-site"},
        ),
        span("a3", "a2", "inventory", "ReserveStock", 10, 30, trace_id=INTAKE),
        # A batch review naming the order among others.
        span("b1", None, "gateway", "POST /v1/orders/review", 12.3 * S, 12.3 * S + 20, trace_id=REVIEW),
        span(
            "b2", "b1", "orders", "ReviewOrders", 12.3 * S + 2, 12.3 * S + 18,
            trace_id=REVIEW, attributes={"shop.order_ids": [OTHER_ORDER, ORDER]},
        ),
        # Another order, between the order's traces; an id differing in the last digit only.
        span(
            "d1", None, "orders", "CreateOrder", 5 * S, 5 * S + 9,
            trace_id=UNRELATED, attributes={"shop.order_id": OTHER_ORDER},
        ),
        span(
            "e1", None, "orders", "ReleaseToWarehouse", 30 * S, 30 * S + 4,
            trace_id=OTHER_BATCH, attributes={"shop.order_ids": [OTHER_ORDER]},
        ),
    ]  # fmt: skip


def write_store(folder: Path, spans: list[StoredSpan]) -> Path:
    """Writes the spans as LocalSpanExporter does: JSON lines, one file per (service) process."""
    folder.mkdir(parents=True, exist_ok=True)
    for s in spans:
        with (folder / f"{s.service}-1.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(dataclasses.asdict(s), ensure_ascii=False) + "\n")
    return folder


def trace_lines(out: str) -> list[str]:
    """The timeline's per-trace lines: neither the header, nor blank, nor indented tree lines."""
    return [line for line in out.splitlines()[1:] if line and not line.startswith(" ")]


def test_order_shows_every_trace_of_the_order_in_time_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--order", ORDER, "--dir", str(write_store(tmp_path, order_spans()))]) == 0
    out = capsys.readouterr().out
    assert [line.split("  trace ")[1].split()[0] for line in trace_lines(out)] == [INTAKE, REVIEW, RELEASED]
    assert UNRELATED not in out
    assert OTHER_BATCH not in out


def test_order_header_names_the_order_traces_times_and_services(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--order", ORDER, "--dir", str(write_store(tmp_path, order_spans()))])
    header = capsys.readouterr().out.splitlines()[0]
    assert header == (
        f"order {ORDER}  3 traces  from 2023-11-14T22:13:20.000Z to 2023-11-14T22:14:25.008Z"
        "  services: gateway, inventory, logistics, orders"
    )


def test_order_trace_lines_then_their_trees_indented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--order", ORDER, "--dir", str(write_store(tmp_path, order_spans()))])
    lines = capsys.readouterr().out.splitlines()
    assert trace_lines("\n".join(lines)) == [
        f"2023-11-14T22:13:20.000Z  +0.0 s  trace {INTAKE}  gateway: POST /v1/orders  3 spans  40.0 ms",
        f"2023-11-14T22:13:32.300Z  +12.3 s  trace {REVIEW}  gateway: POST /v1/orders/review  2 spans  20.0 ms",
        f"2023-11-14T22:14:25.000Z  +65.0 s  trace {RELEASED}  logistics: consume orders.released  2 spans"
        "  8.0 ms",
    ]
    intake = lines.index(trace_lines("\n".join(lines))[0])
    # The tree of the intake trace, indented under its line, without render's own summary line.
    assert lines[intake + 1].startswith("    gateway  ")
    assert "POST /v1/orders  +0.0ms 40.0ms  OK" in lines[intake + 1]
    assert lines[intake + 2].startswith("      └─ orders")
    assert lines[intake + 3].startswith("        └─ inventory")
    assert "ReserveStock" in lines[intake + 3]
    assert lines[intake + 4] == ""
    assert not any(line.strip().startswith("trace ") for line in lines)


def test_unknown_order_exits_1_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    assert main(["--order", unknown, "--dir", str(write_store(tmp_path, order_spans()))]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no trace in the span store mentions order {unknown}" in captured.err


def test_order_on_an_empty_store_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--order", ORDER, "--dir", str(tmp_path / "nowhere")]) == 1
    assert "no spans stored yet" in capsys.readouterr().err


@pytest.mark.parametrize("others", [["--list"], ["--attr", "shop.order_id=x"], [INTAKE]])
def test_order_goes_alone(tmp_path: Path, others: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--order", ORDER, "--dir", str(tmp_path), *others])
    assert exited.value.code == 2


def test_touches_order_by_id_or_batch_exactly_and_regardless_of_case() -> None:
    def touching(attributes: dict[str, Any]) -> bool:
        return touches_order(span("s", None, "orders", "x", 0, 1, attributes=attributes), ORDER)

    assert touching({"shop.order_id": ORDER})
    assert touching({"shop.order_id": ORDER.upper()})
    assert touching({"shop.order_ids": [OTHER_ORDER, ORDER]})
    assert not touching({"shop.order_id": OTHER_ORDER})
    assert not touching({"shop.order_id": ORDER[:8]})
    assert not touching({"shop.order_ids": [OTHER_ORDER]})
    assert not touching({"shop.channel_order_id": ORDER})
    assert not touching({})


def test_utc_time_to_the_millisecond() -> None:
    assert utc_time(1_700_000_000_123_999_999) == "2023-11-14T22:13:20.123Z"
    assert utc_time(0) == "1970-01-01T00:00:00.000Z"


def test_lines_that_are_not_span_records_do_not_stop_the_timeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = write_store(tmp_path, order_spans())
    with (store / "orders-1.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('["not", "a", "span"]\n{"trace_id": "f00", "name": "fields missing"}\n{"trace_id": "0af76')
    assert main(["--order", ORDER, "--dir", str(store)]) == 0
    assert capsys.readouterr().out.startswith(f"order {ORDER}  3 traces")


def test_attr_still_shows_the_latest_matching_trace_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--attr", f"shop.order_id={ORDER}", "--dir", str(write_store(tmp_path, order_spans()))]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"trace {RELEASED}  2 spans")
