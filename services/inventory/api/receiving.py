"""The receiving RPCs of InventoryService (INV-3 .. INV-7)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shop.inventory.v1 import inventory_pb2 as pb
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.db import Database
from libs.errors import FailedPrecondition, InvalidArgument
from libs.idempotency import transact_once
from libs.telemetry import set_attributes
from libs.timestamps import to_timestamp
from services.inventory.domain import receiving
from services.inventory.domain.receiving import InspectionRound, Receipt, ReceiptStatus, Verdict
from services.inventory.store import receipts
from services.inventory.store.receipts import NewStyle
from services.inventory.store.tables import kit

RECEIPT_CREATORS = ("stock_keeper", "warehouse_supervisor", "purchasing")
COUNTERS = ("stock_keeper",)
INSPECTORS = ("qc_inspector",)
POSTERS = ("stock_keeper", "warehouse_supervisor")
PUBLISHERS = ("promoter", "supervisor")
DEFAULT_WAREHOUSE = "MAIN"

_STATUS = {
    ReceiptStatus.OPEN: pb.RECEIPT_STATUS_OPEN,
    ReceiptStatus.POSTED: pb.RECEIPT_STATUS_POSTED,
    ReceiptStatus.REJECTED: pb.RECEIPT_STATUS_REJECTED,
}
_VERDICT = {
    Verdict.AWAITING_COUNT: pb.QC_VERDICT_AWAITING_COUNT,
    Verdict.AWAITING_ROUND_1: pb.QC_VERDICT_AWAITING_ROUND_1,
    Verdict.AWAITING_ROUND_2: pb.QC_VERDICT_AWAITING_ROUND_2,
    Verdict.AWAITING_FULL_INSPECTION: pb.QC_VERDICT_AWAITING_FULL_INSPECTION,
    Verdict.ACCEPTED: pb.QC_VERDICT_ACCEPTED,
    Verdict.PARTLY_ACCEPTED: pb.QC_VERDICT_PARTLY_ACCEPTED,
    Verdict.REJECT_DELIVERY: pb.QC_VERDICT_REJECT_DELIVERY,
}
_ROUND = {
    pb.INSPECTION_ROUND_1: InspectionRound.ROUND_1,
    pb.INSPECTION_ROUND_2: InspectionRound.ROUND_2,
    pb.INSPECTION_ROUND_FULL: InspectionRound.FULL,
}


def receipt_to_pb(receipt: Receipt, now: datetime) -> pb.Receipt:
    out = pb.Receipt(
        receipt_id=receipt.receipt_id,
        supplier_code=receipt.supplier_code,
        delivery_note_number=receipt.delivery_note_number,
        warehouse_code=receipt.warehouse_code,
        status=_STATUS[receipt.status],
        signatures=[pb.ReceiptSignature(role=r, user_id=u) for r, u in sorted(receipt.signatures.items())],
        created_at=to_timestamp(receipt.created_at),
        delivery_rejected=receiving.delivery_rejected(list(receipt.lines)),
        overdue=receipt.status is ReceiptStatus.OPEN and receiving.is_overdue(receipt.created_at, now),
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
            verdict=_VERDICT[line.verdict],
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


def _line(receipt: Receipt, line_no: int, field: str) -> receiving.ReceiptLine:
    for line in receipt.lines:
        if line.line_no == line_no:
            return line
    raise InvalidArgument.for_field(field, f"the receipt has no line {line_no}")


class ReceivingApi:
    """Mixed into InventoryServicer."""

    db: Database

    async def CreateReceipt(self, request: pb.CreateReceiptRequest, context: Any) -> pb.CreateReceiptResponse:
        caller = identity.require_role(*RECEIPT_CREATORS)
        supplier, note, warehouse = receiving.new_receipt_header(
            request.supplier_code, request.delivery_note_number, request.warehouse_code or DEFAULT_WAREHOUSE
        )
        lines = receiving.new_lines([(line.sku_code, line.expected_quantity) for line in request.lines])

        async def create(conn: AsyncConnection) -> pb.CreateReceiptResponse:
            receipt = await receipts.create(
                conn,
                supplier_code=supplier,
                delivery_note_number=note,
                warehouse_code=warehouse,
                lines=lines,
                actor=caller.subject,
            )
            set_attributes(receipt_id=receipt.receipt_id)
            return pb.CreateReceiptResponse(receipt=receipt_to_pb(receipt, datetime.now(UTC)))

        return await transact_once(
            self.db, kit.idempotency, operation="CreateReceipt", request_id=request.request_id,
            request=request, response_type=pb.CreateReceiptResponse, perform=create,
        )  # fmt: skip

    async def RecordReceivedCounts(
        self, request: pb.RecordReceivedCountsRequest, context: Any
    ) -> pb.RecordReceivedCountsResponse:
        identity.require_role(*COUNTERS)
        set_attributes(receipt_id=request.receipt_id)
        if not request.counts:
            raise InvalidArgument.for_field("counts", "record at least one line's count")
        async with self.db.transaction() as conn:
            receipt = await receipts.get(conn, request.receipt_id, lock=True)
            receipt.require_open()
            for i, count in enumerate(request.counts):
                field = f"counts[{i}].received_quantity"
                line = _line(receipt, count.line_no, f"counts[{i}].line_no")
                await receipts.save_line(
                    conn,
                    receipt.receipt_id,
                    receiving.record_count(line, count.received_quantity, field=field),
                )
            receipt = await receipts.get(conn, request.receipt_id)
        return pb.RecordReceivedCountsResponse(receipt=receipt_to_pb(receipt, datetime.now(UTC)))

    async def RecordInspection(
        self, request: pb.RecordInspectionRequest, context: Any
    ) -> pb.RecordInspectionResponse:
        identity.require_role(*INSPECTORS)
        set_attributes(receipt_id=request.receipt_id)
        if not request.results:
            raise InvalidArgument.for_field("results", "record at least one inspection result")

        async def record(conn: AsyncConnection) -> pb.RecordInspectionResponse:
            receipt = await receipts.get(conn, request.receipt_id, lock=True)
            receipt.require_open()
            lines = {line.line_no: line for line in receipt.lines}
            for i, result in enumerate(request.results):
                prefix = f"results[{i}]"
                round_ = _ROUND.get(result.round)
                if round_ is None:
                    raise InvalidArgument.for_field(f"{prefix}.round", "must be round 1, round 2 or full")
                line = lines.get(result.line_no) or _line(receipt, result.line_no, f"{prefix}.line_no")
                lines[line.line_no] = receiving.record_inspection(
                    line, round_, result.inspected_units, result.failed_units, prefix=prefix
                )
            for line in lines.values():
                await receipts.save_line(conn, receipt.receipt_id, line)
            receipt = await receipts.get(conn, request.receipt_id)
            return pb.RecordInspectionResponse(receipt=receipt_to_pb(receipt, datetime.now(UTC)))

        return await transact_once(
            self.db, kit.idempotency, operation="RecordInspection", request_id=request.request_id,
            request=request, response_type=pb.RecordInspectionResponse, perform=record,
        )  # fmt: skip

    async def SignReceipt(self, request: pb.SignReceiptRequest, context: Any) -> pb.SignReceiptResponse:
        if request.role not in receiving.SIGNING_ROLES:
            raise InvalidArgument.for_field("role", "must be warehouse_supervisor or stock_keeper")
        caller = identity.require_role(request.role)
        set_attributes(receipt_id=request.receipt_id)
        async with self.db.transaction() as conn:
            receipt = await receipts.get(conn, request.receipt_id, lock=True)
            receipt.require_open()
            receiving.check_signature(receipt.signatures, request.role, caller.subject)
            await receipts.sign(conn, receipt.receipt_id, request.role, caller.subject)
            receipt = await receipts.get(conn, request.receipt_id)
        return pb.SignReceiptResponse(receipt=receipt_to_pb(receipt, datetime.now(UTC)))

    async def PostReceipt(self, request: pb.PostReceiptRequest, context: Any) -> pb.PostReceiptResponse:
        caller = identity.require_role(*POSTERS)
        set_attributes(receipt_id=request.receipt_id)

        async def post(conn: AsyncConnection) -> pb.PostReceiptResponse:
            receipt = await receipts.get(conn, request.receipt_id, lock=True)
            receipt.require_open()
            missing = [role for role in receiving.SIGNING_ROLES if role not in receipt.signatures]
            if missing:
                raise FailedPrecondition.for_field(
                    "signatures", f"posting needs the signature of the {' and the '.join(missing)} (INV-5)",
                    reason="SIGNATURE_MISSING",
                )  # fmt: skip
            posted = await receipts.post(conn, receipt, actor=caller.subject)
            return pb.PostReceiptResponse(receipt=receipt_to_pb(posted, datetime.now(UTC)))

        return await transact_once(
            self.db, kit.idempotency, operation="PostReceipt", request_id=request.request_id,
            request=request, response_type=pb.PostReceiptResponse, perform=post,
        )  # fmt: skip

    async def GetReceipt(self, request: pb.GetReceiptRequest, context: Any) -> pb.GetReceiptResponse:
        identity.current()
        async with self.db.connection() as conn:
            receipt = await receipts.get(conn, request.receipt_id)
        return pb.GetReceiptResponse(receipt=receipt_to_pb(receipt, datetime.now(UTC)))

    async def ListOverdueReceipts(
        self, request: pb.ListOverdueReceiptsRequest, context: Any
    ) -> pb.ListOverdueReceiptsResponse:
        identity.current()
        now = datetime.now(UTC)
        async with self.db.connection() as conn:
            found = await receipts.open_receipts(conn)
        return pb.ListOverdueReceiptsResponse(
            receipts=[receipt_to_pb(r, now) for r in found if receiving.is_overdue(r.created_at, now)]
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
        caller = identity.require_role(*PUBLISHERS)
        async with self.db.transaction() as conn:
            style = await receipts.mark_published(conn, request.style_number, actor=caller.subject)
        return pb.MarkStylePublishedResponse(style=style_to_pb(style, datetime.now(UTC)))
