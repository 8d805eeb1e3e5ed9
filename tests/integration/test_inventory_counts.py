"""Counts with adjustments (INV-13) and the daily close (INV-14) through the real inventory gRPC server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from shop.inventory.v1 import inventory_pb2 as pb

from libs.business_time import business_day
from services.inventory.store.tables import stock_levels
from tests.integration.test_inventory_receiving import new_receipt, register
from tests.integration.test_inventory_rpc import field_violations
from tests.integration.test_inventory_stock_flow import KEEPER, SHOP, SUPERVISOR, level, reserve, stock

NEXT_FRIDAY = (date.today() + timedelta(days=(4 - date.today().weekday()) % 7)).isoformat()
A_MONDAY = (date.today() + timedelta(days=(0 - date.today().weekday()) % 7)).isoformat()


async def plan(stub, kind=pb.COUNT_KIND_CYCLE, skus=("LJ-250-GRN",), planned_for=A_MONDAY, request_id="c-1"):
    reply = await stub.PlanCount(
        pb.PlanCountRequest(
            request_id=request_id,
            warehouse_code="MAIN",
            kind=kind,
            planned_for=planned_for,
            sku_codes=list(skus),
        ),
        metadata=SUPERVISOR,
    )
    return reply.count


async def record(stub, count_id, *found: tuple[int, int, int]):
    reply = await stub.RecordCount(
        pb.RecordCountRequest(
            count_id=count_id, lines=[pb.CountedLine(line_no=n, counted=c, damaged=d) for n, c, d in found]
        ),
        metadata=KEEPER,
    )
    return reply.count


async def test_cycle_count_variance_is_adjusted_with_reason_and_approval_inv_13(inventory_stub, inventory):
    """INV-13: counted vs book per lot; the variance is posted with a reason, a responsible person and the
    warehouse supervisor's approval; damaged units go to the defective warehouse."""
    await stock(inventory_stub, quantity=10, request_id="in-1")
    await stock(inventory_stub, quantity=5, request_id="in-2")
    count = await plan(inventory_stub)
    assert [(line.book_quantity, line.HasField("counted")) for line in count.lines] == [
        (10, False),
        (5, False),
    ]
    count = await record(inventory_stub, count.count_id, (1, 9, 0), (2, 5, 2))
    assert [line.variance for line in count.lines] == [-1, 0]

    for request, field in (
        (pb.ApproveCountRequest(request_id="a", count_id=count.count_id, responsible_person="Li"), "reason"),
        (
            pb.ApproveCountRequest(request_id="b", count_id=count.count_id, reason="miscount"),
            "responsible_person",
        ),
        (
            pb.ApproveCountRequest(
                request_id="c", count_id=count.count_id, reason="x", responsible_person="Li"
            ),
            "damaged_disposition",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await inventory_stub.ApproveCount(request, metadata=SUPERVISOR)
        assert field in field_violations(exc.value)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ApproveCount(
            pb.ApproveCountRequest(
                request_id="d", count_id=count.count_id, reason="x", responsible_person="Li",
                damaged_disposition=pb.DAMAGED_DISPOSITION_SCRAP,
            ),
            metadata=KEEPER,
        )  # fmt: skip
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED

    approved = await inventory_stub.ApproveCount(
        pb.ApproveCountRequest(
            request_id="e", count_id=count.count_id, reason="one unit missing on shelf", responsible_person="Li Wei",
            damaged_disposition=pb.DAMAGED_DISPOSITION_DEFECTIVE_WAREHOUSE,
        ),
        metadata=SUPERVISOR,
    )  # fmt: skip
    assert approved.count.posted and approved.count.approved_by == "boss-1"
    main = await level(inventory_stub)
    defective = await level(inventory_stub, warehouse="DEFECTIVE")
    assert (main.on_hand, defective.on_hand, defective.available) == (12, 2, 0)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await record(inventory_stub, count.count_id, (1, 8, 0))
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_damaged_units_can_be_scrapped_by_document_inv_13(inventory_stub):
    await stock(inventory_stub, quantity=4)
    count = await plan(inventory_stub)
    await record(inventory_stub, count.count_id, (1, 4, 1))
    await inventory_stub.ApproveCount(
        pb.ApproveCountRequest(
            request_id="a", count_id=count.count_id, damaged_disposition=pb.DAMAGED_DISPOSITION_SCRAP
        ),
        metadata=SUPERVISOR,
    )
    assert (await level(inventory_stub)).on_hand == 3


async def test_full_count_is_on_a_friday_and_covers_the_warehouse_inv_13(inventory_stub):
    await stock(inventory_stub, "A-1", quantity=3)
    await stock(inventory_stub, "B-1", quantity=4)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await plan(inventory_stub, kind=pb.COUNT_KIND_FULL, skus=(), planned_for=A_MONDAY)
    assert "planned_for" in field_violations(exc.value)
    full = await plan(inventory_stub, kind=pb.COUNT_KIND_FULL, skus=(), planned_for=NEXT_FRIDAY)
    assert sorted(line.sku_code for line in full.lines) == ["A-1", "B-1"]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await plan(inventory_stub, kind=pb.COUNT_KIND_CYCLE, skus=(), request_id="c-2")
    assert "sku_codes" in field_violations(exc.value)


async def test_adjustment_cannot_remove_reserved_units(inventory_stub):
    await stock(inventory_stub, quantity=5)
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 5)), metadata=SHOP)
    count = await plan(inventory_stub)
    await record(inventory_stub, count.count_id, (1, 3, 0))
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ApproveCount(
            pb.ApproveCountRequest(
                request_id="a", count_id=count.count_id, reason="lost", responsible_person="Li"
            ),
            metadata=SUPERVISOR,
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await level(inventory_stub)).on_hand == 5


