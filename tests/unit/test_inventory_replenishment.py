"""INV-15 replenishment as pure functions: velocity, cover, thresholds, quantities and policy data."""

from __future__ import annotations

from fractions import Fraction

import pytest

from libs.errors import InvalidArgument
from services.inventory.domain.replenishment import (
    DEFAULT_POLICIES,
    VELOCITY_WINDOW_DAYS,
    ReplenishmentPolicy,
    cover_days,
    daily_velocity,
    plan,
    plan_line,
    policy_for,
    validate_policies,
    validate_policy,
)

TEA = policy_for("tea", DEFAULT_POLICIES)
OTHER = policy_for("teaware", DEFAULT_POLICIES)


def test_inv_15_default_policies_are_the_rule_as_data():
    assert ReplenishmentPolicy("tea", 2, 7, 100, 3) in DEFAULT_POLICIES
    assert ReplenishmentPolicy("*", 5, 15, None, None) in DEFAULT_POLICIES
    assert TEA.category == "tea"
    assert OTHER.category == "*"
    assert VELOCITY_WINDOW_DAYS == 14


def test_inv_15_velocity_is_the_exact_daily_average_over_the_window():
    assert daily_velocity(140) == Fraction(10)
    assert daily_velocity(10) == Fraction(10, 14)
    assert daily_velocity(10, 7) == Fraction(10, 7)
    assert daily_velocity(0) == 0


def test_inv_15_velocity_rejects_bad_input_naming_fields():
    with pytest.raises(InvalidArgument) as err:
        daily_velocity(-1, 0)
    assert {v.field for v in err.value.violations} == {"units_sold", "window_days"}


def test_inv_15_cover_is_available_over_velocity_exactly():
    assert cover_days(15, Fraction(10)) == Fraction(3, 2)
    assert cover_days(10, Fraction(1, 3)) == 30
    assert cover_days(10, Fraction(0)) is None


def test_inv_15_tea_below_2_days_orders_7_days():
    # 10 a day, 19 available: covers 1.9 days.
    line = plan_line("LJ-250", "tea", 19, Fraction(10), TEA)
    assert line is not None
    assert line.cover_days == Fraction(19, 10)
    assert (line.order_days, line.order_quantity) == (7, 70)


def test_inv_15_tea_at_1_99_days_is_replenished_but_exactly_2_days_is_not():
    velocity = Fraction(100)
    almost = plan_line("LJ", "tea", 199, velocity, TEA)
    assert almost is not None
    assert almost.cover_days == Fraction(199, 100)
    assert plan_line("LJ", "tea", 200, velocity, TEA) is None
    assert plan_line("LJ", "tea", 201, velocity, TEA) is None


def test_inv_15_tea_selling_exactly_100_a_day_still_orders_7_days():
    velocity = daily_velocity(1400)  # exactly 100 a day: not "more than 100"
    line = plan_line("LJ", "tea", 0, velocity, TEA)
    assert line is not None
    assert (line.order_days, line.order_quantity) == (7, 700)


def test_inv_15_tea_selling_more_than_100_a_day_orders_3_days_instead():
    velocity = daily_velocity(1401)  # 100.07 a day
    line = plan_line("LJ", "tea", 0, velocity, TEA)
    assert line is not None
    # 3 x 1401/14 = 300.21 -> 301
    assert (line.order_days, line.order_quantity) == (3, 301)
    line = plan_line("LJ", "tea", 150, daily_velocity(101, 1), TEA)
    assert line is not None
    assert (line.order_days, line.order_quantity) == (3, 303)


def test_inv_15_order_is_n_days_of_sales_not_a_top_up():
    # 15 available at 10 a day covers 1.5 days; still 7 x 10 = 70 are ordered, not 70 - 15.
    line = plan_line("LJ", "tea", 15, Fraction(10), TEA)
    assert line is not None
    assert line.order_quantity == 70


def test_inv_15_quantity_is_rounded_up_to_whole_units():
    velocity = daily_velocity(10)  # 10/14 a day
    line = plan_line("CUP", "teaware", 3, velocity, OTHER)
    assert line is not None
    # 15 x 10/14 = 10.71 -> 11
    assert (line.order_days, line.order_quantity) == (15, 11)


def test_inv_15_other_categories_below_5_days_order_15_days_and_exactly_5_days_do_not():
    velocity = Fraction(4)
    line = plan_line("CUP", "teaware", 19, velocity, OTHER)  # 4.75 days
    assert line is not None
    assert (line.order_days, line.order_quantity) == (15, 60)
    assert plan_line("CUP", "teaware", 20, velocity, OTHER) is None  # exactly 5 days


def test_inv_15_other_categories_have_no_fast_seller_rule():
    line = plan_line("CUP", "teaware", 0, Fraction(500), OTHER)
    assert line is not None
    assert (line.order_days, line.order_quantity) == (15, 7500)


