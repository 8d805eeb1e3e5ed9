"""The orders service's consumers, fed the events the real inventory service wrote to its outbox, through
the orders service's own subscriptions (inbox and effect in one transaction) and its re-review worker."""

from __future__ import annotations

import uuid
from typing import TypeVar

import sqlalchemy as sa
from google.protobuf.message import Message
from shop.inventory.v1 import events_pb2 as inventory_events
from shop.inventory.v1 import inventory_pb2 as inv
from shop.orders.v1 import events_pb2 as orders_events
from shop.orders.v1 import orders_pb2 as pb

from libs.identity import service_identity
from libs.timestamps import to_timestamp
from services.inventory.store.tables import kit as inventory_kit
from services.orders.clients.inventory import InventoryClient
from services.orders.consumers import subscriptions
from services.orders.saga.reservation import ReservationSaga
from services.orders.store import review_requests
from services.orders.store.tables import kit as orders_kit
from services.orders.workers.rereview import ReReviews
from tests.conftest import apply_event, auth
from tests.integration.test_inventory_counts import plan, record
from tests.integration.test_inventory_stock_flow import SUPERVISOR, stock
from tests.integration.test_orders_flow import LEAD, SHOP, order_request

PROMOTER = auth("promoter", "promo-1")
M = TypeVar("M", bound=Message)


async def outbox_events(database, event_type: type[M]) -> list[tuple[uuid.UUID, M]]:
    """What a service published of ``event_type``, oldest first, with the event ids."""
    outbox = inventory_kit.outbox  # every service's outbox has the same shape
    async with database.connection() as conn:
        rows = (
            await conn.execute(
                sa.select(outbox.c.event_id, outbox.c.payload)
                .where(outbox.c.payload_type == event_type.DESCRIPTOR.full_name)
                .order_by(outbox.c.created_at)
            )
        ).all()
    return [(r.event_id, event_type.FromString(r.payload)) for r in rows]


async def deliver_new(inventory, orders_service, event_type, seen: set[uuid.UUID]) -> int:
    """Hands the orders service every ``event_type`` inventory published and it has not had yet."""
    applied = 0
    for event_id, event in await outbox_events(inventory.database, event_type):
        if event_id in seen:
            continue
        seen.add(event_id)
        applied += await apply_event(
            orders_service.database, orders_kit.inbox, subscriptions, event, event_id=event_id
        )
    return applied


async def get(orders_stub, order_id):
    return (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=LEAD)).order


async def submit(orders_stub, n: int, quantity: int = 2) -> list[str]:
    ids = []
    for i in range(n):
        reply = await orders_stub.SubmitOrder(order_request(f"TM-{i}", quantity=quantity), metadata=SHOP)
        ids.append(reply.order.order_id)
    return ids


async def test_orders_held_for_short_stock_are_reviewed_again_by_themselves_oldest_first_ord_2(
    orders_stub, orders_service, inventory_stub, inventory
):
    """ORD-2: an order that could not reserve its stock waits in the exception queue for short stock; when
    inventory publishes that stock of its SKU became available, it is reviewed again without anyone
    pressing retry, the earliest paid order first."""
    await stock(inventory_stub, quantity=2)
    seen: set[uuid.UUID] = set()
    await deliver_new(inventory, orders_service, inventory_events.StockAvailable, seen)  # nobody waits yet
    first, second, third = await submit(orders_stub, 3)
    reviewed = await orders_stub.ReviewOrders(
        pb.ReviewOrdersRequest(order_ids=[first, second, third]), metadata=LEAD
    )
    assert [(o.status, o.hold_category) for o in reviewed.outcomes] == [
        (pb.ORDER_STATUS_REVIEWED, ""),
        (pb.ORDER_STATUS_ON_HOLD, "short_stock"),
        (pb.ORDER_STATUS_ON_HOLD, "short_stock"),
    ]
    async with orders_service.database.connection() as conn:
        assert await review_requests.waiting(conn) == 0

    await stock(inventory_stub, quantity=2, request_id="in-2")  # enough for one more order
    assert await deliver_new(inventory, orders_service, inventory_events.StockAvailable, seen) == 1
    async with orders_service.database.connection() as conn:
        assert await review_requests.waiting(conn) == 2
    saga = ReservationSaga(orders_service.database, InventoryClient(inventory.target))
    worker = ReReviews()
    assert (
        await worker.review_waiting(orders_service.database, saga, service_identity("orders", ["integrator"]))
        == 2
    )
    assert (await get(orders_stub, second)).status == pb.ORDER_STATUS_REVIEWED
    still = await get(orders_stub, third)
    assert (still.status, still.hold_category) == (pb.ORDER_STATUS_ON_HOLD, "short_stock")
    timeline = [(e.actor, e.event) for e in (await get(orders_stub, second)).timeline]
    assert ("service:orders", "reviewed") in timeline
    async with orders_service.database.connection() as conn:
        assert await review_requests.waiting(conn) == 0


