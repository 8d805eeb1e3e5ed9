"""Packing and weighing (LOG-4): a verified parcel is weighed, priced and placed in its carrier's zone.

The scale's reading is recorded and sent to the carrier, so a reading no parcel can have (nothing on the
scale, a negative tare, a pallet or a slip of the keyboard) is refused rather than booked: a parcel weighs
1 g to 60 kg. Orders of one customer to one address may be merged into one parcel; the saving is what the
orders would have cost shipped one by one, less the merged parcel's freight (LOG-7 tariffs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from libs.errors import InvalidArgument, Violations
from services.logistics.domain.carriers import Carrier, freight_fen

MIN_WEIGHT_GRAMS = 1
#: The heaviest parcel express carriers take at the counter; anything heavier is a misreading.
MAX_WEIGHT_GRAMS = 60_000


def weight_problem(grams: int) -> str | None:
    """Why ``grams`` is no parcel weight, or None when it is one."""
    # bool is an int subclass, but True is not a weight.
    if isinstance(grams, bool) or not isinstance(grams, int):
        return f"must be a whole number of grams, got {grams!r}"
    if not MIN_WEIGHT_GRAMS <= grams <= MAX_WEIGHT_GRAMS:
        return f"must be {MIN_WEIGHT_GRAMS} to {MAX_WEIGHT_GRAMS:,} grams, got {grams}"
    return None


def checked_weight(grams: int, field: str = "weight_grams") -> int:
    """``grams`` when it is a parcel weight, 1 g to 60,000 g (LOG-4); InvalidArgument naming ``field``
    otherwise (zero, negative, absurdly heavy, or not a whole number)."""
    problem = weight_problem(grams)
    if problem is not None:
        raise InvalidArgument.for_field(field, problem)
    return grams


@dataclass(frozen=True)
class Packing:
    """A packed parcel (LOG-4): its weight, the carrier and zone it is placed in, and its freight in fen."""

    carrier_code: str
    province: str
    zone: int
    weight_grams: int
    freight_fen: int


def pack(carrier: Carrier, province: str, weight_grams: int) -> Packing:
    """Weighs a parcel for ``carrier`` to ``province`` (LOG-4): its zone and freight (LOG-7).

    InvalidArgument naming ``weight_grams`` for a weight outside 1 g to 60,000 g, or ``province`` when it
    is empty; FailedPrecondition naming ``province`` when the carrier does not deliver there. The parcel
    must be verified first (LOG-3, ``Verification.require_verified``).
    """
    name = _province(province)
    grams = checked_weight(weight_grams)
    zone = carrier.zone_of(name, "province")
    return Packing(carrier.code, name, zone, grams, freight_fen(carrier, name, grams))


def freight_saved(
    carrier: Carrier, province: str, merged_weight: int, separate_weights: Sequence[int]
) -> int:
    """Fen saved by shipping orders merged into one parcel of ``merged_weight`` instead of one parcel each
    (``separate_weights``), all with ``carrier`` to ``province``: the sum of each order's freight alone
    less the merged parcel's freight, never below 0.

    InvalidArgument naming ``merged_weight`` or ``separate_weights[i]`` for a weight outside 1 g to
    60,000 g, ``separate_weights`` when it lists fewer than two orders (nothing was merged), or
    ``province`` when it is empty; FailedPrecondition naming ``province`` when the carrier does not
    deliver there.
    """
    name = _province(province)
    weights = {"merged_weight": merged_weight}
    weights.update((f"separate_weights[{i}]", grams) for i, grams in enumerate(separate_weights))
    v = Violations()
    for field_path, grams in weights.items():
        problem = weight_problem(grams)
        if problem is not None:
            v.add(field_path, problem)
    v.require(len(separate_weights) >= 2, "separate_weights", "a merged parcel joins at least two orders")
    v.raise_if_any()
    alone = sum(freight_fen(carrier, name, grams) for grams in separate_weights)
    # Packing material can make the merged parcel cross a kilogram the separate ones did not.
    return max(0, alone - freight_fen(carrier, name, merged_weight))


def _province(province: str) -> str:
    name = province.strip()
    if not name:
        raise InvalidArgument.for_field("province", "is required")
    return name
