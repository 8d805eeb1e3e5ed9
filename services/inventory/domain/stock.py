"""Stock levels and movements (INV-10, INV-14): on-hand is the sum of the ledger's movements."""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from libs.errors import Violations

# A single movement of more than this is a typo, not a delivery.
MAX_MOVEMENT_QUANTITY = 10_000_000
MAX_NOTE = 500


class MovementKind(enum.Enum):
    """Why stock moved. The ledger is append-only; corrections are new movements."""

    RECEIPT = "receipt"
    PUT_AWAY = "put_away"
    RESERVATION = "reservation"
    RELEASE = "release"
    ISSUE = "issue"
    HOLD = "hold"
    HOLD_RELEASE = "hold_release"
    HOLD_EXPIRY = "hold_expiry"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    ADJUSTMENT = "adjustment"
    SCRAP = "scrap"
    RETURN_TO_SUPPLIER = "return_to_supplier"
    CUSTOMER_RETURN = "customer_return"


@dataclass(frozen=True)
class Movement:
    """One ledger row. Balances are the sums of these deltas: on-hand per SKU, warehouse, lot and bin;
    reserved and held per SKU and warehouse (INV-14). ``lot_id`` is None for movements that change no
    units on a shelf (reservations, holds)."""

    kind: MovementKind
    sku_code: str
    warehouse_code: str
    lot_id: uuid.UUID | None = None
    bin_code: str = ""
    on_hand_delta: int = 0
    reserved_delta: int = 0
    held_delta: int = 0
    document_type: str = ""
    document_id: str = ""
    note: str = ""


@dataclass(frozen=True)
class StockLevel:
    """Stock of one SKU in one warehouse."""

    sku_code: str
    warehouse_code: str
    on_hand: int
    reserved: int
    held: int
    sellable: bool

    @property
    def available(self) -> int:
        """INV-10: on hand - reserved - held; stock in a defective warehouse is never available."""
        if not self.sellable:
            return 0
        return self.on_hand - self.reserved - self.held


def available_for_sale(levels: Iterable[StockLevel]) -> int:
    """INV-2, INV-10: the units of a SKU for sale across its warehouses; defective-goods warehouses add
    nothing."""
    return sum(level.available for level in levels if level.sellable)


@dataclass(frozen=True)
class AvailabilityGain:
    """Units of a SKU a posting made available for sale in a warehouse, and how many are available now."""

    sku_code: str
    warehouse_code: str
    added: int
    available: int
    document_type: str
    document_id: str


def availability_gains(
    movements: Sequence[Movement], levels: Mapping[tuple[str, str], StockLevel]
) -> list[AvailabilityGain]:
    """INV-10: the SKUs whose available stock a posting raised, in sellable warehouses only (a receipt, a
    transfer received, a count adjusted up, a hold or reservation released ...), in (SKU, warehouse) order."""
    added: dict[tuple[str, str], int] = defaultdict(int)
    document: dict[tuple[str, str], tuple[str, str]] = {}
    for m in movements:
        key = (m.sku_code, m.warehouse_code)
        change = m.on_hand_delta - m.reserved_delta - m.held_delta
        added[key] += change
        if change > 0:
            document.setdefault(key, (m.document_type, m.document_id))
    return [
        AvailabilityGain(
            sku, warehouse, units, levels[(sku, warehouse)].available, *document[(sku, warehouse)]
        )
        for (sku, warehouse), units in sorted(added.items())
        if units > 0 and (sku, warehouse) in levels and levels[(sku, warehouse)].sellable
    ]


@dataclass(frozen=True)
class StockIn:
    """A validated request to book received units into a warehouse."""

    sku_code: str
    warehouse_code: str
    quantity: int
    note: str
    bin_code: str = ""


def _require_quantity(v: Violations, quantity: int, field: str = "quantity") -> None:
    v.require(quantity >= 1, field, "must be a whole number of at least 1")
    v.require(quantity <= MAX_MOVEMENT_QUANTITY, field, f"must be at most {MAX_MOVEMENT_QUANTITY}")


def stock_in(*, sku_code: str, warehouse_code: str, quantity: int, note: str, bin_code: str = "") -> StockIn:
    """Validates a receipt of ``quantity`` whole units; InvalidArgument names every offending field."""
    v = Violations()
    v.require(bool(sku_code.strip()), "sku_code", "is required")
    v.require(bool(warehouse_code.strip()), "warehouse_code", "is required")
    _require_quantity(v, quantity)
    v.require(len(note) <= MAX_NOTE, "note", f"must be at most {MAX_NOTE} characters")
    v.raise_if_any()
    return StockIn(sku_code.strip(), warehouse_code.strip(), quantity, note.strip(), bin_code.strip())


@dataclass(frozen=True)
class PutAway:
    warehouse_code: str
    from_bin_code: str
    to_bin_code: str
    quantity: int


def put_away(*, warehouse_code: str, from_bin_code: str, to_bin_code: str, quantity: int) -> PutAway:
    """Validates moving units of a lot into a bin (INV-6); the receiving area is bin ""."""
    v = Violations()
    v.require(bool(warehouse_code.strip()), "warehouse_code", "is required")
    v.require(bool(to_bin_code.strip()), "to_bin_code", "is required")
    v.require(
        from_bin_code.strip() != to_bin_code.strip(),
        "to_bin_code",
        "must differ from from_bin_code",
    )
    _require_quantity(v, quantity)
    v.raise_if_any()
    return PutAway(warehouse_code.strip(), from_bin_code.strip(), to_bin_code.strip(), quantity)
