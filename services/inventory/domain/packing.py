"""Packing materials (INV-16): alert the warehouse supervisor to buy more.

A material is low when its stock covers fewer than 10 days of normal use, normal use being the average
daily use over a window (by default the last 14 days). When a large promotion is scheduled every material
is alerted, low or not. A material used not at all is never low; it is alerted only for a promotion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from libs.errors import InvalidArgument, Violations

#: INV-16: alert below 10 days of normal use.
LOW_COVER_DAYS = 10
USE_WINDOW_DAYS = 14

LOW_COVER = "low_cover"
PROMOTION = "promotion"


@dataclass(frozen=True)
class PackingAlert:
    """One packing material to buy more of, and why: ``"low_cover"`` or ``"promotion"``."""

    sku_code: str
    on_hand: int
    daily_use: Fraction
    cover_days: Fraction | None  # None when the material was not used in the window
    reason: str


def packing_alerts(
    materials: Sequence[tuple[str, int, int]],
    window_days: int = USE_WINDOW_DAYS,
    large_promotion_scheduled: bool = False,
) -> list[PackingAlert]:
    """Alerts for ``(sku_code, on_hand, units_used_in_window)`` rows, the lowest cover first, then by SKU.

    A low material is reported as ``"low_cover"`` even when a promotion is scheduled too.
    """
    if window_days < 1:
        raise InvalidArgument.for_field("window_days", "must be at least 1")
    v = Violations()
    for i, (_, _, used) in enumerate(materials):
        v.require(used >= 0, f"materials[{i}].units_used", "must be 0 or more")
    v.raise_if_any()
    alerts: list[PackingAlert] = []
    for sku_code, on_hand, used in materials:
        daily_use = Fraction(used, window_days)
        cover = Fraction(on_hand) / daily_use if daily_use > 0 else None
        if cover is not None and cover < LOW_COVER_DAYS:
            alerts.append(PackingAlert(sku_code, on_hand, daily_use, cover, LOW_COVER))
        elif large_promotion_scheduled:
            alerts.append(PackingAlert(sku_code, on_hand, daily_use, cover, PROMOTION))
    alerts.sort(key=_urgency)
    return alerts


def _urgency(alert: PackingAlert) -> tuple[bool, Fraction, str]:
    return (alert.cover_days is None, alert.cover_days or Fraction(0), alert.sku_code)
