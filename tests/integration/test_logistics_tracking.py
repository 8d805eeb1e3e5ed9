"""Tracking and exception cases over the real services (LOG-6): carriers' batches recorded once per event
whatever order they arrive in, a delivery that reaches the order (ORD-4) once every parcel of a split order
is delivered, a lost parcel's case handled and resolved only after the customer was told, each step on the
order's timeline, the overdue sweeper opening one delayed case however many replicas sweep, and bad batches
refused whole with every fault named. Events travel as the consumers receive them (``apply_event``)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from shop.logistics.v1 import events_pb2 as logistics_events
from shop.logistics.v1 import logistics_pb2 as lg
from shop.orders.v1 import orders_pb2 as pb

from libs.timestamps import to_timestamp
from services.logistics.store.tables import exception_cases, parcels, tracking_events
from services.logistics.workers.overdue_sweeper import SWEEPER, sweep_once
from services.orders.consumers import subscriptions as orders_subscriptions
from services.orders.store.tables import kit as orders_kit
from tests.conftest import apply_event, auth, token_for
from tests.integration import test_logistics_floor as floor
from tests.integration.test_inventory_rpc import field_violations
from tests.integration.test_inventory_stock_flow import stock
from tests.integration.test_logistics_floor import (
    CLERK,
    PACKER,
    SKU,
    VERIFIER,
    carriers,
    code_of,
    released,
    to_logistics,
)
from tests.integration.test_orders_amendments import OTHER_ADDRESS
from tests.integration.test_orders_events import outbox_events
from tests.integration.test_orders_flow import ADDRESS, CS, LEAD, SHOP, order_request

#: The floor's fixture: a stub of the logistics server.
logistics_stub = floor.logistics_stub

CARRIER = auth("integrator", "sf-connector")
CLERK_2 = auth("logistics_clerk", "clerk-2")


# ------------------------------------------------------------------------------------------- helpers


async def dispatched(orders_stub, orders_service, logistics_stub, logistics, order_ids) -> dict[str, str]:
    """Ships the released orders' wave: closes it, verifies, packs and dispatches every parcel (each gets
    the tracking number ``SF<print seq>...``), and hands every ParcelDispatched to the orders service.
    Returns tracking number -> parcel id."""
    await to_logistics(orders_service, logistics, set())
    (first, *_) = (
        await logistics_stub.FindShipments(lg.FindShipmentsRequest(order_id=order_ids[0]), metadata=CLERK)
    ).shipments
    await logistics_stub.CloseWave(lg.CloseWaveRequest(wave_id=first.wave_id), metadata=CLERK)
    wave = await logistics_stub.GetWave(lg.GetWaveRequest(wave_id=first.wave_id), metadata=CLERK)
    numbers: dict[str, str] = {}
    for parcel in wave.parcels:
        await logistics_stub.StartVerification(
            lg.StartVerificationRequest(
                label_barcode=parcel.parcel_id, packing_slip_barcode=parcel.parcel_id
            ),
            metadata=VERIFIER,
        )
        units = sum(line.quantity for s in parcel.shipments for line in s.lines)
        for n in range(units):
            await logistics_stub.ScanItem(
                lg.ScanItemRequest(
                    parcel_id=parcel.parcel_id, barcode=SKU, request_id=f"{parcel.parcel_id}-{n}"
                ),
                metadata=VERIFIER,
            )
        await logistics_stub.PackParcel(
            lg.PackParcelRequest(parcel_id=parcel.parcel_id, weight_grams=800), metadata=PACKER
        )
        number = f"SF{parcel.print_seq:02d}{uuid.uuid4().int % 10**8:08d}"
        await logistics_stub.DispatchParcel(
            lg.DispatchParcelRequest(parcel_id=parcel.parcel_id, tracking_number=number), metadata=CLERK
        )
        numbers[number] = parcel.parcel_id
    for event_id, event in await outbox_events(logistics.database, logistics_events.ParcelDispatched):
        await apply_event(
            orders_service.database, orders_kit.inbox, orders_subscriptions, event, event_id=event_id
        )
    return numbers


def scan(
    event_id: str,
    number: str,
    state: lg.TrackingState.ValueType,
    at: datetime,
    location: str = "Hangzhou hub",
) -> lg.TrackingEvent:
    return lg.TrackingEvent(
        event_id=event_id, tracking_number=number, state=state, at=to_timestamp(at), location=location
    )


async def record(stub, *events: lg.TrackingEvent, request_id: str = "") -> lg.RecordTrackingEventsResponse:
    request = lg.RecordTrackingEventsRequest(events=list(events), request_id=request_id or str(uuid.uuid4()))
    return await stub.RecordTrackingEvents(request, metadata=CARRIER)


async def to_orders(orders_service, logistics, event_type, seen: set[uuid.UUID]) -> int:
    """Hands the orders service every ``event_type`` logistics published that it has not had yet."""
    applied = 0
    for event_id, event in await outbox_events(logistics.database, event_type):
        if event_id not in seen:
            seen.add(event_id)
            applied += await apply_event(
                orders_service.database, orders_kit.inbox, orders_subscriptions, event, event_id=event_id
            )
    return applied


async def count(database, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    async with database.connection() as conn:
        return int(
            (await conn.execute(sa.select(sa.func.count()).select_from(table).where(*where))).scalar_one()
        )


async def order_of(orders_stub, order_id: str) -> pb.Order:
    return (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=LEAD)).order


async def released_split(orders_stub, channel_order_id: str) -> str:
    """An order of three units split (ORD-7) into one to the buyer and two to another address, so it
    ships in two parcels; reviewed and released. Returns its id."""
    order_id = (
        await orders_stub.SubmitOrder(order_request(channel_order_id, quantity=3), metadata=SHOP)
    ).order.order_id
    await orders_stub.SplitShipment(
        pb.SplitShipmentRequest(
            order_id=order_id,
            shipments=[
                pb.Shipment(address=ADDRESS, lines=[pb.OrderLine(sku_code=SKU, quantity=1)]),
                pb.Shipment(address=OTHER_ADDRESS, lines=[pb.OrderLine(sku_code=SKU, quantity=2)]),
            ],
        ),
        metadata=CS,
    )
    await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=[order_id]), metadata=LEAD)
    await orders_stub.ReleaseToWarehouse(pb.ReleaseToWarehouseRequest(order_ids=[order_id]), metadata=LEAD)
    return order_id


# ------------------------------------------------------------------------------------------- tests


async def test_log_6_tracking_reaches_the_order_and_a_lost_parcel_is_handled_before_it_is_resolved(
    orders_stub, orders_service, inventory_stub, logistics_stub, logistics
):
    """LOG-6 with ORD-4, on a split order shipped in two parcels: a batch out of order is recorded once
    however often it comes; the first parcel's delivery is on the order's timeline, the order stays
    shipped; the second parcel is lost: a case owned by the logistics clerks, refused resolution until the
    customer was told, assigned, told, resolved; the parcel turns up and is delivered, and the order is
    delivered. Every case step is on the order's timeline."""
    await carriers(logistics_stub)
    await stock(inventory_stub, quantity=10)
    order_id = await released_split(orders_stub, "TM-60")
    numbers = await dispatched(orders_stub, orders_service, logistics_stub, logistics, [order_id])
    assert len(numbers) == 2
    near, far = sorted(numbers)
    assert (await order_of(orders_stub, order_id)).status == pb.ORDER_STATUS_SHIPPED

    now = datetime.now(UTC)
    batch = [
        scan("E3", near, lg.TRACKING_STATE_DELIVERED, now - timedelta(hours=1)),
        scan("E1", near, lg.TRACKING_STATE_PICKED_UP, now - timedelta(hours=5)),
        scan("E2", near, lg.TRACKING_STATE_IN_TRANSIT, now - timedelta(hours=3)),
        scan("F1", far, lg.TRACKING_STATE_IN_TRANSIT, now - timedelta(hours=2)),
    ]
    first = await record(logistics_stub, *batch, request_id="push-1")
    assert (first.recorded, first.repeated, list(first.delivered), list(first.opened)) == (4, 0, [near], [])
    retried = await record(logistics_stub, *batch, request_id="push-1")  # a retry gets the first answer
    assert retried == first
    again = await record(logistics_stub, *reversed(batch))  # the carrier pushes the same events again
    assert (again.recorded, again.repeated, list(again.delivered)) == (0, 4, [])
    assert await count(logistics.database, tracking_events) == 4
    async with logistics.database.connection() as conn:
        row = (
            await conn.execute(
                sa.select(parcels.c.tracking_state, parcels.c.delivered_at).where(
                    parcels.c.tracking_number == near
                )
            )
        ).one()
    assert (row.tracking_state, row.delivered_at) == ("delivered", now - timedelta(hours=1))

    # ORD-4: one parcel of two is delivered: on the timeline, the order stays shipped; once only.
    delivered_events = await outbox_events(logistics.database, logistics_events.ParcelDelivered)
    assert [
        (e.tracking_number, [(o.order_id, o.order_delivered) for o in e.orders]) for _, e in delivered_events
    ] == [(near, [(order_id, False)])]
    seen: set[uuid.UUID] = set()
    assert await to_orders(orders_service, logistics, logistics_events.ParcelDelivered, seen) == 1
    event_id, event = delivered_events[0]
    assert not await apply_event(
        orders_service.database, orders_kit.inbox, orders_subscriptions, event, event_id=event_id
    )
    order = await order_of(orders_stub, order_id)
    assert order.status == pb.ORDER_STATUS_SHIPPED
    assert [e.reason for e in order.timeline if e.event == "parcel delivered"] == [near]

    # The far parcel is lost: a case for the logistics clerks; a second lost scan opens no second case.
    lost = await record(logistics_stub, scan("L1", far, lg.TRACKING_STATE_LOST, now - timedelta(minutes=30)))
    (case,) = lost.opened
    assert (case.kind, case.owner, case.tracking_number, list(case.order_ids)) == (
        lg.EXCEPTION_KIND_LOST, "logistics_clerk", far, [order_id],
    )  # fmt: skip
    assert [(h.what, h.actor) for h in case.history] == [("opened", "sf-connector")]
    again_lost = await record(
        logistics_stub, scan("L2", far, lg.TRACKING_STATE_LOST, now - timedelta(minutes=20))
    )
    assert (again_lost.recorded, list(again_lost.opened)) == (1, [])

    with pytest.raises(grpc.aio.AioRpcError) as untold:
        await logistics_stub.ResolveExceptionCase(
            lg.ResolveExceptionCaseRequest(case_id=case.case_id, resolution=lg.RESOLUTION_RESHIP),
            metadata=CLERK,
        )
    assert code_of(untold)[0] == grpc.StatusCode.FAILED_PRECONDITION
    assert list(field_violations(untold.value)) == ["case_id"]

    assigned = (
        await logistics_stub.AssignExceptionCase(
            lg.AssignExceptionCaseRequest(case_id=case.case_id, owner="clerk-2"), metadata=CLERK
        )
    ).exception_case
    assert assigned.owner == "clerk-2"
    told = (
        await logistics_stub.RecordCustomerTold(
            lg.RecordCustomerToldRequest(
                case_id=case.case_id, channel=lg.CONTACT_CHANNEL_PHONE, note="a new parcel goes out today"
            ),
            metadata=CLERK_2,
        )
    ).exception_case
    assert told.HasField("customer_told_at")
    resolved = (
        await logistics_stub.ResolveExceptionCase(
            lg.ResolveExceptionCaseRequest(
                case_id=case.case_id, resolution=lg.RESOLUTION_RESHIP, note="order TM-60R", request_id="res-1"
            ),
            metadata=CLERK_2,
        )
    ).exception_case
    assert (resolved.resolution, resolved.HasField("resolved_at")) == (lg.RESOLUTION_RESHIP, True)
    assert [(h.what, h.actor) for h in resolved.history] == [
        ("opened", "sf-connector"), ("assigned", "clerk-1"), ("customer told", "clerk-2"), ("resolved", "clerk-2"),
    ]  # fmt: skip
    open_now = await logistics_stub.ListExceptionCases(lg.ListExceptionCasesRequest(), metadata=CLERK)
    assert list(open_now.cases) == []
    every = await logistics_stub.ListExceptionCases(
        lg.ListExceptionCasesRequest(include_resolved=True), metadata=CLERK
    )
    assert [c.case_id for c in every.cases] == [case.case_id]
    assert list(every.cases[0].history) == list(resolved.history)

    # The lost parcel turns up and is delivered: now every parcel of the order is, and the order is too.
    found = await record(
        logistics_stub, scan("D1", far, lg.TRACKING_STATE_DELIVERED, now - timedelta(minutes=5))
    )
    assert list(found.delivered) == [far]
    assert await to_orders(orders_service, logistics, logistics_events.ParcelDelivered, seen) == 1
    changed = await outbox_events(logistics.database, logistics_events.ParcelExceptionChanged)
    assert [e.what for _, e in changed] == ["opened", "assigned", "customer told", "resolved"]
    assert await to_orders(orders_service, logistics, logistics_events.ParcelExceptionChanged, set()) == 4

    order = await order_of(orders_stub, order_id)
    assert order.status == pb.ORDER_STATUS_DELIVERED
    assert [e.reason for e in order.timeline if e.event == "delivered"] == [far]
    steps = [e.reason for e in order.timeline if e.event == "parcel exception"]
    assert [s.split(":")[0] for s in steps] == [
        "lost case opened", "lost case assigned", "lost case customer told", "lost case resolved",
    ]  # fmt: skip
    assert all(far in s for s in steps)
    assert "by clerk-2" in steps[2] and "a new parcel goes out today" in steps[2]


