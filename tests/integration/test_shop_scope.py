"""An integrator acts only for the shops (and channels) its token names. Another shop's integrator tries
the first shop's ids on every RPC open to integrators that takes one, in orders and in inventory: each is
refused and nothing changes. The RPCs are enumerated from the contracts, so a new one needs a case here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from shop.inventory.v1 import inventory_pb2 as inv
from shop.orders.v1 import orders_pb2 as pb

from libs import identity
from libs.business_time import business_day
from libs.policy import policy_of_method
from tests.integration.test_inventory_stock_flow import stock
from tests.integration.test_orders_flow import LEAD, order_request, yuan

OWN_SHOP = "tmall-flagship"
ID_FIELDS = {"order_id", "order_ids", "channel_order_id", "shop_code"}


def integrator_of(*shops: str, channels: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    token = identity.mint_token(f"app-{'-'.join(shops)}", ["integrator"], shops=shops, channels=channels)
    return [("authorization", f"Bearer {token}")]


OURS = integrator_of(OWN_SHOP)
THEIRS = integrator_of("jd-outlet")

#: For every RPC open to integrators that names an order or a shop: the request another shop's integrator
#: sends with our order's ids.
ATTEMPTS: dict[str, Callable[[str], Message]] = {
    "OrdersService.SubmitOrder": lambda order_id: order_request("TM-THEIRS-1"),
    "OrdersService.ConfirmPayment": lambda order_id: pb.ConfirmPaymentRequest(
        order_id=order_id, payment=pb.Payment(amount=yuan(186), paid_at=order_request().payment.paid_at)
    ),
    "OrdersService.CancelOrder": lambda order_id: pb.CancelOrderRequest(order_id=order_id, reason="not ours"),
    "OrdersService.GetOrder": lambda order_id: pb.GetOrderRequest(order_id=order_id),
    "OrdersService.FindOrder": lambda order_id: pb.FindOrderRequest(
        channel=pb.CHANNEL_TMALL, channel_order_id="TM-1001"
    ),
    "InventoryService.ReserveStock": lambda order_id: inv.ReserveStockRequest(
        order_id=order_id, shop_code=OWN_SHOP, lines=[inv.StockLine(sku_code="LJ-250-GRN", quantity=1)]
    ),
    "InventoryService.ReleaseReservation": lambda order_id: inv.ReleaseReservationRequest(order_id=order_id),
    "InventoryService.GetReservation": lambda order_id: inv.GetReservationRequest(order_id=order_id),
}


def scoped_rpcs() -> set[str]:
    """RPCs an integrator may call whose request names an order or a shop."""
    found = set()
    for service in (
        pb.DESCRIPTOR.services_by_name["OrdersService"],
        inv.DESCRIPTOR.services_by_name["InventoryService"],
    ):
        for method in service.methods:
            takes_an_id = ID_FIELDS & set(method.input_type.fields_by_name)
            if "integrator" in policy_of_method(method).roles and takes_an_id:
                found.add(f"{service.name}.{method.name}")
    return found


def test_every_integrator_rpc_that_takes_an_order_or_shop_is_tried():
    assert set(ATTEMPTS) == scoped_rpcs()


@pytest.fixture
async def our_order(orders_stub, inventory_stub) -> str:
    """Our shop's paid order, reviewed, with its stock reserved at the inventory service."""
    await stock(inventory_stub, quantity=10)
    order_id = (await orders_stub.SubmitOrder(order_request(), metadata=OURS)).order.order_id
    await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=[order_id]), metadata=LEAD)
    return str(order_id)


async def test_another_shops_integrator_is_refused_every_one_of_our_ids(
    orders_stub, inventory_stub, our_order
):
    stubs: dict[str, Any] = {"OrdersService": orders_stub, "InventoryService": inventory_stub}
    before = await orders_stub.GetOrder(pb.GetOrderRequest(order_id=our_order), metadata=OURS)
    for rpc, attempt in ATTEMPTS.items():
        service, method = rpc.split(".")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await getattr(stubs[service], method)(attempt(our_order), metadata=THEIRS)
        # NOT_FOUND for ids (another shop's order reveals nothing), PERMISSION_DENIED for a shop named
        # outright, ALREADY_EXISTS where an id is taken whoever asks (a reservation's order id).
        assert refused.value.code() in (
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.ALREADY_EXISTS,
        ), f"{rpc}: {refused.value.code().name} {refused.value.details()}"
    after = await orders_stub.GetOrder(pb.GetOrderRequest(order_id=our_order), metadata=OURS)
    assert after.order == before.order  # nothing changed
    reservation = await inventory_stub.GetReservation(
        inv.GetReservationRequest(order_id=our_order), metadata=OURS
    )
    assert reservation.reservation.status == inv.RESERVATION_STATUS_ACTIVE
    assert reservation.reservation.shop_code == OWN_SHOP


async def test_our_integrator_still_reaches_its_own_order(orders_stub, our_order):
    found = await orders_stub.FindOrder(
        pb.FindOrderRequest(channel=pb.CHANNEL_TMALL, channel_order_id="TM-1001"), metadata=OURS
    )
    assert found.order.order_id == our_order


async def test_a_token_limited_to_other_channels_cannot_use_our_shop_on_this_one(orders_stub, our_order):
    jd_only = integrator_of(OWN_SHOP, channels=("jd",))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await orders_stub.GetOrder(pb.GetOrderRequest(order_id=our_order), metadata=jd_only)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reports_show_an_integrator_its_own_shops_only(orders_stub, our_order):
    # Net sales are by business day (Asia/Shanghai), which is not the UTC date from 16:00 UTC on.
    day = business_day(order_request().payment.paid_at.ToDatetime(tzinfo=UTC)).isoformat()
    theirs = await orders_stub.GetNetSales(pb.GetNetSalesRequest(from_date=day, to_date=day), metadata=THEIRS)
    ours = await orders_stub.GetNetSales(pb.GetNetSalesRequest(from_date=day, to_date=day), metadata=OURS)
    assert [r.shop_code for r in theirs.rows] == []
    assert [r.shop_code for r in ours.rows] == [OWN_SHOP]


async def test_channel_order_id_resent_with_other_contents_is_a_conflict_ord_1(orders_stub, our_order):
    """ORD-1: the same channel order id with other goods is another order reusing it: 409, not the first."""
    other = order_request(quantity=5)
    with pytest.raises(grpc.aio.AioRpcError) as conflict:
        await orders_stub.SubmitOrder(other, metadata=OURS)
    assert conflict.value.code() == grpc.StatusCode.ALREADY_EXISTS
    again = await orders_stub.SubmitOrder(order_request(), metadata=OURS)
    assert not again.created and again.order.order_id == our_order
