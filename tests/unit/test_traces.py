"""The cross-service span tree shown by ``python -m libs.traces``."""

from __future__ import annotations

from libs.spanstore import StoredSpan
from libs.traces import build_tree, group_by_trace, render, service_edges

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
