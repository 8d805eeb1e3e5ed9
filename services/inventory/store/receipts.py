"""Receipts: the receiving document from delivery note to posting (INV-3 .. INV-7)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from shop.inventory.v1 import events_pb2
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import AlreadyExists, FailedPrecondition, NotFound
from libs.outbox import publish
from libs.timestamps import to_timestamp
from services.inventory.domain.lots import label_id_for
from services.inventory.domain.receiving import (
    PHOTO_DEADLINE,
    Receipt,
    ReceiptLine,
    ReceiptStatus,
    delivery_rejected,
    ready_to_post,
)
from services.inventory.domain.stock import Movement, MovementKind
from services.inventory.store import catalogue, ledger
from services.inventory.store.tables import kit, receipt_lines, receipt_signatures, receipts, skus, styles

DOCUMENT = "receipt"
DEFECTIVE_WAREHOUSE = "DEFECTIVE"


def _uuid(receipt_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(receipt_id)
    except ValueError:
        raise NotFound.for_field(
            "receipt_id", f"no receipt {receipt_id!r}", reason="RECEIPT_NOT_FOUND"
        ) from None


async def create(
    conn: AsyncConnection,
    *,
    supplier_code: str,
    delivery_note_number: str,
    warehouse_code: str,
    lines: list[ReceiptLine],
    actor: str,
) -> Receipt:
    """Registers a delivery from its note (INV-3); the same note of the same supplier only once."""
    if not await catalogue.warehouse_sellable(conn, warehouse_code):
        raise FailedPrecondition.for_field(
            "warehouse_code", "deliveries are received into a sellable warehouse"
        )
    for i, line in enumerate(lines):
        if not await catalogue.sku_exists(conn, line.sku_code):
            raise NotFound.for_field(
                f"lines[{i}].sku_code", f"unknown SKU {line.sku_code!r}", reason="SKU_NOT_FOUND"
            )
    receipt_id = uuid.uuid4()
    created = await conn.execute(
        insert(receipts)
        .values(
            receipt_id=receipt_id,
            supplier_code=supplier_code,
            delivery_note_number=delivery_note_number,
            warehouse_code=warehouse_code,
            status=ReceiptStatus.OPEN.value,
            created_by=actor,
        )
        .on_conflict_do_nothing()
        .returning(receipts.c.receipt_id)
    )
    if created.first() is None:
        raise AlreadyExists.for_field(
            "delivery_note_number",
            f"delivery note {delivery_note_number} of {supplier_code} is already registered",
        )
    await conn.execute(
        receipt_lines.insert(),
        [
            {
                "receipt_id": receipt_id,
                "line_no": line.line_no,
                "sku_code": line.sku_code,
                "expected": line.expected,
            }
            for line in lines
        ],
    )
    return await get(conn, str(receipt_id))


async def get(conn: AsyncConnection, receipt_id: str, *, lock: bool = False) -> Receipt:
    rid = _uuid(receipt_id)
    query = sa.select(receipts).where(receipts.c.receipt_id == rid)
    if lock:
        query = query.with_for_update()
    head = (await conn.execute(query)).first()
    if head is None:
        raise NotFound.for_field("receipt_id", f"no receipt {receipt_id!r}", reason="RECEIPT_NOT_FOUND")
    rows = (
        await conn.execute(
            sa.select(receipt_lines)
            .where(receipt_lines.c.receipt_id == rid)
            .order_by(receipt_lines.c.line_no)
        )
    ).all()
    signed = (
        await conn.execute(
            sa.select(receipt_signatures.c.role, receipt_signatures.c.user_id).where(
                receipt_signatures.c.receipt_id == rid
            )
        )
    ).all()
    return Receipt(
        receipt_id=str(head.receipt_id),
        supplier_code=head.supplier_code,
        delivery_note_number=head.delivery_note_number,
        warehouse_code=head.warehouse_code,
        status=ReceiptStatus(head.status),
        lines=tuple(
            ReceiptLine(
                line_no=r.line_no,
                sku_code=r.sku_code,
                expected=r.expected,
                received=r.received,
                round1_inspected=r.round1_inspected,
                round1_failed=r.round1_failed,
                round2_inspected=r.round2_inspected,
                round2_failed=r.round2_failed,
                full_good=r.full_good,
                full_defective=r.full_defective,
            )
            for r in rows
        ),
        signatures={r.role: r.user_id for r in signed},
        created_at=head.created_at,
        posted_at=head.posted_at,
    )


async def save_line(conn: AsyncConnection, receipt_id: str, line: ReceiptLine) -> None:
    await conn.execute(
        receipt_lines.update()
        .where(receipt_lines.c.receipt_id == _uuid(receipt_id), receipt_lines.c.line_no == line.line_no)
        .values(
            received=line.received,
            round1_inspected=line.round1_inspected,
            round1_failed=line.round1_failed,
            round2_inspected=line.round2_inspected,
            round2_failed=line.round2_failed,
            full_good=line.full_good,
            full_defective=line.full_defective,
        )
    )


async def sign(conn: AsyncConnection, receipt_id: str, role: str, user_id: str) -> None:
    await conn.execute(
        receipt_signatures.insert().values(receipt_id=_uuid(receipt_id), role=role, user_id=user_id)
    )


@dataclass(frozen=True)
class PostedLine:
    sku_code: str
    accepted: int
    defective: int
    lot_id: uuid.UUID | None
    defective_lot_id: uuid.UUID | None


async def post(conn: AsyncConnection, receipt: Receipt, *, actor: str) -> Receipt:
    """Posts a signed, fully inspected receipt: accepted units become lots in the receiving area of its
    warehouse, defective units lots in the defective-goods warehouse; a rejected delivery stocks nothing.
    Publishes the inbound notice (with new styles, INV-7) or the rejection through the outbox."""
    receipt.require_open()
    lines = list(receipt.lines)
    pending = ready_to_post(lines)
    if pending:
        raise FailedPrecondition.for_field(
            "lines", "not every line is decided: " + "; ".join(pending), reason="QC_PENDING"
        )
    rid = _uuid(receipt.receipt_id)

    if delivery_rejected(lines):
        await conn.execute(
            receipts.update()
            .where(receipts.c.receipt_id == rid)
            .values(status=ReceiptStatus.REJECTED.value, posted_by=actor, posted_at=sa.func.now())
        )
        await publish(
            conn,
            kit.outbox,
            receipt.receipt_id,
            events_pb2.DeliveryRejected(
                receipt_id=receipt.receipt_id,
                supplier_code=receipt.supplier_code,
                delivery_note_number=receipt.delivery_note_number,
                failed_sku_codes=[line.sku_code for line in lines if line.verdict.value == "reject_delivery"],
            ),
        )
        return await get(conn, receipt.receipt_id)

    movements: list[Movement] = []
    posted: list[PostedLine] = []
    for line in lines:
        lot_id = defective_lot_id = None
        for units, warehouse, column in (
            (line.accepted_units, receipt.warehouse_code, "lot_id"),
            (line.defective_units, DEFECTIVE_WAREHOUSE, "defective_lot_id"),
        ):
            if units <= 0:
                continue
            new_id = uuid.uuid4()
            await ledger.new_lot(
                conn,
                lot_id=new_id,
                label_id=label_id_for(line.sku_code, new_id),
                sku_code=line.sku_code,
                quantity=units,
                document_type=DOCUMENT,
                document_id=receipt.receipt_id,
            )
            await conn.execute(
                receipt_lines.update()
                .where(receipt_lines.c.receipt_id == rid, receipt_lines.c.line_no == line.line_no)
                .values({column: new_id})
            )
            movements.append(
                Movement(
                    kind=MovementKind.RECEIPT,
                    sku_code=line.sku_code,
                    warehouse_code=warehouse,
                    lot_id=new_id,
                    on_hand_delta=units,
                    document_type=DOCUMENT,
                    document_id=receipt.receipt_id,
                    note=f"{receipt.supplier_code} {receipt.delivery_note_number} line {line.line_no}",
                )
            )
            if column == "lot_id":
                lot_id = new_id
            else:
                defective_lot_id = new_id
        posted.append(
            PostedLine(line.sku_code, line.accepted_units, line.defective_units, lot_id, defective_lot_id)
        )
    if movements:
        await ledger.post(conn, movements, actor=actor)
    posted_at = (
        await conn.execute(
            receipts.update()
            .where(receipts.c.receipt_id == rid)
            .values(status=ReceiptStatus.POSTED.value, posted_by=actor, posted_at=sa.func.now())
            .returning(receipts.c.posted_at)
        )
    ).scalar_one()
    await _publish_inbound_notice(conn, receipt, posted, posted_at)
    return await get(conn, receipt.receipt_id)


async def _publish_inbound_notice(
    conn: AsyncConnection, receipt: Receipt, posted: list[PostedLine], posted_at: datetime
) -> None:
    """INV-7: the inbound notice names the styles received; a style's first receipt flags it new."""
    sku_rows = {
        r.sku_code: r
        for r in (
            await conn.execute(
                sa.select(skus.c.sku_code, skus.c.style_number, skus.c.name).where(
                    skus.c.sku_code.in_([p.sku_code for p in posted])
                )
            )
        ).all()
    }
    notice = events_pb2.StockReceived(
        receipt_id=receipt.receipt_id,
        warehouse_code=receipt.warehouse_code,
        posted_at=to_timestamp(posted_at),
    )
    for p in posted:
        row = sku_rows[p.sku_code]
        notice.lines.append(
            events_pb2.StockReceived.Line(
                sku_code=p.sku_code,
                style_number=row.style_number,
                name=row.name,
                accepted=p.accepted,
                defective=p.defective,
                lot_id=str(p.lot_id) if p.lot_id else "",
                label_id=label_id_for(p.sku_code, p.lot_id) if p.lot_id else "",
            )
        )
    await publish(conn, kit.outbox, receipt.receipt_id, notice)

    received_styles = {
        sku_rows[p.sku_code].style_number: sku_rows[p.sku_code].name for p in posted if p.accepted > 0
    }
    for style_number, name in sorted(received_styles.items()):
        first = await conn.execute(
            insert(styles)
            .values(
                style_number=style_number,
                name=name,
                first_receipt_id=_uuid(receipt.receipt_id),
                received_at=posted_at,
                photos_due_at=posted_at + PHOTO_DEADLINE,
            )
            .on_conflict_do_nothing()
            .returning(styles.c.photos_due_at)
        )
        due = first.scalar_one_or_none()
        if due is not None:
            await publish(
                conn,
                kit.outbox,
                style_number,
                events_pb2.NewStyleReceived(
                    style_number=style_number,
                    name=name,
                    receipt_id=receipt.receipt_id,
                    photos_due_at=to_timestamp(due),
                ),
            )


