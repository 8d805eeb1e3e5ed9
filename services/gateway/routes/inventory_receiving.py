"""Inventory routes: receiving (入库) from delivery note to stock, with QC sampling and two signatures
(INV-3 .. INV-5), and the new styles whose photos are due (INV-7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, BaseModel, Field
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError
from shop.inventory.v1 import inventory_pb2 as pb

from libs.grpc_client import call
from services.gateway.auth import Caller
from services.gateway.routes.common import (
    IdempotencyKey,
    Int64,
    StrictBody,
    request_id,
    request_id_field,
    upstreams,
    utc,
)

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def _fits_int32(value: int) -> int:
    if not INT32_MIN <= value <= INT32_MAX:
        raise PydanticCustomError("int32_range", "must fit a signed 32-bit integer")
    return value


Int32 = Annotated[int, AfterValidator(_fits_int32), WithJsonSchema({"type": "integer", "format": "int32"})]
"""A JSON integer that fits the protobuf int32 it is sent as (line numbers, days)."""

ReceiptStatusName = Literal["open", "posted", "rejected"]
_STATUS_FROM_PB: dict[pb.ReceiptStatus.ValueType, ReceiptStatusName] = {
    pb.RECEIPT_STATUS_OPEN: "open",
    pb.RECEIPT_STATUS_POSTED: "posted",
    pb.RECEIPT_STATUS_REJECTED: "rejected",
}
QcVerdictName = Literal[
    "awaiting_count",
    "awaiting_round_1",
    "awaiting_round_2",
    "awaiting_full_inspection",
    "accepted",
    "partly_accepted",
    "reject_delivery",
]
_VERDICT_FROM_PB: dict[pb.QcVerdict.ValueType, QcVerdictName] = {
    pb.QC_VERDICT_AWAITING_COUNT: "awaiting_count",
    pb.QC_VERDICT_AWAITING_ROUND_1: "awaiting_round_1",
    pb.QC_VERDICT_AWAITING_ROUND_2: "awaiting_round_2",
    pb.QC_VERDICT_AWAITING_FULL_INSPECTION: "awaiting_full_inspection",
    pb.QC_VERDICT_ACCEPTED: "accepted",
    pb.QC_VERDICT_PARTLY_ACCEPTED: "partly_accepted",
    pb.QC_VERDICT_REJECT_DELIVERY: "reject_delivery",
}
InspectionRoundName = Literal["round_1", "round_2", "full"]
_ROUND_TO_PB: dict[InspectionRoundName, pb.InspectionRound.ValueType] = {
    "round_1": pb.INSPECTION_ROUND_1,
    "round_2": pb.INSPECTION_ROUND_2,
    "full": pb.INSPECTION_ROUND_FULL,
}
SigningRole = Literal["stock_keeper", "warehouse_supervisor"]


class ExpectedLineBody(StrictBody):
    sku_code: str
    expected_quantity: Int64 = Field(description="Units on the delivery note, 0 or more.")


class CreateReceiptBody(StrictBody):
    request_id: str | None = request_id_field()
    supplier_code: str
    delivery_note_number: str = Field(description="One receipt per supplier and note number.")
    warehouse_code: str = Field(default="MAIN", description="A sellable warehouse.")
    lines: list[ExpectedLineBody] = Field(description="The SKU lines of the delivery note, each SKU once.")


class ReceivedCountBody(StrictBody):
    line_no: Int32
    received_quantity: Int64 = Field(description="Units counted on arrival, 0 or more.")


class RecordCountsBody(StrictBody):
    counts: list[ReceivedCountBody] = Field(description="At least one line; recounting is allowed until QC.")


class InspectionResultBody(StrictBody):
    line_no: Int32
    round: InspectionRoundName = Field(description="The sampling round: round_1, round_2 or full.")
    inspected_units: Int64 = Field(description="As the line's plan says: its round plan or, for full, all.")
    failed_units: Int64 = Field(description="Units of those that failed, 0 up to inspected_units.")


class RecordInspectionBody(StrictBody):
    request_id: str | None = request_id_field()
    results: list[InspectionResultBody]


class SignReceiptBody(StrictBody):
    role: SigningRole = Field(description="The role signed in; the caller must hold it (INV-5).")


class PostReceiptBody(StrictBody):
    request_id: str | None = request_id_field()


class ReceiptLineOut(BaseModel):
    line_no: int
    sku_code: str
    expected_quantity: int
    received_quantity: int | None = Field(description="Null until counted.")
    variance: int = Field(description="received - expected: negative is a shortage; 0 until counted.")
    round1_plan: int = Field(description="Units to inspect in round 1: 10% rounded up, at least 1.")
    round2_plan: int = Field(description="Units to inspect in round 2, if it is needed.")
    round1_inspected: int
    round1_failed: int
    round2_inspected: int
    round2_failed: int
    full_good: int | None = Field(description="Null until every unit is inspected.")
    full_defective: int | None = Field(description="Null until every unit is inspected.")
    verdict: QcVerdictName
    accepted_units: int = Field(description="Units stocked in the receipt's warehouse when posted.")
    defective_units: int = Field(description="Units for the defective-goods warehouse when posted.")


class SignatureOut(BaseModel):
    role: str
    user_id: str


class ReceiptOut(BaseModel):
    receipt_id: str
    supplier_code: str
    delivery_note_number: str
    warehouse_code: str
    status: ReceiptStatusName
    lines: list[ReceiptLineOut]
    signatures: list[SignatureOut]
    created_at: datetime
    posted_at: datetime | None = Field(description="Null while open.")
    delivery_rejected: bool = Field(description="A line failed sampling: posting rejects the whole delivery.")
    overdue: bool = Field(description="Still open after its business day (INV-5).")


class ReceiptsOut(BaseModel):
    receipts: list[ReceiptOut]


class NewStyleOut(BaseModel):
    style_number: str
    name: str
    receipt_id: str = Field(description="The receipt that brought the style in for the first time.")
    received_at: datetime
    photos_due_at: datetime = Field(description="3 days after the receipt was posted (INV-7).")
    published_at: datetime | None = Field(description="Null until the photos are published.")
    overdue: bool


class NewStylesOut(BaseModel):
    styles: list[NewStyleOut] = Field(description="Soonest photo deadline first.")


def _line_out(line: pb.ReceiptLine) -> ReceiptLineOut:
    return ReceiptLineOut(
        line_no=line.line_no,
        sku_code=line.sku_code,
        expected_quantity=line.expected_quantity,
        received_quantity=line.received_quantity if line.HasField("received_quantity") else None,
        variance=line.variance,
        round1_plan=line.round1_plan,
        round2_plan=line.round2_plan,
        round1_inspected=line.round1_inspected,
        round1_failed=line.round1_failed,
        round2_inspected=line.round2_inspected,
        round2_failed=line.round2_failed,
        full_good=line.full_good if line.HasField("full_good") else None,
        full_defective=line.full_defective if line.HasField("full_defective") else None,
        verdict=_VERDICT_FROM_PB[line.verdict],
        accepted_units=line.accepted_units,
        defective_units=line.defective_units,
    )


def _receipt_out(receipt: pb.Receipt) -> ReceiptOut:
    return ReceiptOut(
        receipt_id=receipt.receipt_id,
        supplier_code=receipt.supplier_code,
        delivery_note_number=receipt.delivery_note_number,
        warehouse_code=receipt.warehouse_code,
        status=_STATUS_FROM_PB[receipt.status],
        lines=[_line_out(line) for line in receipt.lines],
        signatures=[SignatureOut(role=s.role, user_id=s.user_id) for s in receipt.signatures],
        created_at=utc(receipt.created_at),
        posted_at=utc(receipt.posted_at) if receipt.HasField("posted_at") else None,
        delivery_rejected=receipt.delivery_rejected,
        overdue=receipt.overdue,
    )


def _style_out(style: pb.NewStyle) -> NewStyleOut:
    return NewStyleOut(
        style_number=style.style_number,
        name=style.name,
        receipt_id=style.receipt_id,
        received_at=utc(style.received_at),
        photos_due_at=utc(style.photos_due_at),
        published_at=utc(style.published_at) if style.HasField("published_at") else None,
        overdue=style.overdue,
    )


@router.post("/receipts", status_code=201, response_model=ReceiptOut)
async def create_receipt(
    body: CreateReceiptBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> ReceiptOut:
    """Registers a supplier delivery from its delivery note (INV-3; stock keepers, warehouse supervisors,
    purchasing)."""
    reply = await call(
        upstreams(request).inventory.CreateReceipt,
        pb.CreateReceiptRequest(
            request_id=request_id(body.request_id, idempotency_key),
            supplier_code=body.supplier_code,
            delivery_note_number=body.delivery_note_number,
            warehouse_code=body.warehouse_code,
            lines=[
                pb.ExpectedLine(sku_code=line.sku_code, expected_quantity=line.expected_quantity)
                for line in body.lines
            ],
        ),
        caller=caller,
    )
    return _receipt_out(reply.receipt)


# Declared before /receipts/{receipt_id}, which would otherwise take "overdue" for a receipt id.
@router.get("/receipts/overdue", response_model=ReceiptsOut)
async def list_overdue_receipts(request: Request, caller: Caller) -> ReceiptsOut:
    """Receipts still unposted after their business day (INV-5), oldest first."""
    reply = await call(
        upstreams(request).inventory.ListOverdueReceipts, pb.ListOverdueReceiptsRequest(), caller=caller
    )
    return ReceiptsOut(receipts=[_receipt_out(r) for r in reply.receipts])


@router.get("/receipts/{receipt_id}", response_model=ReceiptOut)
async def get_receipt(receipt_id: str, request: Request, caller: Caller) -> ReceiptOut:
    """One receipt with its lines, sampling plans, verdicts and signatures."""
    reply = await call(
        upstreams(request).inventory.GetReceipt, pb.GetReceiptRequest(receipt_id=receipt_id), caller=caller
    )
    return _receipt_out(reply.receipt)


@router.post("/receipts/{receipt_id}/counts", response_model=ReceiptOut)
async def record_received_counts(
    receipt_id: str, body: RecordCountsBody, request: Request, caller: Caller
) -> ReceiptOut:
    """Records the counted units per line; shortages and overages are kept (INV-3) and each line shows
    its sampling plan (INV-4). Stock keepers only."""
    reply = await call(
        upstreams(request).inventory.RecordReceivedCounts,
        pb.RecordReceivedCountsRequest(
            receipt_id=receipt_id,
            counts=[
                pb.ReceivedCount(line_no=c.line_no, received_quantity=c.received_quantity)
                for c in body.counts
            ],
        ),
        caller=caller,
    )
    return _receipt_out(reply.receipt)


@router.post("/receipts/{receipt_id}/inspections", response_model=ReceiptOut)
async def record_inspection(
    receipt_id: str,
    body: RecordInspectionBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> ReceiptOut:
    """Records quality-inspection results, round by round; each line shows its verdict (INV-4). QC
    inspectors only."""
    reply = await call(
        upstreams(request).inventory.RecordInspection,
        pb.RecordInspectionRequest(
            request_id=request_id(body.request_id, idempotency_key),
            receipt_id=receipt_id,
            results=[
                pb.InspectionResult(
                    line_no=r.line_no,
                    round=_ROUND_TO_PB[r.round],
                    inspected_units=r.inspected_units,
                    failed_units=r.failed_units,
                )
                for r in body.results
            ],
        ),
        caller=caller,
    )
    return _receipt_out(reply.receipt)


@router.post("/receipts/{receipt_id}/signatures", response_model=ReceiptOut)
async def sign_receipt(
    receipt_id: str, body: SignReceiptBody, request: Request, caller: Caller
) -> ReceiptOut:
    """Signs a receipt as stock keeper or warehouse supervisor; the two signatures must come from two
    different people (INV-5)."""
    reply = await call(
        upstreams(request).inventory.SignReceipt,
        pb.SignReceiptRequest(receipt_id=receipt_id, role=body.role),
        caller=caller,
    )
    return _receipt_out(reply.receipt)


@router.post("/receipts/{receipt_id}/post", response_model=ReceiptOut)
async def post_receipt(
    receipt_id: str,
    request: Request,
    caller: Caller,
    body: PostReceiptBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> ReceiptOut:
    """Posts a signed, fully inspected receipt: accepted units become lots in the receiving area,
    defective units go to the defective-goods warehouse, and a delivery that failed sampling is rejected
    whole (INV-4, INV-5). Stock keepers and warehouse supervisors."""
    reply = await call(
        upstreams(request).inventory.PostReceipt,
        pb.PostReceiptRequest(
            request_id=request_id(body.request_id if body else None, idempotency_key),
            receipt_id=receipt_id,
        ),
        caller=caller,
    )
    return _receipt_out(reply.receipt)


@router.get("/new-styles", response_model=NewStylesOut)
async def list_new_styles(
    request: Request,
    caller: Caller,
    overdue_only: Annotated[bool, Query(description="Only styles whose photos are past due.")] = False,
) -> NewStylesOut:
    """Styles received for the first time and their photo deadline, overdue ones flagged (INV-7)."""
    reply = await call(
        upstreams(request).inventory.ListNewStyles,
        pb.ListNewStylesRequest(overdue_only=overdue_only),
        caller=caller,
    )
    return NewStylesOut(styles=[_style_out(s) for s in reply.styles])


@router.post("/new-styles/{style_number}/published", response_model=NewStyleOut)
async def mark_style_published(style_number: str, request: Request, caller: Caller) -> NewStyleOut:
    """Records that a new style's photos are published (INV-7; promoters and supervisors). Again changes
    nothing."""
    reply = await call(
        upstreams(request).inventory.MarkStylePublished,
        pb.MarkStylePublishedRequest(style_number=style_number),
        caller=caller,
    )
    return _style_out(reply.style)
