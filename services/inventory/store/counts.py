"""The count-sheet repository (INV-13): loads count sheets and what they may cut, and saves what their
commands did.

Saving writes, in the caller's transaction, the ledger postings (``ledger.post``, the only way stock
moves), the holds and order reservations the count cut, the sheet, and its events to the outbox.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import NotFound
from libs.outbox import publish
from services.inventory.domain.counts import (
    Approval,
    CountKind,
    CountLine,
    CountStatus,
    DamagedDisposition,
    HeldUnits,
    ReservedOrder,
)
from services.inventory.domain.reservations import HoldStatus, ReservationStatus
from services.inventory.domain.stock_counts import BookEntry, Promises, StockCount
from services.inventory.store import ledger
from services.inventory.store.tables import (
    count_lines,
    counts,
    holds,
    kit,
    lot_stock,
    lots,
    reservation_lines,
    reservations,
)


def _id(count_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(count_id)
    except ValueError:
        raise NotFound.for_field("count_id", f"no count {count_id!r}", reason="COUNT_NOT_FOUND") from None


async def load(conn: AsyncConnection, count_id: str, *, lock: bool = False) -> StockCount:
    """The count sheet; ``lock`` holds its row until the transaction ends. NOT_FOUND names ``count_id``."""
    query = sa.select(counts).where(counts.c.count_id == _id(count_id))
    if lock:
        query = query.with_for_update()
    head = (await conn.execute(query)).first()
    if head is None:
        raise NotFound.for_field("count_id", f"no count {count_id!r}", reason="COUNT_NOT_FOUND")
    rows = (
        await conn.execute(
            sa.select(count_lines)
            .where(count_lines.c.count_id == head.count_id)
            .order_by(count_lines.c.line_no)
        )
    ).all()
    return StockCount(
        count_id=str(head.count_id),
        warehouse_code=head.warehouse_code,
        kind=CountKind(head.kind),
        planned_for=head.planned_for,
        status=CountStatus(head.status),
        lines=tuple(
            CountLine(r.line_no, r.sku_code, r.lot_id, r.bin_code, r.book, r.counted, r.damaged) for r in rows
        ),
        created_at=head.created_at,
        created_by=head.created_by,
        approved_by=head.approved_by,
        approved_at=head.approved_at,
        reason=head.reason,
        responsible_person=head.responsible_person,
        disposition=DamagedDisposition(head.damaged_disposition) if head.damaged_disposition else None,
        cut_order_ids=tuple(head.cut_order_ids),
        cut_hold_ids=tuple(head.cut_hold_ids),
    )


async def book(
    conn: AsyncConnection, warehouse_code: str, sku_codes: Sequence[str] | None
) -> list[BookEntry]:
    """The books' units per lot and bin in a warehouse (of ``sku_codes`` only, unless None), in sheet
    order: by bin, SKU, then oldest lot first."""
    query = (
        sa.select(lots.c.sku_code, lot_stock.c.lot_id, lot_stock.c.bin_code, lot_stock.c.on_hand)
        .join(lots, lots.c.lot_id == lot_stock.c.lot_id)
        .where(lot_stock.c.warehouse_code == warehouse_code, lot_stock.c.on_hand > 0)
        .order_by(lot_stock.c.bin_code, lots.c.sku_code, lots.c.received_at, lot_stock.c.lot_id)
    )
    if sku_codes is not None:
        query = query.where(lots.c.sku_code.in_(sku_codes))
    return [BookEntry(r.sku_code, r.lot_id, r.bin_code, r.on_hand) for r in (await conn.execute(query)).all()]


async def promises_at_risk(conn: AsyncConnection, count: StockCount, approval: Approval) -> Promises:
    """What the approval's adjustment may leave unbacked: the stock levels of the SKUs it lowers, locked in
    the ledger's order, and the active holds and reservations of those it leaves short, locked too."""
    falling = count.skus_at_risk(approval)
    if not falling:
        return Promises(levels={})
    await ledger.lock_levels(conn, [(sku, count.warehouse_code) for sku in falling])
    levels = {sku: await ledger.level_of(conn, sku, count.warehouse_code) for sku in falling}
    short = sorted(count.shortfall(approval, levels))
    if not short:
        return Promises(levels=levels)
    hold_rows = (
        await conn.execute(
            sa.select(holds.c.hold_id, holds.c.sku_code, holds.c.quantity, holds.c.created_at)
            .where(
                holds.c.warehouse_code == count.warehouse_code,
                holds.c.sku_code.in_(short),
                holds.c.status == HoldStatus.ACTIVE.value,
            )
            .with_for_update()
        )
    ).all()
    short_orders = (
        sa.select(reservation_lines.c.order_id)
        .where(
            reservation_lines.c.sku_code.in_(short),
            reservation_lines.c.quantity > reservation_lines.c.issued,
        )
        .scalar_subquery()
    )
    order_rows = (
        await conn.execute(
            sa.select(
                reservations.c.order_id,
                reservations.c.created_at,
                reservation_lines.c.sku_code,
                reservation_lines.c.quantity - reservation_lines.c.issued,
            )
            .join(reservation_lines, reservation_lines.c.order_id == reservations.c.order_id)
            .where(
                reservations.c.warehouse_code == count.warehouse_code,
                reservations.c.status == ReservationStatus.ACTIVE.value,
                reservations.c.order_id.in_(short_orders),
            )
            .order_by(reservations.c.order_id)
            .with_for_update(of=reservations)
        )
    ).all()
    open_units: dict[str, dict[str, int]] = defaultdict(dict)
    made_at: dict[str, datetime] = {}
    for order_id, created_at, sku, units in order_rows:
        if units > 0:
            open_units[order_id][sku] = units
        made_at[order_id] = created_at
    return Promises(
        levels=levels,
        holds=[HeldUnits(str(h.hold_id), h.sku_code, h.quantity, h.created_at) for h in hold_rows],
        orders=[ReservedOrder(o, open_units[o], made_at[o]) for o in sorted(open_units)],
    )


