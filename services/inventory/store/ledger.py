"""The stock ledger: movements are appended and balances updated in the same transaction.

Every change goes through ``post``: it locks the touched stock levels in (SKU, warehouse) order — the one
lock order of the service, so concurrent documents never deadlock on them — applies each balance change
as a guarded UPDATE that cannot take on-hand, reserved, held or available below zero (INV-10), and
appends the movements. A guard that fails raises FAILED_PRECONDITION and the transaction writes nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from shop.inventory.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.bulk import any_of, columns, insert_rows
from libs.errors import FailedPrecondition
from libs.outbox import publish
from libs.timestamps import to_timestamp
from libs.upsert import insert
from services.inventory.domain.lots import LotStock
from services.inventory.domain.stock import Movement, StockLevel, availability_gains
from services.inventory.store import stock_changes
from services.inventory.store.tables import (
    kit,
    lot_stock,
    lots,
    pick_allocations,
    stock_levels,
    stock_movements,
    warehouses,
)

# A level the posting did not return (nothing to update) counts as not for sale: nothing changed there.
_UNSELLABLE = StockLevel("", "", 0, 0, 0, False)


async def ensure_levels(conn: AsyncConnection, keys: Sequence[tuple[str, str]]) -> None:
    """Creates missing stock-level rows (all zero) for (sku, warehouse) pairs."""
    ordered = sorted(set(keys))
    if ordered:
        await conn.execute(
            insert(stock_levels)
            .values([{"sku_code": s, "warehouse_code": w} for s, w in ordered])
            .on_conflict_do_nothing()
        )


async def lock_levels(conn: AsyncConnection, keys: Sequence[tuple[str, str]]) -> None:
    """Locks the stock levels of (sku, warehouse) pairs in sorted order, creating missing rows first."""
    ordered = sorted(set(keys))
    if not ordered:
        return
    await conn.execute(
        insert(stock_levels)
        .values([{"sku_code": s, "warehouse_code": w} for s, w in ordered])
        .on_conflict_do_nothing()
    )
    condition = sa.tuple_(stock_levels.c.sku_code, stock_levels.c.warehouse_code).in_(ordered)
    await conn.execute(
        sa.select(stock_levels.c.sku_code)
        .where(condition)
        .order_by(stock_levels.c.sku_code, stock_levels.c.warehouse_code)
        .with_for_update()
    )


async def post(
    conn: AsyncConnection, movements: Sequence[Movement], *, actor: str, field: str = "quantity"
) -> dict[tuple[str, str], StockLevel]:
    """Appends ``movements`` and applies them to the balances; returns the new levels they touched.

    A change that would take a balance below zero raises FailedPrecondition naming ``field``.
    """
    level_deltas: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    lot_deltas: dict[tuple[uuid.UUID, str, str], int] = defaultdict(int)
    for m in movements:
        d = level_deltas[(m.sku_code, m.warehouse_code)]
        d[0] += m.on_hand_delta
        d[1] += m.reserved_delta
        d[2] += m.held_delta
        if m.lot_id is not None and m.on_hand_delta:
            lot_deltas[(m.lot_id, m.warehouse_code, m.bin_code)] += m.on_hand_delta
    # Rows must exist where stock arrives; elsewhere a missing row simply has nothing to take. The guarded
    # UPDATEs below run in (SKU, warehouse) order, which is the lock order of the service.
    await ensure_levels(conn, [key for key, (d_on, _, _) in level_deltas.items() if d_on > 0])

    levels: dict[tuple[str, str], StockLevel] = {}
    for (sku_code, warehouse_code), (d_on, d_res, d_held) in sorted(level_deltas.items()):
        new_on, new_res, new_held = (
            stock_levels.c.on_hand + d_on,
            stock_levels.c.reserved + d_res,
            stock_levels.c.held + d_held,
        )
        row = (
            await conn.execute(
                stock_levels.update()
                .where(
                    stock_levels.c.sku_code == sku_code,
                    stock_levels.c.warehouse_code == warehouse_code,
                    warehouses.c.warehouse_code == stock_levels.c.warehouse_code,
                    new_on >= 0,
                    new_res >= 0,
                    new_held >= 0,
                    new_on - new_res - new_held >= 0,
                )
                .values(on_hand=new_on, reserved=new_res, held=new_held, updated_at=sa.func.now())
                .returning(
                    stock_levels.c.on_hand,
                    stock_levels.c.reserved,
                    stock_levels.c.held,
                    warehouses.c.sellable,
                )
            )
        ).first()
        if row is None:
            current = await level_of(conn, sku_code, warehouse_code)
            raise FailedPrecondition.for_field(
                field,
                f"not enough stock of {sku_code} in {warehouse_code}: available {current.available}, "
                f"on hand {current.on_hand}, reserved {current.reserved}, held {current.held}",
                reason="INSUFFICIENT_STOCK",
            )
        levels[(sku_code, warehouse_code)] = StockLevel(
            sku_code, warehouse_code, row.on_hand, row.reserved, row.held, row.sellable
        )

    for (lot_id, warehouse_code, bin_code), delta in sorted(
        lot_deltas.items(), key=lambda kv: (str(kv[0][0]), kv[0][1], kv[0][2])
    ):
        if delta == 0:
            continue
        if delta > 0:
            await conn.execute(
                insert(lot_stock)
                .values(lot_id=lot_id, warehouse_code=warehouse_code, bin_code=bin_code, on_hand=delta)
                .on_conflict_do_update(
                    index_elements=[lot_stock.c.lot_id, lot_stock.c.warehouse_code, lot_stock.c.bin_code],
                    set_={"on_hand": lot_stock.c.on_hand + delta},
                )
            )
            continue
        taken = await conn.execute(
            lot_stock.update()
            .where(
                lot_stock.c.lot_id == lot_id,
                lot_stock.c.warehouse_code == warehouse_code,
                lot_stock.c.bin_code == bin_code,
                lot_stock.c.on_hand + delta >= 0,
            )
            .values(on_hand=lot_stock.c.on_hand + delta)
            .returning(lot_stock.c.on_hand)
        )
        if taken.first() is None:
            where = f"bin {bin_code}" if bin_code else "the receiving area"
            raise FailedPrecondition.for_field(
                field,
                f"lot {lot_id} holds fewer than {-delta} units in {where}",
                reason="INSUFFICIENT_LOT_STOCK",
            )

    await _announce_availability(conn, movements, levels)
    # The change feed (INV-10): every SKU whose stock for sale this posting moved.
    await stock_changes.record(
        conn,
        [
            sku
            for (sku, warehouse), (d_on, d_res, d_held) in level_deltas.items()
            if d_on - d_res - d_held and levels.get((sku, warehouse), _UNSELLABLE).sellable
        ],
    )
    await conn.execute(
        insert_rows(stock_movements, _MOVEMENT_COLUMNS),
        columns(
            _MOVEMENT_COLUMNS,
            (
                (
                    m.kind.value, m.sku_code, m.warehouse_code, m.lot_id, m.bin_code, m.on_hand_delta,
                    m.reserved_delta, m.held_delta, m.document_type, m.document_id, m.note, actor,
                )
                for m in movements
            ),
        ),
    )  # fmt: skip
    return levels


_MOVEMENT_COLUMNS = (
    "kind", "sku_code", "warehouse_code", "lot_id", "bin_code", "on_hand_delta", "reserved_delta", "held_delta",
    "document_type", "document_id", "note", "actor",
)  # fmt: skip


async def _announce_availability(
    conn: AsyncConnection, movements: Sequence[Movement], levels: dict[tuple[str, str], StockLevel]
) -> None:
    """Publishes StockAvailable per warehouse whose available stock this posting raised, in its
    transaction: orders waiting for the stock learn of it exactly when it is booked."""
    by_warehouse: dict[str, list[events_pb2.StockAvailable.Line]] = defaultdict(list)
    documents: dict[str, tuple[str, str]] = {}
    for gain in availability_gains(movements, levels):
        by_warehouse[gain.warehouse_code].append(
            events_pb2.StockAvailable.Line(sku_code=gain.sku_code, added=gain.added, available=gain.available)
        )
        documents.setdefault(gain.warehouse_code, (gain.document_type, gain.document_id))
    for warehouse_code, lines in sorted(by_warehouse.items()):
        document_type, document_id = documents[warehouse_code]
        await publish(
            conn,
            kit.outbox,
            warehouse_code,
            events_pb2.StockAvailable(
                warehouse_code=warehouse_code,
                lines=lines,
                document_type=document_type,
                document_id=document_id,
                at=to_timestamp(datetime.now(UTC)),
            ),
        )


async def new_lot(
    conn: AsyncConnection,
    *,
    lot_id: uuid.UUID,
    label_id: str,
    sku_code: str,
    quantity: int,
    document_type: str,
    document_id: str,
) -> None:
    await conn.execute(
        lots.insert().values(
            lot_id=lot_id,
            label_id=label_id,
            sku_code=sku_code,
            quantity_received=quantity,
            document_type=document_type,
            document_id=document_id,
        )
    )


async def level_of(conn: AsyncConnection, sku_code: str, warehouse_code: str) -> StockLevel:
    row = (
        await conn.execute(
            sa.select(
                stock_levels.c.on_hand, stock_levels.c.reserved, stock_levels.c.held, warehouses.c.sellable
            )
            .select_from(warehouses)
            .outerjoin(
                stock_levels,
                sa.and_(
                    stock_levels.c.warehouse_code == warehouses.c.warehouse_code,
                    stock_levels.c.sku_code == sku_code,
                ),
            )
            .where(warehouses.c.warehouse_code == warehouse_code)
        )
    ).one()
    return StockLevel(
        sku_code, warehouse_code, row.on_hand or 0, row.reserved or 0, row.held or 0, row.sellable
    )


async def levels_of(conn: AsyncConnection, sku_code: str) -> list[StockLevel]:
    """Stock of ``sku_code`` in every warehouse that has held it, in warehouse order."""
    rows = (
        await conn.execute(
            sa.select(
                stock_levels.c.warehouse_code,
                stock_levels.c.on_hand,
                stock_levels.c.reserved,
                stock_levels.c.held,
                warehouses.c.sellable,
            )
            .join(warehouses, warehouses.c.warehouse_code == stock_levels.c.warehouse_code)
            .where(stock_levels.c.sku_code == sku_code)
            .order_by(stock_levels.c.warehouse_code)
        )
    ).all()
    return [StockLevel(sku_code, r.warehouse_code, r.on_hand, r.reserved, r.held, r.sellable) for r in rows]


async def lots_of(
    conn: AsyncConnection,
    sku_code: str | Sequence[str],
    warehouse_code: str | None = None,
    *,
    lock: bool = False,
    unkept: bool = False,
) -> list[LotStock]:
    """Units per lot and bin of a SKU (non-empty only), oldest lot first; ``lock`` takes row locks.
    ``unkept`` counts only units not kept for a shipment's pick (``pick_allocations``): what an issue that
    is not that shipment's may take. Several SKUs are read in one statement, SKU by SKU in code order (a
    wave's pick allocation needs every SKU of a thousand shipments at once)."""
    on_hand: sa.ColumnElement[int] = lot_stock.c.on_hand
    if unkept:
        # A bigint again: sum() of bigints is a numeric, which would make on-hand a Decimal (and a pick of
        # a lot's last units a Decimal that no protobuf integer takes).
        kept = (
            sa.select(sa.cast(sa.func.coalesce(sa.func.sum(pick_allocations.c.quantity), 0), sa.BigInteger))
            .where(
                pick_allocations.c.lot_id == lot_stock.c.lot_id,
                pick_allocations.c.warehouse_code == lot_stock.c.warehouse_code,
                pick_allocations.c.bin_code == lot_stock.c.bin_code,
                sa.not_(pick_allocations.c.issued),
            )
            .scalar_subquery()
        )
        on_hand = lot_stock.c.on_hand - kept
    of_sku = (
        lots.c.sku_code == sku_code
        if isinstance(sku_code, str)
        else any_of(lots.c.sku_code, sorted(set(sku_code)))
    )
    query = (
        sa.select(
            lot_stock.c.lot_id,
            lots.c.label_id,
            lots.c.sku_code,
            lot_stock.c.warehouse_code,
            lot_stock.c.bin_code,
            lots.c.received_at,
            on_hand.label("on_hand"),
        )
        .join(lots, lots.c.lot_id == lot_stock.c.lot_id)
        .where(of_sku, on_hand > 0)
        .order_by(
            lots.c.sku_code,
            lots.c.received_at,
            lot_stock.c.lot_id,
            lot_stock.c.warehouse_code,
            lot_stock.c.bin_code,
        )
    )
    if warehouse_code is not None:
        query = query.where(lot_stock.c.warehouse_code == warehouse_code)
    if lock:
        query = query.with_for_update(of=lot_stock)
    rows = (await conn.execute(query)).all()
    return [
        LotStock(r.lot_id, r.label_id, r.sku_code, r.warehouse_code, r.bin_code, r.received_at, r.on_hand)
        for r in rows
    ]
