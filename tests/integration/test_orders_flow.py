"""The order flow through real orders and inventory gRPC servers and their own databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from shop.common.v1 import money_pb2
from shop.inventory.v1 import inventory_pb2 as inv
from shop.orders.v1 import orders_pb2 as pb

from libs import config
from libs.grpc_server import GrpcServer
from services.inventory.__main__ import build as build_inventory
from services.orders.clients.inventory import InventoryClient
from services.orders.saga.reservation import ReservationSaga
from services.orders.store.tables import order_timeline, orders
from services.orders.workers.saga_recovery import recover_once
from tests.conftest import auth
from tests.integration.test_inventory_rpc import count, field_violations
from tests.integration.test_inventory_stock_flow import KEEPER, stock

SHOP = auth("integrator", "tmall-connector")
CS = auth("customer_service", "cs-1")
LEAD = auth("supervisor", "lead-1")
ADDRESS = pb.Address(
    recipient="Wang Fang", phone="13812345678", province="Zhejiang", city="Hangzhou", district="Xihu",
    street="18 Longjing Road",
)  # fmt: skip


def yuan(value: float) -> money_pb2.Money:
    return money_pb2.Money(currency_code="CNY", amount_minor=round(value * 100))


def paid_at() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts


def order_request(
    channel_order_id="TM-1001", *, quantity=2, paid=True, address=ADDRESS, message="", sku="LJ-250-GRN"
):
    request = pb.SubmitOrderRequest(
        channel=pb.CHANNEL_TMALL,
        channel_order_id=channel_order_id,
        shop_code="tmall-flagship",
        buyer_id="buyer-77",
        address=address,
        lines=[pb.OrderLine(sku_code=sku, quantity=quantity, unit_price=yuan(88))],
        shipping_fee=yuan(10),
        buyer_message=message,
    )
    if paid:
        request.payment.CopyFrom(
            pb.Payment(amount=yuan(88 * quantity + 10), paid_at=paid_at(), reference="ALI-1")
        )
    return request


async def reservation_of(inventory_stub, order_id):
    try:
        return (
            await inventory_stub.GetReservation(inv.GetReservationRequest(order_id=order_id), metadata=KEEPER)
        ).reservation
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND
        return None


async def test_same_channel_order_sent_50_times_at_once_makes_one_order_ord_1(orders_stub, orders_service):
    """ORD-1: the same channel order id never creates a second order, however often it is sent."""
    replies = await asyncio.gather(
        *(orders_stub.SubmitOrder(order_request(), metadata=SHOP) for _ in range(50))
    )
    assert sum(r.created for r in replies) == 1
    assert len({r.order.order_id for r in replies}) == 1
    assert await count(orders_service.database, orders) == 1


async def test_intake_validates_fields_and_writes_nothing_ord_1(orders_stub, orders_service):
    bad = order_request()
    del bad.lines[:]
    bad.lines.append(pb.OrderLine(sku_code="", quantity=0, unit_price=yuan(-1)))
    bad.channel = pb.CHANNEL_UNSPECIFIED
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.SubmitOrder(bad, metadata=SHOP)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"channel", "lines[0].sku_code", "lines[0].quantity", "lines[0].unit_price"} <= set(
        field_violations(exc.value)
    )
    wrong_amount = order_request()
    wrong_amount.payment.amount.amount_minor += 1
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.SubmitOrder(wrong_amount, metadata=SHOP)
    assert "payment.amount" in field_violations(exc.value)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.SubmitOrder(order_request(), metadata=CS)
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await count(orders_service.database, orders) == 0


async def test_review_reserves_stock_and_release_follows_ord_2_ord_4(orders_stub, inventory_stub):
    """ORD-2: a paid order with a valid address and no open notes is reviewed with its stock reserved."""
    await stock(inventory_stub, quantity=10)
    submitted = await orders_stub.SubmitOrder(order_request(quantity=3), metadata=SHOP)
    order_id = submitted.order.order_id
    assert submitted.order.status == pb.ORDER_STATUS_PAID
    reviewed = await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=[order_id]), metadata=LEAD)
    assert [o.status for o in reviewed.outcomes] == [pb.ORDER_STATUS_REVIEWED]
    reservation = await reservation_of(inventory_stub, order_id)
    assert [(line.sku_code, line.quantity) for line in reservation.lines] == [("LJ-250-GRN", 3)]
    released = await orders_stub.ReleaseToWarehouse(
        pb.ReleaseToWarehouseRequest(order_ids=[order_id]), metadata=LEAD
    )
    assert released.outcomes[0].status == pb.ORDER_STATUS_RELEASED
    order = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=CS)).order
    assert [(e.event, e.to_status) for e in order.timeline if e.to_status] == [
        ("received", pb.ORDER_STATUS_PENDING_PAYMENT),
        ("paid", pb.ORDER_STATUS_PAID),
        ("reviewed", pb.ORDER_STATUS_REVIEWED),
        ("released to warehouse", pb.ORDER_STATUS_RELEASED),
    ]
    assert all(e.actor for e in order.timeline)
    # ORD-5: after release, logistics is asked first; with nothing packed it lets the order go.
    cancelled = await orders_stub.CancelOrder(
        pb.CancelOrderRequest(order_id=order_id, reason="buyer changed mind"), metadata=CS
    )
    assert cancelled.order.status == pb.ORDER_STATUS_CANCELLED


async def test_failed_reviews_go_to_the_exception_queue_with_their_reason_ord_2(orders_stub, inventory_stub):
    await stock(inventory_stub, quantity=2)
    bad_address = pb.Address(
        recipient="Li", phone="12345", province="Zhejiang", city="Hangzhou", district="", street="x"
    )
    ids = {}
    for key, request in {
        "address": order_request("TM-A", address=bad_address, quantity=1),
        "notes": order_request("TM-N", message="please gift wrap", quantity=1),
        "stock": order_request("TM-S", quantity=5),
    }.items():
        ids[key] = (await orders_stub.SubmitOrder(request, metadata=SHOP)).order.order_id
    unpaid = (await orders_stub.SubmitOrder(order_request("TM-U", paid=False), metadata=SHOP)).order.order_id
    result = await orders_stub.ReviewOrders(
        pb.ReviewOrdersRequest(order_ids=[*ids.values(), unpaid]), metadata=LEAD
    )
    outcome = {o.order_id: o for o in result.outcomes}
    assert (
        "ADDRESS_INCOMPLETE" in outcome[ids["address"]].hold_reason
        and "PHONE_INVALID" in outcome[ids["address"]].hold_reason
    )
    assert "NOTES_UNRESOLVED" in outcome[ids["notes"]].hold_reason
    assert outcome[ids["stock"]].hold_reason.startswith("STOCK:")
    assert all(outcome[i].status == pb.ORDER_STATUS_ON_HOLD for i in ids.values())
    assert "FAILED_PRECONDITION" in outcome[unpaid].hold_reason  # pending payment is not reviewable yet
    for order_id in ids.values():
        assert await reservation_of(inventory_stub, order_id) is None  # never half-reserved
    queue = await orders_stub.ListExceptions(pb.ListExceptionsRequest(), metadata=CS)
    assert {o.order_id for o in queue.orders} == set(ids.values())

    # Customer service honours the note, the order is reviewed again and passes.
    await orders_stub.ResolveNotes(
        pb.ResolveNotesRequest(order_id=ids["notes"], service_note="wrapped"), metadata=CS
    )
    again = await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=[ids["notes"]]), metadata=CS)
    assert again.outcomes[0].status == pb.ORDER_STATUS_REVIEWED


async def test_review_batches_hold_at_most_200_orders_ord_3(orders_stub):
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.ReviewOrders(
            pb.ReviewOrdersRequest(order_ids=[f"id-{i}" for i in range(201)]), metadata=LEAD
        )
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "order_ids" in field_violations(exc.value)


async def test_cancellation_before_release_releases_the_reservation_ord_5(orders_stub, inventory_stub):
    await stock(inventory_stub, quantity=10)
    order_id = (await orders_stub.SubmitOrder(order_request(quantity=4), metadata=SHOP)).order.order_id
    await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=[order_id]), metadata=LEAD)
    cancelled = await orders_stub.CancelOrder(
        pb.CancelOrderRequest(order_id=order_id, reason="buyer request"), metadata=CS
    )
    assert (cancelled.order.status, cancelled.order.reservation_state) == (
        pb.ORDER_STATUS_CANCELLED,
        "released",
    )
    # The buyer paid: the cancellation refunds in full, so net sales no longer count it (ORD-9).
    assert cancelled.order.refunded.amount_minor == cancelled.order.paid.amount_minor == 88 * 4 * 100 + 1000
    reservation = await reservation_of(inventory_stub, order_id)
    assert reservation.status == inv.RESERVATION_STATUS_RELEASED
    levels = await inventory_stub.GetStockLevels(
        inv.GetStockLevelsRequest(sku_code="LJ-250-GRN"), metadata=KEEPER
    )
    assert levels.levels[0].available == 10


async def test_inventory_down_during_review_then_back_ends_reviewed_ord_2(
    orders_stub, orders_service, inventory, inventory_stub
):
    """Inventory stopped mid-batch: orders wait in the exception queue, never half-reserved; once it is
    back, the recovery worker's retry reviews them."""
    await stock(inventory_stub, quantity=10)
    ids = [
        (await orders_stub.SubmitOrder(order_request(f"TM-{i}", quantity=1), metadata=SHOP)).order.order_id
        for i in range(3)
    ]
    port = int(inventory.target.rsplit(":", 1)[1])
    await inventory.server.stop(0)
    result = await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=ids), metadata=LEAD)
    assert {o.status for o in result.outcomes} == {pb.ORDER_STATUS_ON_HOLD}
    assert {o.hold_category for o in result.outcomes} == {"system_fault"}

    revived = GrpcServer(config.service_config("inventory"), build_inventory(inventory.database))
    await revived.start(f"127.0.0.1:{port}")
    try:
        client = InventoryClient(inventory.target)
        saga = ReservationSaga(orders_service.database, client)
        # The worker's loop: a channel may need a moment to reconnect after the outage.
        for _ in range(40):
            if await recover_once(orders_service.database, saga, grace=0) == 0:
                break
            await asyncio.sleep(0.25)
        await client.close()
        for order_id in ids:
            order = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=CS)).order
            assert (order.status, order.reservation_state) == (pb.ORDER_STATUS_REVIEWED, "reserved")
            stub = __import__("shop.inventory.v1.inventory_pb2_grpc", fromlist=["x"]).InventoryServiceStub(
                inventory.channel
            )
            assert (await reservation_of(stub, order_id)).status == inv.RESERVATION_STATUS_ACTIVE
    finally:
        await revived.stop(0)


