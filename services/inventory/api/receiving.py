"""The receiving RPCs of InventoryService (INV-3 .. INV-7): decode, load, command, save, encode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shop.inventory.v1 import inventory_pb2 as pb

from libs import identity
from libs.db import Database
from libs.grpc_errors import required
from libs.telemetry import set_attributes
from libs.timestamps import to_timestamp
from services.inventory.api.enums import INSPECTION_STAGE, QC_VERDICT, RECEIPT_STATUS
from services.inventory.domain import receipts as receipt_rules
from services.inventory.domain import receiving
from services.inventory.domain.places import warehouse_or_default
from services.inventory.domain.receipts import InspectionResult, Receipt
from services.inventory.store import catalogue, receipts
from services.inventory.store.receipts import NewStyle


def receipt_to_pb(receipt: Receipt, now: datetime) -> pb.Receipt:
    out = pb.Receipt(
        receipt_id=receipt.receipt_id,
        supplier_code=receipt.supplier_code,
        delivery_note_number=receipt.delivery_note_number,
        warehouse_code=receipt.warehouse_code,
        status=RECEIPT_STATUS.to_pb(receipt.status),
        signatures=[pb.ReceiptSignature(role=r, user_id=u) for r, u in sorted(receipt.signatures.items())],
        created_at=to_timestamp(receipt.created_at),
        delivery_rejected=receipt.delivery_rejected,
        overdue=receipt.overdue(now),
    )
    if receipt.posted_at is not None:
        out.posted_at.CopyFrom(to_timestamp(receipt.posted_at))
    for line in receipt.lines:
        pl = pb.ReceiptLine(
            line_no=line.line_no,
            sku_code=line.sku_code,
            expected_quantity=line.expected,
            variance=line.variance or 0,
            round1_plan=line.round1_plan,
            round2_plan=line.round2_plan,
            round1_inspected=line.round1_inspected,
            round1_failed=line.round1_failed,
            round2_inspected=line.round2_inspected,
            round2_failed=line.round2_failed,
            verdict=QC_VERDICT.to_pb(line.verdict),
            accepted_units=line.accepted_units,
            defective_units=line.defective_units,
        )
        if line.received is not None:
            pl.received_quantity = line.received
        if line.full_good is not None:
            pl.full_good = line.full_good
            pl.full_defective = line.full_defective or 0
        out.lines.append(pl)
    return out


def style_to_pb(style: NewStyle, now: datetime) -> pb.NewStyle:
    out = pb.NewStyle(
        style_number=style.style_number,
        name=style.name,
        receipt_id=style.receipt_id,
        received_at=to_timestamp(style.received_at),
        photos_due_at=to_timestamp(style.photos_due_at),
        overdue=receiving.photos_overdue(style.received_at, style.published_at, now),
    )
    if style.published_at is not None:
        out.published_at.CopyFrom(to_timestamp(style.published_at))
    return out


class ReceivingApi:
    """Mixed into InventoryServicer."""

    db: Database

    async def CreateReceipt(self, request: pb.CreateReceiptRequest, context: Any) -> pb.CreateReceiptResponse:
        caller = identity.current()
        required(request.lines, "lines", "expected_quantity")
        note = receipt_rules.delivery_note(
            request.supplier_code,
            request.delivery_note_number,
            warehouse_or_default(request.warehouse_code),
            [(line.sku_code, line.expected_quantity) for line in request.lines],
        )
        async with self.db.transaction() as conn:
            sellable = await catalogue.warehouse_sellable(conn, note.warehouse_code)
            unknown = await catalogue.unknown_skus(conn, note.sku_codes)
            receipt = Receipt.register(
                note,
                receipt_id=str(uuid.uuid4()),
                warehouse_sellable=sellable,
                unknown_skus=unknown,
                actor=caller.subject,
                now=datetime.now(UTC),
            )
            set_attributes(receipt_id=receipt.receipt_id)
            await receipts.add(conn, receipt)
        return pb.CreateReceiptResponse(receipt=receipt_to_pb(receipt, datetime.now(UTC)))

    async def RecordReceivedCounts(
        self, request: pb.RecordReceivedCountsRequest, context: Any
    ) -> pb.RecordReceivedCountsResponse:
        set_attributes(receipt_id=request.receipt_id)
        required(request.counts, "counts", "received_quantity")
        async with self.db.transaction() as conn:
            receipt = await receipts.load(conn, request.receipt_id, lock=True)
            receipt.record_counts([(c.line_no, c.received_quantity) for c in request.counts])
            await receipts.save(conn, receipt)
        return pb.RecordReceivedCountsResponse(receipt=receipt_to_pb(receipt, datetime.now(UTC)))

    async def RecordInspection(
        self, request: pb.RecordInspectionRequest, context: Any
    ) -> pb.RecordInspectionResponse:
        set_attributes(receipt_id=request.receipt_id)
        required(request.results, "results", "inspected_units", "failed_units")
        results = [
            InspectionResult(
                line_no=r.line_no,
                stage=INSPECTION_STAGE.from_pb(r.round, field=f"results[{i}].round"),
                inspected_units=r.inspected_units,
                failed_units=r.failed_units,
            )
            for i, r in enumerate(request.results)
        ]
        async with self.db.transaction() as conn:
            receipt = await receipts.load(conn, request.receipt_id, lock=True)
            receipt.record_inspection(results)
            await receipts.save(conn, receipt)
        return pb.RecordInspectionResponse(receipt=receipt_to_pb(receipt, datetime.now(UTC)))

    async def SignReceipt(self, request: pb.SignReceiptRequest, context: Any) -> pb.SignReceiptResponse:
        caller = identity.current()
        set_attributes(receipt_id=request.receipt_id)
        async with self.db.transaction() as conn:
            receipt = await receipts.load(conn, request.receipt_id, lock=True)
            receipt.sign(request.role, user_id=caller.subject, roles=caller.roles)
            await receipts.save(conn, receipt)
        return pb.SignReceiptResponse(receipt=receipt_to_pb(receipt, datetime.now(UTC)))

    async def PostReceipt(self, request: pb.PostReceiptRequest, context: Any) -> pb.PostReceiptResponse:
        caller = identity.current()
        set_attributes(receipt_id=request.receipt_id)
        async with self.db.transaction() as conn:
            receipt = await receipts.load(conn, request.receipt_id, lock=True)
            styles, received_styles = await receipts.styles_for_posting(conn, receipt)
            now = datetime.now(UTC)
            receipt.post(actor=caller.subject, now=now, styles=styles, received_styles=received_styles)
            await receipts.save(conn, receipt)
        return pb.PostReceiptResponse(receipt=receipt_to_pb(receipt, now))

    async def GetReceipt(self, request: pb.GetReceiptRequest, context: Any) -> pb.GetReceiptResponse:
        identity.current()
        async with self.db.connection() as conn:
            receipt = await receipts.load(conn, request.receipt_id)
        return pb.GetReceiptResponse(receipt=receipt_to_pb(receipt, datetime.now(UTC)))

    async def ListOverdueReceipts(
        self, request: pb.ListOverdueReceiptsRequest, context: Any
    ) -> pb.ListOverdueReceiptsResponse:
        identity.current()
        now = datetime.now(UTC)
        async with self.db.connection() as conn:
            found = await receipts.open_receipts(conn)
        return pb.ListOverdueReceiptsResponse(
            receipts=[receipt_to_pb(r, now) for r in found if r.overdue(now)]
        )

    async def ListNewStyles(self, request: pb.ListNewStylesRequest, context: Any) -> pb.ListNewStylesResponse:
        identity.current()
        now = datetime.now(UTC)
        async with self.db.connection() as conn:
            found = await receipts.new_styles(conn, unpublished_only=request.overdue_only)
        styles = [style_to_pb(s, now) for s in found]
        return pb.ListNewStylesResponse(styles=[s for s in styles if s.overdue or not request.overdue_only])

    async def MarkStylePublished(
        self, request: pb.MarkStylePublishedRequest, context: Any
    ) -> pb.MarkStylePublishedResponse:
        caller = identity.current()
        async with self.db.transaction() as conn:
            style = await receipts.mark_published(conn, request.style_number, actor=caller.subject)
        return pb.MarkStylePublishedResponse(style=style_to_pb(style, datetime.now(UTC)))
