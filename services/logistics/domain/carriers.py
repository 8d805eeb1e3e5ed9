"""Carriers (LOG-7): coverage, zones, service level and freight by zone and weight.

A carrier delivers to the provinces it covers. Each covered province falls in one of the carrier's zones;
per zone the carrier promises a delivery time in days and prices a parcel the way Chinese express carriers
do: a first-weight price (首重, the first 1 kg by default) plus a price for each further kilogram (续重),
the weight beyond the first weight rounded UP to whole kilograms. Money is integer fen throughout.

The carrier for an order is the one the order names, if it covers the address's province; otherwise the
covering carrier with the fastest promise, ties broken by the cheaper 1 kg parcel, then by carrier code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from types import MappingProxyType

from libs.errors import DomainError, FailedPrecondition, InvalidArgument, Violations

GRAMS_PER_KG = 1000

#: The parcel weight carriers are compared at when their promises tie (LOG-7 choice rule).
REFERENCE_WEIGHT_GRAMS = 1000


@dataclass(frozen=True)
class ZonePrice:
    """One zone's tariff: ``first_weight_fen`` covers up to ``first_weight_grams`` (首重); each further
    started kilogram costs ``additional_kg_fen`` (续重)."""

    first_weight_fen: int
    additional_kg_fen: int
    first_weight_grams: int = GRAMS_PER_KG

    def __post_init__(self) -> None:
        v = Violations()
        v.require(self.first_weight_fen >= 0, "first_weight_fen", "must be 0 or more fen")
        v.require(self.additional_kg_fen >= 0, "additional_kg_fen", "must be 0 or more fen")
        v.require(self.first_weight_grams >= 1, "first_weight_grams", "must be at least 1 gram")
        v.raise_if_any()

    def price_fen(self, weight_grams: int) -> int:
        """The freight for a parcel of ``weight_grams`` (> 0) in this zone."""
        over = max(0, weight_grams - self.first_weight_grams)
        extra_kg = -(-over // GRAMS_PER_KG)  # ceiling division in integers: 1 g over is a whole kilogram
        return self.first_weight_fen + extra_kg * self.additional_kg_fen


@dataclass(frozen=True, eq=False)
class Carrier:
    """An express carrier and its terms (LOG-7).

    ``coverage`` is the set of provinces it delivers to; ``zones`` maps a province to its zone number;
    ``service_days`` maps a zone to the promised delivery days; ``prices`` maps a zone to its tariff.
    Every covered province needs a zone, and every zone a covered province falls in needs a promise and a
    price. ``zones`` may name provinces outside ``coverage``: a carrier may suspend a province (weather,
    a major event) without its tariff being rewritten. The mappings are copied, so the carrier cannot
    change after it is built. Carriers compare by identity (they hold mappings, which are not hashable).
    """

    code: str
    name: str
    coverage: Set[str]
    zones: Mapping[str, int]
    service_days: Mapping[int, int]
    prices: Mapping[int, ZonePrice]

    def __post_init__(self) -> None:
        object.__setattr__(self, "coverage", frozenset(self.coverage))
        object.__setattr__(self, "zones", MappingProxyType(dict(self.zones)))
        object.__setattr__(self, "service_days", MappingProxyType(dict(self.service_days)))
        object.__setattr__(self, "prices", MappingProxyType(dict(self.prices)))
        v = Violations()
        v.require(
            bool(self.code.strip()) and self.code == self.code.strip(), "code", "is required, no spaces"
        )
        v.require(bool(self.name.strip()), "name", "is required")
        for province in sorted(self.coverage):
            v.require(bool(province.strip()), "coverage", "must not name an empty province")
            zone = self.zones.get(province)
            if zone is None:
                v.add(f"zones[{province}]", "a covered province needs a zone")
                continue
            v.require(zone in self.service_days, f"service_days[{zone}]", "a covered zone needs a promise")
            v.require(zone in self.prices, f"prices[{zone}]", "a covered zone needs a price")
        for province, zone in sorted(self.zones.items()):
            v.require(zone >= 1, f"zones[{province}]", "a zone number is 1 or more")
        for zone, days in sorted(self.service_days.items()):
            v.require(days >= 1, f"service_days[{zone}]", "promised delivery days are 1 or more")
        v.raise_if_any()

    def covers(self, province: str) -> bool:
        return province.strip() in self.coverage

    def zone_of(self, province: str, field_path: str = "province") -> int:
        """The zone of a covered province; FailedPrecondition naming ``field_path`` when not covered."""
        name = province.strip()
        if name not in self.coverage:
            raise FailedPrecondition.for_field(
                field_path,
                f"carrier {self.code} does not deliver to {name!r}",
                reason="PROVINCE_NOT_COVERED",
            )
        return self.zones[name]


def freight_fen(carrier: Carrier, province: str, weight_grams: int) -> int:
    """The freight in fen for one parcel of ``weight_grams`` to ``province`` (LOG-7).

    InvalidArgument naming ``weight_grams`` when it is not above 0; FailedPrecondition naming ``province``
    when the carrier does not cover it.
    """
    if isinstance(weight_grams, bool) or weight_grams <= 0:
        raise InvalidArgument.for_field("weight_grams", f"must be more than 0 grams, got {weight_grams}")
    return carrier.prices[carrier.zone_of(province, "province")].price_fen(weight_grams)


def promised_days(carrier: Carrier, province: str) -> int:
    """The delivery days the carrier promises to ``province``; FailedPrecondition naming ``province``
    when it does not cover it."""
    return carrier.service_days[carrier.zone_of(province, "province")]


def choose_carrier(carriers: Sequence[Carrier], province: str, preferred: str | None = None) -> Carrier:
    """The carrier for a parcel to ``province`` (LOG-7).

    The order's own choice (``preferred``, a carrier code) wins when it covers the province; an unknown
    code is InvalidArgument and a known one that does not cover the province FailedPrecondition, both
    naming ``carrier_code``. Without a choice: among covering carriers the fewest promised days, then the
    cheaper 1 kg parcel, then the lower code. None covering: FailedPrecondition naming ``address.province``.
    """
    v = Violations()
    seen: set[str] = set()
    for i, carrier in enumerate(carriers):
        v.require(carrier.code not in seen, f"carriers[{i}].code", f"{carrier.code} is listed twice")
        seen.add(carrier.code)
    v.raise_if_any()
    name = province.strip()
    if not name:
        raise InvalidArgument.for_field("address.province", "is required")
    # proto3 has no null: an order that names no carrier arrives with "", which means "no preference".
    wanted = (preferred or "").strip()
    if wanted:
        chosen = next((c for c in carriers if c.code == wanted), None)
        if chosen is None:
            raise InvalidArgument.for_field("carrier_code", f"no carrier {wanted!r} is configured")
        if not chosen.covers(name):
            raise FailedPrecondition.for_field(
                "carrier_code",
                f"carrier {wanted} does not deliver to {name!r}",
                reason="PROVINCE_NOT_COVERED",
            )
        return chosen
    covering = [c for c in carriers if c.covers(name)]
    if not covering:
        raise FailedPrecondition.for_field(
            "address.province", f"no carrier delivers to {name!r}", reason="NO_CARRIER_COVERS"
        )
    return min(
        covering,
        key=lambda c: (promised_days(c, name), freight_fen(c, name, REFERENCE_WEIGHT_GRAMS), c.code),
    )


class CarrierChoice:
    """``choose_carrier`` for many shipments over the same carriers: each province and preference is
    decided once. ``of`` returns the carrier's code and no reason, or no code and why (the shipment then
    waits on hold)."""

    def __init__(self, carriers: Sequence[Carrier]) -> None:
        self.carriers = carriers
        self._made: dict[tuple[str, str], tuple[str, str]] = {}

    def of(self, province: str, preferred: str = "") -> tuple[str, str]:
        key = (province, preferred)
        made = self._made.get(key)
        if made is None:
            try:
                made = (choose_carrier(self.carriers, province, preferred or None).code, "")
            except DomainError as err:
                made = ("", f"{err.reason}: {err.message}")
            self._made[key] = made
        return made
