"""The order repository over a real orders database: an order comes back as it was saved, with its
timeline, refunds and events written in the same transaction (ORD-4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from shop.orders.v1 import events_pb2

from libs.db import Database
from libs.errors import NotFound
from services.orders.domain.amendments import Invoice, Shipment
from services.orders.domain.intake import Address, Channel, IncomingOrder, OrderLine, Payment
from services.orders.domain.order import Order
from services.orders.domain.states import OrderStatus, ReservationState
from services.orders.store import order_repository, orders
from services.orders.store.tables import kit, order_timeline, refunds

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ADDRESS = Address("Wang Fang", "13812345678", "Zhejiang", "Hangzhou", "Xihu", "18 Longjing Road")
OTHER = Address("Zhao Lei", "0571-87654321", "Zhejiang", "Ningbo", "Haishu", "9 Tianyi Square")
LINES = (OrderLine("LJ-250-GRN", 2, 8_800), OrderLine("CUP-1", 1, 5_000))
TOTAL = 2 * 8_800 + 5_000 + 1_000


@pytest.fixture
async def database(fresh_database):
    db = Database(fresh_database("orders"))
    try:
        yield db
    finally:
        await db.dispose()


def received(channel_order_id: str = "TM-1", paid: bool = True) -> Order:
    incoming = IncomingOrder(
        Channel.TMALL, channel_order_id, "tmall-flagship", "buyer-77", ADDRESS, LINES, 1_000, 0, "gift",
        Payment(TOTAL, AT, "ALI-1") if paid else None,
    )  # fmt: skip
    return Order.receive(order_repository.new_order_id(), incoming, actor="connector", at=AT)


async def status_events(database: Database) -> list[events_pb2.OrderStatusChanged]:
    async with database.connection() as conn:
        rows = (await conn.execute(sa.select(kit.outbox.c.payload).order_by(kit.outbox.c.created_at))).all()
    return [events_pb2.OrderStatusChanged.FromString(r.payload) for r in rows]


async def test_ord_1_a_received_order_is_added_once_and_loads_as_it_was(database):
    order = received()
    async with database.transaction() as conn:
        assert await order_repository.add(conn, order) == (order.order_id, True)
    assert (order.new_timeline, order.pending_events) == ((), ())
    async with database.transaction() as conn:
        again = await order_repository.add(conn, received())  # the channel sends it again
    assert again == (order.order_id, False)

    async with database.connection() as conn:
        loaded = await order_repository.load(conn, order.order_id, lock=False)
        timeline = await orders.timeline(conn, order.order_id)
    assert (loaded.status, loaded.lines, loaded.address, loaded.total_fen, loaded.paid_at, loaded.created_at) == (
        OrderStatus.PAID, LINES, ADDRESS, TOTAL, AT, AT,
    )  # fmt: skip
    assert [(e.event, e.actor, e.at) for e in timeline] == [
        ("received", "connector", AT),
        ("paid", "connector", AT),
    ]
    [event] = await status_events(database)
    assert (event.order_id, event.from_status, event.to_status, event.total.amount_minor) == (
        order.order_id, "", "paid", TOTAL,
    )  # fmt: skip


async def test_ord_4_saving_writes_the_changes_timeline_refunds_and_events_in_one_go(database):
    order = received()
    async with database.transaction() as conn:
        await order_repository.add(conn, order)
    later = AT + timedelta(hours=1)
    async with database.transaction() as conn:
        order = await order_repository.load(conn, order.order_id, lock=True)
        order.resolve_notes("wrapped", actor="cs-1", at=later)
        order.change_carrier("sf", actor="cs-1", at=later)
        order.request_invoice(Invoice("Hangzhou Tea Co.", ""), actor="cs-1", at=later)
        order.split_shipment(
            [Shipment(ADDRESS, (("LJ-250-GRN", 2),)), Shipment(OTHER, (("CUP-1", 1),))],
            actor="cs-1",
            at=later,
        )
        assert order.review(actor="lead-1", at=later)
        order.reserved(actor="lead-1", at=later)
        order.cancel("buyer request", actor="cs-1", at=later)
        await order_repository.save(conn, order)
    assert (order.new_timeline, order.pending_events, order.new_refunds) == ((), (), ())

    async with database.connection() as conn:
        loaded = await order_repository.load(conn, order.order_id, lock=False)
        timeline = await orders.timeline(conn, order.order_id)
        refunded = (await conn.execute(sa.select(refunds.c.amount_fen, refunds.c.reason))).all()
    assert (loaded.status, loaded.reservation, loaded.refunded_fen, loaded.reviewed_at) == (
        OrderStatus.CANCELLED, ReservationState.RELEASING, TOTAL, later,
    )  # fmt: skip
    assert (loaded.service_note, loaded.notes_resolved) == ("wrapped", True)
    assert loaded.amendments == order.amendments
    assert [s.address for s in loaded.amendments.shipments] == [ADDRESS, OTHER]
    assert [e.event for e in timeline][2:] == [
        "notes resolved", "carrier changed", "invoice requested", "split into shipments",
        "stock reservation requested", "reviewed", "cancelled", "refunded",
    ]  # fmt: skip
    assert [(r.amount_fen, r.reason) for r in refunded] == [(TOTAL, "order cancelled: buyer request")]
    steps = {(e.from_status, e.to_status) for e in await status_events(database)}
    assert steps == {("", "paid"), ("paid", "reviewed"), ("reviewed", "cancelled")}

    # Saving again without a change writes nothing.
    async with database.transaction() as conn:
        same = await order_repository.load(conn, order.order_id, lock=True)
        await order_repository.save(conn, same)
        entries = (await conn.execute(sa.select(sa.func.count()).select_from(order_timeline))).scalar_one()
    assert entries == len(timeline)


async def test_an_order_is_changed_only_as_loaded_with_its_lock(database):
    order = received(paid=False)
    async with database.transaction() as conn:
        await order_repository.add(conn, order)
        unlocked = await order_repository.load(conn, order.order_id, lock=False)
        unlocked.confirm_payment(Payment(TOTAL, AT, "ALI-1"), actor="connector", at=AT)
        with pytest.raises(RuntimeError):
            await order_repository.save(conn, unlocked)


async def test_an_unknown_order_is_not_found_naming_order_id(database):
    async with database.connection() as conn:
        for order_id in ("not-a-uuid", order_repository.new_order_id()):
            with pytest.raises(NotFound) as missing:
                await order_repository.load(conn, order_id, lock=False)
            assert [v.field for v in missing.value.violations] == ["order_id"]
