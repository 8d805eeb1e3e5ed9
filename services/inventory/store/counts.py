"""Count sheets and their adjustments (INV-13)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from shop.inventory.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import FailedPrecondition, NotFound
from libs.outbox import publish
from libs.timestamps import to_timestamp
from services.inventory.domain.counts import (
    Approval,
    CountKind,
    CountLine,
    CountStatus,
    Cuts,
    DamagedDisposition,
    HeldUnits,
    ReservedOrder,
    check_approval,
    promises_to_cut,
)
from services.inventory.domain.reservations import HoldStatus, ReservationStatus
from services.inventory.domain.stock import Movement, MovementKind
from services.inventory.store import catalogue, ledger
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

DOCUMENT = "count"
DEFECTIVE_WAREHOUSE = "DEFECTIVE"


@dataclass(frozen=True)
class Count:
    count_id: str
    warehouse_code: str
    kind: CountKind
    planned_for: date
    status: CountStatus
    lines: tuple[CountLine, ...]
    created_at: datetime
    approved_by: str | None
    reason: str
    responsible_person: str
    disposition: DamagedDisposition | None
    cut_order_ids: tuple[str, ...] = ()
    cut_hold_ids: tuple[str, ...] = ()

    def require_open(self) -> None:
        if self.status is not CountStatus.OPEN:
            raise FailedPrecondition.for_field(
                "count_id", "the count is already posted", reason="COUNT_POSTED"
            )


def _id(count_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(count_id)
    except ValueError:
        raise NotFound.for_field("count_id", f"no count {count_id!r}", reason="COUNT_NOT_FOUND") from None


async def get(conn: AsyncConnection, count_id: str, *, lock: bool = False) -> Count:
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
    return Count(
        str(head.count_id),
        head.warehouse_code,
        CountKind(head.kind),
        head.planned_for,
        CountStatus(head.status),
        tuple(
            CountLine(r.line_no, r.sku_code, r.lot_id, r.bin_code, r.book, r.counted, r.damaged) for r in rows
        ),
        head.created_at,
        head.approved_by,
        head.reason,
        head.responsible_person,
        DamagedDisposition(head.damaged_disposition) if head.damaged_disposition else None,
        tuple(head.cut_order_ids),
        tuple(head.cut_hold_ids),
    )


async def plan(
    conn: AsyncConnection,
    *,
    warehouse_code: str,
    kind: CountKind,
    planned_for: date,
    sku_codes: list[str],
    actor: str,
) -> Count:
    """Opens a count sheet with the book quantity of every lot and bin in scope."""
    await catalogue.warehouse_sellable(conn, warehouse_code)
    for i, sku in enumerate(sku_codes):
        if not await catalogue.sku_exists(conn, sku):
            raise NotFound.for_field(f"sku_codes[{i}]", f"unknown SKU {sku!r}", reason="SKU_NOT_FOUND")
    count_id = uuid.uuid4()
    await conn.execute(
        counts.insert().values(
            count_id=count_id,
            warehouse_code=warehouse_code,
            kind=kind.value,
            planned_for=planned_for,
            status=CountStatus.OPEN.value,
            created_by=actor,
        )
    )
    query = (
        sa.select(lots.c.sku_code, lot_stock.c.lot_id, lot_stock.c.bin_code, lot_stock.c.on_hand)
        .join(lots, lots.c.lot_id == lot_stock.c.lot_id)
        .where(lot_stock.c.warehouse_code == warehouse_code, lot_stock.c.on_hand > 0)
        .order_by(lot_stock.c.bin_code, lots.c.sku_code, lots.c.received_at, lot_stock.c.lot_id)
    )
    if kind is CountKind.CYCLE:
        query = query.where(lots.c.sku_code.in_(sku_codes))
    rows = (await conn.execute(query)).all()
    if rows:
        await conn.execute(
            count_lines.insert(),
            [
                {
                    "count_id": count_id,
                    "line_no": i + 1,
                    "sku_code": r.sku_code,
                    "lot_id": r.lot_id,
                    "bin_code": r.bin_code,
                    "book": r.on_hand,
                }
                for i, r in enumerate(rows)
            ],
        )
    return await get(conn, str(count_id))


async def save_line(conn: AsyncConnection, count_id: str, line: CountLine) -> None:
    await conn.execute(
        count_lines.update()
        .where(count_lines.c.count_id == _id(count_id), count_lines.c.line_no == line.line_no)
        .values(counted=line.counted, damaged=line.damaged)
    )


async def approve(conn: AsyncConnection, count: Count, approval: Approval, *, actor: str) -> Count:
    """Posts the adjustment: variances as ADJUSTMENT movements, damaged units to the defective warehouse or
    scrapped. Units that are gone cannot stay promised: when the count leaves fewer units than are
    reserved and held, promises are cut by ``promises_to_cut`` in the same transaction, and every cut
    order is published (ReservationCut) for the orders service."""
    count.require_open()
    check_approval(list(count.lines), approval)
    movements: list[Movement] = []
    for line in count.lines:
        assert line.counted is not None
        common = {
            "document_type": DOCUMENT,
            "document_id": count.count_id,
            "sku_code": line.sku_code,
            "lot_id": line.lot_id,
        }
        if line.variance:
            movements.append(
                Movement(
                    kind=MovementKind.ADJUSTMENT,
                    warehouse_code=count.warehouse_code,
                    bin_code=line.bin_code,
                    on_hand_delta=line.variance,
                    note=approval.reason,
                    **common,  # type: ignore[arg-type]
                )
            )
        if line.damaged:
            if approval.disposition is DamagedDisposition.SCRAP:
                movements.append(
                    Movement(
                        kind=MovementKind.SCRAP,
                        warehouse_code=count.warehouse_code,
                        bin_code=line.bin_code,
                        on_hand_delta=-line.damaged,
                        note="damaged in storage",
                        **common,  # type: ignore[arg-type]
                    )
                )
            else:
                movements += [
                    Movement(
                        kind=MovementKind.TRANSFER_OUT,
                        warehouse_code=count.warehouse_code,
                        bin_code=line.bin_code,
                        on_hand_delta=-line.damaged,
                        note="damaged in storage",
                        **common,  # type: ignore[arg-type]
                    ),
                    Movement(
                        kind=MovementKind.TRANSFER_IN,
                        warehouse_code=DEFECTIVE_WAREHOUSE,
                        on_hand_delta=line.damaged,
                        note=f"damaged in storage at {count.warehouse_code}",
                        **common,  # type: ignore[arg-type]
                    ),
                ]
    cuts = await _cuts_for(conn, count, movements)
    movements += await _release_cut_promises(conn, count, cuts)
    if movements:
        await ledger.post(conn, movements, actor=actor, field="lines")
    await conn.execute(
        counts.update()
        .where(counts.c.count_id == _id(count.count_id))
        .values(
            status=CountStatus.POSTED.value,
            approved_by=actor,
            approved_at=sa.func.now(),
            reason=approval.reason.strip(),
            responsible_person=approval.responsible_person.strip(),
            damaged_disposition=approval.disposition.value if approval.disposition else None,
            cut_order_ids=list(cuts.order_ids),
            cut_hold_ids=list(cuts.hold_ids),
        )
    )
    await _announce_cuts(conn, count, cuts, movements)
    return await get(conn, count.count_id)


async def _cuts_for(conn: AsyncConnection, count: Count, movements: list[Movement]) -> Cuts:
    """Which promises the count's movements leave without stock (locks the levels it reads)."""
    change: dict[str, int] = defaultdict(int)
    for m in movements:
        if m.warehouse_code == count.warehouse_code:
            change[m.sku_code] += m.on_hand_delta
    falling = sorted(sku for sku, delta in change.items() if delta < 0)
    if not falling:
        return Cuts((), ())
    await ledger.lock_levels(conn, [(sku, count.warehouse_code) for sku in falling])
    short: dict[str, int] = {}
    for sku in falling:
        level = await ledger.level_of(conn, sku, count.warehouse_code)
        if level.reserved + level.held > level.on_hand + change[sku]:
            short[sku] = level.reserved + level.held - (level.on_hand + change[sku])
    if not short:
        return Cuts((), ())
    hold_rows = (
        await conn.execute(
            sa.select(holds.c.hold_id, holds.c.sku_code, holds.c.quantity, holds.c.created_at)
            .where(
                holds.c.warehouse_code == count.warehouse_code,
                holds.c.sku_code.in_(sorted(short)),
                holds.c.status == HoldStatus.ACTIVE.value,
            )
            .with_for_update()
        )
    ).all()
    short_orders = (
        sa.select(reservation_lines.c.order_id)
        .where(
            reservation_lines.c.sku_code.in_(sorted(short)),
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
    return promises_to_cut(
        short,
        [HeldUnits(str(h.hold_id), h.sku_code, h.quantity, h.created_at) for h in hold_rows],
        [ReservedOrder(o, open_units[o], made_at[o]) for o in sorted(open_units)],
    )


async def _release_cut_promises(conn: AsyncConnection, count: Count, cuts: Cuts) -> list[Movement]:
    """Closes the cut holds and reservations; returns the movements that give their units back."""
    note = f"cut by count {count.count_id}: fewer units found than were promised"
    movements: list[Movement] = []
    if cuts.hold_ids:
        closed = (
            await conn.execute(
                holds.update()
                .where(holds.c.hold_id.in_([uuid.UUID(h) for h in cuts.hold_ids]))
                .values(status=HoldStatus.RELEASED.value, closed_at=sa.func.now())
                .returning(holds.c.hold_id, holds.c.sku_code, holds.c.quantity)
            )
        ).all()
        movements += [
            Movement(
                kind=MovementKind.HOLD_RELEASE,
                sku_code=h.sku_code,
                warehouse_code=count.warehouse_code,
                held_delta=-h.quantity,
                document_type="hold",
                document_id=str(h.hold_id),
                note=note,
            )
            for h in closed
        ]
    if cuts.order_ids:
        await conn.execute(
            reservations.update()
            .where(reservations.c.order_id.in_(cuts.order_ids))
            .values(status=ReservationStatus.CUT.value, closed_at=sa.func.now())
        )
        lines = (
            await conn.execute(
                sa.select(reservation_lines)
                .where(reservation_lines.c.order_id.in_(cuts.order_ids))
                .order_by(reservation_lines.c.order_id, reservation_lines.c.sku_code)
            )
        ).all()
        movements += [
            Movement(
                kind=MovementKind.RELEASE,
                sku_code=line.sku_code,
                warehouse_code=count.warehouse_code,
                reserved_delta=-(line.quantity - line.issued),
                document_type="order",
                document_id=line.order_id,
                note=note,
            )
            for line in lines
            if line.quantity > line.issued
        ]
    return movements


async def _announce_cuts(conn: AsyncConnection, count: Count, cuts: Cuts, movements: list[Movement]) -> None:
    counted_short: dict[str, int] = defaultdict(int)
    for m in movements:
        if m.document_type == DOCUMENT and m.warehouse_code == count.warehouse_code:
            counted_short[m.sku_code] -= m.on_hand_delta
    released: dict[str, list[str]] = defaultdict(list)
    for m in movements:
        if (
            m.kind is MovementKind.RELEASE
            and m.document_id in cuts.order_ids
            and counted_short.get(m.sku_code, 0) > 0
        ):
            released[m.document_id].append(m.sku_code)
    for order_id in cuts.order_ids:
        skus = sorted(released[order_id])
        await publish(
            conn,
            kit.outbox,
            order_id,
            events_pb2.ReservationCut(
                order_id=order_id,
                warehouse_code=count.warehouse_code,
                count_id=count.count_id,
                short_sku_codes=skus,
                reason=(
                    f"count {count.count_id} in {count.warehouse_code} found fewer units of "
                    f"{', '.join(skus)} than were reserved; the newest reservations were cut (INV-13)"
                ),
                at=to_timestamp(datetime.now(UTC)),
            ),
        )
