"""Lots (批次) and first-in, first-out issue (INV-3, INV-6, INV-11)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from libs.errors import FailedPrecondition


@dataclass(frozen=True)
class LotStock:
    """Units of one lot lying in one bin of a warehouse. ``bin_code`` is "" before put-away."""

    lot_id: uuid.UUID
    label_id: str
    sku_code: str
    warehouse_code: str
    bin_code: str
    received_at: datetime
    on_hand: int


@dataclass(frozen=True)
class Pick:
    """Take ``quantity`` units of a lot from a bin."""

    lot_id: uuid.UUID
    bin_code: str
    quantity: int


def fifo_order(stock: list[LotStock]) -> list[LotStock]:
    """Oldest lot first; within a lot, bins in code order so that concurrent issuers lock alike."""
    return sorted(stock, key=lambda s: (s.received_at, str(s.lot_id), s.bin_code))


def pick_fifo(stock: list[LotStock], quantity: int, *, field: str = "quantity") -> list[Pick]:
    """Which lots and bins to take ``quantity`` units from, first in first out (INV-11).

    FailedPrecondition naming ``field`` when the lots hold fewer units than asked.
    """
    picks: list[Pick] = []
    left = quantity
    for lot in fifo_order(stock):
        if left == 0:
            break
        take = min(left, lot.on_hand)
        if take > 0:
            picks.append(Pick(lot.lot_id, lot.bin_code, take))
            left -= take
    if left > 0:
        raise FailedPrecondition.for_field(
            field,
            f"only {quantity - left} of {quantity} units are in stock lots",
            reason="INSUFFICIENT_STOCK",
        )
    return picks


def label_id_for(sku_code: str, lot_id: uuid.UUID) -> str:
    """The barcode label printed for a lot: SKU plus a short unique suffix, matching the books (INV-3)."""
    return f"{sku_code}-{lot_id.hex[:10].upper()}"
