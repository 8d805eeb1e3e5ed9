"""The events the inventory service consumes. The kit runs each on its durable consumer and applies it
exactly once, in one transaction with the inbox (``libs.subscriptions``)."""

from __future__ import annotations

from collections.abc import Sequence

from shop.logistics.v1 import events_pb2 as logistics_events
from shop.orders.v1 import events_pb2 as orders_events
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.subscriptions import Received, Subscriptions
from libs.timestamps import from_timestamp
from services.inventory.store import pick_allocations, planning

subscriptions = Subscriptions("inventory")


@subscriptions.on(orders_events.LargePromotionScheduled)
async def large_promotion_scheduled(
    conn: AsyncConnection, events: Sequence[Received[orders_events.LargePromotionScheduled]]
) -> None:
    """INV-16: a large promotion is scheduled, so the warehouse supervisor is alerted to buy packing
    materials until it is over (``ListPackingAlerts``)."""
    for received in events:
        e = received.event
        await planning.record_large_promotion(
            conn,
            planning.ScheduledPromotion(
                promotion_id=e.promotion_id,
                name=e.name,
                starts_at=from_timestamp(e.starts_at),
                ends_at=from_timestamp(e.ends_at),
                revision=e.revision,
            ),
        )


@subscriptions.on(logistics_events.ParcelDispatched)
async def parcel_dispatched(
    conn: AsyncConnection, events: Sequence[Received[logistics_events.ParcelDispatched]]
) -> None:
    """LOG-5, INV-11: a parcel left, so each of its shipments' stock is issued from the lots kept for it
    when its wave closed, against the shipment as the document. Once per event (the inbox), and a shipment
    whose lots were issued already issues nothing."""
    for received in events:
        e = received.event
        actor = f"service:logistics ({e.dispatched_by})" if e.dispatched_by else "service:logistics"
        for shipment in e.shipments:
            await pick_allocations.issue_shipment(conn, shipment.shipment_id, shipment.order_id, actor=actor)