async def add(conn: AsyncConnection, count: StockCount) -> None:
    """Stores a new count sheet with its lines."""
    count_id = _id(count.count_id)
    await conn.execute(
        counts.insert().values(
            count_id=count_id,
            warehouse_code=count.warehouse_code,
            kind=count.kind.value,
            planned_for=count.planned_for,
            status=count.status.value,
            created_by=count.created_by,
            created_at=count.created_at,
        )
    )
    if count.lines:
        await conn.execute(
            count_lines.insert(),
            [
                {
                    "count_id": count_id,
                    "line_no": line.line_no,
                    "sku_code": line.sku_code,
                    "lot_id": line.lot_id,
                    "bin_code": line.bin_code,
                    "book": line.book,
                    "counted": line.counted,
                    "damaged": line.damaged,
                }
                for line in count.lines
            ],
        )
    count.take_changed_lines()
    await save(conn, count)


async def save(conn: AsyncConnection, count: StockCount) -> None:
    """Writes what the count's commands did: recorded lines, ledger postings, the cut holds and
    reservations, the sheet's approval, and the events for the outbox."""
    count_id = _id(count.count_id)
    for line in count.take_changed_lines():
        await conn.execute(
            count_lines.update()
            .where(count_lines.c.count_id == count_id, count_lines.c.line_no == line.line_no)
            .values(counted=line.counted, damaged=line.damaged)
        )
    for posting in count.take_postings():
        await ledger.post(conn, posting.movements, actor=posting.actor, field=posting.field)
    await _close_cut_promises(conn, count)
    await conn.execute(
        counts.update()
        .where(counts.c.count_id == count_id)
        .values(
            status=count.status.value,
            approved_by=count.approved_by,
            approved_at=count.approved_at,
            reason=count.reason,
            responsible_person=count.responsible_person,
            damaged_disposition=count.disposition.value if count.disposition else None,
            cut_order_ids=list(count.cut_order_ids),
            cut_hold_ids=list(count.cut_hold_ids),
        )
    )
    for pending in count.take_events():
        await publish(conn, kit.outbox, pending.key, pending.event)


async def _close_cut_promises(conn: AsyncConnection, count: StockCount) -> None:
    """Closes the holds and reservations the count cut (still active: cutting again changes nothing)."""
    if count.cut_hold_ids:
        await conn.execute(
            holds.update()
            .where(
                holds.c.hold_id.in_([uuid.UUID(h) for h in count.cut_hold_ids]),
                holds.c.status == HoldStatus.ACTIVE.value,
            )
            .values(status=HoldStatus.RELEASED.value, closed_at=count.approved_at)
        )
    if count.cut_order_ids:
        await conn.execute(
            reservations.update()
            .where(
                reservations.c.order_id.in_(count.cut_order_ids),
                reservations.c.status == ReservationStatus.ACTIVE.value,
            )
            .values(status=ReservationStatus.CUT.value, closed_at=count.approved_at)
        )
