"""Deadline propagation: an outgoing call never outlives the call that caused it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from libs import deadlines
from libs.errors import DeadlineExceeded


@contextmanager
def deadline_in(seconds: float | None) -> Iterator[None]:
    token = deadlines.set_deadline_in(seconds)
    try:
        yield
    finally:
        deadlines.reset_deadline(token)


@pytest.fixture(autouse=True)
def _default_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOP_CALL_TIMEOUT_SECONDS", raising=False)


def test_without_a_deadline_the_cap_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    assert deadlines.remaining() is None
    assert deadlines.outgoing_timeout() == 5.0
    assert deadlines.outgoing_timeout(2.5) == 2.5
    monkeypatch.setenv("SHOP_CALL_TIMEOUT_SECONDS", "7")
    assert deadlines.outgoing_timeout() == 7.0


def test_explicit_none_deadline_means_no_deadline() -> None:
    with deadline_in(None):
        assert deadlines.remaining() is None
        assert deadlines.outgoing_timeout(3.0) == 3.0


def test_remaining_time_minus_margin_bounds_the_call() -> None:
    with deadline_in(2.0):
        timeout = deadlines.outgoing_timeout(5.0)
    expected = 2.0 - deadlines.MARGIN_SECONDS
    assert expected - 0.5 < timeout <= expected


def test_cap_wins_when_the_deadline_is_far() -> None:
    with deadline_in(60.0):
        assert deadlines.outgoing_timeout(5.0) == 5.0
        assert deadlines.outgoing_timeout() == 5.0


@pytest.mark.parametrize("seconds", [-1.0, 0.0, deadlines.MARGIN_SECONDS / 2])
def test_spent_deadline_raises(seconds: float) -> None:
    with deadline_in(seconds), pytest.raises(DeadlineExceeded) as info:
        deadlines.outgoing_timeout(5.0)
    assert info.value.reason == "DEADLINE_SPENT"
    assert info.value.code == "DEADLINE_EXCEEDED"


def test_reset_restores_no_deadline() -> None:
    with deadline_in(1.0):
        remaining = deadlines.remaining()
        assert remaining is not None
        assert 0.5 < remaining <= 1.0
    assert deadlines.remaining() is None
