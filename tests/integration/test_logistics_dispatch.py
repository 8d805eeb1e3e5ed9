"""The same parcel dispatched twice at once (two scanners at the dock, or a client's retry): one dispatch,
one event, one stock issue, one "shipped" (LOG-5)."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
import sqlalchemy as sa
from shop.logistics.v1 import events_pb2 as logistics_events
from shop.logistics.v1 import logistics_pb2 as lg
from shop.orders.v1 import orders_pb2 as pb

from services.inventory.consumers import subscriptions as inventory_subscriptions
from services.inventory.store.tables import kit as inventory_kit
from services.inventory.store.tables import stock_movements
from services.orders.consumers import subscriptions as orders_subscriptions
from services.orders.store.tables import kit as orders_kit
from tests.conftest import apply_event
from tests.integration.test_inventory_stock_flow import stock
from tests.integration.test_logistics_floor import (
    CLERK,
    PACKER,
    SKU,
    VERIFIER,
    carriers,
    released,
    to_logistics,
)
from tests.integration.test_orders_events import outbox_events
from tests.integration.test_orders_flow import LEAD, order_request


async def packed_parcel(
    orders_stub, orders_service, inventory_stub, logistics_stub, logistics
) -> tuple[str, str]:
    """One released order, its wave closed, its parcel verified, packed and weighed: (order id, parcel id)."""
    await carriers(logistics_stub)
    await stock(inventory_stub, quantity=5)
    (order_id,) = await released(orders_stub, order_request("TM-D1", quantity=2))
    await to_logistics(orders_service, logistics, set())
    (shipment,) = (
        await logistics_stub.FindShipments(lg.FindShipmentsRequest(order_id=order_id), metadata=CLERK)
    ).shipments
    await logistics_stub.CloseWave(lg.CloseWaveRequest(wave_id=shipment.wave_id), metadata=CLERK)
    (parcel,) = (
        await logistics_stub.GetWave(lg.GetWaveRequest(wave_id=shipment.wave_id), metadata=CLERK)
    ).parcels
    await logistics_stub.StartVerification(
        lg.StartVerificationRequest(label_barcode=parcel.parcel_id, packing_slip_barcode=parcel.parcel_id),
        metadata=VERIFIER,
    )
    for n in range(2):
        await logistics_stub.ScanItem(
            lg.ScanItemRequest(parcel_id=parcel.parcel_id, barcode=SKU, request_id=f"d-scan-{n}"),
            metadata=VERIFIER,
        )
    await logistics_stub.PackParcel(
        lg.PackParcelRequest(parcel_id=parcel.parcel_id, weight_grams=700), metadata=PACKER
    )
    return order_id, parcel.parcel_id


async def test_one_parcel_dispatched_by_two_scanners_at_once_leaves_once_log_5(
    orders_stub, orders_service, inventory_stub, inventory, logistics_stub, logistics
):
    order_id, parcel_id = await packed_parcel(
        orders_stub, orders_service, inventory_stub, logistics_stub, logistics
    )
    same = lg.DispatchParcelRequest(parcel_id=parcel_id, tracking_number="SF5550001")
    other = lg.DispatchParcelRequest(parcel_id=parcel_id, tracking_number="SF5550002")
    answers = await asyncio.gather(
        *(logistics_stub.DispatchParcel(r, metadata=CLERK) for r in (same, same, other)),
        return_exceptions=True,
    )
    accepted = [a for a in answers if isinstance(a, lg.DispatchParcelResponse)]
    refused = [a for a in answers if isinstance(a, grpc.aio.AioRpcError)]
    # Whichever waybill came first is the parcel's; the other is refused, whatever the interleaving.
    assert {a.parcel.tracking_number for a in accepted} in ({"SF5550001"}, {"SF5550002"})
    assert [e.code() for e in refused] in (
        [grpc.StatusCode.ALREADY_EXISTS],
        [grpc.StatusCode.ALREADY_EXISTS] * 2,
    )
    assert len(accepted) + len(refused) == 3

    events = await outbox_events(logistics.database, logistics_events.ParcelDispatched)
    assert len(events) == 1
    event_id, event = events[0]
    for _ in range(2):  # a redelivery, and the same fact published again under a new id
        await apply_event(
            inventory.database, inventory_kit.inbox, inventory_subscriptions, event, event_id=event_id
        )
    await apply_event(
        inventory.database, inventory_kit.inbox, inventory_subscriptions, event, event_id=uuid.uuid4()
    )
    async with inventory.database.connection() as conn:
        issued = (
            await conn.execute(
                sa.select(sa.func.sum(-stock_movements.c.on_hand_delta)).where(
                    stock_movements.c.kind == "issue"
                )
            )
        ).scalar_one()
    assert issued == 2
    for _ in range(2):
        await apply_event(
            orders_service.database, orders_kit.inbox, orders_subscriptions, event, event_id=event_id
        )
    order = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=LEAD)).order
    assert [e.to_status for e in order.timeline].count(pb.ORDER_STATUS_SHIPPED) == 1


async def test_absurd_weights_are_refused_naming_the_field_and_nothing_is_written_log_4(
    orders_stub, orders_service, inventory_stub, logistics_stub, logistics
):
    _, parcel_id = await packed_parcel(orders_stub, orders_service, inventory_stub, logistics_stub, logistics)
    for weight in (0, -1, 60_001, 10**12):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await logistics_stub.PackParcel(
                lg.PackParcelRequest(parcel_id=parcel_id, weight_grams=weight), metadata=PACKER
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "weight_grams" in (refused.value.details() or "")
    parcel = (await logistics_stub.GetParcel(lg.GetParcelRequest(parcel_id=parcel_id), metadata=CLERK)).parcel
    assert (parcel.status, parcel.weight_grams) == (lg.PARCEL_STATUS_PACKED, 700)