async def test_log_6_the_sweeper_opens_one_delayed_case_per_overdue_parcel_however_many_sweep(
    orders_stub, orders_service, inventory_stub, logistics_stub, logistics
):
    """LOG-6: a parcel not delivered by the carrier's promise gets a delayed case, once, even with two
    sweepers at the same time; a delivered parcel and one still within its promise get none; a resolved
    delayed case is not opened again."""
    await carriers(logistics_stub)
    await stock(inventory_stub, quantity=10)
    # Buyers' messages keep the three orders out of one merged parcel.
    ids = await released(
        orders_stub, *(order_request(f"TM-7{n}", quantity=1, message=f"note {n}") for n in range(3))
    )
    numbers = await dispatched(orders_stub, orders_service, logistics_stub, logistics, ids)
    late, delivered, on_time = sorted(numbers)
    now = datetime.now(UTC)
    await record(logistics_stub, scan("D1", delivered, lg.TRACKING_STATE_DELIVERED, now - timedelta(hours=1)))
    async with logistics.database.transaction() as conn:
        await conn.execute(
            parcels.update()
            .where(parcels.c.tracking_number.in_([late, delivered]))
            .values(promised_by=now - timedelta(hours=2))
        )

    opened = await asyncio.gather(sweep_once(logistics.database, now), sweep_once(logistics.database, now))
    assert sorted(opened) == [0, 1]
    assert await sweep_once(logistics.database, now) == 0
    (case,) = (await logistics_stub.ListExceptionCases(lg.ListExceptionCasesRequest(), metadata=CLERK)).cases
    assert (case.kind, case.tracking_number, case.owner) == (
        lg.EXCEPTION_KIND_DELAYED,
        late,
        "logistics_clerk",
    )
    assert [(h.what, h.actor) for h in case.history] == [("opened", SWEEPER)]
    (changed,) = [
        e for _, e in await outbox_events(logistics.database, logistics_events.ParcelExceptionChanged)
    ]
    assert (changed.kind, changed.what, changed.tracking_number) == ("delayed", "opened", late)

    await logistics_stub.RecordCustomerTold(
        lg.RecordCustomerToldRequest(
            case_id=case.case_id, channel=lg.CONTACT_CHANNEL_SMS, note="late, sorry"
        ),
        metadata=CLERK,
    )
    await logistics_stub.ResolveExceptionCase(
        lg.ResolveExceptionCaseRequest(case_id=case.case_id, resolution=lg.RESOLUTION_CARRIER_CLAIM),
        metadata=CLERK,
    )
    assert await sweep_once(logistics.database, now + timedelta(days=1)) == 0
    assert await count(logistics.database, exception_cases) == 1
    assert await count(logistics.database, exception_cases, exception_cases.c.tracking_number == on_time) == 0


