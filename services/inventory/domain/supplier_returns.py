"""Returns to supplier (退供应商, INV-17).

Defective units go back to their supplier on a return document. Deliveries from manufacturers are cleared
daily, sporadic purchases weekly. Defective stock not returned by the end of the month (in the business
time zone, Asia/Shanghai) is reported to purchasing and finance.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta

from libs.business_time import BUSINESS_ZONE


class SupplierKind(enum.Enum):
    MANUFACTURER = "manufacturer"  # delivers its own goods: defective units are cleared daily
    SPORADIC = "sporadic"  # occasional purchases: defective units are cleared weekly


CLEARING_INTERVALS: dict[SupplierKind, timedelta] = {
    SupplierKind.MANUFACTURER: timedelta(days=1),
    SupplierKind.SPORADIC: timedelta(days=7),
}


def clearing_interval(kind: SupplierKind) -> timedelta:
    """How often defective units of a supplier of this kind are returned."""
    return CLEARING_INTERVALS[kind]


def _require_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")


def return_due(kind: SupplierKind, defective_since: datetime, now: datetime) -> bool:
    """Whether defective units set aside at ``defective_since`` are due back: once the interval has passed."""
    _require_aware("defective_since", defective_since)
    _require_aware("now", now)
    return now - defective_since >= clearing_interval(kind)


def month_end(moment: datetime) -> datetime:
    """The end of ``moment``'s month in Asia/Shanghai, as an exclusive bound in UTC.

    That is the first instant of the next month in Shanghai: 2026-11-30T16:30Z is already
    2026-12-01 00:30 in Shanghai, so its month ends at 2026-12-31T16:00Z.
    """
    _require_aware("moment", moment)
    local = moment.astimezone(BUSINESS_ZONE)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=BUSINESS_ZONE).astimezone(UTC)


def overdue_at_month_end(defective_since: datetime, returned: bool, report_month_end: datetime) -> bool:
    """Whether defective stock is reported to purchasing and finance for the month ending at
    ``report_month_end`` (an exclusive bound from :func:`month_end`): it became defective before the
    bound and was not returned by then (``returned`` says whether it was returned before the bound)."""
    _require_aware("defective_since", defective_since)
    _require_aware("report_month_end", report_month_end)
    return not returned and defective_since < report_month_end
