"""ORD-8 promotions as a pure pricing engine: windows, eligibility, thresholds, percentages, coupons,
stacking, budgets, per-buyer limits and never-negative totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.errors import InvalidArgument
from services.orders.domain.promotions import (
    BELOW_THRESHOLD,
    BUDGET_EXHAUSTED,
    BUYER_LIMIT,
    NO_DISCOUNT,
    NOT_ACTIVE,
    NOT_ELIGIBLE,
    NOT_STACKABLE,
    UNKNOWN_COUPON,
    Applied,
    CartLine,
    Priced,
    Promotion,
    PromotionKind,
    budget_left_for,
    price,
    round_half_up,
    validate_promotion,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2024, 11, 11, 0, 0, tzinfo=SHANGHAI)
END = datetime(2024, 11, 12, 0, 0, tzinfo=SHANGHAI)
NOON = datetime(2024, 11, 11, 12, 0, tzinfo=SHANGHAI)

TEA = CartLine("LJ-250", "tea", 1, 20_000)  # 200.00 yuan of West Lake Longjing
CUP = CartLine("CUP-1", "teaware", 2, 5_000)  # 2 x 50.00 yuan


def promo(promotion_id: str, kind: PromotionKind, **fields: Any) -> Promotion:
    fields.setdefault("starts_at", START)
    fields.setdefault("ends_at", END)
    return validate_promotion(promotion_id=promotion_id, name=f"campaign {promotion_id}", kind=kind, **fields)


def percentage(promotion_id: str, rate_bp: int, **fields: Any) -> Promotion:
    return promo(promotion_id, PromotionKind.PERCENTAGE, rate_bp=rate_bp, **fields)


def threshold(promotion_id: str, spend_fen: int, off_fen: int, **fields: Any) -> Promotion:
    return promo(
        promotion_id, PromotionKind.THRESHOLD, threshold_fen=spend_fen, amount_off_fen=off_fen, **fields
    )


def coupon(promotion_id: str, code: str, off_fen: int, **fields: Any) -> Promotion:
    return promo(promotion_id, PromotionKind.COUPON, coupon_code=code, amount_off_fen=off_fen, **fields)


def run(
    lines: Sequence[CartLine],
    promotions: Sequence[Promotion],
    *,
    at: datetime = NOON,
    codes: Sequence[str] = (),
    budget_left: Mapping[str, int | None] | None = None,
    buyer_uses: Mapping[str, int] | None = None,
) -> Priced:
    return price(
        lines,
        promotions,
        at=at,
        coupon_codes=codes,
        budget_left=budget_left or {},
        buyer_uses=buyer_uses or {},
    )


def discounts(priced: Priced) -> dict[str, int]:
    return {a.promotion_id: a.discount_fen for a in priced.applied}


# --- rounding -------------------------------------------------------------------------------------------


def test_ord_8_round_half_up_to_the_fen():
    assert round_half_up(Fraction(1, 2)) == 1
    assert round_half_up(Fraction(3, 2)) == 2
    assert round_half_up(Fraction(149, 100)) == 1
    assert round_half_up(Fraction(0)) == 0
    assert round_half_up(Fraction(7)) == 7


# --- time window ----------------------------------------------------------------------------------------


def test_ord_8_window_starts_inclusive_and_ends_exclusive():
    ten_off = percentage("P", 9000)
    assert discounts(run([TEA], [ten_off], at=START)) == {"P": 2_000}
    assert discounts(run([TEA], [ten_off], at=END - timedelta(microseconds=1))) == {"P": 2_000}
    at_end = run([TEA], [ten_off], at=END)
    assert at_end.applied == ()
    assert at_end.rejected == (("P", NOT_ACTIVE),)
    assert run([TEA], [ten_off], at=START - timedelta(seconds=1)).rejected == (("P", NOT_ACTIVE),)


def test_ord_8_window_compares_instants_across_zones():
    ten_off = percentage("P", 9000)
    # 2024-11-10 16:00 UTC is 2024-11-11 00:00 in Shanghai: the first instant of the window.
    at_utc = datetime(2024, 11, 10, 16, 0, tzinfo=ZoneInfo("UTC"))
    assert discounts(run([TEA], [ten_off], at=at_utc)) == {"P": 2_000}


# --- eligibility ----------------------------------------------------------------------------------------


def test_ord_8_eligible_by_sku_discounts_only_that_sku():
    tea_only = percentage("P", 9000, eligible_skus=["LJ-250"])
    priced = run([TEA, CUP], [tea_only])
    assert priced.goods_fen == 30_000
    assert discounts(priced) == {"P": 2_000}
    assert priced.total_fen == 28_000


def test_ord_8_eligible_by_category_discounts_only_that_category():
    teaware = percentage("P", 9000, eligible_categories=["teaware"])
    assert discounts(run([TEA, CUP], [teaware])) == {"P": 1_000}


def test_ord_8_a_line_is_eligible_by_its_sku_or_its_category():
    either = percentage("P", 5000, eligible_skus=["LJ-250"], eligible_categories=["teaware"])
    other = CartLine("BOOK", "books", 1, 1_000)
    assert discounts(run([TEA, CUP, other], [either])) == {"P": 15_000}


def test_ord_8_no_eligible_line_is_rejected_not_eligible():
    books = percentage("P", 9000, eligible_categories=["books"])
    priced = run([TEA, CUP], [books])
    assert priced.applied == ()
    assert priced.rejected == (("P", NOT_ELIGIBLE),)
    assert priced.total_fen == priced.goods_fen


# --- thresholds (满减) ------------------------------------------------------------------------------------


def test_ord_8_threshold_applies_exactly_at_x_but_not_one_fen_below():
    over_200 = threshold("T", 20_000, 2_000)
    assert discounts(run([CartLine("A", "tea", 1, 20_000)], [over_200])) == {"T": 2_000}
    below = run([CartLine("A", "tea", 1, 19_999)], [over_200])
    assert below.applied == ()
    assert below.rejected == (("T", BELOW_THRESHOLD),)


def test_ord_8_threshold_without_repeat_gives_its_amount_once():
    over_200 = threshold("T", 20_000, 2_000)
    assert discounts(run([CartLine("A", "tea", 1, 100_000)], [over_200])) == {"T": 2_000}


def test_ord_8_repeating_threshold_counts_every_full_x():
    every_200 = threshold("T", 20_000, 2_000, repeat=True)
    assert discounts(run([CartLine("A", "tea", 1, 59_999)], [every_200])) == {"T": 4_000}
    assert discounts(run([CartLine("A", "tea", 1, 60_000)], [every_200])) == {"T": 6_000}


def test_ord_8_repeating_threshold_stops_at_its_cap():
    capped = threshold("T", 20_000, 2_000, repeat=True, max_off_fen=5_000)
    assert discounts(run([CartLine("A", "tea", 1, 40_000)], [capped])) == {"T": 4_000}
    assert discounts(run([CartLine("A", "tea", 1, 100_000)], [capped])) == {"T": 5_000}


def test_ord_8_threshold_counts_only_eligible_goods():
    tea_200 = threshold("T", 20_000, 2_000, eligible_categories=["tea"])
    small_tea = CartLine("LJ-50", "tea", 1, 15_000)
    # 150 yuan of tea and 100 yuan of teaware: 250 in the cart, but only 150 of tea.
    assert run([small_tea, CUP], [tea_200]).rejected == (("T", BELOW_THRESHOLD),)


# --- percentages (折扣) -----------------------------------------------------------------------------------


def test_ord_8_percentage_rounds_half_up_once_per_promotion():
    ten_off = percentage("P", 9000)
    # A 0.05 yuan item at 10% off: 0.5 fen off, rounded half-up to 1 fen.
    assert discounts(run([CartLine("S", "tea", 1, 5)], [ten_off])) == {"P": 1}
    # Three of them: 1.5 fen off, rounded once to 2 fen (per unit it would have been 3).
    assert discounts(run([CartLine("S", "tea", 3, 5)], [ten_off])) == {"P": 2}
    # Over two lines: 0.5 + 0.5 = 1 fen, not 1 + 1.
    two = run([CartLine("S", "tea", 1, 5), CartLine("T", "tea", 1, 5)], [ten_off])
    assert discounts(two) == {"P": 1}
    assert two.total_fen == 9


def test_ord_8_percentage_below_half_a_fen_gives_no_discount():
    ten_off = percentage("P", 9000)
    priced = run([CartLine("S", "tea", 1, 4)], [ten_off])
    assert priced.applied == ()
    assert priced.rejected == (("P", NO_DISCOUNT),)
    assert priced.total_fen == 4


def test_ord_8_percentage_cap_limits_the_discount():
    capped = percentage("P", 8000, max_off_fen=3_000)
    assert discounts(run([TEA], [capped])) == {"P": 3_000}


def test_ord_8_two_percentages_compound_on_what_is_left():
    first = percentage("P1", 9000)
    second = percentage("P2", 9000)
    priced = run([TEA], [first, second])
    assert discounts(priced) == {"P1": 2_000, "P2": 1_800}
    assert priced.total_fen == 16_200


# --- coupons (优惠券) -------------------------------------------------------------------------------------


def test_ord_8_coupon_applies_only_with_its_code():
    ten_yuan = coupon("C", "SAVE10", 1_000)
    without = run([TEA], [ten_yuan])
    assert without.applied == ()
    assert without.rejected == ()  # an unclaimed coupon is not considered at all
    with_code = run([TEA], [ten_yuan], codes=[" save10 "])
    assert discounts(with_code) == {"C": 1_000}
    assert with_code.total_fen == 19_000


def test_ord_8_unknown_coupon_code_is_rejected_with_the_code():
    ten_yuan = coupon("C", "SAVE10", 1_000)
    priced = run([TEA], [ten_yuan], codes=["NOPE99", "nope99", "SAVE10"])
    assert discounts(priced) == {"C": 1_000}
    assert priced.rejected == (("NOPE99", UNKNOWN_COUPON),)


def test_ord_8_coupon_minimum_spend():
    min_100 = coupon("C", "SAVE10", 1_000, threshold_fen=10_000)
    assert discounts(run([CartLine("A", "tea", 1, 10_000)], [min_100], codes=["SAVE10"])) == {"C": 1_000}
    below = run([CartLine("A", "tea", 1, 9_999)], [min_100], codes=["SAVE10"])
    assert below.rejected == (("C", BELOW_THRESHOLD),)


def test_ord_8_inactive_claimed_coupon_is_not_active():
    expired = coupon("C", "SAVE10", 1_000)
    assert run([TEA], [expired], at=END, codes=["SAVE10"]).rejected == (("C", NOT_ACTIVE),)


# --- never negative -------------------------------------------------------------------------------------


def test_ord_8_coupon_bigger_than_the_cart_makes_the_total_zero_not_negative():
    hundred = coupon("C", "BIG100", 10_000)
    priced = run([CartLine("A", "tea", 1, 3_000)], [hundred], codes=["BIG100"])
    assert priced.goods_fen == 3_000
    assert discounts(priced) == {"C": 3_000}
    assert priced.total_fen == 0


def test_ord_8_a_later_coupon_takes_only_what_is_left():
    half = percentage("P", 5000)
    hundred = coupon("C", "BIG100", 10_000)
    priced = run([CartLine("A", "tea", 1, 3_001)], [half, hundred], codes=["BIG100"])
    # 30.01 yuan at half price: 15.005 yuan off rounds to 15.01; 15.00 yuan are left for the coupon.
    assert discounts(priced) == {"P": 1_501, "C": 1_500}
    assert priced.total_fen == 0


def test_ord_8_a_cart_of_free_goods_gets_no_discount():
    hundred = coupon("C", "BIG100", 10_000)
    priced = run([CartLine("GIFT", "tea", 1, 0)], [hundred], codes=["BIG100"])
    assert priced.rejected == (("C", NO_DISCOUNT),)
    assert (priced.goods_fen, priced.discount_fen, priced.total_fen) == (0, 0, 0)


# --- order of consideration and stacking -----------------------------------------------------------------


def test_ord_8_percentage_then_threshold_on_what_is_left_then_coupon():
    ten_off = percentage("P", 9000)
    over_200 = threshold("T", 20_000, 2_000)
    over_150 = threshold("T2", 15_000, 1_000)
    min_170 = coupon("C", "SAVE5", 500, threshold_fen=17_000)
    priced = run([TEA], [min_170, over_200, over_150, ten_off], codes=["SAVE5"])
    # 200 yuan -> 10% off = 180 left: below 满200, reaches 满150 -> 170 left: the coupon's minimum is met.
    assert priced.applied == (Applied("P", 2_000), Applied("T2", 1_000), Applied("C", 500))
    assert priced.rejected == (("T", BELOW_THRESHOLD),)
    assert priced.total_fen == 16_500


def test_ord_8_a_discount_is_spread_over_its_goods_for_later_promotions():
    tea_half = percentage("P", 5000, eligible_categories=["tea"])
    teaware_150 = threshold("T", 15_000, 1_000, eligible_categories=["teaware"])
    all_150 = threshold("T2", 15_000, 1_500)
    priced = run([TEA, CUP], [tea_half, teaware_150, all_150])
    # Tea 200 -> 100; teaware stays 100 (below its own 满150); the whole cart is 200 left: 满150 applies.
    assert discounts(priced) == {"P": 10_000, "T2": 1_500}
    assert priced.rejected == (("T", BELOW_THRESHOLD),)


def test_ord_8_stackable_promotions_combine():
    ten_off = percentage("P", 9000)
    over_100 = threshold("T", 10_000, 1_000)
    five = coupon("C", "SAVE5", 500)
    priced = run([TEA], [ten_off, over_100, five], codes=["SAVE5"])
    assert discounts(priced) == {"P": 2_000, "T": 1_000, "C": 500}
    assert priced.total_fen == 16_500


def test_ord_8_a_non_stackable_promotion_that_applies_blocks_every_later_one():
    exclusive = percentage("P", 8000, stackable=False)
    over_100 = threshold("T", 10_000, 1_000)
    five = coupon("C", "SAVE5", 500)
    priced = run([TEA], [five, over_100, exclusive], codes=["SAVE5"])
    assert priced.applied == (Applied("P", 4_000),)
    assert priced.rejected == (("T", NOT_STACKABLE), ("C", NOT_STACKABLE))
    assert priced.total_fen == 16_000


def test_ord_8_a_non_stackable_promotion_applies_only_if_nothing_applied_before_it():
    ten_off = percentage("P", 9000)
    exclusive = threshold("T", 10_000, 3_000, stackable=False)
    five = coupon("C", "SAVE5", 500)
    priced = run([TEA], [exclusive, ten_off, five], codes=["SAVE5"])
    assert discounts(priced) == {"P": 2_000, "C": 500}
    assert priced.rejected == (("T", NOT_STACKABLE),)


def test_ord_8_a_rejected_promotion_blocks_nothing():
    too_high = threshold("T1", 50_000, 5_000, priority=1)
    exclusive = threshold("T2", 10_000, 1_000, priority=2, stackable=False)
    priced = run([TEA], [exclusive, too_high])
    assert priced.applied == (Applied("T2", 1_000),)
    assert priced.rejected == (("T1", BELOW_THRESHOLD),)


def test_ord_8_priority_orders_promotions_within_their_stage():
    late = threshold("A-late", 10_000, 3_000, priority=5, stackable=False)
    early = threshold("Z-early", 10_000, 1_000, priority=1, stackable=False)
    priced = run([TEA], [late, early])
    assert priced.applied == (Applied("Z-early", 1_000),)
    assert priced.rejected == (("A-late", NOT_STACKABLE),)


def test_ord_8_equal_priority_falls_back_to_promotion_id():
    b = threshold("B", 10_000, 3_000, stackable=False)
    a = threshold("A", 10_000, 1_000, stackable=False)
    priced = run([TEA], [b, a])
    assert priced.applied == (Applied("A", 1_000),)
    assert priced.rejected == (("B", NOT_STACKABLE),)


def test_ord_8_stage_comes_before_priority():
    ten_off = percentage("P", 9000, priority=9)
    exclusive_coupon = coupon("C", "ONLYME", 500, priority=0, stackable=False)
    priced = run([TEA], [exclusive_coupon, ten_off], codes=["ONLYME"])
    assert priced.applied == (Applied("P", 2_000),)
    assert priced.rejected == (("C", NOT_STACKABLE),)


# --- budget and per-buyer limits ------------------------------------------------------------------------


def test_ord_8_budget_limits_a_discount_to_what_is_left():
    ten_off = percentage("P", 9000, budget_fen=1_000_000)
    priced = run([TEA], [ten_off], budget_left={"P": 500})
    assert discounts(priced) == {"P": 500}
    assert priced.total_fen == 19_500


def test_ord_8_budget_at_zero_is_exhausted():
    ten_off = percentage("P", 9000, budget_fen=1_000_000)
    priced = run([TEA], [ten_off], budget_left={"P": 0})
    assert priced.applied == ()
    assert priced.rejected == (("P", BUDGET_EXHAUSTED),)
    assert run([TEA], [ten_off], budget_left={"P": -3}).rejected == (("P", BUDGET_EXHAUSTED),)


def test_ord_8_unlimited_budget_and_the_promotions_own_budget():
    unlimited = percentage("P", 9000)
    assert discounts(run([TEA], [unlimited], budget_left={"P": None})) == {"P": 2_000}
    assert discounts(run([TEA], [unlimited])) == {"P": 2_000}
    small = percentage("S", 9000, budget_fen=300)
    # The caller's figure never lifts the campaign's own budget.
    assert discounts(run([TEA], [small], budget_left={"S": None})) == {"S": 300}
    assert discounts(run([TEA], [small], budget_left={"S": 5_000})) == {"S": 300}
    assert budget_left_for(small, {"S": 100}) == 100
    assert budget_left_for(unlimited, {}) is None


def test_ord_8_per_buyer_limit():
    once = coupon("C", "WELCOME", 1_000, per_buyer_limit=1)
    assert discounts(run([TEA], [once], codes=["WELCOME"], buyer_uses={"C": 0})) == {"C": 1_000}
    used = run([TEA], [once], codes=["WELCOME"], buyer_uses={"C": 1})
    assert used.applied == ()
    assert used.rejected == (("C", BUYER_LIMIT),)
    unlimited = coupon("U", "ALWAYS", 1_000)
    assert discounts(run([TEA], [unlimited], codes=["ALWAYS"], buyer_uses={"U": 99})) == {"U": 1_000}


# --- validation -----------------------------------------------------------------------------------------


def fields_of(err: pytest.ExceptionInfo[InvalidArgument]) -> set[str]:
    return {v.field for v in err.value.violations}


def test_ord_8_validate_normalizes_text_and_code():
    p = validate_promotion(
        promotion_id=" C1 ",
        name=" 双十一 ",
        kind=PromotionKind.COUPON,
        starts_at=START,
        ends_at=END,
        eligible_skus=[" LJ-250 "],
        coupon_code=" save10 ",
        amount_off_fen=1_000,
    )
    assert (p.promotion_id, p.name, p.coupon_code) == ("C1", "双十一", "SAVE10")
    assert p.eligible_skus == frozenset({"LJ-250"})


def test_ord_8_validate_names_every_common_field():
    with pytest.raises(InvalidArgument) as err:
        validate_promotion(
            promotion_id="",
            name="  ",
            kind=None,
            starts_at=END,
            ends_at=START,
            eligible_skus=["", "A"],
            eligible_categories=["x" * 65],
            priority=-1,
            budget_fen=-1,
            per_buyer_limit=0,
        )
    assert fields_of(err) == {
        "promotion_id",
        "name",
        "kind",
        "ends_at",
        "eligible_skus[0]",
        "eligible_categories[0]",
        "priority",
        "budget",
        "per_buyer_limit",
    }


def test_ord_8_validate_requires_aware_times():
    with pytest.raises(InvalidArgument) as err:
        validate_promotion(
            promotion_id="P",
            name="n",
            kind=PromotionKind.PERCENTAGE,
            starts_at=datetime(2024, 11, 11),
            ends_at=datetime(2024, 11, 12),
            rate_bp=9000,
        )
    assert fields_of(err) == {"starts_at", "ends_at"}


def test_ord_8_validate_ends_must_be_after_starts():
    with pytest.raises(InvalidArgument) as err:
        percentage("P", 9000, starts_at=START, ends_at=START)
    assert fields_of(err) == {"ends_at"}


@pytest.mark.parametrize("rate_bp", [0, 10_000, -1])
def test_ord_8_validate_percentage_rate_is_1_to_9999(rate_bp: int):
    with pytest.raises(InvalidArgument) as err:
        percentage("P", rate_bp)
    assert fields_of(err) == {"rate_bp"}


def test_ord_8_validate_percentage_rate_edges_are_accepted():
    assert percentage("P", 1).rate_bp == 1
    assert percentage("P", 9999).rate_bp == 9999


def test_ord_8_validate_percentage_refuses_other_kinds_fields():
    with pytest.raises(InvalidArgument) as err:
        percentage(
            "P", 9000, coupon_code="SAVE10", amount_off_fen=1, threshold_fen=1, repeat=True, max_off_fen=0
        )
    assert fields_of(err) == {"coupon_code", "amount_off", "threshold", "repeat", "max_off"}


@pytest.mark.parametrize("code", ["", "AB", "-ABC", "SAVE 10", "折扣券码", "A" * 33])
def test_ord_8_validate_coupon_code_pattern(code: str):
    with pytest.raises(InvalidArgument) as err:
        coupon("C", code, 1_000)
    assert fields_of(err) == {"coupon_code"}


def test_ord_8_validate_coupon_fields():
    with pytest.raises(InvalidArgument) as err:
        coupon("C", "SAVE10", 0, threshold_fen=-1, repeat=True, max_off_fen=100, rate_bp=9000)
    assert fields_of(err) == {"amount_off", "threshold", "repeat", "max_off", "rate_bp"}


def test_ord_8_validate_threshold_fields():
    with pytest.raises(InvalidArgument) as err:
        threshold("T", 0, 0, coupon_code="X1234", rate_bp=1)
    assert fields_of(err) == {"threshold", "amount_off", "coupon_code", "rate_bp"}
    with pytest.raises(InvalidArgument) as err:
        threshold("T", 1_000, 2_000)
    assert fields_of(err) == {"amount_off"}
    with pytest.raises(InvalidArgument) as err:
        threshold("T", 20_000, 2_000, max_off_fen=5_000)  # a cap without repeat
    assert fields_of(err) == {"max_off"}
    with pytest.raises(InvalidArgument) as err:
        threshold("T", 20_000, 2_000, repeat=True, max_off_fen=1_000)  # a cap below one step
    assert fields_of(err) == {"max_off"}


def test_ord_8_price_refuses_a_naive_time_and_negative_lines():
    with pytest.raises(InvalidArgument) as err:
        price(
            [CartLine("A", "tea", -1, -5)],
            [],
            at=datetime(2024, 11, 11, 12),
            coupon_codes=[],
            budget_left={},
            buyer_uses={},
        )
    assert fields_of(err) == {"at", "lines[0].quantity", "lines[0].unit_price"}


def test_ord_8_empty_cart_and_no_promotions():
    priced = run([], [])
    assert priced == Priced(0, 0, 0, (), ())


# --- properties -----------------------------------------------------------------------------------------

SKUS = ["A", "B", "C", "D"]
CATEGORIES = ["tea", "teaware", "snacks"]
CODES = ["SAVE10", "WELCOME", "VIP-2024"]

lines_strategy = st.lists(
    st.builds(
        CartLine,
        st.sampled_from(SKUS),
        st.sampled_from(CATEGORIES),
        st.integers(0, 20),
        st.integers(0, 50_000),
    ),
    max_size=6,
)


@st.composite
def promotion_strategy(draw: st.DrawFn, promotion_id: str) -> Promotion:
    kind = draw(st.sampled_from(list(PromotionKind)))
    start = NOON + timedelta(hours=draw(st.integers(-48, 2)))
    end = start + timedelta(hours=draw(st.integers(1, 72)))
    common: dict[str, Any] = {
        "promotion_id": promotion_id,
        "name": f"campaign {promotion_id}",
        "kind": kind,
        "starts_at": start,
        "ends_at": end,
        "eligible_skus": draw(st.frozensets(st.sampled_from(SKUS), max_size=2)),
        "eligible_categories": draw(st.frozensets(st.sampled_from(CATEGORIES), max_size=2)),
        "stackable": draw(st.booleans()),
        "priority": draw(st.integers(0, 3)),
        "budget_fen": draw(st.none() | st.integers(0, 100_000)),
        "per_buyer_limit": draw(st.none() | st.integers(1, 3)),
    }
    if kind is PromotionKind.PERCENTAGE:
        return validate_promotion(
            **common,
            rate_bp=draw(st.integers(1, 9999)),
            max_off_fen=draw(st.none() | st.integers(1, 100_000)),
        )
    if kind is PromotionKind.THRESHOLD:
        spend = draw(st.integers(1, 200_000))
        off = draw(st.integers(1, spend))
        repeat = draw(st.booleans())
        cap = draw(st.none() | st.integers(off, 1_000_000)) if repeat else None
        return validate_promotion(
            **common, threshold_fen=spend, amount_off_fen=off, repeat=repeat, max_off_fen=cap
        )
    return validate_promotion(
        **common,
        coupon_code=draw(st.sampled_from(CODES)),
        amount_off_fen=draw(st.integers(1, 500_000)),
        threshold_fen=draw(st.integers(0, 200_000)),
    )


@st.composite
def scenario(
    draw: st.DrawFn,
) -> tuple[list[CartLine], list[Promotion], list[str], dict[str, int | None], dict[str, int]]:
    lines = draw(lines_strategy)
    count = draw(st.integers(0, 6))
    promotions = [draw(promotion_strategy(f"P{i}")) for i in range(count)]
    codes = draw(st.lists(st.sampled_from([*CODES, "NOPE99", "save10"]), max_size=3))
    budget_left = {p.promotion_id: draw(st.none() | st.integers(-10, 100_000)) for p in promotions}
    buyer_uses = {p.promotion_id: draw(st.integers(0, 4)) for p in promotions}
    return lines, promotions, codes, budget_left, buyer_uses


@settings(max_examples=300, deadline=None)
@given(scenario(), st.randoms(use_true_random=False))
def test_ord_8_property_discount_within_goods_and_budgets(case, rnd):
    lines, promotions, codes, budget_left, buyer_uses = case
    priced = price(
        lines, promotions, at=NOON, coupon_codes=codes, budget_left=budget_left, buyer_uses=buyer_uses
    )

    goods = sum(line.quantity * line.unit_price_fen for line in lines)
    assert priced.goods_fen == goods
    assert 0 <= priced.discount_fen <= priced.goods_fen
    assert priced.total_fen == priced.goods_fen - priced.discount_fen >= 0
    assert priced.discount_fen == sum(a.discount_fen for a in priced.applied)

    by_id = {p.promotion_id: p for p in promotions}
    for a in priced.applied:
        p = by_id[a.promotion_id]
        assert a.discount_fen >= 1
        left = budget_left[a.promotion_id]
        if left is not None:
            assert a.discount_fen <= left
        if p.budget_fen is not None:
            assert a.discount_fen <= p.budget_fen
        if p.max_off_fen is not None:
            assert a.discount_fen <= p.max_off_fen
        assert p.is_active(NOON)
        if p.per_buyer_limit is not None:
            assert buyer_uses[a.promotion_id] < p.per_buyer_limit

    if any(not by_id[a.promotion_id].stackable for a in priced.applied):
        assert len(priced.applied) == 1

    considered = [a.promotion_id for a in priced.applied] + [
        pid for pid, reason in priced.rejected if reason != UNKNOWN_COUPON
    ]
    assert len(considered) == len(set(considered))

    shuffled = list(promotions)
    rnd.shuffle(shuffled)
    again = price(
        lines, shuffled, at=NOON, coupon_codes=codes, budget_left=budget_left, buyer_uses=buyer_uses
    )
    assert again == priced


def test_ord_8_a_promotion_is_stackable_unless_its_creator_says_not():
    assert percentage("P", 9000).stackable is True
    assert percentage("P", 9000, stackable=None).stackable is True
    assert percentage("P", 9000, stackable=False).stackable is False
