"""The daily replenishment plan (补货, INV-15), from sales velocity and per-category policies.

- Sales velocity is the average daily units sold over a window, by default the last 14 days.
- "Covers d days" = available ÷ daily velocity, an exact fraction (no floating point).
- A SKU whose cover is below its category's threshold gets a plan line; the quantity is "order n days" of
  sales = n x daily velocity rounded up to whole units. It is not a top-up to n days of cover.
- Default policies: the fast-moving tea category (West Lake Longjing) orders 7 days of sales when cover is
  below 2 days, but a SKU selling more than 100 units a day orders 3 days instead; every other category
  orders 15 days of sales when cover is below 5 days.

The plan goes to purchasing for approval; nothing here orders anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from libs.errors import InvalidArgument, Violations
from services.inventory.domain.stock import MAX_MOVEMENT_QUANTITY

#: The policy of every category without one of its own.
ANY_CATEGORY = "*"
#: INV-15: velocity is averaged over the last 14 days unless told otherwise.
VELOCITY_WINDOW_DAYS = 14
#: A cover threshold or order length beyond a year is a typo, not a policy.
MAX_POLICY_DAYS = 365
MAX_CATEGORY = 100


@dataclass(frozen=True)
class ReplenishmentPolicy:
    """When a category's stock is low and how much to order.

    Stock covering fewer than ``low_cover_days`` days of sales is replenished with ``order_days`` days of
    sales. When both fast fields are set, a SKU selling more than ``fast_daily_units`` a day orders
    ``fast_order_days`` days of sales instead.
    """

    category: str
    low_cover_days: int
    order_days: int
    fast_daily_units: int | None = None
    fast_order_days: int | None = None

    def order_days_for(self, velocity: Fraction) -> int:
        """Days of sales to order for a SKU selling ``velocity`` units a day."""
        if (
            self.fast_daily_units is not None
            and self.fast_order_days is not None
            and velocity > self.fast_daily_units
        ):
            return self.fast_order_days
        return self.order_days


#: INV-15 as data: tea (the seeds' West Lake Longjing) and every other category.
DEFAULT_POLICIES: tuple[ReplenishmentPolicy, ...] = (
    ReplenishmentPolicy("tea", low_cover_days=2, order_days=7, fast_daily_units=100, fast_order_days=3),
    ReplenishmentPolicy(ANY_CATEGORY, low_cover_days=5, order_days=15),
)


def policy_for(category: str, policies: Sequence[ReplenishmentPolicy]) -> ReplenishmentPolicy:
    """The policy for ``category``: its own if listed, else the ``"*"`` policy.

    Raises ValueError when neither exists (the policy data must always hold a ``"*"`` policy).
    """
    fallback: ReplenishmentPolicy | None = None
    for policy in policies:
        if policy.category == category:
            return policy
        if fallback is None and policy.category == ANY_CATEGORY:
            fallback = policy
    if fallback is None:
        raise ValueError(f"no replenishment policy for category {category!r} and no {ANY_CATEGORY!r} policy")
    return fallback


def daily_velocity(units_sold: int, days: int = VELOCITY_WINDOW_DAYS) -> Fraction:
    """Average daily units sold over a window of ``days`` days, exact."""
    v = Violations()
    v.require(units_sold >= 0, "units_sold", "must be 0 or more")
    v.require(days >= 1, "window_days", "must be at least 1")
    v.raise_if_any()
    return Fraction(units_sold, days)


def cover_days(available: int, velocity: Fraction) -> Fraction | None:
    """How many days of sales ``available`` units cover; None when nothing sells."""
    if velocity <= 0:
        return None
    return Fraction(available) / velocity


@dataclass(frozen=True)
class PlanLine:
    """One SKU to replenish: its stock, velocity and cover, and what to order."""

    sku_code: str
    category: str
    available: int
    velocity: Fraction
    cover_days: Fraction | None
    order_quantity: int
    order_days: int


def plan_line(
    sku_code: str, category: str, available: int, velocity: Fraction, policy: ReplenishmentPolicy
) -> PlanLine | None:
    """The plan line of one SKU, or None when it sells nothing or its cover is not below the threshold."""
    cover = cover_days(available, velocity)
    if cover is None or cover >= policy.low_cover_days:
        return None
    days = policy.order_days_for(velocity)
    return PlanLine(
        sku_code=sku_code,
        category=category,
        available=available,
        velocity=velocity,
        cover_days=cover,
        order_quantity=math.ceil(days * velocity),
        order_days=days,
    )


def plan(
    stock: Sequence[tuple[str, str, int, int]],
    policies: Sequence[ReplenishmentPolicy] = DEFAULT_POLICIES,
    window_days: int = VELOCITY_WINDOW_DAYS,
) -> list[PlanLine]:
    """The replenishment plan for ``(sku_code, category, available, units_sold_in_window)`` rows.

    Lines are sorted by cover ascending (the most urgent first), then by SKU.
    """
    if window_days < 1:
        raise InvalidArgument.for_field("window_days", "must be at least 1")
    lines: list[PlanLine] = []
    for sku_code, category, available, units_sold in stock:
        velocity = daily_velocity(units_sold, window_days)
        line = plan_line(sku_code, category, available, velocity, policy_for(category, policies))
        if line is not None:
            lines.append(line)
    lines.sort(key=_urgency)
    return lines


def _urgency(line: PlanLine) -> tuple[bool, Fraction, str]:
    return (line.cover_days is None, line.cover_days or Fraction(0), line.sku_code)


def _field(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def validate_policy(
    category: str,
    low_cover_days: int,
    order_days: int,
    fast_daily_units: int | None = None,
    fast_order_days: int | None = None,
    *,
    prefix: str = "",
) -> ReplenishmentPolicy:
    """A policy from request data; InvalidArgument names every offending field (under ``prefix`` if given)."""
    v = Violations()
    category = category.strip()
    v.require(bool(category), _field(prefix, "category"), "is required")
    v.require(
        len(category) <= MAX_CATEGORY,
        _field(prefix, "category"),
        f"must be at most {MAX_CATEGORY} characters",
    )
    for name, days in (("low_cover_days", low_cover_days), ("order_days", order_days)):
        v.require(
            1 <= days <= MAX_POLICY_DAYS, _field(prefix, name), f"must be between 1 and {MAX_POLICY_DAYS}"
        )
    if (fast_daily_units is None) != (fast_order_days is None):
        missing = "fast_order_days" if fast_order_days is None else "fast_daily_units"
        v.add(_field(prefix, missing), "is required when the other fast-seller field is set")
    if fast_daily_units is not None:
        v.require(
            1 <= fast_daily_units <= MAX_MOVEMENT_QUANTITY,
            _field(prefix, "fast_daily_units"),
            f"must be between 1 and {MAX_MOVEMENT_QUANTITY}",
        )
    if fast_order_days is not None:
        v.require(
            1 <= fast_order_days <= MAX_POLICY_DAYS,
            _field(prefix, "fast_order_days"),
            f"must be between 1 and {MAX_POLICY_DAYS}",
        )
    v.raise_if_any()
    return ReplenishmentPolicy(category, low_cover_days, order_days, fast_daily_units, fast_order_days)


def validate_policies(
    rows: Sequence[tuple[str, int, int, int | None, int | None]],
) -> tuple[ReplenishmentPolicy, ...]:
    """A whole policy set: each ``policies[i]`` valid, each category once, and a ``"*"`` policy present."""
    v = Violations()
    policies: list[ReplenishmentPolicy] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        try:
            policy = validate_policy(*row, prefix=f"policies[{i}]")
        except InvalidArgument as err:
            v.items.extend(err.violations)
            continue
        v.require(
            policy.category not in seen, f"policies[{i}].category", "appears twice; list each category once"
        )
        seen.add(policy.category)
        policies.append(policy)
    v.require(
        any(row[0].strip() == ANY_CATEGORY for row in rows),
        "policies",
        f"must hold a {ANY_CATEGORY!r} policy for every other category",
    )
    v.raise_if_any()
    return tuple(policies)
