"""Count sheets and their adjustments (INV-13)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import FailedPrecondition, NotFound
from services.inventory.domain.counts import (
    Approval,
    CountKind,
    CountLine,
    CountStatus,
    DamagedDisposition,
    check_approval,
)
from services.inventory.domain.stock import Movement, MovementKind
from services.inventory.store import catalogue, ledger
from services.inventory.store.tables import count_lines, counts, lot_stock, lots

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
    scrapped. Refused (nothing written) if it would take reserved or held units off the books."""
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
        )
    )
    return await get(conn, count.count_id)
