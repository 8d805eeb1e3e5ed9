"""ORD-6: the day an order is due for review, with the same rollover as the waves' last cut-off (LOG-1)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from libs.business_time import BUSINESS_ZONE
from services.orders.domain.reports import due_day, due_window, reviewed_in_time


def shanghai(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=BUSINESS_ZONE)


@pytest.mark.parametrize(
    ("paid_at", "due"),
    [
        (shanghai(1, 0, 0), date(2026, 12, 1)),
        (shanghai(1, 16, 59, 59), date(2026, 12, 1)),
        (shanghai(1, 17, 0, 0), date(2026, 12, 2)),  # at 17:00 exactly: the next day
        (shanghai(1, 23, 59, 59), date(2026, 12, 2)),
        (datetime(2026, 12, 1, 8, 59, tzinfo=UTC), date(2026, 12, 1)),  # 16:59 in Shanghai
        (datetime(2026, 12, 1, 9, 0, tzinfo=UTC), date(2026, 12, 2)),  # 17:00 in Shanghai
    ],
)
def test_ord_6_an_order_paid_at_or_after_17_is_due_the_next_day(paid_at, due):
    assert due_day(paid_at) == due
    start, end = due_window(due)
    assert start <= paid_at < end


def test_ord_6_an_evening_order_reviewed_that_evening_or_the_next_day_is_in_time():
    evening = shanghai(1, 18)
    assert reviewed_in_time(evening, shanghai(1, 19))
    assert reviewed_in_time(evening, shanghai(2, 16))
    assert not reviewed_in_time(evening, shanghai(3, 9))
    assert not reviewed_in_time(shanghai(1, 9), shanghai(2, 9))
    assert not reviewed_in_time(shanghai(1, 9), None)
