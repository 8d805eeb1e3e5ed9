"""Lots (批次) and first-in, first-out issue (INV-3, INV-6, INV-11)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from libs.errors import FailedPrecondition
from services.inventory.domain.reservations import Line
from services.inventory.domain.stock import Movement, MovementKind


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


@dataclass(frozen=True)
class TakenLot:
    """Units of a lot that left with a document that will bring them back or on (a transfer, a loan)."""

    sku_code: str
    lot_id: uuid.UUID
    quantity: int


def take_out(
    stock: Mapping[str, Sequence[LotStock]],
    lines: Sequence[Line],
    *,
    warehouse_code: str,
    document_type: str,
    document_id: str,
    note: str,
    quantity_field: str = "lines[{i}].quantity",
) -> tuple[list[Movement], list[TakenLot]]:
    """The TRANSFER_OUT movements that take ``lines`` out of ``warehouse_code``, oldest lot first (INV-11),
    and the lots that leave, per SKU and lot. ``stock`` holds each line's SKU's lots in the warehouse;
    ``quantity_field`` names a line's quantity in errors ("{i}" is the line index)."""
    movements: list[Movement] = []
    taken: dict[tuple[str, uuid.UUID], int] = defaultdict(int)
    for i, line in enumerate(lines):
        available = list(stock.get(line.sku_code, ()))
        for pick in pick_fifo(available, line.quantity, field=quantity_field.format(i=i)):
            movements.append(
                Movement(
                    kind=MovementKind.TRANSFER_OUT,
                    sku_code=line.sku_code,
                    warehouse_code=warehouse_code,
                    lot_id=pick.lot_id,
                    bin_code=pick.bin_code,
                    on_hand_delta=-pick.quantity,
                    document_type=document_type,
                    document_id=document_id,
                    note=note,
                )
            )
            taken[(line.sku_code, pick.lot_id)] += pick.quantity
    return movements, [TakenLot(sku, lot_id, quantity) for (sku, lot_id), quantity in taken.items()]


def bring_in(
    taken: Sequence[TakenLot], *, warehouse_code: str, document_type: str, document_id: str, note: str
) -> list[Movement]:
    """The TRANSFER_IN movements that book lots a document took out into ``warehouse_code``'s receiving
    area: the very same lots come back into the books."""
    return [
        Movement(
            kind=MovementKind.TRANSFER_IN,
            sku_code=lot.sku_code,
            warehouse_code=warehouse_code,
            lot_id=lot.lot_id,
            on_hand_delta=lot.quantity,
            document_type=document_type,
            document_id=document_id,
            note=note,
        )
        for lot in sorted(taken, key=lambda lot: (lot.sku_code, str(lot.lot_id)))
    ]
