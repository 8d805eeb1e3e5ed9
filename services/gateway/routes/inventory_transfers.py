"""Inventory routes: transfers between warehouses (调拨, INV-12) and sample loans for photos (INV-8)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
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
from services.gateway.routes.inventory_reservations import StockLineBody

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])

TransferStatusName = Literal["requested", "in_transit", "received", "cancelled"]
_STATUS_FROM_PB: dict[pb.TransferStatus.ValueType, TransferStatusName] = {
    pb.TRANSFER_STATUS_REQUESTED: "requested",
    pb.TRANSFER_STATUS_IN_TRANSIT: "in_transit",
    pb.TRANSFER_STATUS_RECEIVED: "received",
    pb.TRANSFER_STATUS_CANCELLED: "cancelled",
}


class RequestTransferBody(StrictBody):
    request_id: str | None = request_id_field()
    from_warehouse_code: str = Field(description="The sending warehouse.")
    to_warehouse_code: str = Field(description="The receiving warehouse, which asks for the stock.")
    lines: list[StockLineBody]


class TransferStepBody(StrictBody):
    request_id: str | None = request_id_field()


class LendSamplesBody(StrictBody):
    request_id: str | None = request_id_field()
    sku_code: str
    warehouse_code: str = "MAIN"
    quantity: Int64 = Field(description="Whole units lent, at least 1.")
    borrower: str = Field(description="Who takes the samples, e.g. the photo studio.")


class TransferLineOut(BaseModel):
    sku_code: str
    quantity: int


class TransferOut(BaseModel):
    transfer_id: str
    from_warehouse_code: str
    to_warehouse_code: str
    status: TransferStatusName
    lines: list[TransferLineOut]
    requested_by: str
    shipped_by: str = Field(description="The sending stock keeper's signature; empty until shipped.")
    received_by: str = Field(description="The receiving stock keeper's signature; empty until received.")
    requested_at: datetime
    shipped_at: datetime | None
    received_at: datetime | None


class LoanOut(BaseModel):
    loan_id: str
    sku_code: str
    style_number: str
    colour: str
    size: str
    warehouse_code: str
    quantity: int
    borrower: str
    returned: bool
    lent_at: datetime
    due_at: datetime = Field(description="7 days after lending; 7 more once extended (INV-8).")
    extended: bool
    overdue: bool
    returned_at: datetime | None


class LoansOut(BaseModel):
    loans: list[LoanOut] = Field(description="Loans not yet back, soonest due first.")


def _transfer_out(transfer: pb.Transfer) -> TransferOut:
    return TransferOut(
        transfer_id=transfer.transfer_id,
        from_warehouse_code=transfer.from_warehouse_code,
        to_warehouse_code=transfer.to_warehouse_code,
        status=_STATUS_FROM_PB[transfer.status],
        lines=[TransferLineOut(sku_code=line.sku_code, quantity=line.quantity) for line in transfer.lines],
        requested_by=transfer.requested_by,
        shipped_by=transfer.shipped_by,
        received_by=transfer.received_by,
        requested_at=utc(transfer.requested_at),
        shipped_at=utc(transfer.shipped_at) if transfer.HasField("shipped_at") else None,
        received_at=utc(transfer.received_at) if transfer.HasField("received_at") else None,
    )


def _loan_out(loan: pb.Loan) -> LoanOut:
    return LoanOut(
        loan_id=loan.loan_id,
        sku_code=loan.sku_code,
        style_number=loan.style_number,
        colour=loan.colour,
        size=loan.size,
        warehouse_code=loan.warehouse_code,
        quantity=loan.quantity,
        borrower=loan.borrower,
        returned=loan.returned,
        lent_at=utc(loan.lent_at),
        due_at=utc(loan.due_at),
        extended=loan.extended,
        overdue=loan.overdue,
        returned_at=utc(loan.returned_at) if loan.HasField("returned_at") else None,
    )


@router.post("/transfers", status_code=201, response_model=TransferOut)
async def request_transfer(
    body: RequestTransferBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> TransferOut:
    """The receiving warehouse requests stock from another warehouse (INV-12; stock keepers only). Nothing
    moves until the sending warehouse ships."""
    reply = await call(
        upstreams(request).inventory.RequestTransfer,
        pb.RequestTransferRequest(
            request_id=request_id(body.request_id, idempotency_key),
            from_warehouse_code=body.from_warehouse_code,
            to_warehouse_code=body.to_warehouse_code,
            lines=[pb.StockLine(sku_code=line.sku_code, quantity=line.quantity) for line in body.lines],
        ),
        caller=caller,
    )
    return _transfer_out(reply.transfer)


@router.get("/transfers/{transfer_id}", response_model=TransferOut)
async def get_transfer(transfer_id: str, request: Request, caller: Caller) -> TransferOut:
    """One transfer."""
    reply = await call(
        upstreams(request).inventory.GetTransfer,
        pb.GetTransferRequest(transfer_id=transfer_id),
        caller=caller,
    )
    return _transfer_out(reply.transfer)


@router.post("/transfers/{transfer_id}/ship", response_model=TransferOut)
async def ship_transfer(
    transfer_id: str,
    request: Request,
    caller: Caller,
    body: TransferStepBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> TransferOut:
    """The sending stock keeper ships and signs: the units leave the sending warehouse, oldest lots first,
    and are in transit, nobody's available stock (INV-12)."""
    reply = await call(
        upstreams(request).inventory.ShipTransfer,
        pb.ShipTransferRequest(
            request_id=request_id(body.request_id if body else None, idempotency_key),
            transfer_id=transfer_id,
        ),
        caller=caller,
    )
    return _transfer_out(reply.transfer)


