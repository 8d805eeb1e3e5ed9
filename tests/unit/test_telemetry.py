"""Background housekeeping starts no traces: its SQL is not traced, while a flow's SQL is."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from libs.telemetry import untraced


def test_untraced_suppresses_instrumentation_only_within():
    assert is_instrumentation_enabled()
    with untraced():
        assert not is_instrumentation_enabled()
    assert is_instrumentation_enabled()
    assert trace.get_current_span() is trace.INVALID_SPAN
