"""INV-16 packing-material alerts and INV-17 returns to supplier, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from libs.errors import InvalidArgument
from services.inventory.domain.packing import LOW_COVER_DAYS, PackingAlert, packing_alerts
from services.inventory.domain.supplier_returns import (
    SupplierKind,
    clearing_interval,
    month_end,
    overdue_at_month_end,
    return_due,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- INV-16 packing materials ---


def test_inv_16_threshold_is_10_days():
    assert LOW_COVER_DAYS == 10


def test_inv_16_just_under_10_days_alerts_and_exactly_10_days_does_not():
    # 140 used in 14 days = 10 a day.
    assert packing_alerts([("BUBBLE", 100, 140)]) == []
    assert packing_alerts([("BUBBLE", 99, 140)]) == [
        PackingAlert("BUBBLE", 99, Fraction(10), Fraction(99, 10), "low_cover")
    ]


def test_inv_16_normal_use_is_averaged_over_the_window():
    (alert,) = packing_alerts([("TAPE", 13, 20)])  # 20/14 a day -> 9.1 days
    assert alert.daily_use == Fraction(10, 7)
    assert alert.cover_days == Fraction(91, 10)
    assert packing_alerts([("TAPE", 13, 20)], window_days=28) == []  # 20/28 a day -> 18.2 days


def test_inv_16_unused_material_is_never_low():
    assert packing_alerts([("RIBBON", 0, 0), ("BOX", 5, 0)]) == []


def test_inv_16_a_large_promotion_alerts_every_material():
    alerts = packing_alerts(
        [("TAPE", 1000, 140), ("BUBBLE", 50, 140), ("RIBBON", 0, 0)], large_promotion_scheduled=True
    )
    assert [(a.sku_code, a.reason, a.cover_days) for a in alerts] == [
        ("BUBBLE", "low_cover", 5),  # already low: stays low_cover
        ("TAPE", "promotion", 100),
        ("RIBBON", "promotion", None),
    ]


def test_inv_16_alerts_sort_by_cover_then_sku():
    alerts = packing_alerts([("B", 10, 140), ("A", 10, 140), ("C", 5, 140)])
    assert [a.sku_code for a in alerts] == ["C", "A", "B"]


def test_inv_16_bad_input_names_fields():
    with pytest.raises(InvalidArgument) as err:
        packing_alerts([("A", 1, 1)], window_days=0)
    assert err.value.violations[0].field == "window_days"
    with pytest.raises(InvalidArgument) as err:
        packing_alerts([("A", 1, 1), ("B", 1, -1)])
    assert err.value.violations[0].field == "materials[1].units_used"


# --- INV-17 returns to supplier ---


def test_inv_17_manufacturers_are_cleared_daily_and_sporadic_purchases_weekly():
    assert clearing_interval(SupplierKind.MANUFACTURER) == timedelta(days=1)
    assert clearing_interval(SupplierKind.SPORADIC) == timedelta(days=7)
    assert SupplierKind("manufacturer") is SupplierKind.MANUFACTURER
    assert SupplierKind("sporadic") is SupplierKind.SPORADIC


def test_inv_17_manufacturer_return_is_due_after_a_day():
    since = utc(2026, 3, 2, 9)
    assert not return_due(SupplierKind.MANUFACTURER, since, since + timedelta(hours=23, minutes=59))
    assert return_due(SupplierKind.MANUFACTURER, since, since + timedelta(days=1))
    assert return_due(SupplierKind.MANUFACTURER, since, since + timedelta(days=3))


def test_inv_17_sporadic_return_is_due_after_a_week():
    since = utc(2026, 3, 2, 9)
    assert not return_due(SupplierKind.SPORADIC, since, since + timedelta(days=1))
    assert not return_due(SupplierKind.SPORADIC, since, since + timedelta(days=7) - timedelta(seconds=1))
    assert return_due(SupplierKind.SPORADIC, since, since + timedelta(days=7))


def test_inv_17_month_end_is_in_shanghai_not_utc():
    # 16:30 UTC on 30 November is 00:30 on 1 December in Shanghai: December's report.
    assert month_end(utc(2026, 11, 30, 16, 30)) == utc(2026, 12, 31, 16)
    # 15:59 UTC is still 23:59 on 30 November in Shanghai.
    assert month_end(utc(2026, 11, 30, 15, 59)) == utc(2026, 11, 30, 16)


def test_inv_17_month_end_is_an_aware_exclusive_bound():
    bound = month_end(datetime(2026, 2, 10, 12, tzinfo=SHANGHAI))
    assert bound.utcoffset() == timedelta(0)
    assert bound.astimezone(SHANGHAI) == datetime(2026, 3, 1, tzinfo=SHANGHAI)
    assert month_end(bound) != bound  # the bound itself belongs to the next month
    assert month_end(bound - timedelta(microseconds=1)) == bound


def test_inv_17_december_rolls_into_the_next_year():
    assert month_end(utc(2026, 12, 15)) == utc(2026, 12, 31, 16)
    assert month_end(utc(2026, 12, 31, 16)) == utc(2027, 1, 31, 16)


def test_inv_17_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        month_end(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        return_due(SupplierKind.SPORADIC, datetime(2026, 1, 1), utc(2026, 1, 9))


def test_inv_17_unreturned_defective_stock_is_reported_at_month_end():
    november_end = month_end(utc(2026, 11, 10))
    assert overdue_at_month_end(utc(2026, 11, 20), returned=False, report_month_end=november_end)
    assert not overdue_at_month_end(utc(2026, 11, 20), returned=True, report_month_end=november_end)


def test_inv_17_stock_defective_after_the_shanghai_month_end_waits_for_next_month():
    november_end = month_end(utc(2026, 11, 10))
    # 16:30 UTC on 30 November is already December in Shanghai.
    assert not overdue_at_month_end(utc(2026, 11, 30, 16, 30), returned=False, report_month_end=november_end)
    assert overdue_at_month_end(utc(2026, 11, 30, 15, 59), returned=False, report_month_end=november_end)
