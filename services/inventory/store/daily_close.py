"""The daily close (日清日结, INV-14): every document of the day posted, and the ledger equal to the books."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.business_time import day_bounds
from libs.errors import FailedPrecondition
from libs.upsert import insert
from services.inventory.store.reconciliation import (
    Discrepancy,
    advance_checkpoint,
    discrepancies,
    hold_ledger,
)
from services.inventory.store.tables import day_closes, receipts, stock_movements


@dataclass(frozen=True)
class DayClose:
    business_date: date
    closed_by: str
    closed_at: datetime
    movements: int
    receipts_posted: int


async def close_day(conn: AsyncConnection, day: date, *, actor: str) -> DayClose:
    """Closes ``day`` once it is clean; closing a closed day returns the first close."""
    existing = await get(conn, day)
    if existing is not None:
        return existing
    start, end = day_bounds(day)
    await hold_ledger(conn)
    unposted = (
        (
            await conn.execute(
                sa.select(receipts.c.delivery_note_number)
                .where(receipts.c.status == "open", receipts.c.created_at < end)
                .order_by(receipts.c.created_at)
            )
        )
        .scalars()
        .all()
    )
    problems: list[str] = [f"receipt {note} is not posted" for note in unposted[:20]]
    found: list[Discrepancy] = await discrepancies(conn)
    problems += [
        f"{d.measure} of {d.sku_code} in {d.warehouse_code}{' lot ' + d.lot_id if d.lot_id else ''}: "
        f"books {d.balance}, ledger {d.ledger}"
        for d in found[:20]
    ]
    if problems:
        raise FailedPrecondition.for_field("business_date", "; ".join(problems), reason="DAY_NOT_CLEAN")
    movements = (
        await conn.execute(
            sa.select(sa.func.count()).where(
                stock_movements.c.created_at >= start, stock_movements.c.created_at < end
            )
        )
    ).scalar_one()
    posted = (
        await conn.execute(
            sa.select(sa.func.count()).where(
                receipts.c.status != "open", receipts.c.posted_at >= start, receipts.c.posted_at < end
            )
        )
    ).scalar_one()
    await advance_checkpoint(conn)
    await conn.execute(
        insert(day_closes)
        .values(business_date=day, closed_by=actor, movements=movements, receipts_posted=posted)
        .on_conflict_do_nothing()
    )
    closed = await get(conn, day)
    assert closed is not None
    return closed


async def get(conn: AsyncConnection, day: date) -> DayClose | None:
    row = (await conn.execute(sa.select(day_closes).where(day_closes.c.business_date == day))).first()
    if row is None:
        return None
    return DayClose(row.business_date, row.closed_by, row.closed_at, row.movements, row.receipts_posted)


async def closes_of_month(conn: AsyncConnection, year: int, month: int) -> list[DayClose]:
    """The archive of one month (INV-14: documents are archived by month)."""
    first = date(year, month, 1)
    after = date(year + month // 12, month % 12 + 1, 1)
    rows = (
        await conn.execute(
            sa.select(day_closes)
            .where(day_closes.c.business_date >= first, day_closes.c.business_date < after)
            .order_by(day_closes.c.business_date)
        )
    ).all()
    return [DayClose(r.business_date, r.closed_by, r.closed_at, r.movements, r.receipts_posted) for r in rows]
