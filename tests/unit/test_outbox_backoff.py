"""Retry delays of the outbox relay and of event consumers: doubling from a base, capped at 30 s, so that
an event is tried again soon after whatever refused it is fixed."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from libs.outbox import backoff


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 16.0)],
)
def test_delay_doubles_from_the_base(attempts: int, seconds: float) -> None:
    assert backoff(attempts) == timedelta(seconds=seconds)


def test_each_delay_is_twice_the_previous_until_the_cap() -> None:
    delays = [backoff(n).total_seconds() for n in range(1, 7)]
    assert all(b == 2 * a for a, b in itertools.pairwise(delays))


@pytest.mark.parametrize("attempts", [7, 12, 50, 1000])
def test_delay_is_capped(attempts: int) -> None:
    assert backoff(attempts) == timedelta(seconds=30)


@pytest.mark.parametrize("attempts", [0, -3])
def test_zero_or_negative_attempts_wait_the_base(attempts: int) -> None:
    assert backoff(attempts) == timedelta(seconds=0.5)


def test_custom_base_and_cap() -> None:
    assert [backoff(n, base=2.0, cap=10.0).total_seconds() for n in range(1, 6)] == [
        2.0,
        4.0,
        8.0,
        10.0,
        10.0,
    ]


def test_delay_stays_capped_after_very_many_attempts() -> None:
    assert backoff(1025) == timedelta(seconds=30)
