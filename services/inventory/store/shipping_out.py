"""Taking units off the shelves for a document, first in first out, and bringing the same lots back in.

Shared by transfers (INV-12) and sample loans (INV-8): units leave by TRANSFER_OUT movements and their
lots are remembered (``document_picks``), so that arrival or return books the very same lots.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.upsert import insert
from services.inventory.domain import lots as lot_rules
from services.inventory.domain.lots import LotStock, TakenLot
from services.inventory.domain.reservations import Line
from services.inventory.store import ledger
from services.inventory.store.tables import document_picks


async def stock_to_take(
    conn: AsyncConnection, warehouse_code: str, sku_codes: Sequence[str]
) -> dict[str, list[LotStock]]:
    """The lots of each SKU in ``warehouse_code``, with their stock levels locked first (the ledger's lock
    order) and then the lot rows, so that nobody else takes the same units meanwhile."""
    await ledger.lock_levels(conn, [(sku, warehouse_code) for sku in sku_codes])
    return {
        sku: await ledger.lots_of(conn, sku, warehouse_code, lock=True, unkept=True)
        for sku in sorted(set(sku_codes))
    }


async def remember(
    conn: AsyncConnection, document_type: str, document_id: str, taken: Sequence[TakenLot]
) -> None:
    """Keeps which lots left with a document; remembering the same lots again changes nothing."""
    if taken:
        await conn.execute(
            insert(document_picks)
            .values(
                [
                    {
                        "document_type": document_type,
                        "document_id": document_id,
                        "lot_id": lot.lot_id,
                        "sku_code": lot.sku_code,
                        "quantity": lot.quantity,
                    }
                    for lot in taken
                ]
            )
            .on_conflict_do_nothing()
        )


async def taken_by(conn: AsyncConnection, document_type: str, document_id: str) -> list[TakenLot]:
    """The lots that left with a document, by SKU and lot."""
    rows = (
        await conn.execute(
            sa.select(document_picks.c.sku_code, document_picks.c.lot_id, document_picks.c.quantity)
            .where(
                document_picks.c.document_type == document_type, document_picks.c.document_id == document_id
            )
            .order_by(document_picks.c.sku_code, document_picks.c.lot_id)
        )
    ).all()
    return [TakenLot(r.sku_code, r.lot_id, r.quantity) for r in rows]


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
    stock = await stock_to_take(conn, warehouse_code, [line.sku_code for line in lines])
    movements, taken = lot_rules.take_out(
        stock,
        lines,
        warehouse_code=warehouse_code,
        document_type=document_type,
        document_id=document_id,
        note=note,
        quantity_field=quantity_field,
    )
    # The guarded post refuses to take units that are reserved or held (available would go negative).
    await ledger.post(
        conn, movements, actor=actor, field=quantity_field.format(i=0) if len(lines) == 1 else "lines"
    )
    await remember(conn, document_type, document_id, taken)


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
    taken = await taken_by(conn, document_type, document_id)
    await ledger.post(
        conn,
        lot_rules.bring_in(
            taken,
            warehouse_code=warehouse_code,
            document_type=document_type,
            document_id=document_id,
            note=note,
        ),
        actor=actor,
    )
