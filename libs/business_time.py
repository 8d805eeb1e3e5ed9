"""Business time: days, cut-offs and months are in Asia/Shanghai; timestamps are stored in UTC (RULES.md)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from libs.errors import InvalidArgument

BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")


def business_day(moment: datetime) -> date:
    """The business day an instant falls on."""
    return moment.astimezone(BUSINESS_ZONE).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A business day as the instant range [start, end)."""
    start = datetime.combine(day, time.min, tzinfo=BUSINESS_ZONE)
    return start, start + timedelta(days=1)


#: The business dates a request may name: the suite keeps no books before 2000, and nothing is planned
#: more than two years ahead. Anything outside is a typo (or an attack on date arithmetic), refused
#: naming the field rather than overflowing at the calendar's ends.
EARLIEST_BUSINESS_DATE = date(2000, 1, 1)
PLANNING_HORIZON_DAYS = 2 * 366


def _check_range(day: date, field: str, text: str) -> date:
    latest = business_day(datetime.now(BUSINESS_ZONE)) + timedelta(days=PLANNING_HORIZON_DAYS)
    if not EARLIEST_BUSINESS_DATE <= day <= latest:
        raise InvalidArgument.for_field(
            field,
            f"must be between {EARLIEST_BUSINESS_DATE.isoformat()} and {latest.isoformat()}, got {text!r}",
        )
    return day


def parse_business_date(text: str, field: str) -> date:
    """A request's ``YYYY-MM-DD`` business date; INVALID_ARGUMENT naming ``field`` when malformed or
    outside the dates the books can hold."""
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidArgument.for_field(field, f"must be a date YYYY-MM-DD, got {text!r}")
    return _check_range(day, field, text)


def parse_business_month(text: str, field: str = "month") -> tuple[int, int]:
    """A request's ``YYYY-MM`` month as (year, month); INVALID_ARGUMENT naming ``field`` when malformed or
    outside the dates the books can hold."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise InvalidArgument.for_field(field, f"must be YYYY-MM, got {text!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if year < EARLIEST_BUSINESS_DATE.year:
        raise InvalidArgument.for_field(
            field, f"must not be before {EARLIEST_BUSINESS_DATE:%Y-%m}, got {text!r}"
        )
    _check_range(date(year, month, 1), field, text)
    return year, month
