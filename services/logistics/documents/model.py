"""What the printed warehouse documents show (LOG-2 to LOG-5), as plain frozen values.

The caller reads the wave, its parcels and their orders from wherever they live and hands the renderers
these values; nothing here touches a database or a service. Each value checks itself when it is built, so a
document never prints a negative quantity, a time in an unknown zone, or a barcode a scanner reads as
something else. Sequences are kept as tuples, so a caller's later change cannot alter a built document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from libs.errors import Violations


def is_barcode_text(value: str) -> bool:
    """Whether ``value`` can be printed as a Code 128 barcode exactly as it reads.

    Only printable ASCII: the barcode writer silently drops any other character, so a Chinese or
    accented character would print a barcode of a different (shorter) value than the text beside it.
    """
    return bool(value) and all(" " <= ch <= "~" for ch in value) and value == value.strip()


def _require_text(v: Violations, value: str, path: str) -> None:
    v.require(bool(value.strip()), path, "is required")


def _require_barcode(v: Violations, value: str, path: str) -> None:
    v.require(
        is_barcode_text(value),
        path,
        f"must be printable ASCII without surrounding spaces to be a barcode, got {value!r}",
    )


def _require_aware(v: Violations, moment: datetime, path: str) -> None:
    # A naive time could be UTC (as stored) or local (as printed): a guess could misprint it by 8 hours.
    v.require(moment.tzinfo is not None and moment.utcoffset() is not None, path, "must carry a time zone")


def _require_quantity(v: Violations, quantity: int, path: str) -> None:
    v.require(quantity >= 1, path, f"must be a whole number of at least 1, got {quantity}")


def _require_unique(v: Violations, values: Iterable[str], path: str, suffix: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        v.require(value not in seen, f"{path}[{i}]{suffix}", f"{value!r} is listed more than once")
        seen.add(value)


def _freeze(obj: object, name: str) -> None:
    # Accept any iterable but keep a tuple, so the document cannot change after it is checked.
    object.__setattr__(obj, name, tuple(getattr(obj, name)))


@dataclass(frozen=True)
class PickListLine:
    """One stop of the picking walk: take ``quantity`` units of ``sku_code`` from lot ``lot_label`` in bin
    ``bin_code``. ``lot_label`` may be empty where the bin holds a single lot."""

    bin_code: str
    sku_code: str
    lot_label: str
    quantity: int

    def __post_init__(self) -> None:
        v = Violations()
        _require_text(v, self.bin_code, "bin_code")
        _require_text(v, self.sku_code, "sku_code")
        _require_quantity(v, self.quantity, "quantity")
        v.raise_if_any()


@dataclass(frozen=True)
class PickList:
    """A wave's aggregated pick list (汇总单, LOG-2). ``lines`` are in walking order, as the caller sorted
    them; ``orders`` and ``parcels`` count the wave's orders and parcels. Times must be aware."""

    wave_id: str
    warehouse_code: str
    cutoff: datetime
    printed_at: datetime
    orders: int
    parcels: int
    lines: tuple[PickListLine, ...]

    def __post_init__(self) -> None:
        _freeze(self, "lines")
        v = Violations()
        _require_text(v, self.wave_id, "wave_id")
        _require_text(v, self.warehouse_code, "warehouse_code")
        _require_aware(v, self.cutoff, "cutoff")
        _require_aware(v, self.printed_at, "printed_at")
        v.require(self.orders >= 0, "orders", "must be 0 or more")
        v.require(self.parcels >= 0, "parcels", "must be 0 or more")
        v.raise_if_any()

    @property
    def units(self) -> int:
        """Every unit the wave picks."""
        return sum(line.quantity for line in self.lines)

    def sku_totals(self) -> Mapping[str, int]:
        """Units per SKU over every bin and lot, in the order each SKU is first met on the walk."""
        totals: dict[str, int] = {}
        for line in self.lines:
            totals[line.sku_code] = totals.get(line.sku_code, 0) + line.quantity
        return MappingProxyType(totals)


@dataclass(frozen=True)
class SortParcel:
    """One parcel on the sort list: the orders it ships, its carrier, and ``(sku_code, quantity)`` lines."""

    parcel_id: str
    order_ids: tuple[str, ...]
    carrier_code: str
    lines: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        _freeze(self, "order_ids")
        _freeze(self, "lines")
        v = Violations()
        _require_text(v, self.parcel_id, "parcel_id")
        v.require(bool(self.order_ids), "order_ids", "must name at least one order")
        _require_text(v, self.carrier_code, "carrier_code")
        v.require(bool(self.lines), "lines", "must hold at least one line")
        for i, (sku_code, quantity) in enumerate(self.lines):
            _require_text(v, sku_code, f"lines[{i}].sku_code")
            _require_quantity(v, quantity, f"lines[{i}].quantity")
        v.raise_if_any()

    @property
    def units(self) -> int:
        """Every unit the parcel holds."""
        return sum(quantity for _, quantity in self.lines)


