"""Counts with adjustments (INV-13) and the daily close (INV-14) through the real inventory gRPC server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from shop.inventory.v1 import events_pb2 as inventory_events
from shop.inventory.v1 import inventory_pb2 as pb

from libs.business_time import business_day
from services.inventory.store.tables import kit, stock_levels
from tests.integration.test_inventory_receiving import new_receipt, register
from tests.integration.test_inventory_rpc import field_violations
from tests.integration.test_inventory_stock_flow import (
    KEEPER,
    SALES,
    SHOP,
    SUPERVISOR,
    assert_books_agree,
    level,
    reserve,
    stock,
)

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


async def test_a_count_that_names_no_warehouse_counts_the_main_one_inv_13(inventory_stub):
    await stock(inventory_stub, quantity=3)
    reply = await inventory_stub.PlanCount(
        pb.PlanCountRequest(
            request_id="c-main", kind=pb.COUNT_KIND_CYCLE, planned_for=A_MONDAY, sku_codes=["LJ-250-GRN"]
        ),
        metadata=SUPERVISOR,
    )
    assert reply.count.warehouse_code == "MAIN"
    assert [line.book_quantity for line in reply.count.lines] == [3]


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


async def approve(stub, count_id: str, request_id: str = "a") -> pb.Count:
    reply = await stub.ApproveCount(
        pb.ApproveCountRequest(
            request_id=request_id, count_id=count_id, reason="lost", responsible_person="Li"
        ),
        metadata=SUPERVISOR,
    )
    return reply.count


async def events_of(inventory, event_type):
    async with inventory.database.connection() as conn:
        rows = (
            await conn.execute(
                sa.select(kit.outbox.c.payload)
                .where(kit.outbox.c.payload_type == event_type.DESCRIPTOR.full_name)
                .order_by(kit.outbox.c.created_at)
            )
        ).scalars()
        return [event_type.FromString(p) for p in rows]


async def reservation_status(stub, order_id: str) -> int:
    reply = await stub.GetReservation(pb.GetReservationRequest(order_id=order_id), metadata=SHOP)
    return int(reply.reservation.status)


async def test_count_short_of_one_orders_reservation_posts_and_cuts_it_inv_13(inventory_stub, inventory):
    """INV-13 with INV-10: 10 on the books, 8 reserved for an order, 5 counted. The count posts (the
    shortage is booked), the order's reservation is cut whole, and the cut is published for the orders
    service, so no unit that does not exist stays promised."""
    await stock(inventory_stub, quantity=10)
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 8)), metadata=SHOP)
    count = await plan(inventory_stub)
    await record(inventory_stub, count.count_id, (1, 5, 0))
    posted = await approve(inventory_stub, count.count_id)
    assert posted.posted and list(posted.cut_order_ids) == ["order-1"] and not posted.cut_hold_ids
    after = await level(inventory_stub)
    assert (after.on_hand, after.reserved, after.held, after.available) == (5, 0, 0, 5)
    assert await reservation_status(inventory_stub, "order-1") == pb.RESERVATION_STATUS_CUT
    [cut] = await events_of(inventory, inventory_events.ReservationCut)
    assert (cut.order_id, cut.count_id, list(cut.short_sku_codes)) == (
        "order-1",
        count.count_id,
        ["LJ-250-GRN"],
    )
    assert "fewer units of LJ-250-GRN" in cut.reason
    # What the cut gave back beyond the shortage is for sale again, and says so.
    available = [
        e for e in await events_of(inventory, inventory_events.StockAvailable) if e.document_type == "order"
    ]
    assert [(line.sku_code, line.added, line.available) for e in available for line in e.lines] == [
        ("LJ-250-GRN", 3, 5)
    ]
    await assert_books_agree(inventory)


async def test_the_newest_reservations_are_cut_first_so_the_oldest_orders_keep_theirs_inv_13(
    inventory_stub, inventory
):
    await stock(inventory_stub, quantity=10)
    for order_id, quantity in (("order-old", 4), ("order-mid", 3), ("order-new", 2)):
        await inventory_stub.ReserveStock(reserve(order_id, ("LJ-250-GRN", quantity)), metadata=SHOP)
    count = await plan(inventory_stub)
    await record(inventory_stub, count.count_id, (1, 6, 0))  # 9 promised, 6 found: 3 too many
    posted = await approve(inventory_stub, count.count_id)
    assert list(posted.cut_order_ids) == ["order-new", "order-mid"]
    assert await reservation_status(inventory_stub, "order-old") == pb.RESERVATION_STATUS_ACTIVE
    after = await level(inventory_stub)
    assert (after.on_hand, after.reserved, after.available) == (6, 4, 2)
    assert sorted(e.order_id for e in await events_of(inventory, inventory_events.ReservationCut)) == [
        "order-mid",
        "order-new",
    ]
    await assert_books_agree(inventory)


async def test_holds_are_cut_before_any_order_inv_13(inventory_stub, inventory):
    await stock(inventory_stub, quantity=10)
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 4)), metadata=SHOP)
    hold = await inventory_stub.PlaceHold(
        pb.PlaceHoldRequest(request_id="h", sku_code="LJ-250-GRN", quantity=4, customer_ref="VIP-1"),
        metadata=SALES,
    )
    count = await plan(inventory_stub)
    await record(inventory_stub, count.count_id, (1, 7, 0))  # 8 promised, 7 found
    posted = await approve(inventory_stub, count.count_id)
    assert list(posted.cut_hold_ids) == [hold.hold.hold_id] and not posted.cut_order_ids
    after = await level(inventory_stub)
    assert (after.on_hand, after.reserved, after.held, after.available) == (7, 4, 0, 3)
    assert await events_of(inventory, inventory_events.ReservationCut) == []
    await assert_books_agree(inventory)


async def test_a_cut_order_reserves_afresh_when_it_is_reviewed_again_inv_13(inventory_stub, inventory):
    await stock(inventory_stub, quantity=5)
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 5)), metadata=SHOP)
    count = await plan(inventory_stub)
    await record(inventory_stub, count.count_id, (1, 3, 0))
    await approve(inventory_stub, count.count_id)
    with pytest.raises(grpc.aio.AioRpcError) as short:
        await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 5)), metadata=SHOP)
    assert short.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await reservation_status(inventory_stub, "order-1") == pb.RESERVATION_STATUS_CUT
    await stock(inventory_stub, quantity=2, request_id="in-more")
    again = await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 5)), metadata=SHOP)
    assert again.reservation.status == pb.RESERVATION_STATUS_ACTIVE
    assert (await level(inventory_stub)).available == 0
    # A reservation released on request (the order was cancelled) is never revived.
    await inventory_stub.ReleaseReservation(
        pb.ReleaseReservationRequest(order_id="order-1", reason="x"), metadata=SHOP
    )
    await stock(inventory_stub, quantity=5, request_id="in-after")
    replay = await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 5)), metadata=SHOP)
    assert replay.reservation.status == pb.RESERVATION_STATUS_RELEASED
    await assert_books_agree(inventory)


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