async def test_log_6_a_bad_batch_is_refused_whole_with_every_fault_named(
    orders_stub, orders_service, inventory_stub, logistics_stub, logistics
):
    """LOG-6: an unknown state, a time in the future, an empty event id, an unknown tracking number, an
    event id reused with other contents, an empty batch and a caller without the role are each refused,
    naming ``events[i].<field>``; nothing of the batch is written."""
    await carriers(logistics_stub)
    await stock(inventory_stub, quantity=5)
    ids = await released(orders_stub, order_request("TM-80", quantity=1))
    (number,) = await dispatched(orders_stub, orders_service, logistics_stub, logistics, ids)
    now = datetime.now(UTC)
    good = scan("E1", number, lg.TRACKING_STATE_IN_TRANSIT, now - timedelta(hours=1))

    async def refused(*events: lg.TrackingEvent, metadata=CARRIER) -> tuple[grpc.StatusCode, dict[str, str]]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await logistics_stub.RecordTrackingEvents(
                lg.RecordTrackingEventsRequest(events=list(events), request_id=str(uuid.uuid4())),
                metadata=metadata,
            )
        return err.value.code(), field_violations(err.value)

    code, fields = await refused(
        good,
        scan("E2", number, lg.TRACKING_STATE_UNSPECIFIED, now - timedelta(hours=1)),
        scan("E3", number, lg.TRACKING_STATE_DELIVERED, now + timedelta(hours=1)),
        scan("", number, lg.TRACKING_STATE_IN_TRANSIT, now - timedelta(hours=1)),
        lg.TrackingEvent(event_id="E5", tracking_number=number, state=lg.TRACKING_STATE_IN_TRANSIT),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(fields) == ["events[1].state", "events[2].at", "events[3].event_id", "events[4].at"]

    code, fields = await refused(good, scan("E2", "SF-NOBODY-1", lg.TRACKING_STATE_DELIVERED, now))
    assert (code, list(fields)) == (grpc.StatusCode.NOT_FOUND, ["events[1].tracking_number"])

    # An integrator acting for other shops cannot touch this shop's parcel: to it the number is unknown.
    other_shop = [("authorization", f"Bearer {token_for('integrator', 'jd-feed', shops=('jd-store',))}")]
    code, fields = await refused(good, metadata=other_shop)
    assert (code, list(fields)) == (grpc.StatusCode.NOT_FOUND, ["events[0].tracking_number"])

    code, fields = await refused()
    assert (code, list(fields)) == (grpc.StatusCode.INVALID_ARGUMENT, ["events"])
    code, _ = await refused(good, metadata=auth("customer_service", "cs-1"))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert await count(logistics.database, tracking_events) == 0

    await record(logistics_stub, good)
    changed = scan("E1", number, lg.TRACKING_STATE_DELIVERED, now - timedelta(minutes=30))
    other = scan("E9", number, lg.TRACKING_STATE_OUT_FOR_DELIVERY, now - timedelta(minutes=40))
    code, fields = await refused(other, changed)
    assert (code, list(fields)) == (grpc.StatusCode.ALREADY_EXISTS, ["events[1].event_id"])
    assert await count(logistics.database, tracking_events) == 1
    assert await outbox_events(logistics.database, logistics_events.ParcelDelivered) == []