@dataclass(frozen=True)
class SortList:
    """How the picked wave is sorted into parcels, the parcels in print order (LOG-1, LOG-2)."""

    wave_id: str
    printed_at: datetime
    parcels: tuple[SortParcel, ...]

    def __post_init__(self) -> None:
        _freeze(self, "parcels")
        v = Violations()
        _require_text(v, self.wave_id, "wave_id")
        _require_aware(v, self.printed_at, "printed_at")
        _require_unique(v, (p.parcel_id for p in self.parcels), "parcels", ".parcel_id")
        v.raise_if_any()


@dataclass(frozen=True)
class Address:
    """A recipient and where the parcel goes. ``district`` may be empty (some cities have none)."""

    recipient: str
    phone: str
    province: str
    city: str
    district: str
    street: str

    def __post_init__(self) -> None:
        v = Violations()
        for name in ("recipient", "phone", "province", "city", "street"):
            _require_text(v, getattr(self, name), name)
        v.raise_if_any()

    @property
    def full(self) -> str:
        """Province, city, district and street on one line, as a courier reads it."""
        parts = (self.province, self.city, self.district, self.street)
        return " ".join(part.strip() for part in parts if part.strip())


@dataclass(frozen=True)
class Label:
    """A shipping label (面单). ``tracking_number`` is empty until the carrier assigned one; the label's
    barcode then carries the parcel id. ``weight_grams`` is None before the parcel is weighed (LOG-4)."""

    parcel_id: str
    carrier_code: str
    carrier_name: str
    tracking_number: str
    shop_code: str
    address: Address
    weight_grams: int | None = None

    def __post_init__(self) -> None:
        v = Violations()
        _require_barcode(v, self.parcel_id, "parcel_id")
        _require_text(v, self.carrier_code, "carrier_code")
        _require_text(v, self.carrier_name, "carrier_name")
        if self.tracking_number:
            _require_barcode(v, self.tracking_number, "tracking_number")
        _require_text(v, self.shop_code, "shop_code")
        if self.weight_grams is not None:
            v.require(self.weight_grams >= 1, "weight_grams", "must be at least 1 gram when known")
        v.raise_if_any()


@dataclass(frozen=True)
class SlipLine:
    """A line of a packing slip. ``name`` is the item's name, or empty where it is not known."""

    sku_code: str
    name: str
    quantity: int

    def __post_init__(self) -> None:
        v = Violations()
        _require_text(v, self.sku_code, "sku_code")
        _require_quantity(v, self.quantity, "quantity")
        v.raise_if_any()


@dataclass(frozen=True)
class PackingSlip:
    """The packing slip (发货清单) that goes in the parcel (LOG-5). ``orders`` are ``(order id, channel
    order id)`` pairs; ``notes`` holds the buyer's message and the customer-service note, or is empty."""

    parcel_id: str
    shop_code: str
    orders: tuple[tuple[str, str], ...]
    lines: tuple[SlipLine, ...]
    notes: str = ""

    def __post_init__(self) -> None:
        _freeze(self, "orders")
        _freeze(self, "lines")
        v = Violations()
        _require_barcode(v, self.parcel_id, "parcel_id")
        _require_text(v, self.shop_code, "shop_code")
        v.require(bool(self.orders), "orders", "must name at least one order")
        for i, (order_id, _) in enumerate(self.orders):
            _require_text(v, order_id, f"orders[{i}].order_id")
        v.require(bool(self.lines), "lines", "must hold at least one line")
        v.raise_if_any()

    @property
    def units(self) -> int:
        """Every unit the parcel holds."""
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True)
class ManifestParcel:
    """A parcel handed to the carrier: by then it has its tracking number (LOG-5) and weight (LOG-4)."""

    parcel_id: str
    tracking_number: str
    province: str
    city: str
    weight_grams: int

    def __post_init__(self) -> None:
        v = Violations()
        _require_text(v, self.parcel_id, "parcel_id")
        _require_text(v, self.tracking_number, "tracking_number")
        v.require(self.weight_grams >= 1, "weight_grams", "must be at least 1 gram")
        v.raise_if_any()


@dataclass(frozen=True)
class Manifest:
    """One carrier's hand-over manifest (交接单) for a wave: what its courier signs for."""

    wave_id: str
    carrier_code: str
    carrier_name: str
    printed_at: datetime
    parcels: tuple[ManifestParcel, ...]

    def __post_init__(self) -> None:
        _freeze(self, "parcels")
        v = Violations()
        _require_text(v, self.wave_id, "wave_id")
        _require_text(v, self.carrier_code, "carrier_code")
        _require_text(v, self.carrier_name, "carrier_name")
        _require_aware(v, self.printed_at, "printed_at")
        # A parcel counted twice on a signed hand-over is a dispute with the carrier later.
        _require_unique(v, (p.parcel_id for p in self.parcels), "parcels", ".parcel_id")
        _require_unique(v, (p.tracking_number for p in self.parcels), "parcels", ".tracking_number")
        v.raise_if_any()

    @property
    def total_weight_grams(self) -> int:
        """The weight of every parcel handed over."""
        return sum(p.weight_grams for p in self.parcels)
