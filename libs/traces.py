"""Prints the cross-service span tree of a trace from the local span store.

python -m libs.traces                 # the latest trace
python -m libs.traces <trace id>      # one trace
python -m libs.traces --list          # recent traces, newest first
python -m libs.traces --attr shop.sku=TEA-1   # the latest trace with a span carrying that attribute
python -m libs.traces --order <order id>      # every trace that touches the order, as one timeline
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from libs import config
from libs.spanstore import StoredSpan, read_spans


@dataclass
class SpanNode:
    span: StoredSpan
    children: list[SpanNode] = field(default_factory=list)


@dataclass
class TraceTree:
    trace_id: str
    roots: list[SpanNode]
    # Roots whose parent span is named but absent: a broken propagation, or spans not yet flushed.
    orphans: list[SpanNode]

    def walk(self) -> list[tuple[int, StoredSpan]]:
        out: list[tuple[int, StoredSpan]] = []

        def visit(node: SpanNode, depth: int) -> None:
            out.append((depth, node.span))
            for child in node.children:
                visit(child, depth + 1)

        for root in [*self.roots, *self.orphans]:
            visit(root, 0)
        return out


def group_by_trace(spans: Iterable[StoredSpan]) -> dict[str, list[StoredSpan]]:
    traces: dict[str, list[StoredSpan]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    return traces


def build_tree(trace_id: str, spans: list[StoredSpan]) -> TraceTree:
    """Links the spans of one trace to their parents, children ordered by start time."""
    nodes = {s.span_id: SpanNode(s) for s in spans if s.trace_id == trace_id}
    roots: list[SpanNode] = []
    orphans: list[SpanNode] = []
    for node in nodes.values():
        parent_id = node.span.parent_span_id
        if parent_id is None:
            roots.append(node)
        elif parent_id in nodes:
            nodes[parent_id].children.append(node)
        else:
            orphans.append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: n.span.start_ns)
    roots.sort(key=lambda n: n.span.start_ns)
    orphans.sort(key=lambda n: n.span.start_ns)
    return TraceTree(trace_id, roots, orphans)


def service_edges(tree: TraceTree) -> set[tuple[str, str]]:
    """(parent service, child service) pairs where a span's parent lives in another service."""
    edges: set[tuple[str, str]] = set()

    def visit(node: SpanNode) -> None:
        for child in node.children:
            if child.span.service != node.span.service:
                edges.add((node.span.service, child.span.service))
            visit(child)

    for root in [*tree.roots, *tree.orphans]:
        visit(root)
    return edges


def render(tree: TraceTree, *, header: bool = True) -> str:
    """The span tree, one line a span; ``header=False`` leaves out the trace's summary line."""
    rows = tree.walk()
    if not rows:
        return f"trace {tree.trace_id}: no spans"
    start = min(s.start_ns for _, s in rows)
    end = max(s.end_ns for _, s in rows)
    services = sorted({s.service for _, s in rows})
    lines: list[str] = []
    if header:
        lines.append(
            f"trace {tree.trace_id}  {len(rows)} spans  {(end - start) / 1e6:.1f} ms  services: {', '.join(services)}"
        )
    orphan_ids = {o.span.span_id for o in tree.orphans}
    width = max(len(s.service) for _, s in rows)
    for depth, span in rows:
        offset = (span.start_ns - start) / 1e6
        status = span.status if span.status != "UNSET" else "OK"
        if span.status_description:
            status += f" ({span.status_description})"
        mark = "  [orphan: parent not in store]" if span.span_id in orphan_ids else ""
        lines.append(
            f"{'  ' * depth}{'└─ ' if depth else ''}{span.service:<{width}}  {span.name}"
            f"  +{offset:.1f}ms {span.duration_ms:.1f}ms  {status}{mark}"
        )
    return "\n".join(lines)


ORDER_ID = "shop.order_id"
# Set by spans that handle a batch of orders: a list of order ids.
ORDER_IDS = "shop.order_ids"


def touches_order(span: StoredSpan, order_id: str) -> bool:
    """Whether the span names the order, alone or in a batch; ids compare without regard to case."""
    wanted = order_id.lower()
    single = span.attributes.get(ORDER_ID)
    if single is not None and str(single).lower() == wanted:
        return True
    batch = span.attributes.get(ORDER_IDS)
    if isinstance(batch, str):
        batch = [batch]
    return isinstance(batch, list) and any(str(o).lower() == wanted for o in batch)


