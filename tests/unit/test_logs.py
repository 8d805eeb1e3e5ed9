"""Structured logs: one JSON object per record, with the ids of the active span."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider

from libs.logs import JsonFormatter


def _record(
    msg: str,
    *args: object,
    level: int = logging.INFO,
    extra: dict[str, object] | None = None,
    exc: bool = False,
) -> logging.LogRecord:
    exc_info = sys.exc_info() if exc else None
    return logging.getLogger("shop.unit").makeRecord(
        "shop.unit", level, __file__, 42, msg, args, exc_info, extra=extra
    )


def test_output_is_json_with_service_level_message_and_extra_fields() -> None:
    record = _record(
        "moved %d units of %s",
        3,
        "TEA-1",
        level=logging.WARNING,
        extra={
            "sku": "TEA-1",
            "count": 3,
            "ratio": 0.5,
            "flag": True,
            "nothing": None,
            "where": Path("/a/b"),
        },
    )
    entry = json.loads(JsonFormatter("inventory").format(record))
    assert entry["service"] == "inventory"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "shop.unit"
    assert entry["message"] == "moved 3 units of TEA-1"
    assert entry["sku"] == "TEA-1"
    assert entry["count"] == 3
    assert entry["ratio"] == 0.5
    assert entry["flag"] is True
    assert entry["nothing"] is None
    assert entry["where"] == "/a/b"
    assert entry["ts"].endswith("Z")
    assert "T" in entry["ts"]


def test_standard_record_attributes_are_left_out() -> None:
    entry = json.loads(JsonFormatter("orders").format(_record("hello")))
    assert set(entry) == {"ts", "level", "service", "logger", "message"}


def test_no_trace_ids_outside_a_span() -> None:
    entry = json.loads(JsonFormatter("orders").format(_record("hello")))
    assert "trace_id" not in entry
    assert "span_id" not in entry


def test_trace_and_span_ids_inside_a_span() -> None:
    provider = TracerProvider()
    try:
        with provider.get_tracer("unit-test").start_as_current_span("work") as span:
            line = JsonFormatter("inventory").format(_record("inside"))
        ctx = span.get_span_context()
    finally:
        provider.shutdown()
    entry = json.loads(line)
    assert entry["trace_id"] == format(ctx.trace_id, "032x")
    assert entry["span_id"] == format(ctx.span_id, "016x")
    assert len(entry["trace_id"]) == 32
    assert len(entry["span_id"]) == 16


def test_exception_is_included() -> None:
    try:
        raise ValueError("bad quantity")
    except ValueError:
        record = _record("failed", level=logging.ERROR, exc=True)
    entry = json.loads(JsonFormatter("inventory").format(record))
    assert entry["level"] == "ERROR"
    assert "ValueError: bad quantity" in entry["exception"]
    assert entry["exception"].startswith("Traceback")


def test_one_line_per_record() -> None:
    line = JsonFormatter("inventory").format(_record("two\nlines", extra={"note": "a\nb"}))
    assert "\n" not in line
    assert json.loads(line)["message"] == "two\nlines"
