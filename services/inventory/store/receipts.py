"""The receipt repository (INV-3 .. INV-7): loads receipts and saves what their commands did.

Saving a receipt writes, in the caller's transaction, its lots, its ledger postings (``ledger.post``, the
only way stock moves), its lines, header and signatures, the styles it received first, and its events to
the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.db import advisory_lock_key
from libs.errors import AlreadyExists, NotFound
from libs.outbox import publish
from libs.upsert import insert
from services.inventory.domain.receipts import Receipt, ReceiptStatus, SkuStyle
from services.inventory.domain.receiving import ReceiptLine
from services.inventory.store import ledger
from services.inventory.store.tables import kit, receipt_lines, receipt_signatures, receipts, skus, styles


def _uuid(receipt_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(receipt_id)
    except ValueError:
        raise NotFound.for_field(
            "receipt_id", f"no receipt {receipt_id!r}", reason="RECEIPT_NOT_FOUND"
        ) from None


async def add(conn: AsyncConnection, receipt: Receipt) -> None:
    """Stores a new receipt; the same note of the same supplier only once (ALREADY_EXISTS)."""
    rid = _uuid(receipt.receipt_id)
    created = await conn.execute(
        insert(receipts)
        .values(
            receipt_id=rid,
            supplier_code=receipt.supplier_code,
            delivery_note_number=receipt.delivery_note_number,
            warehouse_code=receipt.warehouse_code,
            status=receipt.status.value,
            created_by=receipt.created_by,
            created_at=receipt.created_at,
        )
        .on_conflict_do_nothing()
        .returning(receipts.c.receipt_id)
    )
    if created.first() is None:
        raise AlreadyExists.for_field(
            "delivery_note_number",
            f"delivery note {receipt.delivery_note_number} of {receipt.supplier_code} is already registered",
        )
    await conn.execute(
        receipt_lines.insert(),
        [
            {"receipt_id": rid, "line_no": line.line_no, "sku_code": line.sku_code, "expected": line.expected}
            for line in receipt.lines
        ],
    )
    await save(conn, receipt)


async def load(conn: AsyncConnection, receipt_id: str, *, lock: bool = False) -> Receipt:
    """The receipt; ``lock`` holds its row until the transaction ends. NOT_FOUND names ``receipt_id``."""
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
                lot_id=r.lot_id,
                defective_lot_id=r.defective_lot_id,
            )
            for r in rows
        ),
        signatures={r.role: r.user_id for r in signed},
        created_at=head.created_at,
        created_by=head.created_by,
        posted_at=head.posted_at,
        posted_by=head.posted_by,
    )


async def styles_for_posting(conn: AsyncConnection, receipt: Receipt) -> tuple[dict[str, SkuStyle], set[str]]:
    """The style and name of each SKU of the receipt, and which of their styles were received before.

    The styles are locked (transaction-scoped advisory locks, in style order) before they are read, so two
    receipts posted at once cannot both announce the same style as new (INV-7).
    """
    rows = (
        await conn.execute(
            sa.select(skus.c.sku_code, skus.c.style_number, skus.c.name).where(
                skus.c.sku_code.in_(receipt.sku_codes)
            )
        )
    ).all()
    by_sku = {r.sku_code: SkuStyle(r.style_number, r.name) for r in rows}
    style_numbers = sorted({style.style_number for style in by_sku.values()})
    for style_number in style_numbers:
        await conn.execute(
            sa.select(sa.func.pg_advisory_xact_lock(advisory_lock_key(f"inventory.style:{style_number}")))
        )
    received = (
        await conn.execute(sa.select(styles.c.style_number).where(styles.c.style_number.in_(style_numbers)))
    ).scalars()
    return by_sku, set(received)


async def save(conn: AsyncConnection, receipt: Receipt) -> None:
    """Writes what the receipt's commands did: lots, ledger postings, lines, header, signatures, first
    receipts of styles, and the events for the outbox."""
    rid = _uuid(receipt.receipt_id)
    changes = receipt.take_changes()
    for lot in changes.new_lots:
        await ledger.new_lot(
            conn,
            lot_id=lot.lot_id,
            label_id=lot.label_id,
            sku_code=lot.sku_code,
            quantity=lot.quantity,
            document_type=lot.document_type,
            document_id=lot.document_id,
        )
    for posting in receipt.take_postings():
        await ledger.post(conn, posting.movements, actor=posting.actor, field=posting.field)
    await _save_lines(conn, rid, changes.lines)
    await conn.execute(
        receipts.update()
        .where(receipts.c.receipt_id == rid)
        .values(status=receipt.status.value, posted_by=receipt.posted_by, posted_at=receipt.posted_at)
    )
    if receipt.signatures:
        await conn.execute(
            insert(receipt_signatures)
            .values(
                [
                    {"receipt_id": rid, "role": role, "user_id": user_id}
                    for role, user_id in sorted(receipt.signatures.items())
                ]
            )
            .on_conflict_do_nothing(
                index_elements=[receipt_signatures.c.receipt_id, receipt_signatures.c.role]
            )
        )
    for first in changes.first_receipts:
        await conn.execute(
            insert(styles)
            .values(
                style_number=first.style_number,
                name=first.name,
                first_receipt_id=_uuid(first.receipt_id),
                received_at=first.received_at,
                photos_due_at=first.photos_due_at,
            )
            .on_conflict_do_nothing()
        )
    for pending in receipt.take_events():
        await publish(conn, kit.outbox, pending.key, pending.event)


async def _save_lines(conn: AsyncConnection, rid: uuid.UUID, lines: Sequence[ReceiptLine]) -> None:
    for line in lines:
        await conn.execute(
            receipt_lines.update()
            .where(receipt_lines.c.receipt_id == rid, receipt_lines.c.line_no == line.line_no)
            .values(
                received=line.received,
                round1_inspected=line.round1_inspected,
                round1_failed=line.round1_failed,
                round2_inspected=line.round2_inspected,
                round2_failed=line.round2_failed,
                full_good=line.full_good,
                full_defective=line.full_defective,
                lot_id=line.lot_id,
                defective_lot_id=line.defective_lot_id,
            )
        )


async def open_receipts(conn: AsyncConnection) -> list[Receipt]:
    """Receipts not yet posted, oldest first (INV-5: those past their business day are overdue)."""
    ids = (
        await conn.execute(
            sa.select(receipts.c.receipt_id)
            .where(receipts.c.status == ReceiptStatus.OPEN.value)
            .order_by(receipts.c.created_at)
        )
    ).scalars()
    return [await load(conn, str(rid)) for rid in ids]


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