def utc_time(ns: int) -> str:
    """Epoch nanoseconds as an ISO 8601 UTC time to the millisecond: 2023-11-14T22:13:20.123Z."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render_order(order_id: str, traces: dict[str, list[StoredSpan]]) -> str | None:
    """Every trace with a span that touches the order, in start order, as one timeline; None if none."""
    bounds = {
        trace_id: (min(s.start_ns for s in spans), max(s.end_ns for s in spans))
        for trace_id, spans in traces.items()
        if any(touches_order(s, order_id) for s in spans)
    }
    if not bounds:
        return None
    trace_ids = sorted(bounds, key=lambda t: (bounds[t][0], t))
    first = bounds[trace_ids[0]][0]
    last = max(end for _, end in bounds.values())
    services = sorted({s.service for t in trace_ids for s in traces[t]})
    lines = [
        f"order {order_id}  {len(trace_ids)} traces  from {utc_time(first)} to {utc_time(last)}"
        f"  services: {', '.join(services)}"
    ]
    for trace_id in trace_ids:
        start, end = bounds[trace_id]
        tree = build_tree(trace_id, traces[trace_id])
        root = (tree.roots or tree.orphans)[0].span
        lines.append("")
        lines.append(
            f"{utc_time(start)}  +{(start - first) / 1e9:.1f} s  trace {trace_id}  {root.service}: {root.name}"
            f"  {len(traces[trace_id])} spans  {(end - start) / 1e6:.1f} ms"
        )
        lines.extend(f"    {line}" for line in render(tree, header=False).splitlines())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m libs.traces", description="Show a trace as a span tree.")
    parser.add_argument("trace_id", nargs="?", help="trace id (32 hex digits); default: the latest trace")
    parser.add_argument("--list", action="store_true", help="list recent traces")
    parser.add_argument("--attr", help="NAME=VALUE: the latest trace with a span carrying this attribute")
    parser.add_argument(
        "--order", metavar="ORDER_ID", help="every trace that touches this order, in time order"
    )
    parser.add_argument("--dir", type=Path, default=None, help="span store folder (default: var/spans)")
    args = parser.parse_args(argv)
    if args.order is not None:
        args.order = args.order.strip()
        if not args.order:
            parser.error("--order needs an order id")
        if args.list or args.attr or args.trace_id:
            parser.error("--order goes alone: not with a trace id, --list or --attr")

    traces = group_by_trace(read_spans(args.dir or config.span_dir()))
    if not traces:
        print("no spans stored yet: start the suite (make run) and send a request", file=sys.stderr)
        return 1

    if args.order is not None:
        timeline = render_order(args.order, traces)
        if timeline is None:
            print(
                f"no trace in the span store mentions order {args.order}"
                f" (span attribute {ORDER_ID} or {ORDER_IDS}); flows that neither failed nor were slow are"
                f" kept at SHOP_TRACE_SAMPLE_RATIO ({config.trace_sample_ratio()}), every one at 1",
                file=sys.stderr,
            )
            return 1
        print(timeline)
        return 0

    def latest_first(ids: list[str]) -> list[str]:
        return sorted(ids, key=lambda t: min(s.start_ns for s in traces[t]), reverse=True)

    if args.list:
        for trace_id in latest_first(list(traces))[:30]:
            tree = build_tree(trace_id, traces[trace_id])
            root = (tree.roots or tree.orphans)[0].span
            print(f"{trace_id}  {len(traces[trace_id]):>3} spans  {root.service}: {root.name}")
        return 0
    candidates = list(traces)
    if args.attr:
        key, _, value = args.attr.partition("=")
        candidates = [t for t in candidates if any(str(s.attributes.get(key)) == value for s in traces[t])]
    if args.trace_id:
        candidates = [t for t in candidates if t == args.trace_id.lower()]
    if not candidates:
        print("no matching trace in the span store", file=sys.stderr)
        return 1
    trace_id = latest_first(candidates)[0]
    print(render(build_tree(trace_id, traces[trace_id])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
