"""The warehouse floor over the real services: orders released by the orders service become shipments in
their waves (LOG-1), a closing wave packs them into parcels with their lots from inventory (LOG-2), the
scanning station (LOG-3), the packing bench (LOG-4), and dispatch, whose event inventory and orders each
apply once (LOG-5). Events travel as the consumers receive them (``apply_event``: inbox and effect in one
transaction)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import grpc
import pytest
import sqlalchemy as sa
from shop.inventory.v1 import inventory_pb2 as inv
from shop.logistics.v1 import events_pb2 as logistics_events
from shop.logistics.v1 import logistics_pb2 as lg
from shop.logistics.v1 import logistics_pb2_grpc
from shop.orders.v1 import events_pb2 as orders_events
from shop.orders.v1 import orders_pb2 as pb

from libs.money import money
from services.inventory.consumers import subscriptions as inventory_subscriptions
from services.inventory.store.tables import kit as inventory_kit
from services.inventory.store.tables import stock_movements
from services.logistics.clients.inventory import InventoryClient
from services.logistics.consumers import subscriptions as logistics_subscriptions
from services.logistics.store import waves
from services.logistics.store.tables import kit as logistics_kit
from services.logistics.workers.wave_scheduler import close_due
from services.logistics.workflows.wave_close import WaveClosing
from services.orders.consumers import subscriptions as orders_subscriptions
from services.orders.store.tables import kit as orders_kit
from tests.conftest import apply_event, auth
from tests.integration.test_inventory_stock_flow import KEEPER, stock
from tests.integration.test_orders_events import outbox_events
from tests.integration.test_orders_flow import ADDRESS, CS, LEAD, SHOP, order_request

CLERK = auth("logistics_clerk", "clerk-1")
VERIFIER = auth("verifier", "verifier-1")
PACKER = auth("packer", "packer-1")
SKU = "LJ-250-GRN"


@pytest.fixture
def logistics_stub(logistics) -> logistics_pb2_grpc.LogisticsServiceStub:
    return logistics_pb2_grpc.LogisticsServiceStub(logistics.channel)


async def carriers(stub) -> None:
    """SF and ZTO covering the orders' province; ZTO is cheaper, SF faster."""
    for code, name, days, first in (("sf", "顺丰速运", 1, 1200), ("zto", "中通快递", 2, 500)):
        await stub.PutCarrier(
            lg.PutCarrierRequest(
                carrier=lg.Carrier(
                    carrier_code=code,
                    name=name,
                    zones=[
                        lg.CarrierZone(
                            zone=1,
                            provinces=["Zhejiang", "Shanghai"],
                            promised_days=days,
                            first_weight_price=money(first),
                            additional_kg_price=money(200),
                        )
                    ],
                )
            ),
            metadata=CLERK,
        )


async def released(orders_stub, *requests: pb.SubmitOrderRequest) -> list[str]:
    """Submits, reviews and releases the orders; returns their ids."""
    ids = [(await orders_stub.SubmitOrder(r, metadata=SHOP)).order.order_id for r in requests]
    for order_id, request in zip(ids, requests, strict=True):
        if request.buyer_message:  # ORD-2: customer service honours the buyer's message before review
            await orders_stub.ResolveNotes(
                pb.ResolveNotesRequest(order_id=order_id, service_note="gift wrap noted"), metadata=CS
            )
    await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=ids), metadata=LEAD)
    done = await orders_stub.ReleaseToWarehouse(pb.ReleaseToWarehouseRequest(order_ids=ids), metadata=LEAD)
    assert [o.status for o in done.outcomes] == [pb.ORDER_STATUS_RELEASED] * len(ids)
    return ids


async def deliver(source, target_db, inbox, subscriptions, event_type, seen: set[uuid.UUID]) -> int:
    """Hands ``target_db``'s consumer every ``event_type`` the source published that it has not had."""
    applied = 0
    for event_id, event in await outbox_events(source.database, event_type):
        if event_id not in seen:
            seen.add(event_id)
            applied += await apply_event(target_db, inbox, subscriptions, event, event_id=event_id)
    return applied


