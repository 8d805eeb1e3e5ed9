"""Transfers (INV-12) and sample loans (INV-8) through the real inventory gRPC server."""

from __future__ import annotations

from datetime import UTC, timedelta

import grpc
import pytest
import sqlalchemy as sa
from shop.inventory.v1 import inventory_pb2 as pb

from services.inventory.store.reconciliation import discrepancies
from services.inventory.store.tables import loans as loans_table
from tests.conftest import auth
from tests.integration.test_inventory_rpc import field_violations
from tests.integration.test_inventory_stock_flow import KEEPER, SHOP, SUPERVISOR, level, reserve, stock

KEEPER_B = auth("stock_keeper", "keeper-b")


@pytest.fixture
async def second_warehouse(inventory_stub):
    await inventory_stub.CreateWarehouse(
        pb.CreateWarehouseRequest(request_id="w", warehouse_code="SH-2", name="Shanghai 2", sellable=True),
        metadata=SUPERVISOR,
    )


async def books_agree(inventory):
    async with inventory.database.connection() as conn:
        assert await discrepancies(conn) == []


async def test_transfer_in_transit_belongs_to_neither_warehouse_inv_12(
    inventory_stub, inventory, second_warehouse
):
    """INV-12: A requests, B ships, A confirms; in transit is visible and nobody's available stock."""
    old = await stock(inventory_stub, quantity=6, request_id="in-old")
    await stock(inventory_stub, quantity=10, request_id="in-new")
    requested = await inventory_stub.RequestTransfer(
        pb.RequestTransferRequest(
            request_id="t-1", from_warehouse_code="MAIN", to_warehouse_code="SH-2",
            lines=[pb.StockLine(sku_code="LJ-250-GRN", quantity=8)],
        ),
        metadata=KEEPER_B,
    )  # fmt: skip
    transfer_id = requested.transfer.transfer_id
    assert requested.transfer.status == pb.TRANSFER_STATUS_REQUESTED
    assert (await level(inventory_stub)).available == 16  # a request moves nothing yet

    shipped = await inventory_stub.ShipTransfer(
        pb.ShipTransferRequest(request_id="s", transfer_id=transfer_id), metadata=KEEPER
    )
    assert shipped.transfer.status == pb.TRANSFER_STATUS_IN_TRANSIT
    assert shipped.transfer.shipped_by == "keeper-1"
    levels = {
        lv.warehouse_code: lv
        for lv in (
            await inventory_stub.GetStockLevels(
                pb.GetStockLevelsRequest(sku_code="LJ-250-GRN"), metadata=KEEPER
            )
        ).levels
    }
    assert (levels["MAIN"].on_hand, levels["MAIN"].available) == (8, 8)
    assert (levels["SH-2"].on_hand, levels["SH-2"].available, levels["SH-2"].in_transit) == (0, 0, 8)

    with pytest.raises(grpc.aio.AioRpcError) as exc:  # the shipping keeper cannot also sign the receipt
        await inventory_stub.ReceiveTransfer(
            pb.ReceiveTransferRequest(request_id="r0", transfer_id=transfer_id), metadata=KEEPER
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    received = await inventory_stub.ReceiveTransfer(
        pb.ReceiveTransferRequest(request_id="r", transfer_id=transfer_id), metadata=KEEPER_B
    )
    assert (received.transfer.status, received.transfer.received_by) == (
        pb.TRANSFER_STATUS_RECEIVED,
        "keeper-b",
    )
    arrived = await level(inventory_stub, warehouse="SH-2")
    assert (arrived.on_hand, arrived.available, arrived.in_transit) == (8, 8, 0)
    # The oldest lot travelled first and kept its identity.
    lots = await inventory_stub.ListLots(
        pb.ListLotsRequest(sku_code="LJ-250-GRN", warehouse_code="SH-2"), metadata=KEEPER
    )
    assert (lots.lots[0].lot_id, lots.lots[0].on_hand) == (old.lot_id, 6)
    await books_agree(inventory)


async def test_transfer_cannot_ship_reserved_units_and_steps_are_ordered(
    inventory_stub, inventory, second_warehouse
):
    await stock(inventory_stub, quantity=10)
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 7)), metadata=SHOP)
    requested = await inventory_stub.RequestTransfer(
        pb.RequestTransferRequest(
            request_id="t-1", from_warehouse_code="MAIN", to_warehouse_code="SH-2",
            lines=[pb.StockLine(sku_code="LJ-250-GRN", quantity=5)],
        ),
        metadata=KEEPER_B,
    )  # fmt: skip
    tid = requested.transfer.transfer_id
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ShipTransfer(
            pb.ShipTransferRequest(request_id="s", transfer_id=tid), metadata=KEEPER
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ReceiveTransfer(
            pb.ReceiveTransferRequest(request_id="r", transfer_id=tid), metadata=KEEPER_B
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    cancelled = await inventory_stub.CancelTransfer(
        pb.CancelTransferRequest(transfer_id=tid), metadata=KEEPER_B
    )
    assert cancelled.transfer.status == pb.TRANSFER_STATUS_CANCELLED
    assert (await level(inventory_stub)).on_hand == 10
    await books_agree(inventory)


@pytest.mark.parametrize(
    ("src", "dst", "qty", "field", "code"),
    [
        ("MAIN", "MAIN", 1, "to_warehouse_code", grpc.StatusCode.INVALID_ARGUMENT),
        ("MAIN", "SH-2", 0, "lines[0].quantity", grpc.StatusCode.INVALID_ARGUMENT),
        ("MAIN", "NOWHERE", 1, "warehouse_code", grpc.StatusCode.NOT_FOUND),
    ],
)
async def test_bad_transfer_requests(inventory_stub, second_warehouse, src, dst, qty, field, code):
    await stock(inventory_stub, quantity=10)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.RequestTransfer(
            pb.RequestTransferRequest(
                request_id="t", from_warehouse_code=src, to_warehouse_code=dst,
                lines=[pb.StockLine(sku_code="LJ-250-GRN", quantity=qty)],
            ),
            metadata=KEEPER,
        )  # fmt: skip
    assert exc.value.code() == code
    assert field in field_violations(exc.value)


async def test_sample_loan_due_in_7_days_one_extension_inv_8(inventory_stub, inventory):
    """INV-8: samples lent by a transfer document, due back in 7 days, one extension, overdue listed."""
    lot = await stock(inventory_stub, quantity=10)
    lent = await inventory_stub.LendSamples(
        pb.LendSamplesRequest(request_id="l-1", sku_code="LJ-250-GRN", quantity=2, borrower="photo studio"),
        metadata=KEEPER,
    )
    loan = lent.loan
    assert (loan.style_number, loan.colour, loan.size, loan.quantity) == ("LJ-250-GRN", "green", "250g", 2)
    due = loan.due_at.ToDatetime(tzinfo=UTC) - loan.lent_at.ToDatetime(tzinfo=UTC)
    assert due == timedelta(days=7)
    assert (await level(inventory_stub)).on_hand == 8
    extended = await inventory_stub.ExtendLoan(pb.ExtendLoanRequest(loan_id=loan.loan_id), metadata=KEEPER)
    assert extended.loan.extended
    assert extended.loan.due_at.ToDatetime() - loan.due_at.ToDatetime() == timedelta(days=7)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ExtendLoan(pb.ExtendLoanRequest(loan_id=loan.loan_id), metadata=KEEPER)
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    assert (
        list((await inventory_stub.ListLoans(pb.ListLoansRequest(overdue_only=True), metadata=KEEPER)).loans)
        == []
    )
    async with inventory.database.transaction() as conn:
        await conn.execute(loans_table.update().values(due_at=sa.func.now() - timedelta(hours=1)))
    overdue = await inventory_stub.ListLoans(pb.ListLoansRequest(overdue_only=True), metadata=KEEPER)
    assert [(x.loan_id, x.overdue) for x in overdue.loans] == [(loan.loan_id, True)]

    back = await inventory_stub.ReturnLoan(pb.ReturnLoanRequest(loan_id=loan.loan_id), metadata=KEEPER)
    assert back.loan.returned
    assert (await level(inventory_stub)).on_hand == 10
    lots = await inventory_stub.ListLots(pb.ListLotsRequest(sku_code="LJ-250-GRN"), metadata=KEEPER)
    assert {x.lot_id for x in lots.lots} == {lot.lot_id}
    assert list((await inventory_stub.ListLoans(pb.ListLoansRequest(), metadata=KEEPER)).loans) == []
    await books_agree(inventory)


async def test_bad_loans(inventory_stub):
    await stock(inventory_stub, quantity=1)
    for request, field in (
        (pb.LendSamplesRequest(request_id="a", sku_code="LJ-250-GRN", quantity=1, borrower=""), "borrower"),
        (pb.LendSamplesRequest(request_id="b", sku_code="LJ-250-GRN", quantity=0, borrower="x"), "quantity"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await inventory_stub.LendSamples(request, metadata=KEEPER)
        assert field in field_violations(exc.value)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.LendSamples(
            pb.LendSamplesRequest(request_id="c", sku_code="LJ-250-GRN", quantity=2, borrower="x"),
            metadata=KEEPER,
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.LendSamples(
            pb.LendSamplesRequest(request_id="d", sku_code="LJ-250-GRN", quantity=1, borrower="x"),
            metadata=SHOP,
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
