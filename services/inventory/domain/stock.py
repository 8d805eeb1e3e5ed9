"""Stock levels and movements (INV-10, INV-14): on-hand is the sum of the ledger's movements."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from libs.errors import Violations

# A single movement of more than this is a typo, not a delivery.
MAX_MOVEMENT_QUANTITY = 10_000_000
MAX_NOTE = 500


class MovementKind(enum.Enum):
    """Why stock moved. The ledger is append-only; corrections are new movements."""

    RECEIPT = "receipt"


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


@dataclass(frozen=True)
class StockIn:
    """A validated request to book received units into a warehouse."""

    sku_code: str
    warehouse_code: str
    quantity: int
    note: str


def stock_in(*, sku_code: str, warehouse_code: str, quantity: int, note: str) -> StockIn:
    """Validates a receipt of ``quantity`` whole units; InvalidArgument names every offending field."""
    v = Violations()
    v.require(bool(sku_code.strip()), "sku_code", "is required")
    v.require(bool(warehouse_code.strip()), "warehouse_code", "is required")
    v.require(quantity >= 1, "quantity", "must be a whole number of at least 1")
    v.require(quantity <= MAX_MOVEMENT_QUANTITY, "quantity", f"must be at most {MAX_MOVEMENT_QUANTITY}")
    v.require(len(note) <= MAX_NOTE, "note", f"must be at most {MAX_NOTE} characters")
    v.raise_if_any()
    return StockIn(sku_code.strip(), warehouse_code.strip(), quantity, note.strip())
