"""The local span store: finished spans as JSON lines in one folder, one file per process.

Used when no OTLP collector is configured, so that ``python -m libs.traces`` can show an SRE the whole
cross-service tree of a trace on a laptop. One file per process keeps concurrent writers apart.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


@dataclass
class StoredSpan:
    """A finished span as read back from the store."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    status_description: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def span_to_record(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    assert ctx is not None
    attributes = {
        key: value if isinstance(value, str | int | float | bool) else list(value)  # type: ignore[arg-type]
        for key, value in (span.attributes or {}).items()
    }
    return {
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
        "name": span.name,
        "service": str(span.resource.attributes.get("service.name", "unknown")),
        "kind": span.kind.name,
        "start_ns": span.start_time or 0,
        "end_ns": span.end_time or 0,
        "status": span.status.status_code.name,
        "status_description": span.status.description or "",
        "attributes": attributes,
    }


class LocalSpanExporter(SpanExporter):
    """Appends finished spans to ``<folder>/<service>-<pid>.jsonl``."""

    def __init__(self, folder: Path, service: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{service}-{os.getpid()}.jsonl"
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_to_record(s), ensure_ascii=False) + "\n" for s in spans)
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as fh:
                fh.write(lines)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def read_spans(folder: Path) -> Iterator[StoredSpan]:
    """Every span in the store, file by file, without holding the files in memory.

    Skipped: a half-written last line (a process killed mid-write), a line that is not a span record, and
    a file removed while the store is read (the store being cleared).
    """
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.jsonl")):
        # errors="replace": a write cut inside a multi-byte character leaves an invalid line, skipped below.
        try:
            fh = path.open(encoding="utf-8", errors="replace")
        except OSError:
            continue
        with fh:
            for line in fh:
                try:
                    span = StoredSpan(**json.loads(line))
                except (json.JSONDecodeError, TypeError):
                    continue
                yield span