async def test_daily_close_needs_every_receipt_posted_and_the_books_to_agree_inv_14(
    inventory_stub, inventory
):
    """INV-14: a day closes only with its documents posted and ledger == on-hand everywhere."""
    today = business_day(datetime.now(UTC)).isoformat()
    await stock(inventory_stub, quantity=7)
    await register(inventory_stub, "TEE-R", "TEE")
    await new_receipt(inventory_stub, "DN-OPEN", lines=(("TEE-R", 1),))
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.CloseDay(pb.CloseDayRequest(business_date=today), metadata=SUPERVISOR)
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "DN-OPEN" in field_violations(exc.value)["business_date"]


async def test_daily_close_detects_books_that_drifted_from_the_ledger_inv_14(inventory_stub, inventory):
    today = business_day(datetime.now(UTC))
    await stock(inventory_stub, quantity=7)
    async with inventory.database.transaction() as conn:  # a balance changed behind the ledger's back
        await conn.execute(stock_levels.update().values(on_hand=stock_levels.c.on_hand + 1))
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.CloseDay(
            pb.CloseDayRequest(business_date=today.isoformat()), metadata=SUPERVISOR
        )
    assert "on_hand of LJ-250-GRN in MAIN" in field_violations(exc.value)["business_date"]
    async with inventory.database.transaction() as conn:
        await conn.execute(stock_levels.update().values(on_hand=stock_levels.c.on_hand - 1))
    closed = await inventory_stub.CloseDay(
        pb.CloseDayRequest(business_date=today.isoformat()), metadata=SUPERVISOR
    )
    assert closed.close.movements >= 1
    again = await inventory_stub.CloseDay(
        pb.CloseDayRequest(business_date=today.isoformat()), metadata=SUPERVISOR
    )
    assert again.close == closed.close
    archive = await inventory_stub.ListDayCloses(
        pb.ListDayClosesRequest(month=today.strftime("%Y-%m")), metadata=KEEPER
    )
    assert [c.business_date for c in archive.closes] == [today.isoformat()]
    tomorrow = (today + timedelta(days=1)).isoformat()
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.CloseDay(pb.CloseDayRequest(business_date=tomorrow), metadata=SUPERVISOR)
    assert "business_date" in field_violations(exc.value)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ListDayCloses(pb.ListDayClosesRequest(month="2026-13"), metadata=KEEPER)
    assert "month" in field_violations(exc.value)
    async with inventory.database.connection() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(stock_levels))).scalar_one() == 1