async def open_receipts(conn: AsyncConnection) -> list[Receipt]:
    ids = (
        await conn.execute(
            sa.select(receipts.c.receipt_id)
            .where(receipts.c.status == ReceiptStatus.OPEN.value)
            .order_by(receipts.c.created_at)
        )
    ).scalars()
    return [await get(conn, str(rid)) for rid in ids]


@dataclass(frozen=True)
class NewStyle:
    style_number: str
    name: str
    receipt_id: str
    received_at: datetime
    photos_due_at: datetime
    published_at: datetime | None


async def new_styles(conn: AsyncConnection, *, unpublished_only: bool) -> list[NewStyle]:
    query = sa.select(styles).order_by(styles.c.photos_due_at)
    if unpublished_only:
        query = query.where(styles.c.published_at.is_(None))
    return [
        NewStyle(
            r.style_number, r.name, str(r.first_receipt_id), r.received_at, r.photos_due_at, r.published_at
        )
        for r in (await conn.execute(query)).all()
    ]


async def mark_published(conn: AsyncConnection, style_number: str, *, actor: str) -> NewStyle:
    row = (
        await conn.execute(
            styles.update()
            .where(styles.c.style_number == style_number)
            .values(
                published_at=sa.func.coalesce(styles.c.published_at, sa.func.now()),
                published_by=sa.func.coalesce(styles.c.published_by, actor),
            )
            .returning(styles)
        )
    ).first()
    if row is None:
        raise NotFound.for_field(
            "style_number", f"style {style_number!r} has not been received", reason="STYLE_NOT_FOUND"
        )
    return NewStyle(
        row.style_number,
        row.name,
        str(row.first_receipt_id),
        row.received_at,
        row.photos_due_at,
        row.published_at,
    )
