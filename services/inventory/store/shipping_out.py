"""Taking units off the shelves for a document, first in first out, and bringing the same lots back in.

Shared by transfers (INV-12) and sample loans (INV-8): units leave by TRANSFER_OUT movements and their
lots are remembered, so that arrival or return books the very same lots.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.inventory.domain.lots import pick_fifo
from services.inventory.domain.reservations import Line
from services.inventory.domain.stock import Movement, MovementKind
from services.inventory.store import ledger
from services.inventory.store.tables import document_picks


async def take_out(
    conn: AsyncConnection,
    *,
    document_type: str,
    document_id: str,
    warehouse_code: str,
    lines: tuple[Line, ...],
    actor: str,
    note: str = "",
    quantity_field: str = "lines[{i}].quantity",
) -> None:
    """Moves ``lines`` out of ``warehouse_code`` oldest lot first; refuses to touch reserved or held units.

    ``quantity_field`` names the request field of a line's quantity in errors ("{i}" is the line index).
    """
    await ledger.lock_levels(conn, [(line.sku_code, warehouse_code) for line in lines])
    movements: list[Movement] = []
    taken: dict[tuple[str, str], int] = defaultdict(int)
    for i, line in enumerate(lines):
        stock = await ledger.lots_of(conn, line.sku_code, warehouse_code, lock=True)
        for pick in pick_fifo(stock, line.quantity, field=quantity_field.format(i=i)):
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
            taken[(line.sku_code, str(pick.lot_id))] += pick.quantity
    # The guarded post refuses to take units that are reserved or held (available would go negative).
    await ledger.post(
        conn, movements, actor=actor, field=quantity_field.format(i=0) if len(lines) == 1 else "lines"
    )
    for (sku_code, lot_id), quantity in taken.items():
        await conn.execute(
            insert(document_picks).values(
                document_type=document_type,
                document_id=document_id,
                lot_id=lot_id,
                sku_code=sku_code,
                quantity=quantity,
            )
        )


async def bring_in(
    conn: AsyncConnection,
    *,
    document_type: str,
    document_id: str,
    warehouse_code: str,
    actor: str,
    note: str = "",
) -> None:
    """Books the lots a document took out into ``warehouse_code``'s receiving area (TRANSFER_IN)."""
    picks = (
        await conn.execute(
            sa.select(document_picks)
            .where(
                document_picks.c.document_type == document_type, document_picks.c.document_id == document_id
            )
            .order_by(document_picks.c.sku_code, document_picks.c.lot_id)
        )
    ).all()
    await ledger.post(
        conn,
        [
            Movement(
                kind=MovementKind.TRANSFER_IN,
                sku_code=p.sku_code,
                warehouse_code=warehouse_code,
                lot_id=p.lot_id,
                on_hand_delta=p.quantity,
                document_type=document_type,
                document_id=document_id,
                note=note,
            )
            for p in picks
        ],
        actor=actor,
    )


async def in_transit(conn: AsyncConnection, document_type: str, document_ids: list[str]) -> dict[str, int]:
    """Units per SKU still out with the given documents."""
    if not document_ids:
        return {}
    rows = (
        await conn.execute(
            sa.select(document_picks.c.sku_code, sa.func.sum(document_picks.c.quantity))
            .where(
                document_picks.c.document_type == document_type,
                document_picks.c.document_id.in_(document_ids),
            )
            .group_by(document_picks.c.sku_code)
        )
    ).all()
    return {sku: int(total) for sku, total in rows}
