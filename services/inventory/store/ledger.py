"""The stock ledger: movements appended and balances kept in the same transaction."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.inventory.domain.stock import MovementKind, StockLevel
from services.inventory.store.tables import stock_levels, stock_movements, warehouses


async def book_in(
    conn: AsyncConnection,
    *,
    sku_code: str,
    warehouse_code: str,
    quantity: int,
    kind: MovementKind,
    note: str,
    actor: str,
    sellable: bool,
) -> tuple[uuid.UUID, StockLevel]:
    """Appends a positive movement and raises on-hand by ``quantity``; returns the movement id and new level."""
    movement_id = uuid.uuid4()
    await conn.execute(
        stock_movements.insert().values(
            movement_id=movement_id,
            sku_code=sku_code,
            warehouse_code=warehouse_code,
            kind=kind.value,
            quantity=quantity,
            note=note,
            actor=actor,
        )
    )
    row = (
        await conn.execute(
            insert(stock_levels)
            .values(sku_code=sku_code, warehouse_code=warehouse_code, on_hand=quantity)
            .on_conflict_do_update(
                index_elements=[stock_levels.c.sku_code, stock_levels.c.warehouse_code],
                set_={"on_hand": stock_levels.c.on_hand + quantity, "updated_at": sa.func.now()},
            )
            .returning(stock_levels.c.on_hand, stock_levels.c.reserved, stock_levels.c.held)
        )
    ).one()
    return movement_id, StockLevel(sku_code, warehouse_code, row.on_hand, row.reserved, row.held, sellable)


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


async def ledger_sum(conn: AsyncConnection, sku_code: str, warehouse_code: str) -> int:
    """Sum of all movements of a SKU in a warehouse: what on-hand must equal (INV-14)."""
    total = (
        await conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(stock_movements.c.quantity), 0)).where(
                stock_movements.c.sku_code == sku_code, stock_movements.c.warehouse_code == warehouse_code
            )
        )
    ).scalar_one()
    return int(total)
