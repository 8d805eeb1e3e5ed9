"""The events the orders service consumes. The kit runs each on its durable consumer and applies it
exactly once, in one transaction with the inbox (``libs.subscriptions``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from opentelemetry import trace
from shop.inventory.v1 import events_pb2 as inventory_events
from shop.logistics.v1 import events_pb2 as logistics_events
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import NotFound
from libs.subscriptions import Received, Subscriptions
from libs.timestamps import from_timestamp
from services.orders.store import order_repository, review_requests
from services.orders.workers.rereview import rereviews

log = logging.getLogger(__name__)

subscriptions = Subscriptions("orders")

#: The timeline's actor for what the inventory service's events do to an order.
INVENTORY = "service:inventory"


def _note_orders(order_ids: list[str]) -> None:
    """Names the orders an event touched on its consumer span, so an order's timeline finds the trace."""
    if order_ids:
        trace.get_current_span().set_attribute("shop.order_ids", sorted(order_ids))


@subscriptions.on(inventory_events.StockAvailable, after_commit=rereviews.wake)
async def stock_available(
    conn: AsyncConnection, events: Sequence[Received[inventory_events.StockAvailable]]
) -> None:
    """ORD-2: orders held for short stock are reviewed again, by themselves, when stock of one of their
    SKUs arrives: the handler asks for the review; the re-review worker does it, earliest paid first.
    One query serves the whole batch: each SKU counts with what its latest event says is available."""
    latest: dict[str, tuple[int, Received[inventory_events.StockAvailable]]] = {}
    for received in events:
        for line in received.event.lines:
            latest[line.sku_code] = (line.available, received)
    held = await review_requests.held_for_short_stock(
        conn, {sku: units for sku, (units, _) in latest.items()}
    )
    asks = []
    for order_id, sku in held.items():
        event = latest[sku][1].event
        asks.append(
            review_requests.Ask(
                order_id,
                cause=f"stock of {sku} became available in {event.warehouse_code} "
                f"({event.document_type} {event.document_id})",
                traceparent=latest[sku][1].traceparent,
            )
        )
    await review_requests.request(conn, asks)
    if asks:
        rereviews.asked()
    _note_orders(list(held))


@subscriptions.on(inventory_events.ReservationCut)
async def reservation_cut(
    conn: AsyncConnection, events: Sequence[Received[inventory_events.ReservationCut]]
) -> None:
    """INV-13 and ORD-2: a count found fewer units than this order had reserved, and inventory cut its
    reservation. The order goes to the exception queue for short stock, with the reason, and is reviewed
    again when stock arrives."""
    touched: list[str] = []
    for received in events:
        e = received.event
        try:
            order = await order_repository.load(conn, e.order_id, lock=True)
        except NotFound:
            # A reservation an integrator made directly, for no order of this service: nothing to hold.
            log.info(
                "reservation cut for an order this service does not have", extra={"order_id": e.order_id}
            )
            continue
        touched.append(order.order_id)
        order.reservation_cut(e.reason, actor=INVENTORY, at=datetime.now(UTC))
        await order_repository.save(conn, order)
    _note_orders(touched)


#: The timeline's actor for what the logistics service's events do to an order.
LOGISTICS = "service:logistics"


@subscriptions.on(logistics_events.ParcelDispatched)
async def parcel_dispatched(
    conn: AsyncConnection, events: Sequence[Received[logistics_events.ParcelDispatched]]
) -> None:
    """LOG-5 and ORD-4: a parcel left with its tracking number. Each of its orders notes it on the
    timeline, and an order whose every shipment has now left is shipped."""
    touched: list[str] = []
    for received in events:
        e = received.event
        at = from_timestamp(e.dispatched_at)
        for shipment in e.shipments:
            try:
                order = await order_repository.load(conn, shipment.order_id, lock=True)
            except NotFound:
                log.info(
                    "parcel dispatched for an order this service does not have",
                    extra={"order_id": shipment.order_id},
                )
                continue
            touched.append(order.order_id)
            order.parcel_dispatched(
                e.carrier_code, e.tracking_number, all_left=shipment.order_dispatched, actor=LOGISTICS, at=at
            )
            await order_repository.save(conn, order)
    _note_orders(touched)


@subscriptions.on(logistics_events.ParcelDelivered)
async def parcel_delivered(
    conn: AsyncConnection, events: Sequence[Received[logistics_events.ParcelDelivered]]
) -> None:
    """LOG-6 and ORD-4: a parcel was delivered. Each of its orders notes it on the timeline, and an order
    whose every parcel is now delivered is delivered."""
    touched: list[str] = []
    for received in events:
        e = received.event
        at = from_timestamp(e.delivered_at)
        for delivered in e.orders:
            try:
                order = await order_repository.load(conn, delivered.order_id, lock=True)
            except NotFound:
                log.info(
                    "parcel delivered for an order this service does not have",
                    extra={"order_id": delivered.order_id},
                )
                continue
            touched.append(order.order_id)
            order.parcel_delivered(
                e.tracking_number, all_delivered=delivered.order_delivered, actor=LOGISTICS, at=at
            )
            await order_repository.save(conn, order)
    _note_orders(touched)


@subscriptions.on(logistics_events.ParcelExceptionChanged)
async def parcel_exception_changed(
    conn: AsyncConnection, events: Sequence[Received[logistics_events.ParcelExceptionChanged]]
) -> None:
    """LOG-6 and ORD-4: an exception case of a parcel was opened, assigned, the customer told, or resolved.
    Each order in the parcel shows the step on its timeline with the parcel's tracking number and who took
    the step; the order's status stays."""
    touched: list[str] = []
    for received in events:
        e = received.event
        at = from_timestamp(e.at)
        # The order's timeline names the service, as for every logistics event; who took the step is
        # part of what happened.
        detail = (
            f"{e.tracking_number} by {e.actor}: {e.detail}"
            if e.detail
            else f"{e.tracking_number} by {e.actor}"
        )
        for order_id in e.order_ids:
            try:
                order = await order_repository.load(conn, order_id, lock=True)
            except NotFound:
                log.info(
                    "parcel exception for an order this service does not have", extra={"order_id": order_id}
                )
                continue
            touched.append(order.order_id)
            order.parcel_exception(e.kind, e.what, detail, actor=LOGISTICS, at=at)
            await order_repository.save(conn, order)
    _note_orders(touched)