async def test_stock_of_other_skus_or_too_little_asks_for_no_review_ord_2(
    orders_stub, orders_service, inventory_stub
):
    await stock(inventory_stub, quantity=1)
    [held] = await submit(orders_stub, 1, quantity=5)
    await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=[held]), metadata=LEAD)

    def available(sku: str, units: int) -> inventory_events.StockAvailable:
        return inventory_events.StockAvailable(
            warehouse_code="MAIN",
            lines=[inventory_events.StockAvailable.Line(sku_code=sku, added=1, available=units)],
        )

    for event in (available("OTHER-SKU", 100), available("LJ-250-GRN", 4)):
        await apply_event(orders_service.database, orders_kit.inbox, subscriptions, event)
    async with orders_service.database.connection() as conn:
        assert await review_requests.waiting(conn) == 0
    await apply_event(orders_service.database, orders_kit.inbox, subscriptions, available("LJ-250-GRN", 5))
    async with orders_service.database.connection() as conn:
        assert await review_requests.waiting(conn) == 1


async def test_an_order_whose_reservation_a_count_cut_goes_on_hold_and_comes_back_inv_13_ord_2(
    orders_stub, orders_service, inventory_stub, inventory
):
    """INV-13 then ORD-2: the count cuts the order's reservation, the order goes to the exception queue
    for short stock with the reason (once, however often the event arrives), and is reviewed again once
    stock arrives."""
    await stock(inventory_stub, quantity=4)
    [order_id] = await submit(orders_stub, 1, quantity=3)
    await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=[order_id]), metadata=LEAD)
    count = await plan(inventory_stub)
    await record(inventory_stub, count.count_id, (1, 1, 0))
    posted = await inventory_stub.ApproveCount(
        inv.ApproveCountRequest(
            request_id="a", count_id=count.count_id, reason="lost", responsible_person="Li"
        ),
        metadata=SUPERVISOR,
    )
    assert list(posted.count.cut_order_ids) == [order_id]

    [(event_id, cut)] = await outbox_events(inventory.database, inventory_events.ReservationCut)
    for _ in range(3):  # redelivered: applied once
        await apply_event(orders_service.database, orders_kit.inbox, subscriptions, cut, event_id=event_id)
    held = await get(orders_stub, order_id)
    assert (held.status, held.hold_category, held.reservation_state) == (
        pb.ORDER_STATUS_ON_HOLD,
        "short_stock",
        "none",
    )
    assert held.hold_reason.startswith("STOCK: count ") and "LJ-250-GRN" in held.hold_reason
    assert [(e.actor, e.event) for e in held.timeline].count(
        ("service:inventory", "stock reservation cut")
    ) == 1
    exceptions = await orders_stub.ListExceptions(pb.ListExceptionsRequest(), metadata=LEAD)
    assert [o.order_id for o in exceptions.orders] == [order_id]

    await stock(inventory_stub, quantity=2, request_id="in-2")
    seen: set[uuid.UUID] = set()
    await deliver_new(inventory, orders_service, inventory_events.StockAvailable, seen)
    saga = ReservationSaga(orders_service.database, InventoryClient(inventory.target))
    await ReReviews().review_waiting(
        orders_service.database, saga, service_identity("orders", ["integrator"])
    )
    back = await get(orders_stub, order_id)
    assert (back.status, back.reservation_state) == (pb.ORDER_STATUS_REVIEWED, "reserved")
    reservation = await inventory_stub.GetReservation(
        inv.GetReservationRequest(order_id=order_id), metadata=SHOP
    )
    assert reservation.reservation.status == inv.RESERVATION_STATUS_ACTIVE


