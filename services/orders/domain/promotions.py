"""Promotions (营销推广, ORD-8): coupons (优惠券), spend-X-get-Y-off thresholds (满减) and percentage
discounts (折扣), priced as one pure function over a cart.

The pricing rules, in full:

- **Active.** A promotion is active at ``at`` when ``starts_at <= at < ends_at`` (start inclusive, end
  exclusive). An inactive one is rejected ``NOT_ACTIVE``.
- **Coupons are claimed.** A coupon takes part only when its code is among ``coupon_codes`` (codes compare
  after trimming, case-insensitively). An unclaimed coupon is simply not considered and not reported; a
  claimed code that matches no coupon is rejected ``UNKNOWN_COUPON`` with the code, as given, in place of
  the promotion id. Every other kind applies by itself.
- **Eligible goods.** With no eligible SKUs and no eligible categories every line is eligible; otherwise a
  line is eligible when its SKU is listed *or* its category is listed. A promotion with no eligible line in
  the cart is rejected ``NOT_ELIGIBLE``.
- **Order of consideration.** Promotions are considered one at a time in the order
  ``(stage, priority, promotion_id)``: stage 1 is every percentage discount, stage 2 every threshold, stage 3
  every coupon; within a stage a lower ``priority`` comes first, ties broken by ``promotion_id``.
- **The base.** Each promotion is measured on what is left of its eligible goods after the discounts that
  applied before it: a percentage on the eligible goods (after earlier percentages), a threshold on the
  remaining eligible amount, a coupon's minimum spend on the remaining eligible amount. An applied discount
  is spread over the lines it was computed on in proportion to what is left of each, exactly (fractions of a
  fen are kept, never rounded), so a later promotion with other eligible goods sees the right base.
- **Amounts.** A percentage takes ``base x (10000 - rate_bp) / 10000``; a threshold takes ``amount_off_fen``
  when the base reaches ``threshold_fen`` (exactly X counts), or, when it repeats, ``amount_off_fen`` for
  every full ``threshold_fen`` of the base; a coupon takes ``amount_off_fen`` when the base reaches its
  minimum spend ``threshold_fen`` (0 = none), else ``BELOW_THRESHOLD``. The exact amount is rounded half-up
  to the fen once per promotion, then limited to ``max_off_fen`` (if set), to the whole fen of the base (so
  no promotion takes more than what is left of its goods, and the total is never negative), and to the
  promotion's remaining budget.
- **Limits.** A buyer who has used a promotion ``per_buyer_limit`` times (``buyer_uses``) is rejected
  ``BUYER_LIMIT``. The budget left is the tighter of ``budget_left[promotion_id]`` and the promotion's own
  ``budget_fen`` (None = no limit from that source); a promotion with 0 (or less) left is rejected
  ``BUDGET_EXHAUSTED``, one with less left than its discount gives only what is left.
- **Stacking.** A promotion *applies* when it passes every check above with a discount of at least 1 fen.
  A non-stackable promotion applies only when no promotion applied before it in the order of consideration;
  once a non-stackable promotion applies, every later one is rejected ``NOT_STACKABLE``. A promotion that
  was rejected never blocks another one.
- A promotion that passes every check but comes to 0 fen (its goods already fully discounted, or a discount
  below half a fen) is rejected ``NO_DISCOUNT``.

The checks run in the order: NOT_ACTIVE, NOT_ELIGIBLE, BUYER_LIMIT, BELOW_THRESHOLD, BUDGET_EXHAUSTED,
NOT_STACKABLE, NO_DISCOUNT; the first that fails is the reason reported. Nothing here reserves budget or
counts uses: the caller reserves what ``price`` applied, atomically, so limits hold under concurrent
checkouts.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction

from libs.errors import Violations

#: rate_bp is the share of the price paid, in basis points of 10 000.
BASIS_POINTS = 10_000
MAX_AMOUNT_FEN = 100_000_000  # a million yuan off (or spent) per order is a typo
MAX_BUDGET_FEN = 10_000_000_000  # a hundred million yuan per campaign
MAX_PER_BUYER = 10_000
MAX_PRIORITY = 9_999
MAX_ELIGIBLE = 1_000
MAX_ID = 64
MAX_NAME = 100

#: A coupon code: 4 to 32 capital letters, digits and hyphens, starting with a letter or digit.
COUPON_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,31}$")

NOT_ACTIVE = "NOT_ACTIVE"
NOT_ELIGIBLE = "NOT_ELIGIBLE"
BELOW_THRESHOLD = "BELOW_THRESHOLD"
NOT_STACKABLE = "NOT_STACKABLE"
BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
BUYER_LIMIT = "BUYER_LIMIT"
UNKNOWN_COUPON = "UNKNOWN_COUPON"
NO_DISCOUNT = "NO_DISCOUNT"


class PromotionKind(enum.Enum):
    #: A fixed amount off, redeemed by code, optionally with a minimum spend (优惠券).
    COUPON = "coupon"
    #: Spend X get Y off, optionally for every full X and up to a cap (满减).
    THRESHOLD = "threshold"
    #: A share of the price paid on eligible goods, e.g. 9000 bp = pay 90% (折扣).
    PERCENTAGE = "percentage"


#: The stage of each kind in the order of consideration: percentages, then thresholds, then coupons.
STAGE: dict[PromotionKind, int] = {
    PromotionKind.PERCENTAGE: 1,
    PromotionKind.THRESHOLD: 2,
    PromotionKind.COUPON: 3,
}


@dataclass(frozen=True)
class Promotion:
    """One campaign. Fields a kind does not use hold their defaults (see ``validate_promotion``).

    - ``coupon_code``: COUPON only, the code the buyer enters.
    - ``amount_off_fen``: COUPON and THRESHOLD, the fixed amount off (Y of 满X减Y).
    - ``threshold_fen``: THRESHOLD, the spend X; COUPON, the minimum spend (0 = none).
    - ``repeat``: THRESHOLD only, Y off for every full X.
    - ``max_off_fen``: a repeating THRESHOLD or a PERCENTAGE, the most it takes off one order.
    - ``rate_bp``: PERCENTAGE only, the share *paid* in basis points (9000 = 10% off).
    - ``budget_fen``: the total discount the campaign may give; None = unlimited.
    - ``per_buyer_limit``: uses per buyer; None = unlimited.
    """

    promotion_id: str
    name: str
    kind: PromotionKind
    starts_at: datetime
    ends_at: datetime
    eligible_skus: frozenset[str] = frozenset()
    eligible_categories: frozenset[str] = frozenset()
    coupon_code: str = ""
    amount_off_fen: int = 0
    threshold_fen: int = 0
    repeat: bool = False
    max_off_fen: int | None = None
    rate_bp: int = 0
    stackable: bool = True
    priority: int = 0
    budget_fen: int | None = None
    per_buyer_limit: int | None = None
    # A large promotion (大促): the warehouse is told so it stocks up on packing materials (INV-16).
    large: bool = False
    # Grows with every change, so the warehouse keeps the latest window whatever order news arrives in.
    revision: int = 1

    def is_active(self, at: datetime) -> bool:
        """Active from ``starts_at`` (inclusive) until ``ends_at`` (exclusive)."""
        return self.starts_at <= at < self.ends_at

    def is_eligible(self, sku_code: str, category: str) -> bool:
        """All goods when no SKU and no category is listed; else a listed SKU or a listed category."""
        if not self.eligible_skus and not self.eligible_categories:
            return True
        return sku_code in self.eligible_skus or category in self.eligible_categories


@dataclass(frozen=True)
class CartLine:
    sku_code: str
    category: str
    quantity: int
    unit_price_fen: int

    @property
    def amount_fen(self) -> int:
        return self.quantity * self.unit_price_fen


@dataclass(frozen=True)
class Applied:
    """A promotion that applied and the fen it took off."""

    promotion_id: str
    discount_fen: int


@dataclass(frozen=True)
class Priced:
    """A priced cart: goods, discount and total in fen, what applied and what was rejected and why.

    ``rejected`` holds ``(promotion_id, reason)`` pairs in the order of consideration; for
    ``UNKNOWN_COUPON`` the first item is the code as the buyer gave it.
    """

    goods_fen: int
    discount_fen: int
    total_fen: int
    applied: tuple[Applied, ...]
    rejected: tuple[tuple[str, str], ...]


def round_half_up(value: Fraction) -> int:
    """``value`` fen rounded to a whole fen, halves going up (toward +infinity)."""
    return math.floor(value + Fraction(1, 2))


def normalize_code(code: str) -> str:
    """A coupon code as compared: trimmed, in capitals."""
    return code.strip().upper()


def _is_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None


def _names(v: Violations, values: Iterable[str], field: str) -> frozenset[str]:
    items = [value.strip() for value in values]
    for i, item in enumerate(items):
        v.require(bool(item), f"{field}[{i}]", "must not be blank")
        v.require(len(item) <= MAX_ID, f"{field}[{i}]", f"must be at most {MAX_ID} characters")
    v.require(len(items) <= MAX_ELIGIBLE, field, f"must list at most {MAX_ELIGIBLE} entries")
    return frozenset(item for item in items if item)


def _amount(v: Violations, value: int, field: str, low: int, high: int = MAX_AMOUNT_FEN) -> None:
    v.require(low <= value <= high, field, f"must be between {low} and {high} fen")


def validate_promotion(
    *,
    promotion_id: str,
    name: str,
    kind: PromotionKind | None,
    starts_at: datetime,
    ends_at: datetime,
    eligible_skus: Iterable[str] = (),
    eligible_categories: Iterable[str] = (),
    coupon_code: str = "",
    amount_off_fen: int = 0,
    threshold_fen: int = 0,
    repeat: bool = False,
    max_off_fen: int | None = None,
    rate_bp: int = 0,
    stackable: bool | None = None,
    priority: int = 0,
    budget_fen: int | None = None,
    per_buyer_limit: int | None = None,
    large: bool = False,
) -> Promotion:
    """A promotion from request data; InvalidArgument names every offending field.

    Text is trimmed and the coupon code put in capitals. Each kind requires its own fields and refuses the
    fields of other kinds, so a typo cannot silently change what a campaign gives:

    - COUPON: ``coupon_code`` matching ``COUPON_CODE``; ``amount_off_fen`` >= 1; ``threshold_fen`` >= 0 is the
      minimum spend. No ``repeat``, ``max_off_fen`` or ``rate_bp``.
    - THRESHOLD: ``threshold_fen`` >= 1; 1 <= ``amount_off_fen`` <= ``threshold_fen``; optional ``repeat``;
      ``max_off_fen`` only when repeating, and at least ``amount_off_fen``. No code, no ``rate_bp``.
    - PERCENTAGE: 1 <= ``rate_bp`` <= 9999; optional ``max_off_fen`` >= 1. No code, amount, threshold or
      ``repeat``.

    ``stackable`` not given (None) means stackable: a promotion combines with others unless its creator
    says it does not.
    """
    v = Violations()
    promotion_id = promotion_id.strip()
    v.require(bool(promotion_id), "promotion_id", "is required")
    v.require(len(promotion_id) <= MAX_ID, "promotion_id", f"must be at most {MAX_ID} characters")
    name = name.strip()
    v.require(bool(name), "name", "is required")
    v.require(len(name) <= MAX_NAME, "name", f"must be at most {MAX_NAME} characters")
    v.require(kind is not None, "kind", "must be coupon, threshold or percentage")
    starts_aware = _is_aware(starts_at)
    ends_aware = _is_aware(ends_at)
    v.require(starts_aware, "starts_at", "must carry a time zone")
    v.require(ends_aware, "ends_at", "must carry a time zone")
    if starts_aware and ends_aware:
        v.require(ends_at > starts_at, "ends_at", "must be after starts_at")
    skus = _names(v, eligible_skus, "eligible_skus")
    categories = _names(v, eligible_categories, "eligible_categories")
    code = normalize_code(coupon_code)

    if kind is PromotionKind.COUPON:
        v.require(
            bool(COUPON_CODE.match(code)),
            "coupon_code",
            "must be 4 to 32 letters, digits or hyphens, starting with a letter or digit",
        )
        _amount(v, amount_off_fen, "amount_off", 1)
        _amount(v, threshold_fen, "threshold", 0)
        v.require(not repeat, "repeat", "only a threshold promotion repeats")
        v.require(max_off_fen is None, "max_off", "a coupon takes a fixed amount; it has no cap")
        v.require(rate_bp == 0, "rate_bp", "only a percentage promotion has a rate")
    elif kind is PromotionKind.THRESHOLD:
        v.require(not code, "coupon_code", "only a coupon has a code")
        _amount(v, threshold_fen, "threshold", 1)
        _amount(v, amount_off_fen, "amount_off", 1)
        if threshold_fen >= 1 and amount_off_fen > threshold_fen:
            v.add("amount_off", "must not exceed the threshold that earns it")
        if max_off_fen is not None:
            v.require(repeat, "max_off", "only a repeating threshold has a cap")
            _amount(v, max_off_fen, "max_off", max(1, amount_off_fen))
        v.require(rate_bp == 0, "rate_bp", "only a percentage promotion has a rate")
    elif kind is PromotionKind.PERCENTAGE:
        v.require(not code, "coupon_code", "only a coupon has a code")
        v.require(
            1 <= rate_bp <= BASIS_POINTS - 1,
            "rate_bp",
            f"must be between 1 and {BASIS_POINTS - 1} (the share paid, in basis points)",
        )
        v.require(amount_off_fen == 0, "amount_off", "a percentage promotion takes no fixed amount")
        v.require(threshold_fen == 0, "threshold", "a percentage promotion has no threshold")
        v.require(not repeat, "repeat", "only a threshold promotion repeats")
        if max_off_fen is not None:
            _amount(v, max_off_fen, "max_off", 1)

    v.require(0 <= priority <= MAX_PRIORITY, "priority", f"must be between 0 and {MAX_PRIORITY}")
    if budget_fen is not None:
        _amount(v, budget_fen, "budget", 0, MAX_BUDGET_FEN)
    if per_buyer_limit is not None:
        v.require(
            1 <= per_buyer_limit <= MAX_PER_BUYER,
            "per_buyer_limit",
            f"must be between 1 and {MAX_PER_BUYER}",
        )
    v.raise_if_any()
    assert kind is not None
    return Promotion(
        promotion_id=promotion_id,
        name=name,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        eligible_skus=skus,
        eligible_categories=categories,
        coupon_code=code,
        amount_off_fen=amount_off_fen,
        threshold_fen=threshold_fen,
        repeat=repeat,
        max_off_fen=max_off_fen,
        rate_bp=rate_bp,
        stackable=True if stackable is None else stackable,
        priority=priority,
        budget_fen=budget_fen,
        per_buyer_limit=per_buyer_limit,
        large=large,
    )


def reschedule(promotion: Promotion, starts_at: datetime, ends_at: datetime) -> Promotion:
    """The promotion with a new window (ORD-8) and the next revision; InvalidArgument names bad fields."""
    v = Violations()
    v.require(_is_aware(starts_at), "starts_at", "must carry a time zone")
    v.require(_is_aware(ends_at), "ends_at", "must carry a time zone")
    if _is_aware(starts_at) and _is_aware(ends_at):
        v.require(ends_at > starts_at, "ends_at", "must be after starts_at")
    v.raise_if_any()
    return replace(promotion, starts_at=starts_at, ends_at=ends_at, revision=promotion.revision + 1)


def consideration_order(promotion: Promotion) -> tuple[int, int, str]:
    """The sort key of the order of consideration: (stage, priority, promotion_id)."""
    return (STAGE[promotion.kind], promotion.priority, promotion.promotion_id)


def budget_left_for(promotion: Promotion, budget_left: Mapping[str, int | None]) -> int | None:
    """The tighter of the caller's figure and the promotion's own budget; None = unlimited."""
    limits = [
        limit
        for limit in (budget_left.get(promotion.promotion_id), promotion.budget_fen)
        if limit is not None
    ]
    return max(0, min(limits)) if limits else None


def _exact_discount(promotion: Promotion, base: Fraction) -> Fraction | None:
    """The exact discount on ``base`` before limits, or None when the base is below the threshold."""
    if promotion.kind is PromotionKind.PERCENTAGE:
        return base * (BASIS_POINTS - promotion.rate_bp) / BASIS_POINTS
    if base < promotion.threshold_fen:
        return None
    if promotion.kind is PromotionKind.THRESHOLD and promotion.repeat:
        return Fraction(promotion.amount_off_fen * math.floor(base / promotion.threshold_fen))
    return Fraction(promotion.amount_off_fen)


def _check_lines(lines: Sequence[CartLine], at: datetime) -> None:
    v = Violations()
    v.require(_is_aware(at), "at", "must carry a time zone")
    for i, line in enumerate(lines):
        v.require(line.quantity >= 0, f"lines[{i}].quantity", "must be 0 or more")
        v.require(line.unit_price_fen >= 0, f"lines[{i}].unit_price", "must be 0 or more fen")
    v.raise_if_any()


def price(
    lines: Sequence[CartLine],
    promotions: Sequence[Promotion],
    *,
    at: datetime,
    coupon_codes: Sequence[str],
    budget_left: Mapping[str, int | None],
    buyer_uses: Mapping[str, int],
) -> Priced:
    """Prices a cart with the promotions in force at ``at`` (ORD-8); the rules are the module's docstring.

    ``budget_left`` maps a promotion id to the discount its campaign may still give (None or absent =
    only the promotion's own ``budget_fen`` limits it); ``buyer_uses`` maps a promotion id to how many
    times this buyer has used it (absent = 0).
    """
    _check_lines(lines, at)
    goods = sum(line.amount_fen for line in lines)
    left = [Fraction(line.amount_fen) for line in lines]
    claimed = {normalize_code(code) for code in coupon_codes if code.strip()}
    known = {p.coupon_code for p in promotions if p.kind is PromotionKind.COUPON}
    unknown: dict[str, str] = {}
    for code in coupon_codes:
        if code.strip() and normalize_code(code) not in known:
            unknown.setdefault(normalize_code(code), code.strip())
    rejected: list[tuple[str, str]] = [(code, UNKNOWN_COUPON) for code in unknown.values()]
    applied: list[Applied] = []
    exclusive = False

    for promotion in sorted(promotions, key=consideration_order):
        pid = promotion.promotion_id
        if promotion.kind is PromotionKind.COUPON and promotion.coupon_code not in claimed:
            continue
        eligible = [i for i, line in enumerate(lines) if promotion.is_eligible(line.sku_code, line.category)]
        limit = promotion.per_buyer_limit
        budget = budget_left_for(promotion, budget_left)
        base = sum((left[i] for i in eligible), Fraction(0))
        exact = _exact_discount(promotion, base) if eligible else None
        if not promotion.is_active(at):
            reason = NOT_ACTIVE
        elif not eligible:
            reason = NOT_ELIGIBLE
        elif limit is not None and buyer_uses.get(pid, 0) >= limit:
            reason = BUYER_LIMIT
        elif exact is None:
            reason = BELOW_THRESHOLD
        elif budget is not None and budget <= 0:
            reason = BUDGET_EXHAUSTED
        elif exclusive or (applied and not promotion.stackable):
            reason = NOT_STACKABLE
        else:
            discount = round_half_up(exact)
            if promotion.max_off_fen is not None:
                discount = min(discount, promotion.max_off_fen)
            discount = min(discount, math.floor(base))  # never more than is left of its goods (ORD-8)
            if budget is not None:
                discount = min(discount, budget)
            if discount <= 0:
                reason = NO_DISCOUNT
            else:
                for i in eligible:
                    left[i] -= discount * left[i] / base
                applied.append(Applied(pid, discount))
                exclusive = not promotion.stackable
                continue
        rejected.append((pid, reason))

    discount_total = sum(a.discount_fen for a in applied)
    return Priced(
        goods_fen=goods,
        discount_fen=discount_total,
        total_fen=goods - discount_total,
        applied=tuple(applied),
        rejected=tuple(rejected),
    )
