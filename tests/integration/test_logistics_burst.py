"""LOG-1 under a burst: 10,000 released orders, delivered to the logistics consumer in batches as the broker
would (some twice, some published twice under new event ids), all end in their wave, none twice, the cut-off
boundaries holding to the second in Asia/Shanghai across midnight."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from shop.orders.v1 import events_pb2 as orders_events
from shop.orders.v1 import orders_pb2

from libs.business_time import BUSINESS_ZONE
from libs.db import Database
from libs.events import catalogue
from libs.subscriptions import Applier, Delivery
from libs.timestamps import to_timestamp
from services.logistics.consumers import subscriptions
from services.logistics.domain.waves import slot_for
from services.logistics.store.tables import kit, shipments
from services.logistics.store.waves import wave_id_for

ORDERS = 10_000
BATCH = 250
START = datetime(2026, 12, 10, 16, 0, tzinfo=BUSINESS_ZONE)
ADDRESS = orders_pb2.Address(
    recipient="Wang Fang", phone="13812345678", province="Zhejiang", city="Hangzhou", district="Xihu",
    street="18 Longjing Road",
)  # fmt: skip


def released(n: int) -> orders_events.OrderReleased:
    # One order every 2.7 s from 16:00 local: past the 16:30 and 17:30 cut-offs, midnight and 10:30.
    at = START + timedelta(seconds=n * 27 / 10)
    if n % 997 == 0:  # some land exactly on a cut-off: they belong to the next wave
        at = at.replace(minute=30, second=0, microsecond=0)
    return orders_events.OrderReleased(
        order_id=f"burst-{n:05d}", channel="tmall", channel_order_id=f"TM-{n}", shop_code="tmall-flagship",
        buyer_id=f"buyer-{n}",
        shipments=[orders_events.OrderReleased.Shipment(
            address=ADDRESS, lines=[orders_events.OrderReleased.Line(sku_code="TEA", quantity=1)]
        )],
        released_at=to_timestamp(at.astimezone(UTC)),
    )  # fmt: skip


async def test_ten_thousand_released_orders_are_all_in_their_waves_none_twice_log_1(fresh_database):
    database = Database(fresh_database("logistics"))
    spec = catalogue().of(orders_events.OrderReleased)
    subscription = subscriptions.for_subject(spec.subject)
    assert subscription is not None
    applier = Applier(database, kit.inbox, subscription)
    events = [(uuid.uuid4(), released(n)) for n in range(ORDERS)]
    # Redelivered messages (same event id) and a second publication (new id) of some orders.
    again = [*events[:500], *((uuid.uuid4(), e) for _, e in events[500:800])]

    def delivery(event_id: uuid.UUID, event: orders_events.OrderReleased) -> Delivery:
        headers = {
            "Nats-Msg-Id": str(event_id),
            "Shop-Event-Type": spec.full_name,
            "Shop-Aggregate-Id": event.order_id,
        }
        return Delivery(spec.subject, event.SerializeToString(), headers, 1)

    try:
        stream = [*events, *again]
        for start in range(0, len(stream), BATCH):
            await applier.apply([delivery(i, e) for i, e in stream[start : start + BATCH]])
        async with database.connection() as conn:
            rows = (await conn.execute(sa.select(shipments.c.order_id, shipments.c.wave_id))).all()
            # The shipments and their lines are written without per-row key checks, under their wave's
            # lock: every shipment's wave exists, every line's shipment too, and every shipment has lines.
            orphans = (
                await conn.execute(
                    sa.text(
                        "SELECT (SELECT count(*) FROM shipments s WHERE NOT EXISTS "
                        "        (SELECT FROM waves w WHERE w.wave_id = s.wave_id)),"
                        "       (SELECT count(*) FROM shipment_lines l WHERE NOT EXISTS "
                        "        (SELECT FROM shipments s WHERE s.shipment_id = l.shipment_id)),"
                        "       (SELECT count(*) FROM shipments s WHERE NOT EXISTS "
                        "        (SELECT FROM shipment_lines l WHERE l.shipment_id = s.shipment_id))"
                    )
                )
            ).one()
    finally:
        await database.dispose()
    assert len(rows) == ORDERS
    assert tuple(orphans) == (0, 0, 0)
    assert len({order_id for order_id, _ in rows}) == ORDERS
    expected = {
        e.order_id: wave_id_for("MAIN", slot_for(e.released_at.ToDatetime(tzinfo=UTC))) for _, e in events
    }
    assert {order_id: wave_id for order_id, wave_id in rows} == expected
    waves_used = sorted(set(expected.values()))
    assert waves_used[:3] == ["MAIN-20261210-1630", "MAIN-20261210-1730", "MAIN-20261211-1030"]
