"""The transfer and sample-loan RPCs of InventoryService (INV-8, INV-12)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shop.inventory.v1 import inventory_pb2 as pb
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.db import Database
from libs.idempotency import transact_once
from libs.telemetry import set_attributes
from libs.timestamps import to_timestamp
from services.inventory.domain.transfers import (
    LoanStatus,
    TransferStatus,
    loan_overdue,
    loan_request,
    transfer_request,
)
from services.inventory.store import loans, transfers
from services.inventory.store.loans import Loan
from services.inventory.store.tables import kit
from services.inventory.store.transfers import Transfer

KEEPERS = ("stock_keeper",)
DEFAULT_WAREHOUSE = "MAIN"
_STATUS = {
    TransferStatus.REQUESTED: pb.TRANSFER_STATUS_REQUESTED,
    TransferStatus.IN_TRANSIT: pb.TRANSFER_STATUS_IN_TRANSIT,
    TransferStatus.RECEIVED: pb.TRANSFER_STATUS_RECEIVED,
    TransferStatus.CANCELLED: pb.TRANSFER_STATUS_CANCELLED,
}


def transfer_to_pb(t: Transfer) -> pb.Transfer:
    out = pb.Transfer(
        transfer_id=t.transfer_id,
        from_warehouse_code=t.from_warehouse,
        to_warehouse_code=t.to_warehouse,
        status=_STATUS[t.status],
        lines=[pb.StockLine(sku_code=line.sku_code, quantity=line.quantity) for line in t.lines],
        requested_by=t.requested_by,
        shipped_by=t.shipped_by or "",
        received_by=t.received_by or "",
        requested_at=to_timestamp(t.requested_at),
    )
    if t.shipped_at:
        out.shipped_at.CopyFrom(to_timestamp(t.shipped_at))
    if t.received_at:
        out.received_at.CopyFrom(to_timestamp(t.received_at))
    return out


def loan_to_pb(loan: Loan, now: datetime) -> pb.Loan:
    out = pb.Loan(
        loan_id=loan.loan_id,
        sku_code=loan.sku_code,
        style_number=loan.style_number,
        colour=loan.colour,
        size=loan.size,
        warehouse_code=loan.warehouse_code,
        quantity=loan.quantity,
        borrower=loan.borrower,
        returned=loan.status is LoanStatus.RETURNED,
        lent_at=to_timestamp(loan.lent_at),
        due_at=to_timestamp(loan.due_at),
        extended=loan.extended,
        overdue=loan_overdue(loan.due_at, loan.returned_at, now),
    )
    if loan.returned_at:
        out.returned_at.CopyFrom(to_timestamp(loan.returned_at))
    return out


class TransfersApi:
    """Mixed into InventoryServicer."""

    db: Database

    async def RequestTransfer(
        self, request: pb.RequestTransferRequest, context: Any
    ) -> pb.RequestTransferResponse:
        caller = identity.require_role(*KEEPERS)
        wanted = transfer_request(
            request.from_warehouse_code,
            request.to_warehouse_code,
            [(line.sku_code, line.quantity) for line in request.lines],
        )

        async def perform(conn: AsyncConnection) -> pb.RequestTransferResponse:
            transfer = await transfers.request(conn, wanted, actor=caller.subject)
            set_attributes(transfer_id=transfer.transfer_id)
            return pb.RequestTransferResponse(transfer=transfer_to_pb(transfer))

        return await transact_once(
            self.db, kit.idempotency, operation="RequestTransfer", request_id=request.request_id,
            request=request, response_type=pb.RequestTransferResponse, perform=perform,
        )  # fmt: skip

    async def ShipTransfer(self, request: pb.ShipTransferRequest, context: Any) -> pb.ShipTransferResponse:
        caller = identity.require_role(*KEEPERS)
        set_attributes(transfer_id=request.transfer_id)

        async def perform(conn: AsyncConnection) -> pb.ShipTransferResponse:
            transfer = await transfers.ship(conn, request.transfer_id, actor=caller.subject)
            return pb.ShipTransferResponse(transfer=transfer_to_pb(transfer))

        return await transact_once(
            self.db, kit.idempotency, operation="ShipTransfer", request_id=request.request_id,
            request=request, response_type=pb.ShipTransferResponse, perform=perform,
        )  # fmt: skip

    async def ReceiveTransfer(
        self, request: pb.ReceiveTransferRequest, context: Any
    ) -> pb.ReceiveTransferResponse:
        caller = identity.require_role(*KEEPERS)
        set_attributes(transfer_id=request.transfer_id)

        async def perform(conn: AsyncConnection) -> pb.ReceiveTransferResponse:
            transfer = await transfers.receive(conn, request.transfer_id, actor=caller.subject)
            return pb.ReceiveTransferResponse(transfer=transfer_to_pb(transfer))

        return await transact_once(
            self.db, kit.idempotency, operation="ReceiveTransfer", request_id=request.request_id,
            request=request, response_type=pb.ReceiveTransferResponse, perform=perform,
        )  # fmt: skip

    async def CancelTransfer(
        self, request: pb.CancelTransferRequest, context: Any
    ) -> pb.CancelTransferResponse:
        caller = identity.require_role(*KEEPERS)
        async with self.db.transaction() as conn:
            transfer = await transfers.cancel(conn, request.transfer_id, actor=caller.subject)
        return pb.CancelTransferResponse(transfer=transfer_to_pb(transfer))

    async def GetTransfer(self, request: pb.GetTransferRequest, context: Any) -> pb.GetTransferResponse:
        identity.current()
        async with self.db.connection() as conn:
            transfer = await transfers.get(conn, request.transfer_id)
        return pb.GetTransferResponse(transfer=transfer_to_pb(transfer))

    async def LendSamples(self, request: pb.LendSamplesRequest, context: Any) -> pb.LendSamplesResponse:
        caller = identity.require_role(*KEEPERS)
        wanted = loan_request(
            request.sku_code, request.warehouse_code or DEFAULT_WAREHOUSE, request.quantity, request.borrower
        )
        set_attributes(sku=wanted.sku_code)

        async def perform(conn: AsyncConnection) -> pb.LendSamplesResponse:
            loan = await loans.lend(conn, wanted, actor=caller.subject)
            return pb.LendSamplesResponse(loan=loan_to_pb(loan, datetime.now(UTC)))

        return await transact_once(
            self.db, kit.idempotency, operation="LendSamples", request_id=request.request_id,
            request=request, response_type=pb.LendSamplesResponse, perform=perform,
        )  # fmt: skip

    async def ExtendLoan(self, request: pb.ExtendLoanRequest, context: Any) -> pb.ExtendLoanResponse:
        identity.require_role(*KEEPERS)
        async with self.db.transaction() as conn:
            loan = await loans.extend(conn, request.loan_id)
        return pb.ExtendLoanResponse(loan=loan_to_pb(loan, datetime.now(UTC)))

    async def ReturnLoan(self, request: pb.ReturnLoanRequest, context: Any) -> pb.ReturnLoanResponse:
        caller = identity.require_role(*KEEPERS)
        async with self.db.transaction() as conn:
            loan = await loans.give_back(conn, request.loan_id, actor=caller.subject)
        return pb.ReturnLoanResponse(loan=loan_to_pb(loan, datetime.now(UTC)))

    async def ListLoans(self, request: pb.ListLoansRequest, context: Any) -> pb.ListLoansResponse:
        identity.current()
        now = datetime.now(UTC)
        async with self.db.connection() as conn:
            found = await loans.out_on_loan(conn, overdue_at=now if request.overdue_only else None)
        return pb.ListLoansResponse(loans=[loan_to_pb(loan, now) for loan in found])