async def to_logistics(orders_service, logistics, seen: set[uuid.UUID]) -> int:
    return await deliver(
        orders_service, logistics.database, logistics_kit.inbox, logistics_subscriptions,
        orders_events.OrderReleased, seen,
    )  # fmt: skip


def code_of(err: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> tuple[grpc.StatusCode, str]:
    return err.value.code(), err.value.details() or ""


async def test_released_orders_ship_in_their_wave_merged_picked_verified_packed_and_dispatched_log_1_to_5(
    orders_stub, orders_service, inventory_stub, inventory, logistics_stub, logistics
):
    """LOG-1 .. LOG-5 in one walk: three released orders become shipments of the same wave with their
    carrier; two of one buyer and address merge into one parcel (合单), the one with a buyer's message
    ships alone; the pick list takes the oldest lot first; scans verify, the scale packs, dispatch issues
    exactly the picked lots and ships the orders, each once."""
    await carriers(logistics_stub)
    old_lot = await stock(inventory_stub, quantity=3, request_id="lot-old")
    new_lot = await stock(inventory_stub, quantity=10, request_id="lot-new")
    first, second, noted = await released(
        orders_stub,
        order_request("TM-1", quantity=1),
        order_request("TM-2", quantity=2),
        order_request("TM-3", quantity=1, message="please wrap it as a gift"),
    )
    seen: set[uuid.UUID] = set()
    assert await to_logistics(orders_service, logistics, seen) == 3
    assert await to_logistics(orders_service, logistics, seen) == 0  # nothing new: nothing applied twice

    found = (
        await logistics_stub.FindShipments(lg.FindShipmentsRequest(order_id=first), metadata=CLERK)
    ).shipments
    assert len(found) == 1
    shipment = found[0]
    # LOG-7: no carrier was asked for, so the fastest covering one (SF, 1 day) ships it.
    assert (shipment.status, shipment.carrier_code, shipment.channel_order_id) == (
        lg.SHIPMENT_STATUS_WAITING, "sf", "TM-1",
    )  # fmt: skip
    assert shipment.address.province == ADDRESS.province
    wave_id = shipment.wave_id
    wave = (await logistics_stub.GetWave(lg.GetWaveRequest(wave_id=wave_id), metadata=CLERK)).wave
    assert (wave.status, wave.shipments, wave.parcels) == (lg.WAVE_STATUS_OPEN, 3, 0)
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await logistics_stub.GetPickList(lg.GetPickListRequest(wave_id=wave_id), metadata=CLERK)
    assert code_of(early)[0] == grpc.StatusCode.FAILED_PRECONDITION

    closed = (await logistics_stub.CloseWave(lg.CloseWaveRequest(wave_id=wave_id), metadata=CLERK)).wave
    assert (closed.status, closed.closed_by, closed.parcels) == (lg.WAVE_STATUS_CLOSED, "clerk-1", 2)
    again = (await logistics_stub.CloseWave(lg.CloseWaveRequest(wave_id=wave_id), metadata=CLERK)).wave
    assert (again.status, again.parcels) == (lg.WAVE_STATUS_CLOSED, 2)

    full = await logistics_stub.GetWave(lg.GetWaveRequest(wave_id=wave_id), metadata=CLERK)
    assert [p.print_seq for p in full.parcels] == [1, 2]
    alone, merged = sorted(full.parcels, key=lambda p: len(p.shipments))
    assert sorted(s.order_id for s in merged.shipments) == sorted([first, second])
    assert [s.order_id for s in alone.shipments] == [noted]

    # LOG-2: one pass over the bins, oldest lot first: 3 units of the old lot, then 1 of the new one.
    picks = await logistics_stub.GetPickList(lg.GetPickListRequest(wave_id=wave_id), metadata=CLERK)
    assert [(line.lot_label, line.quantity) for line in picks.lines] == sorted(
        [(old_lot.label_id, 3), (new_lot.label_id, 1)]
    )
    assert [(t.sku_code, t.quantity) for t in picks.totals] == [(SKU, 4)]
    assert sorted((len(e.order_ids), e.lines[0].quantity) for e in picks.sort_list) == [(1, 1), (2, 3)]

    # LOG-3: the label and the slip must name the same parcel.
    with pytest.raises(grpc.aio.AioRpcError) as mismatch:
        await logistics_stub.StartVerification(
            lg.StartVerificationRequest(label_barcode=merged.parcel_id, packing_slip_barcode=alone.parcel_id),
            metadata=VERIFIER,
        )
    assert code_of(mismatch)[0] == grpc.StatusCode.FAILED_PRECONDITION
    started = await logistics_stub.StartVerification(
        lg.StartVerificationRequest(label_barcode=merged.parcel_id, packing_slip_barcode=merged.parcel_id),
        metadata=VERIFIER,
    )
    assert [(m.sku_code, m.quantity) for m in started.missing] == [(SKU, 3)]
    # LOG-4: an unverified parcel is not packed; the refusal lists what is missing.
    with pytest.raises(grpc.aio.AioRpcError) as unverified:
        await logistics_stub.PackParcel(
            lg.PackParcelRequest(parcel_id=merged.parcel_id, weight_grams=1500), metadata=PACKER
        )
    assert code_of(unverified)[0] == grpc.StatusCode.FAILED_PRECONDITION and SKU in code_of(unverified)[1]
    # A wrong item (a SKU of the catalogue, by its code or a lot label) is refused with the difference and
    # not counted; a barcode of no SKU at all is refused as unknown. A retried scan counts once.
    other_lot = await stock(inventory_stub, sku="CUP-GLS-300", quantity=2, request_id="lot-cup")
    for barcode in ("CUP-GLS-300", other_lot.label_id):
        with pytest.raises(grpc.aio.AioRpcError) as wrong:
            await logistics_stub.ScanItem(
                lg.ScanItemRequest(parcel_id=merged.parcel_id, barcode=barcode, request_id="scan-0"),
                metadata=VERIFIER,
            )
        assert code_of(wrong)[0] == grpc.StatusCode.FAILED_PRECONDITION
        assert (
            "does not hold" in code_of(wrong)[1]
            and f"{SKU}: expected 3, scanned 0, missing 3" in code_of(wrong)[1]
        ), code_of(wrong)
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await logistics_stub.ScanItem(
            lg.ScanItemRequest(parcel_id=merged.parcel_id, barcode="NO-SUCH-ITEM", request_id="scan-0"),
            metadata=VERIFIER,
        )
    assert code_of(unknown)[0] == grpc.StatusCode.INVALID_ARGUMENT
    for _ in range(2):
        scanned = await logistics_stub.ScanItem(
            lg.ScanItemRequest(parcel_id=merged.parcel_id, barcode=old_lot.label_id, request_id="scan-1"),
            metadata=VERIFIER,
        )
    assert [(m.sku_code, m.quantity) for m in scanned.missing] == [(SKU, 2)]
    for n in (2, 3):
        scanned = await logistics_stub.ScanItem(
            lg.ScanItemRequest(parcel_id=merged.parcel_id, barcode=SKU, request_id=f"scan-{n}"),
            metadata=VERIFIER,
        )
    assert (scanned.parcel.status, list(scanned.missing)) == (lg.PARCEL_STATUS_VERIFIED, [])
    with pytest.raises(grpc.aio.AioRpcError) as extra:
        await logistics_stub.ScanItem(
            lg.ScanItemRequest(parcel_id=merged.parcel_id, barcode=SKU, request_id="scan-4"),
            metadata=VERIFIER,
        )
    assert code_of(extra)[0] == grpc.StatusCode.FAILED_PRECONDITION

    for weight in (0, -5, 60_001):
        with pytest.raises(grpc.aio.AioRpcError) as absurd:
            await logistics_stub.PackParcel(
                lg.PackParcelRequest(parcel_id=merged.parcel_id, weight_grams=weight), metadata=PACKER
            )
        assert code_of(absurd)[0] == grpc.StatusCode.INVALID_ARGUMENT and "weight_grams" in code_of(absurd)[1]
    packed = (
        await logistics_stub.PackParcel(
            lg.PackParcelRequest(parcel_id=merged.parcel_id, weight_grams=2300), metadata=PACKER
        )
    ).parcel
    # SF zone 1: 12.00 first kg + 2 started kg at 2.00; two orders alone would each have paid a first kg.
    assert (packed.status, packed.zone, packed.freight.amount_minor) == (lg.PARCEL_STATUS_PACKED, 1, 1600)
    assert packed.freight_saved.amount_minor > 0

    # ORD-5: a packed parcel's order can no longer be cancelled; the refusal says why.
    with pytest.raises(grpc.aio.AioRpcError) as too_late:
        await orders_stub.CancelOrder(
            pb.CancelOrderRequest(order_id=first, reason="changed mind"), metadata=CS
        )
    assert code_of(too_late)[0] == grpc.StatusCode.FAILED_PRECONDITION and "packed" in code_of(too_late)[1]

    dispatched = (
        await logistics_stub.DispatchParcel(
            lg.DispatchParcelRequest(parcel_id=merged.parcel_id, tracking_number="SF1234567890"),
            metadata=CLERK,
        )
    ).parcel
    assert (dispatched.status, dispatched.tracking_number) == (lg.PARCEL_STATUS_DISPATCHED, "SF1234567890")
    # Two scanners, or a retry: the same hand-over again changes nothing; another waybill is refused.
    await logistics_stub.DispatchParcel(
        lg.DispatchParcelRequest(parcel_id=merged.parcel_id, tracking_number="SF1234567890"), metadata=PACKER
    )
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await logistics_stub.DispatchParcel(
            lg.DispatchParcelRequest(parcel_id=merged.parcel_id, tracking_number="SF999999999"),
            metadata=CLERK,
        )
    assert code_of(other)[0] == grpc.StatusCode.ALREADY_EXISTS
    events = await outbox_events(logistics.database, logistics_events.ParcelDispatched)
    assert len(events) == 1
    event_id, event = events[0]
    assert sorted(s.order_id for s in event.shipments) == sorted([first, second])
    assert all(s.order_dispatched for s in event.shipments)

    # Inventory issues exactly the picked lots, once however often the event comes.
    for _ in range(2):
        await apply_event(
            inventory.database, inventory_kit.inbox, inventory_subscriptions, event, event_id=event_id
        )
    async with inventory.database.connection() as conn:
        issued = (
            await conn.execute(
                sa.select(stock_movements.c.lot_id, sa.func.sum(-stock_movements.c.on_hand_delta))
                .where(stock_movements.c.kind == "issue")
                .group_by(stock_movements.c.lot_id)
            )
        ).all()
    assert {str(lot): int(units) for lot, units in issued} == {old_lot.lot_id: 3}
    for order_id in (first, second):
        reservation = await inventory_stub.GetReservation(
            inv.GetReservationRequest(order_id=order_id), metadata=KEEPER
        )
        assert reservation.reservation.status == inv.RESERVATION_STATUS_ISSUED
    # Orders marks both shipped with the tracking number, once.
    for _ in range(2):
        await apply_event(
            orders_service.database, orders_kit.inbox, orders_subscriptions, event, event_id=event_id
        )
    for order_id in (first, second):
        order = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=LEAD)).order
        assert order.status == pb.ORDER_STATUS_SHIPPED
        assert [e.reason for e in order.timeline if e.event == "shipped"] == ["sf SF1234567890"]
    # LOG-5: label stubs are found again by tracking number and by channel order id.
    by_tracking = await logistics_stub.FindShipments(
        lg.FindShipmentsRequest(tracking_number="SF1234567890"), metadata=CLERK
    )
    assert sorted(s.order_id for s in by_tracking.shipments) == sorted([first, second])
    by_channel = await logistics_stub.FindShipments(
        lg.FindShipmentsRequest(channel="tmall", channel_order_id="TM-3"), metadata=CLERK
    )
    assert [s.order_id for s in by_channel.shipments] == [noted]

    # ORD-5: the order whose parcel is not packed yet is withdrawn, cancelled and its stock released.
    cancelled = await orders_stub.CancelOrder(
        pb.CancelOrderRequest(order_id=noted, reason="changed mind"), metadata=CS
    )
    assert cancelled.order.status == pb.ORDER_STATUS_CANCELLED
    withdrawn = (
        await logistics_stub.GetParcel(lg.GetParcelRequest(parcel_id=alone.parcel_id), metadata=CLERK)
    ).parcel
    assert withdrawn.status == lg.PARCEL_STATUS_WITHDRAWN
    assert withdrawn.shipments[0].status == lg.SHIPMENT_STATUS_WITHDRAWN
    reservation = await inventory_stub.GetReservation(
        inv.GetReservationRequest(order_id=noted), metadata=KEEPER
    )
    assert reservation.reservation.status == inv.RESERVATION_STATUS_RELEASED


