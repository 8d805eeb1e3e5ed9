"""The ledger's checkpoint (INV-14): reconciling from the sums up to the last daily close plus the movements
after it finds exactly what rereading the whole ledger finds, a checkpoint taken while stock moves misses
nothing, and the movements a checkpoint sums can no longer change."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from libs.db import Database
from services.inventory.domain.reservations import reservation_request
from services.inventory.store import catalogue, reconciliation, reservations, tables
from tests.integration.test_inventory_ledger_properties import WAREHOUSE, _seed_stock, sku_of

m = tables.stock_movements


async def _skus(db: Database, count: int, stock: list[int]) -> list[str]:
    tag = uuid.uuid4().hex[:10].upper()
    async with db.transaction() as conn:
        for i in range(count):
            await catalogue.add_sku(conn, sku_of(tag, i), actor="keeper-1")
            await _seed_stock(conn, f"PT{tag}-{i}", stock, "keeper-1")
    return [f"PT{tag}-{i}" for i in range(count)]


async def _checkpoint(db: Database) -> int:
    async with db.transaction() as conn:
        await reconciliation.hold_ledger(conn)
        return await reconciliation.advance_checkpoint(conn)


async def test_reconciling_from_a_checkpoint_finds_what_rereading_everything_finds_inv_14(inventory_db):
    db = inventory_db
    skus = await _skus(db, 2, [10, 5])
    upto = await _checkpoint(db)
    async with db.connection() as conn:
        assert upto == (await conn.execute(sa.select(sa.func.max(m.c.movement_id)))).scalar_one()
    # Movements after the checkpoint: reservations, more stock.
    async with db.transaction() as conn:
        await reservations.reserve(
            conn, reservation_request("cp-order-1", WAREHOUSE, [(skus[0], 4)]), actor="a"
        )
        await _seed_stock(conn, skus[1], [3], "keeper-1")
    async with db.connection() as conn:
        assert await reconciliation.discrepancies(conn, skus) == []
        assert await reconciliation.discrepancies(conn, skus, full=True) == []
    # The books changed behind the ledger's back: found from the checkpoint as from a full reread, also
    # once a later checkpoint sums the movements since.
    async with db.transaction() as conn:
        await conn.execute(
            tables.stock_levels.update()
            .where(tables.stock_levels.c.sku_code == skus[0])
            .values(on_hand=tables.stock_levels.c.on_hand + 2)
        )
    for _ in range(2):
        async with db.connection() as conn:
            found = await reconciliation.discrepancies(conn, skus)
            assert found == await reconciliation.discrepancies(conn, skus, full=True)
        assert [(d.measure, d.sku_code, d.balance - d.ledger) for d in found if d.measure == "on_hand"] == [
            ("on_hand", skus[0], 2)
        ]
        await _checkpoint(db)


async def test_a_checkpoint_taken_while_stock_moves_misses_nothing_inv_14(inventory_db):
    db = inventory_db
    skus = await _skus(db, 2, [400])

    async def worker(w: int) -> None:
        for step in range(12):
            order_id = f"cp-race-{skus[0]}-{w}-{step}"
            async with db.transaction() as conn:
                request = reservation_request(order_id, WAREHOUSE, [(skus[step % 2], 1 + w)])
                await reservations.reserve(conn, request, actor="racer")
            if step % 3 == 0:
                async with db.transaction() as conn:
                    await reservations.release(conn, order_id, actor="racer", reason="changed mind")

    async def closer() -> list[int]:
        taken = []
        for _ in range(6):
            taken.append(await _checkpoint(db))
            await asyncio.sleep(0.01)
        return taken

    closing = asyncio.create_task(closer())
    await asyncio.gather(*(worker(w) for w in range(4)))
    taken = await closing
    assert taken == sorted(taken)
    last = await _checkpoint(db)
    async with db.connection() as conn:
        assert await reconciliation.discrepancies(conn, skus) == []
        assert await reconciliation.discrepancies(conn, skus, full=True) == []
        # The checkpoint holds exactly the sums of the movements up to its last one.
        c = tables.ledger_checkpoint_levels
        kept = dict(
            (await conn.execute(sa.select(c.c.sku_code, c.c.reserved).where(c.c.sku_code.in_(skus)))).all()
        )
        summed = dict(
            (
                await conn.execute(
                    sa.select(m.c.sku_code, sa.func.sum(m.c.reserved_delta))
                    .where(m.c.sku_code.in_(skus), m.c.movement_id <= last)
                    .group_by(m.c.sku_code)
                )
            ).all()
        )
    assert kept == summed
    assert sum(kept.values()) > 0


async def test_the_movements_a_checkpoint_sums_cannot_be_rewritten_or_deleted_inv_14(inventory_db):
    db = inventory_db
    (sku,) = await _skus(db, 1, [6])
    async with db.connection() as conn:
        movement_id = (
            await conn.execute(sa.select(sa.func.max(m.c.movement_id)).where(m.c.sku_code == sku))
        ).scalar_one()
    for change in (
        m.update().where(m.c.movement_id == movement_id).values(on_hand_delta=60),
        m.update().where(m.c.movement_id == movement_id).values(sku_code=sku, bin_code="Z-99"),
        m.delete().where(m.c.movement_id == movement_id),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="part of the ledger and cannot be changed"):
            async with db.transaction() as conn:
                await conn.execute(change)
    # Its note and time may still be corrected.
    async with db.transaction() as conn:
        await conn.execute(m.update().where(m.c.movement_id == movement_id).values(note="counted twice"))
    async with db.connection() as conn:
        assert await reconciliation.discrepancies(conn, [sku]) == []