def test_inv_15_zero_sales_never_plans_even_with_no_stock():
    assert plan_line("LJ", "tea", 0, Fraction(0), TEA) is None
    assert plan([("LJ", "tea", 0, 0), ("CUP", "teaware", 0, 0)]) == []


def test_inv_15_plan_sorts_by_cover_then_sku_and_skips_covered_stock():
    stock = [
        ("B-CUP", "teaware", 40, 140),  # 4 days of 10/day
        ("A-CUP", "teaware", 40, 140),  # 4 days
        ("LJ-250", "tea", 10, 140),  # 1 day
        ("LJ-500", "tea", 30, 140),  # 3 days: tea threshold is 2, not planned
        ("TRAY", "teaware", 100, 140),  # 10 days: not planned
        ("IDLE", "teaware", 0, 0),  # no sales
    ]
    lines = plan(stock)
    assert [(line.sku_code, line.cover_days) for line in lines] == [
        ("LJ-250", Fraction(1)),
        ("A-CUP", Fraction(4)),
        ("B-CUP", Fraction(4)),
    ]
    assert [line.order_quantity for line in lines] == [70, 150, 150]
    assert lines[0].category == "tea"
    assert lines[0].velocity == 10


def test_inv_15_plan_uses_the_given_window():
    # 70 sold over 7 days is 10 a day; over the default 14 it would be 5 a day.
    (line,) = plan([("LJ", "tea", 15, 70)], window_days=7)
    assert line.velocity == 10
    assert plan([("LJ", "tea", 15, 70)]) == []  # 15 / 5 = 3 days
    with pytest.raises(InvalidArgument) as err:
        plan([("LJ", "tea", 15, 70)], window_days=0)
    assert err.value.violations[0].field == "window_days"


def test_inv_15_custom_policy_data_overrides_a_default():
    policies = (
        ReplenishmentPolicy("tea", low_cover_days=4, order_days=10, fast_daily_units=50, fast_order_days=2),
        ReplenishmentPolicy("gift", low_cover_days=30, order_days=60),
        ReplenishmentPolicy("*", low_cover_days=5, order_days=15),
    )
    lines = {
        line.sku_code: line
        for line in plan(
            [
                ("LJ", "tea", 30, 140),  # 3 days: below the custom 4, not below the default 2
                ("LJ-FAST", "tea", 0, 1400),  # 100 a day: above the custom 50 -> 2 days
                ("BOX", "gift", 200, 140),  # 20 days: gift policy, below 30
                ("CUP", "teaware", 40, 140),  # 4 days: the "*" policy
            ],
            policies,
        )
    }
    assert (lines["LJ"].order_days, lines["LJ"].order_quantity) == (10, 100)
    assert (lines["LJ-FAST"].order_days, lines["LJ-FAST"].order_quantity) == (2, 200)
    assert (lines["BOX"].order_days, lines["BOX"].order_quantity) == (60, 600)
    assert (lines["CUP"].order_days, lines["CUP"].order_quantity) == (15, 150)
    assert plan([("LJ", "tea", 30, 140)]) == []


def test_inv_15_policy_for_needs_a_catch_all():
    policies = (ReplenishmentPolicy("tea", 2, 7),)
    assert policy_for("tea", policies).category == "tea"
    with pytest.raises(ValueError, match="no replenishment policy"):
        policy_for("teaware", policies)


def test_inv_15_validate_policy_accepts_and_normalises():
    assert validate_policy(" tea ", 2, 7, 100, 3) == ReplenishmentPolicy("tea", 2, 7, 100, 3)
    assert validate_policy("*", 5, 15) == ReplenishmentPolicy("*", 5, 15, None, None)


def test_inv_15_validate_policy_names_every_offending_field():
    with pytest.raises(InvalidArgument) as err:
        validate_policy(" ", 0, 0, 0, 0, prefix="policies[1]")
    assert [v.field for v in err.value.violations] == [
        "policies[1].category",
        "policies[1].low_cover_days",
        "policies[1].order_days",
        "policies[1].fast_daily_units",
        "policies[1].fast_order_days",
    ]


@pytest.mark.parametrize(
    ("fast_daily_units", "fast_order_days", "missing"),
    [(100, None, "fast_order_days"), (None, 3, "fast_daily_units")],
)
def test_inv_15_fast_seller_fields_come_together(fast_daily_units, fast_order_days, missing):
    with pytest.raises(InvalidArgument) as err:
        validate_policy("tea", 2, 7, fast_daily_units, fast_order_days)
    assert [v.field for v in err.value.violations] == [missing]


def test_inv_15_a_policy_set_needs_a_catch_all_and_unique_categories():
    assert validate_policies([("tea", 2, 7, 100, 3), ("*", 5, 15, None, None)]) == DEFAULT_POLICIES
    with pytest.raises(InvalidArgument) as err:
        validate_policies([("tea", 2, 7, None, None), ("tea", 3, 7, None, None), ("gift", 0, 7, None, None)])
    assert [v.field for v in err.value.violations] == [
        "policies[1].category",
        "policies[2].low_cover_days",
        "policies",
    ]
