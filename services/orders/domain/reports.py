"""Reports on orders: the same-day review report (ORD-6) and net sales (ORD-9)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from libs.business_time import BUSINESS_ZONE

#: ORD-6: orders paid before 17:00 are reviewed and printed the same day.
SAME_DAY_CUTOFF = time(17, 0)


def cutoff(day: date) -> datetime:
    return datetime.combine(day, SAME_DAY_CUTOFF, tzinfo=BUSINESS_ZONE)


def due_same_day(paid_at: datetime) -> bool:
    """Paid strictly before 17:00 of its business day."""
    local = paid_at.astimezone(BUSINESS_ZONE)
    return local.time() < SAME_DAY_CUTOFF


def reviewed_in_time(paid_at: datetime, reviewed_at: datetime | None) -> bool:
    """ORD-6: reviewed on the day of payment (for an order due the same day)."""
    if reviewed_at is None:
        return False
    return reviewed_at.astimezone(BUSINESS_ZONE).date() == paid_at.astimezone(BUSINESS_ZONE).date()


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