async def test_crash_after_intent_is_finished_by_recovery(
    orders_stub, orders_service, inventory, inventory_stub
):
    """A process that died between asking inventory and booking the answer leaves 'reserving'; recovery
    repeats the idempotent reserve and books it, whether or not inventory had acted."""
    await stock(inventory_stub, quantity=10)
    acted = (await orders_stub.SubmitOrder(order_request("TM-X", quantity=2), metadata=SHOP)).order.order_id
    not_acted = (
        await orders_stub.SubmitOrder(order_request("TM-Y", quantity=2), metadata=SHOP)
    ).order.order_id
    await inventory_stub.ReserveStock(
        # As the saga asked before the crash: the order's shop and lines.
        inv.ReserveStockRequest(
            order_id=acted,
            shop_code="tmall-flagship",
            lines=[inv.StockLine(sku_code="LJ-250-GRN", quantity=2)],
        ),
        metadata=SHOP,
    )
    async with orders_service.database.transaction() as conn:
        await conn.execute(orders.update().values(reservation_state="reserving"))
    client = InventoryClient(inventory.target)
    try:
        assert (
            await recover_once(
                orders_service.database, ReservationSaga(orders_service.database, client), grace=0
            )
            == 2
        )
    finally:
        await client.close()
    for order_id in (acted, not_acted):
        order = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=CS)).order
        assert (order.status, order.reservation_state) == (pb.ORDER_STATUS_REVIEWED, "reserved")
    levels = await inventory_stub.GetStockLevels(
        inv.GetStockLevelsRequest(sku_code="LJ-250-GRN"), metadata=KEEPER
    )
    assert levels.levels[0].reserved == 4  # each order reserved exactly once
    async with orders_service.database.connection() as conn:
        entries = (await conn.execute(sa.select(sa.func.count()).select_from(order_timeline))).scalar_one()
    assert entries >= 6


async def test_payment_confirmation_ord_4(orders_stub):
    order = (
        await orders_stub.SubmitOrder(order_request("TM-P", paid=False, quantity=1), metadata=SHOP)
    ).order
    assert order.status == pb.ORDER_STATUS_PENDING_PAYMENT
    wrong = pb.Payment(amount=yuan(1), paid_at=paid_at(), reference="ALI-9")
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.ConfirmPayment(
            pb.ConfirmPaymentRequest(order_id=order.order_id, payment=wrong), metadata=SHOP
        )
    assert "payment.amount" in field_violations(exc.value)
    right = pb.Payment(amount=yuan(98), paid_at=paid_at(), reference="ALI-9")
    for _ in range(2):
        paid = await orders_stub.ConfirmPayment(
            pb.ConfirmPaymentRequest(order_id=order.order_id, payment=right), metadata=SHOP
        )
        assert paid.order.status == pb.ORDER_STATUS_PAID
