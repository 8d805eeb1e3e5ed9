"""Business time: days, cut-offs and months are in Asia/Shanghai; timestamps are stored in UTC (RULES.md)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")


def business_day(moment: datetime) -> date:
    """The business day an instant falls on."""
    return moment.astimezone(BUSINESS_ZONE).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A business day as the instant range [start, end)."""
    start = datetime.combine(day, time.min, tzinfo=BUSINESS_ZONE)
    return start, start + timedelta(days=1)