async def test_a_cut_for_an_order_this_service_does_not_have_is_harmless(orders_service):
    event = inventory_events.ReservationCut(order_id="TEAHOUSE-0001", warehouse_code="MAIN", reason="x")
    assert await apply_event(orders_service.database, orders_kit.inbox, subscriptions, event)


def promotion(promotion_id: str, *, large: bool) -> pb.Promotion:
    from datetime import UTC, datetime, timedelta

    starts = datetime.now(UTC) + timedelta(days=10)
    return pb.Promotion(
        promotion_id=promotion_id, name=f"{promotion_id} sale", kind=pb.PROMOTION_KIND_PERCENTAGE, rate_bp=9000,
        starts_at=to_timestamp(starts), ends_at=to_timestamp(starts + timedelta(days=3)), large=large,
    )  # fmt: skip


async def test_a_large_promotion_is_announced_when_created_and_when_moved_ord_8_inv_16(
    orders_stub, orders_service
):
    await orders_stub.CreatePromotion(
        pb.CreatePromotionRequest(promotion=promotion("P-SMALL", large=False)), metadata=PROMOTER
    )
    created = await orders_stub.CreatePromotion(
        pb.CreatePromotionRequest(promotion=promotion("P-618", large=True)), metadata=PROMOTER
    )
    assert created.promotion.large and created.promotion.revision == 1
    moved_window = promotion("P-618", large=True)
    moved_window.starts_at.seconds += 86400
    moved_window.ends_at.seconds += 86400
    request = pb.ReschedulePromotionRequest(
        request_id="move-1",
        promotion_id="P-618",
        starts_at=moved_window.starts_at,
        ends_at=moved_window.ends_at,
    )
    moved = await orders_stub.ReschedulePromotion(request, metadata=PROMOTER)
    assert moved.promotion.revision == 2
    assert (await orders_stub.ReschedulePromotion(request, metadata=PROMOTER)) == moved  # a retry
    announced = [
        e for _, e in await outbox_events(orders_service.database, orders_events.LargePromotionScheduled)
    ]
    assert [(e.promotion_id, e.revision) for e in announced] == [("P-618", 1), ("P-618", 2)]
    assert announced[1].starts_at == moved_window.starts_at


async def test_rescheduling_refuses_bad_windows_naming_the_field_ord_8(orders_stub):
    import grpc
    import pytest

    await orders_stub.CreatePromotion(
        pb.CreatePromotionRequest(promotion=promotion("P-1", large=True)), metadata=PROMOTER
    )
    window = promotion("P-1", large=True)
    cases = [
        (pb.ReschedulePromotionRequest(request_id="r1", promotion_id="P-1", starts_at=window.ends_at, ends_at=window.starts_at), "ends_at", grpc.StatusCode.INVALID_ARGUMENT),
        (pb.ReschedulePromotionRequest(request_id="r2", promotion_id="P-1", starts_at=window.starts_at), "ends_at", grpc.StatusCode.INVALID_ARGUMENT),
        (pb.ReschedulePromotionRequest(request_id="r3", promotion_id="NOPE", starts_at=window.starts_at, ends_at=window.ends_at), "promotion_id", grpc.StatusCode.NOT_FOUND),
    ]  # fmt: skip
    for request, field, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await orders_stub.ReschedulePromotion(request, metadata=PROMOTER)
        assert err.value.code() == code and field in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await orders_stub.ReschedulePromotion(cases[0][0], metadata=LEAD)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
