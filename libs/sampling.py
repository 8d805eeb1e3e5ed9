"""Which flows' spans are kept: a sampled share of all, and every failed or slow one.

Writing every span of every order costs a busy suite a good part of its throughput, yet an SRE needs two
things only: any order that failed or was slow, whole enough to see why; and a steady share of the rest to
see what normal looks like. So:

- **The head decides, parent-based** (``FlowSampler``): a flow's first span keeps the flow with
  probability ``SHOP_TRACE_SAMPLE_RATIO`` (by its trace id), and every later span, in every process and
  across the asynchronous hops of the outbox, follows the flag its parent carries: a sampled flow is kept
  whole.
- **The tail keeps what went wrong** (``TailKeep``): spans of flows not sampled are still recorded, held
  in memory per *local root* (the span that began this process's part of the flow: a served RPC, a
  consumed event, a worker's batch) and, when that root ends, written if any of them failed (status
  ERROR) or the root took ``SHOP_TRACE_SLOW_MS`` or longer; otherwise dropped. The root then says why
  (``shop.trace.kept``: ``error`` or ``slow``). Each process decides for its own part: the processes
  that failed or were slow keep theirs, which is where the reason is.

- **Statements in sampled flows only** (``StatementSampler``): a span per SQL statement is most of what
  tracing a flow costs, so flows not sampled make none, not even held; a failed or slow one kept by the
  tail shows its calls, events and batches, and a failed statement's error on the call it failed.

Held spans are bounded (``MAX_HELD``); past it the oldest parts are dropped unseen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import SpanContext, SpanKind, StatusCode, TraceFlags
from opentelemetry.util.types import Attributes

MAX_HELD = 50_000  # spans held while their part of a flow runs
_DECIDED = 10_000  # local roots remembered for their children that end after them


class FlowSampler(Sampler):
    """Parent-based: a root span is sampled by trace id at ``ratio``; any other follows its parent. Spans
    not sampled are recorded all the same (``RECORD_ONLY``) for ``TailKeep`` to keep if the flow fails
    or is slow."""

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio
        self._root = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if parent.is_valid:
            sampled = parent.trace_flags.sampled
        else:
            sampled = (
                self._root.should_sample(parent_context, trace_id, name).decision
                is Decision.RECORD_AND_SAMPLE
            )
        decision = Decision.RECORD_AND_SAMPLE if sampled else Decision.RECORD_ONLY
        return SamplingResult(decision, attributes, parent.trace_state if parent.is_valid else None)

    def get_description(self) -> str:
        return f"FlowSampler{{ratio={self.ratio}, failed or slow kept}}"


class StatementSampler(Sampler):
    """For SQL statement spans: kept in sampled flows only. A flow not sampled makes no statement spans
    at all (not even recorded), which is most of what tracing it would cost; if it fails or is slow, its
    calls, events and batches are kept by ``TailKeep``, and its statements' failures show on them."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if parent.is_valid and parent.trace_flags.sampled:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, parent.trace_state)
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return "StatementSampler{sampled flows only}"


class TailKeep(SpanProcessor):
    """Passes sampled spans to ``downstream``; holds the others per local root and passes them on, marked
    sampled, when their part of the flow failed or was slow."""

    def __init__(self, downstream: SpanProcessor, slow_ms: float, max_held: int = MAX_HELD) -> None:
        self.downstream = downstream
        self.slow_ns = int(slow_ms * 1_000_000)
        self.max_held = max_held
        self._lock = threading.Lock()
        self._root_of: dict[int, int] = {}  # running unsampled span id -> its local root's span id
        self._held: OrderedDict[int, list[ReadableSpan]] = OrderedDict()  # local root id -> ended spans
        self._failed: set[int] = set()  # local roots with a failed span
        self._count = 0
        self._decided: OrderedDict[int, bool] = OrderedDict()  # ended local root -> kept

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.downstream.on_start(span, parent_context)
        context = span.get_span_context()
        if context.trace_flags.sampled:
            return
        parent = span.parent
        with self._lock:
            local = parent is not None and not parent.is_remote
            self._root_of[context.span_id] = (
                self._root_of.get(parent.span_id, parent.span_id) if local and parent else context.span_id
            )

    def on_end(self, span: ReadableSpan) -> None:
        context = span.get_span_context()
        if context is None or context.trace_flags.sampled:
            self.downstream.on_end(span)
            return
        failed = span.status.status_code is StatusCode.ERROR
        keep: list[ReadableSpan] = []
        with self._lock:
            root = self._root_of.pop(context.span_id, context.span_id)
            if root == context.span_id:  # the local root: its part of the flow is complete
                held = self._held.pop(root, [])
                self._count -= len(held)
                failed = failed or root in self._failed
                self._failed.discard(root)
                slow = (span.end_time or 0) - (span.start_time or 0) >= self.slow_ns
                kept = "error" if failed else "slow" if slow else ""
                self._remember(root, bool(kept))
                if kept:
                    keep = [*held, _kept(span, kept)]
            elif root in self._decided:  # a child that outlived its root follows the root's decision
                if self._decided[root]:
                    keep = [span]
            else:
                self._held.setdefault(root, []).append(span)
                self._count += 1
                if failed:
                    self._failed.add(root)
                while self._count > self.max_held and self._held:
                    dropped, spans = self._held.popitem(last=False)
                    self._count -= len(spans)
                    self._failed.discard(dropped)
        for held_span in keep:
            self.downstream.on_end(_sampled(held_span))

    def _remember(self, root: int, kept: bool) -> None:
        self._decided[root] = kept
        while len(self._decided) > _DECIDED:
            self._decided.popitem(last=False)

    def shutdown(self) -> None:
        self.downstream.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.downstream.force_flush(timeout_millis)


def _kept(span: ReadableSpan, why: str) -> ReadableSpan:
    return _copy(span, attributes={**(span.attributes or {}), "shop.trace.kept": why})


def _sampled(span: ReadableSpan) -> ReadableSpan:
    context = span.get_span_context()
    if context is None or context.trace_flags.sampled:
        return span
    return _copy(span)


def _copy(span: ReadableSpan, attributes: Any = None) -> ReadableSpan:
    """The span as written: flagged sampled, since it is kept."""
    context = span.get_span_context()
    assert context is not None
    return ReadableSpan(
        name=span.name,
        context=SpanContext(
            context.trace_id,
            context.span_id,
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
            trace_state=context.trace_state,
        ),
        parent=span.parent,
        resource=span.resource,
        attributes=attributes if attributes is not None else span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
