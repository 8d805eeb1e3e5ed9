"""The transfer and sample-loan RPCs of InventoryService (INV-8, INV-12)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shop.inventory.v1 import inventory_pb2 as pb

from libs import identity
from libs.db import Database
from libs.telemetry import set_attributes
from libs.timestamps import to_timestamp
from services.inventory.api.enums import TRANSFER_STATUS
from services.inventory.domain.places import warehouse_or_default
from services.inventory.domain.transfers import (
    LoanStatus,
    Transfer,
    loan_overdue,
    loan_request,
    transfer_request,
)
from services.inventory.store import catalogue, loans, transfers
from services.inventory.store.loans import Loan


def transfer_to_pb(t: Transfer) -> pb.Transfer:
    out = pb.Transfer(
        transfer_id=t.transfer_id,
        from_warehouse_code=t.from_warehouse,
        to_warehouse_code=t.to_warehouse,
        status=TRANSFER_STATUS.to_pb(t.status),
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
        caller = identity.current()
        wanted = transfer_request(
            request.from_warehouse_code,
            request.to_warehouse_code,
            [(line.sku_code, line.quantity) for line in request.lines],
        )
        async with self.db.transaction() as conn:
            await catalogue.warehouse_sellable(conn, wanted.from_warehouse)
            await catalogue.warehouse_sellable(conn, wanted.to_warehouse)
            unknown = await catalogue.unknown_skus(conn, [line.sku_code for line in wanted.lines])
            transfer = Transfer.request(
                wanted,
                transfer_id=str(uuid.uuid4()),
                unknown_skus=unknown,
                actor=caller.subject,
                now=datetime.now(UTC),
            )
            set_attributes(transfer_id=transfer.transfer_id)
            await transfers.add(conn, transfer)
        return pb.RequestTransferResponse(transfer=transfer_to_pb(transfer))

    async def ShipTransfer(self, request: pb.ShipTransferRequest, context: Any) -> pb.ShipTransferResponse:
        caller = identity.current()
        set_attributes(transfer_id=request.transfer_id)
        async with self.db.transaction() as conn:
            transfer = await transfers.load(conn, request.transfer_id, lock=True)
            stock = await transfers.stock_to_ship(conn, transfer)
            transfer.ship(stock, actor=caller.subject, now=datetime.now(UTC))
            await transfers.save(conn, transfer)
        return pb.ShipTransferResponse(transfer=transfer_to_pb(transfer))

    async def ReceiveTransfer(
        self, request: pb.ReceiveTransferRequest, context: Any
    ) -> pb.ReceiveTransferResponse:
        caller = identity.current()
        set_attributes(transfer_id=request.transfer_id)
        async with self.db.transaction() as conn:
            transfer = await transfers.load(conn, request.transfer_id, lock=True)
            transfer.receive(actor=caller.subject, now=datetime.now(UTC))
            await transfers.save(conn, transfer)
        return pb.ReceiveTransferResponse(transfer=transfer_to_pb(transfer))

    async def CancelTransfer(
        self, request: pb.CancelTransferRequest, context: Any
    ) -> pb.CancelTransferResponse:
        set_attributes(transfer_id=request.transfer_id)
        async with self.db.transaction() as conn:
            transfer = await transfers.load(conn, request.transfer_id, lock=True)
            transfer.cancel()
            await transfers.save(conn, transfer)
        return pb.CancelTransferResponse(transfer=transfer_to_pb(transfer))

    async def GetTransfer(self, request: pb.GetTransferRequest, context: Any) -> pb.GetTransferResponse:
        identity.current()
        async with self.db.connection() as conn:
            transfer = await transfers.load(conn, request.transfer_id)
        return pb.GetTransferResponse(transfer=transfer_to_pb(transfer))

    async def LendSamples(self, request: pb.LendSamplesRequest, context: Any) -> pb.LendSamplesResponse:
        caller = identity.current()
        wanted = loan_request(
            request.sku_code, warehouse_or_default(request.warehouse_code), request.quantity, request.borrower
        )
        set_attributes(sku=wanted.sku_code)
        async with self.db.transaction() as conn:
            loan = await loans.lend(conn, wanted, actor=caller.subject)
        return pb.LendSamplesResponse(loan=loan_to_pb(loan, datetime.now(UTC)))

    async def ExtendLoan(self, request: pb.ExtendLoanRequest, context: Any) -> pb.ExtendLoanResponse:
        async with self.db.transaction() as conn:
            loan = await loans.extend(conn, request.loan_id)
        return pb.ExtendLoanResponse(loan=loan_to_pb(loan, datetime.now(UTC)))

    async def ReturnLoan(self, request: pb.ReturnLoanRequest, context: Any) -> pb.ReturnLoanResponse:
        caller = identity.current()
        async with self.db.transaction() as conn:
            loan = await loans.give_back(conn, request.loan_id, actor=caller.subject)
        return pb.ReturnLoanResponse(loan=loan_to_pb(loan, datetime.now(UTC)))

    async def ListLoans(self, request: pb.ListLoansRequest, context: Any) -> pb.ListLoansResponse:
        identity.current()
        now = datetime.now(UTC)
        async with self.db.connection() as conn:
            found = await loans.out_on_loan(conn, overdue_at=now if request.overdue_only else None)
        return pb.ListLoansResponse(loans=[loan_to_pb(loan, now) for loan in found])
