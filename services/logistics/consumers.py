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
from services.logistics.domain.shipments import new_status, shipment_id_for
from services.logistics.domain.waves import WaveClock, WaveSlot
from services.logistics.store import carriers, schedules, shipments, waves

subscriptions = Subscriptions("logistics")


def new_shipments(
    released: Sequence[orders_events.OrderReleased], choice: CarrierChoice, clock: WaveClock
) -> tuple[shipments.NewShipments, list[WaveSlot]]:
    """The shipments of released orders — one per address of an ORD-7 split, numbered from 1 — with their
    carriers (LOG-7) and the wave each release falls in (LOG-1), as the rows to write. Read straight from
    the events into the rows' columns: a flash sale releases thousands a minute, and each object made in
    between costs more than the row itself."""
    new = shipments.NewShipments()
    slots: list[WaveSlot] = []
    for e in released:
        order_id = e.order_id
        released_at = from_timestamp(e.released_at)
        slot = clock.slot_for(released_at)
        for no, s in enumerate(e.shipments, start=1):
            shipment_id = shipment_id_for(order_id, no)
            a = s.address  # each read of a nested message makes a new wrapper of it: read once
            carrier_code, hold_reason = choice.of(a.province, e.carrier_code)
            new.shipment_id.append(shipment_id)
            new.order_id.append(order_id)
            new.shipment_no.append(no)
            new.channel.append(e.channel)
            new.channel_order_id.append(e.channel_order_id)
            new.shop_code.append(e.shop_code)
            new.buyer_id.append(e.buyer_id)
            new.recipient.append(a.recipient)
            new.phone.append(a.phone)
            new.province.append(a.province)
            new.city.append(a.city)
            new.district.append(a.district)
            new.street.append(a.street)
            new.carrier_code.append(carrier_code)
            new.buyer_message.append(e.buyer_message)
            new.service_note.append(e.service_note)
            new.status.append(new_status(hold_reason).value)
            new.hold_reason.append(hold_reason)
            new.released_at.append(released_at)
            new.exchange.append(False)
            for line in s.lines:
                new.line_shipment_id.append(shipment_id)
                new.line_sku_code.append(line.sku_code)
                new.line_quantity.append(line.quantity)
            slots.append(slot)
    return new, slots


# Releases come in bursts (a flash sale's reviews release thousands a minute): batches of 1,000 spread the
# batch's dozen fixed statements (inbox, withdrawn orders, carriers, the schedule, the wave), each a round
# trip that waits its turn for a core under load, and take some 150-250 ms, below the slow-trace threshold.
@subscriptions.on(orders_events.OrderReleased, batch_size=1000, in_flight=2)
async def order_released(
    conn: AsyncConnection, events: Sequence[Received[orders_events.OrderReleased]]
) -> None:
    """LOG-1: a released order becomes its shipment(s) — one per address of an ORD-7 split — each with its
    carrier (LOG-7), in the wave of its release time: the first cut-off strictly after it, or the next
    open wave when that one closed already. An order withdrawn before its release arrived ships nothing."""
    order_ids = [r.event.order_id for r in events]
    trace.get_current_span().set_attribute("shop.order_ids", sorted(order_ids))
    withdrawn = await shipments.is_withdrawn(conn, order_ids)
    choice = CarrierChoice([c for c, _ in await carriers.all_carriers(conn)])
    plan = await schedules.of_warehouse(conn, waves.DEFAULT_WAREHOUSE)
    new, slots = new_shipments(
        [r.event for r in events if r.event.order_id not in withdrawn],
        choice,
        WaveClock(plan.normal, plan.overrides),
    )
    # One join per wave, in wave order, so concurrent batches take the waves' shared locks alike.
    wave_of_slot = {
        slot: await waves.join_slot(conn, waves.DEFAULT_WAREHOUSE, slot, plan) for slot in sorted(set(slots))
    }
    new.wave_id.extend(wave_of_slot[slot] for slot in slots)
    await shipments.add(conn, new)