@router.post("/transfers/{transfer_id}/receive", response_model=TransferOut)
async def receive_transfer(
    transfer_id: str,
    request: Request,
    caller: Caller,
    body: TransferStepBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> TransferOut:
    """The receiving stock keeper, another person than the shipping one, confirms arrival and signs: the
    lots enter the receiving warehouse (INV-12)."""
    reply = await call(
        upstreams(request).inventory.ReceiveTransfer,
        pb.ReceiveTransferRequest(
            request_id=request_id(body.request_id if body else None, idempotency_key),
            transfer_id=transfer_id,
        ),
        caller=caller,
    )
    return _transfer_out(reply.transfer)


@router.post("/transfers/{transfer_id}/cancel", response_model=TransferOut)
async def cancel_transfer(transfer_id: str, request: Request, caller: Caller) -> TransferOut:
    """Cancels a transfer not yet shipped (stock keepers only)."""
    reply = await call(
        upstreams(request).inventory.CancelTransfer,
        pb.CancelTransferRequest(transfer_id=transfer_id),
        caller=caller,
    )
    return _transfer_out(reply.transfer)


@router.post("/loans", status_code=201, response_model=LoanOut)
async def lend_samples(
    body: LendSamplesBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> LoanOut:
    """Lends samples for photography by a transfer document, due back in 7 days (INV-8; stock keepers)."""
    reply = await call(
        upstreams(request).inventory.LendSamples,
        pb.LendSamplesRequest(
            request_id=request_id(body.request_id, idempotency_key),
            sku_code=body.sku_code,
            warehouse_code=body.warehouse_code,
            quantity=body.quantity,
            borrower=body.borrower,
        ),
        caller=caller,
    )
    return _loan_out(reply.loan)


@router.post("/loans/{loan_id}/extend", response_model=LoanOut)
async def extend_loan(loan_id: str, request: Request, caller: Caller) -> LoanOut:
    """Extends a loan once by 7 days (INV-8; stock keepers); a second extension is refused."""
    reply = await call(
        upstreams(request).inventory.ExtendLoan, pb.ExtendLoanRequest(loan_id=loan_id), caller=caller
    )
    return _loan_out(reply.loan)


@router.post("/loans/{loan_id}/return", response_model=LoanOut)
async def return_loan(loan_id: str, request: Request, caller: Caller) -> LoanOut:
    """Books lent samples back into their lots (stock keepers). Returning again changes nothing."""
    reply = await call(
        upstreams(request).inventory.ReturnLoan, pb.ReturnLoanRequest(loan_id=loan_id), caller=caller
    )
    return _loan_out(reply.loan)


@router.get("/loans", response_model=LoansOut)
async def list_loans(
    request: Request,
    caller: Caller,
    overdue_only: Annotated[bool, Query(description="Only loans past due, for recall.")] = False,
) -> LoansOut:
    """Loans not yet back; with overdue_only, those past due (INV-8)."""
    reply = await call(
        upstreams(request).inventory.ListLoans, pb.ListLoansRequest(overdue_only=overdue_only), caller=caller
    )
    return LoansOut(loans=[_loan_out(loan) for loan in reply.loans])