async def test_a_wave_closed_early_sends_later_releases_to_the_next_wave_and_closes_once_log_1(
    orders_stub, orders_service, inventory_stub, logistics_stub, logistics, inventory
):
    """LOG-1: once the clerk closed a wave early, an order released for it joins the next wave; the
    scheduler closes due waves once, however many replicas run it at the same time."""
    await carriers(logistics_stub)
    await stock(inventory_stub, quantity=10)
    seen: set[uuid.UUID] = set()
    (first,) = await released(orders_stub, order_request("TM-10"))
    await to_logistics(orders_service, logistics, seen)
    (shipment,) = (
        await logistics_stub.FindShipments(lg.FindShipmentsRequest(order_id=first), metadata=CLERK)
    ).shipments
    await logistics_stub.CloseWave(lg.CloseWaveRequest(wave_id=shipment.wave_id), metadata=CLERK)
    (late,) = await released(orders_stub, order_request("TM-11"))
    await to_logistics(orders_service, logistics, seen)
    (next_one,) = (
        await logistics_stub.FindShipments(lg.FindShipmentsRequest(order_id=late), metadata=CLERK)
    ).shipments
    assert next_one.wave_id != shipment.wave_id and next_one.wave_id > shipment.wave_id[:-4]

    async with logistics.database.connection() as conn:
        wave = await waves.get(conn, next_one.wave_id)
    client = InventoryClient(inventory.target)
    try:
        replicas = [WaveClosing(logistics.database, client) for _ in range(3)]
        closed = await asyncio.gather(
            *(close_due(logistics.database, r, now=wave.cutoff_at + timedelta(minutes=5)) for r in replicas)
        )
    finally:
        await client.close()
    assert sum(closed) == 1
    done = (await logistics_stub.GetWave(lg.GetWaveRequest(wave_id=next_one.wave_id), metadata=CLERK)).wave
    assert (done.status, done.closed_by, done.parcels) == (lg.WAVE_STATUS_CLOSED, "scheduler", 1)


async def test_an_order_withdrawn_before_its_release_arrives_ships_nothing_ord_5(
    orders_stub, orders_service, inventory_stub, logistics_stub, logistics
):
    """ORD-5: the cancellation reached logistics before the release event did; the release then creates
    no shipment."""
    await stock(inventory_stub, quantity=5)
    (order_id,) = await released(orders_stub, order_request("TM-20"))
    cancelled = await orders_stub.CancelOrder(
        pb.CancelOrderRequest(order_id=order_id, reason="buyer asked"), metadata=CS
    )
    assert cancelled.order.status == pb.ORDER_STATUS_CANCELLED
    await to_logistics(orders_service, logistics, set())
    found = await logistics_stub.FindShipments(lg.FindShipmentsRequest(order_id=order_id), metadata=CLERK)
    assert list(found.shipments) == []
