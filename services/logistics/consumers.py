"""The events the logistics service consumes. The kit runs each on its durable consumer and applies it
exactly once, in one transaction with the inbox (``libs.subscriptions``)."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from shop.orders.v1 import events_pb2 as orders_events
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.subscriptions import Received, Subscriptions
from libs.timestamps import from_timestamp
from services.logistics.domain.carriers import CarrierChoice
from services.logistics.domain.shipments import (
    Address,
    ReleasedOrder,
    ReleasedShipment,
    shipments_of,
)
from services.logistics.domain.waves import WaveSlot, slot_for
from services.logistics.store import carriers, schedules, shipments, waves

subscriptions = Subscriptions("logistics")


def released_order(e: orders_events.OrderReleased) -> ReleasedOrder:
    """The release as the warehouse reads it."""
    return ReleasedOrder(
        order_id=e.order_id,
        channel=e.channel,
        channel_order_id=e.channel_order_id,
        shop_code=e.shop_code,
        buyer_id=e.buyer_id,
        shipments=tuple(
            ReleasedShipment(
                Address(a.recipient, a.phone, a.province, a.city, a.district, a.street),
                tuple([(line.sku_code, line.quantity) for line in s.lines]),
            )
            for s in e.shipments
            # Each read of a nested message makes a new wrapper of it: read once.
            for a in (s.address,)
        ),
        carrier_code=e.carrier_code,
        buyer_message=e.buyer_message,
        service_note=e.service_note,
        released_at=from_timestamp(e.released_at),
    )


# Releases come in bursts (a flash sale's reviews release thousands a minute): batches of 500 spread the
# batch's fixed statements (withdrawn orders, carriers, the schedule, the wave) and take some 100 ms.
@subscriptions.on(orders_events.OrderReleased, batch_size=500, in_flight=2)
async def order_released(
    conn: AsyncConnection, events: Sequence[Received[orders_events.OrderReleased]]
) -> None:
    """LOG-1: a released order becomes its shipment(s) — one per address of an ORD-7 split — each with its
    carrier (LOG-7), in the wave of its release time: the first cut-off strictly after it, or the next
    open wave when that one closed already. An order withdrawn before its release arrived ships nothing."""
    released = [released_order(r.event) for r in events]
    trace.get_current_span().set_attribute("shop.order_ids", sorted(o.order_id for o in released))
    withdrawn = await shipments.is_withdrawn(conn, [o.order_id for o in released])
    choice = CarrierChoice([c for c, _ in await carriers.all_carriers(conn)])
    new = [s for o in released if o.order_id not in withdrawn for s in shipments_of(o, choice)]
    # One join per wave, in wave order, so concurrent batches take the waves' shared locks alike.
    plan = await schedules.of_warehouse(conn, waves.DEFAULT_WAREHOUSE)

    slot = {s.shipment_id: slot_for(s.order.released_at, plan.normal, plan.overrides) for s in new}
    wave_of_slot: dict[WaveSlot, str] = {}
    for s in sorted(new, key=lambda s: slot[s.shipment_id]):
        if slot[s.shipment_id] not in wave_of_slot:
            wave_of_slot[slot[s.shipment_id]] = await waves.join(
                conn, waves.DEFAULT_WAREHOUSE, s.order.released_at, plan
            )
    await shipments.add(conn, new, {s.shipment_id: wave_of_slot[slot[s.shipment_id]] for s in new})
