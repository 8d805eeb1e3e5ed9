"""Reports on orders: the same-day review report (ORD-6) and net sales (ORD-9)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from libs.business_time import BUSINESS_ZONE

#: ORD-6: orders paid before 17:00 are reviewed and printed the same day.
SAME_DAY_CUTOFF = time(17, 0)


def cutoff(day: date) -> datetime:
    return datetime.combine(day, SAME_DAY_CUTOFF, tzinfo=BUSINESS_ZONE)


def due_day(paid_at: datetime) -> date:
    """ORD-6: the business day an order is due for review: its day of payment if paid strictly before
    17:00, else the next day (as a wave after the last cut-off rolls over, LOG-1)."""
    local = paid_at.astimezone(BUSINESS_ZONE)
    return local.date() if local.time() < SAME_DAY_CUTOFF else local.date() + timedelta(days=1)


def due_window(day: date) -> tuple[datetime, datetime]:
    """The payments due for review on ``day``: from 17:00 the day before to 17:00 that day."""
    return cutoff(day - timedelta(days=1)), cutoff(day)


def reviewed_in_time(paid_at: datetime, reviewed_at: datetime | None) -> bool:
    """ORD-6: reviewed by the end of its due day (an evening order reviewed the same evening is early)."""
    if reviewed_at is None:
        return False
    return reviewed_at.astimezone(BUSINESS_ZONE).date() <= due_day(paid_at)


@dataclass(frozen=True)
class NetSalesRow:
    """ORD-9: net sales of a shop and channel in a period = paid amounts - refunded amounts of the period."""

    shop_code: str
    channel: str
    paid_fen: int
    refunded_fen: int

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refunded_fen
