"""Loads and saves the order aggregate (``domain.order``).

``load`` reads an order with its lines and amendments in one statement. ``save`` writes what the order's
commands changed, in the caller's transaction: the changed columns, the new refunds and timeline entries,
and the events to the outbox; then the order forgets them. Queries that are not the aggregate's (lookups,
the timeline, the exception queue) live in ``store.orders``.
"""

from __future__ import annotations

import functools
import uuid
import weakref
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message
from shop.orders.v1 import events_pb2, orders_pb2
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import outbox
from libs.bulk import array_type, arrays, insert_rows, rows_of, update_rows
from libs.bulk import columns as columns_of
from libs.errors import NotFound
from libs.money import money
from libs.outbox import publish_many
from libs.timestamps import to_timestamp
from libs.upsert import insert
from services.orders.domain.amendments import Amendments, Invoice, Shipment
from services.orders.domain.intake import Address, Channel, OrderLine
from services.orders.domain.order import Order, StatusChanged
from services.orders.domain.states import HoldCategory, OrderStatus, ReservationState
from services.orders.store.orders import parse_id
from services.orders.store.tables import (
    kit,
    order_amendments,
    order_lines,
    order_shipment_lines,
    order_shipments,
    order_timeline,
    orders,
    refunds,
)


@dataclass(frozen=True)
class _Stored:
    """What the database holds of an order as this process last read or wrote it."""

    row: dict[str, object]
    amendments: Amendments
    locked: bool


# Keyed by the order object itself: what was stored of it is forgotten with it.
_stored: weakref.WeakKeyDictionary[Order, _Stored] = weakref.WeakKeyDictionary()


def new_order_id() -> str:
    """The id of an order about to be received."""
    return str(uuid.uuid4())


def _row(order: Order) -> dict[str, object]:
    """The columns of the orders row that commands change, as the order holds them."""
    a = order.address
    return {
        "recipient": a.recipient,
        "phone": a.phone,
        "province": a.province,
        "city": a.city,
        "district": a.district,
        "street": a.street,
        "service_note": order.service_note,
        "notes_resolved": order.notes_resolved,
        "status": order.status.value,
        "hold_category": order.hold_category.value if order.hold_category else None,
        "hold_reason": order.hold_reason if order.hold_category else None,
        "reservation_state": order.reservation.value,
        "paid_fen": order.paid_fen,
        "paid_at": order.paid_at,
        "payment_reference": order.payment_reference,
        "refunded_fen": order.refunded_fen,
        "reviewed_at": order.reviewed_at,
    }


async def add(conn: AsyncConnection, order: Order) -> tuple[str, bool]:
    """Stores a newly received order unless its channel already sent it; returns (order id, created).

    The (channel, channel_order_id) unique key decides: a concurrent duplicate waits for the first insert to
    commit and then finds it (ORD-1). This is intake's hot path: one statement each for the order, its
    lines, its timeline and its event.
    """
    (answer,) = await add_many(conn, [order])
    return answer


async def add_many(conn: AsyncConnection, new_orders: Sequence[Order]) -> list[tuple[str, bool]]:
    """``add`` for a page of orders in one statement whatever their number: per order, (order id,
    created). An order whose (channel, channel_order_id) was stored before, or came earlier in the same
    page, is not added and the stored order's id is returned (created False)."""
    first: dict[tuple[str, str], Order] = {}
    for order in new_orders:
        first.setdefault((order.channel.value, order.channel_order_id), order)
    rows = [
        {
            "order_id": parse_id(o.order_id), "channel": o.channel.value, "channel_order_id": o.channel_order_id,
            "shop_code": o.shop_code, "buyer_id": o.buyer_id, "buyer_message": o.buyer_message,
            "goods_fen": o.goods_fen, "discount_fen": o.discount_fen, "shipping_fee_fen": o.shipping_fee_fen,
            "total_fen": o.total_fen, "created_at": o.created_at, **_row(o),
        }
        for o in first.values()
    ]  # fmt: skip
    columns = tuple(rows[0]) if rows else ()
    lines = [
        (parse_id(o.order_id), i + 1, line.sku_code, line.quantity, line.unit_price_fen)
        for o in first.values()
        for i, line in enumerate(o.lines)
    ]
    timeline = [row for o in first.values() for row in _timeline_rows(parse_id(o.order_id), o)]
    # Every candidate's event rows are made; the statement writes those of the orders it adds only.
    events = outbox.rows_for([event for o in first.values() for event in _events(o)])
    inserted = {
        str(order_id)
        for (order_id,) in await conn.execute(
            _intake(columns),
            {
                **arrays(rows, columns),
                **columns_of(_LINE_COLUMNS, lines, "line_"),
                **arrays(timeline, _TIMELINE_COLUMNS, "timeline_"),
                **arrays(events, outbox.COLUMNS, "event_"),
            },
        )
    }
    for o in first.values():
        if o.order_id in inserted:
            o.clear_pending()
            _stored[o] = _Stored(_row(o), o.amendments, locked=True)
    existing: dict[tuple[str, str], str] = {}
    missing = [key for key, o in first.items() if o.order_id not in inserted]
    if missing:
        channels, ids = [c for c, _ in missing], [i for _, i in missing]
        keys = (
            sa.func.unnest(sa.bindparam(None, channels, type_=_TEXTS), sa.bindparam(None, ids, type_=_TEXTS))
            .table_valued("channel", "channel_order_id")
            .render_derived()
        )
        for channel, channel_order_id, order_id in await conn.execute(
            sa.select(orders.c.channel, orders.c.channel_order_id, orders.c.order_id).join(
                keys,
                sa.and_(
                    keys.c.channel == orders.c.channel, keys.c.channel_order_id == orders.c.channel_order_id
                ),
            )
        ):
            existing[(channel, channel_order_id)] = str(order_id)
    answers: list[tuple[str, bool]] = []
    for order in new_orders:
        key = (order.channel.value, order.channel_order_id)
        if first[key] is order and order.order_id in inserted:
            answers.append((order.order_id, True))
        else:
            answers.append((existing.get(key) or first[key].order_id, False))
    return answers


# The order's lines, and its split shipments with theirs, as JSON arrays beside the order's row.
_LINES = (
    sa.select(
        sa.func.json_agg(
            aggregate_order_by(
                sa.func.json_build_array(
                    order_lines.c.sku_code, order_lines.c.quantity, order_lines.c.unit_price_fen
                ),
                order_lines.c.line_no,
            )
        )
    )
    .where(order_lines.c.order_id == orders.c.order_id)
    .scalar_subquery()
)
_SHIPMENT_LINES = (
    sa.select(
        sa.func.json_agg(
            aggregate_order_by(
                sa.func.json_build_array(order_shipment_lines.c.sku_code, order_shipment_lines.c.quantity),
                order_shipment_lines.c.sku_code,
            )
        )
    )
    .where(
        order_shipment_lines.c.order_id == order_shipments.c.order_id,
        order_shipment_lines.c.shipment_no == order_shipments.c.shipment_no,
    )
    .scalar_subquery()
)
_SHIPMENTS = (
    sa.select(
        sa.func.json_agg(
            aggregate_order_by(
                sa.func.json_build_array(
                    order_shipments.c.recipient, order_shipments.c.phone, order_shipments.c.province,
                    order_shipments.c.city, order_shipments.c.district, order_shipments.c.street,
                    _SHIPMENT_LINES,
                ),
                order_shipments.c.shipment_no,
            )
        )
    )
    .where(order_shipments.c.order_id == orders.c.order_id)
    .scalar_subquery()
)  # fmt: skip
_LOAD = sa.select(
    orders,
    order_amendments.c.carrier_code,
    order_amendments.c.invoice_title,
    order_amendments.c.invoice_tax_id,
    order_amendments.c.invoice_requested_at,
    _LINES.label("lines"),
    _SHIPMENTS.label("shipments"),
).select_from(orders.outerjoin(order_amendments, order_amendments.c.order_id == orders.c.order_id))


async def load(conn: AsyncConnection, order_id: str, *, lock: bool) -> Order:
    """The order; NotFound naming ``order_id`` when there is none. With ``lock`` its row stays locked until
    the transaction ends: an order is changed (``save``) only as loaded with the lock."""
    query = _LOAD.where(orders.c.order_id == parse_id(order_id))
    if lock:
        query = query.with_for_update(of=orders)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.for_field("order_id", f"no order {order_id!r}", reason="ORDER_NOT_FOUND")
    order = _order(row._mapping)
    _stored[order] = _Stored(_row(order), order.amendments, locked=lock)
    return order


async def load_many(conn: AsyncConnection, order_ids: Sequence[str], *, lock: bool) -> dict[str, Order]:
    """The orders among ``order_ids`` that exist, by id, in one statement; ids that name none (or cannot)
    are absent. With ``lock`` the rows are locked in order id order, the order every locker of several
    orders uses, so two batches never deadlock."""
    ids = sorted({oid for oid in (_uuid_or_none(x) for x in order_ids) if oid is not None})
    if not ids:
        return {}
    query = _LOAD.where(orders.c.order_id == sa.any_(sa.bindparam(None, ids, type_=_UUIDS))).order_by(
        orders.c.order_id
    )
    if lock:
        query = query.with_for_update(of=orders)
    loaded: dict[str, Order] = {}
    for row in await conn.execute(query):
        order = _order(row._mapping)
        _stored[order] = _Stored(_row(order), order.amendments, locked=lock)
        loaded[order.order_id] = order
    return loaded


async def relock(conn: AsyncConnection, held: Sequence[Order]) -> dict[str, Order]:
    """Locks again, in order id order, orders this process loaded and saved in an earlier transaction (a
    saga's intent), and returns them by id ready to be changed again: the objects themselves when the
    columns that decide their state (status, reservation, hold) are as saved, else loaded afresh. Orders
    that no longer exist are absent.

    A saga's next step needs only those columns to decide; anything else changed meanwhile (an amended
    address) is not in the object but is not written back either, since ``save`` writes only what the
    step changed."""
    if not held:
        return {}
    ids = sorted(parse_id(o.order_id) for o in held)
    current = {
        str(order_id): (status, reservation_state, hold_category)
        for order_id, status, reservation_state, hold_category in await conn.execute(
            sa.select(orders.c.order_id, orders.c.status, orders.c.reservation_state, orders.c.hold_category)
            .where(orders.c.order_id == sa.any_(sa.bindparam(None, ids, type_=_UUIDS)))
            .order_by(orders.c.order_id)
            .with_for_update()
        )
    }
    ready: dict[str, Order] = {}
    stale: list[str] = []
    for order in held:
        stored = _stored.get(order)
        state = current.get(order.order_id)
        if state is None:
            continue
        if stored is not None and state == (
            stored.row["status"],
            stored.row["reservation_state"],
            stored.row["hold_category"],
        ):
            _stored[order] = _Stored(stored.row, stored.amendments, locked=True)
            ready[order.order_id] = order
        else:
            stale.append(order.order_id)
    if stale:
        ready |= await load_many(conn, stale, lock=True)
    return ready


_UUIDS = array_type(pg.UUID(as_uuid=True))
_TEXTS = array_type(sa.Text)


def _uuid_or_none(order_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(order_id)
    except ValueError:
        return None


def _order(m: Any) -> Order:
    shipments: list[list[Any]] = m["shipments"] or []
    return Order(
        order_id=str(m["order_id"]),
        channel=Channel(m["channel"]),
        channel_order_id=m["channel_order_id"],
        shop_code=m["shop_code"],
        buyer_id=m["buyer_id"],
        address=Address(m["recipient"], m["phone"], m["province"], m["city"], m["district"], m["street"]),
        lines=tuple(OrderLine(sku, quantity, price) for sku, quantity, price in m["lines"] or []),
        buyer_message=m["buyer_message"],
        goods_fen=m["goods_fen"],
        discount_fen=m["discount_fen"],
        shipping_fee_fen=m["shipping_fee_fen"],
        total_fen=m["total_fen"],
        created_at=m["created_at"],
        status=OrderStatus(m["status"]),
        service_note=m["service_note"],
        notes_resolved=m["notes_resolved"],
        hold_category=HoldCategory(m["hold_category"]) if m["hold_category"] else None,
        hold_reason=m["hold_reason"] or "",
        reservation=ReservationState(m["reservation_state"]),
        paid_fen=m["paid_fen"],
        paid_at=m["paid_at"],
        payment_reference=m["payment_reference"],
        refunded_fen=m["refunded_fen"],
        reviewed_at=m["reviewed_at"],
        amendments=Amendments(
            carrier_code=m["carrier_code"] or "",
            invoice=Invoice(m["invoice_title"], m["invoice_tax_id"]) if m["invoice_requested_at"] else None,
            shipments=tuple(
                Shipment(Address(*s[:6]), tuple((sku, quantity) for sku, quantity in s[6] or []))
                for s in shipments
            ),
        ),
    )


async def save(conn: AsyncConnection, order: Order) -> None:
    """Writes what the order's commands changed since it was loaded (or last saved), in the caller's
    transaction, and its events to the outbox; then the order forgets its recorded entries and events."""
    await save_many(conn, [order])


async def save_many(conn: AsyncConnection, changed_orders: Sequence[Order]) -> None:
    """``save`` for many orders in a few statements whatever their number (a review batch): one UPDATE
    per set of changed columns, one INSERT each for refunds, timeline entries and outbox events."""
    updates: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
    new_refunds: list[dict[str, object]] = []
    timeline: list[dict[str, object]] = []
    events: list[tuple[str, Message]] = []
    for order in changed_orders:
        stored = _stored.get(order)
        if stored is None:
            raise RuntimeError(f"order {order.order_id} was neither loaded nor added here")
        row = _row(order)
        changed = {column: value for column, value in row.items() if stored.row[column] != value}
        recorded = order.new_timeline or order.pending_events or order.new_refunds
        if not (changed or recorded or order.amendments != stored.amendments):
            continue
        if not stored.locked:
            raise RuntimeError(f"order {order.order_id} is changed only as loaded with lock=True")
        oid = parse_id(order.order_id)
        if changed:
            # Parameters are prefixed: a bind named like a column is reserved in an UPDATE's SET.
            updates[tuple(sorted(changed))].append({"order_id": oid, **changed})
        await _save_amendments(conn, oid, order.amendments, stored.amendments)
        new_refunds += [
            {
                "refund_id": uuid.UUID(r.refund_id),
                "order_id": oid,
                "amount_fen": r.amount_fen,
                "reason": r.reason,
                "refunded_by": r.refunded_by,
                "refunded_at": r.at,
            }
            for r in order.new_refunds
        ]
        timeline += _timeline_rows(oid, order)
        events += _events(order)
        order.clear_pending()
        _stored[order] = _Stored(row, order.amendments, stored.locked)
    for columns, values in sorted(updates.items()):
        statement = update_rows(orders, ("order_id",), columns).values(updated_at=sa.func.now())
        await conn.execute(statement, arrays(values, ("order_id", *columns)))
    if new_refunds:
        await conn.execute(refunds.insert(), new_refunds)
    await _insert_timeline(conn, timeline)
    if events:
        await publish_many(conn, kit.outbox, events)


async def _save_amendments(conn: AsyncConnection, oid: uuid.UUID, new: Amendments, old: Amendments) -> None:
    values: dict[str, object] = {}
    if new.carrier_code != old.carrier_code:
        values["carrier_code"] = new.carrier_code
    if new.invoice != old.invoice:
        values["invoice_title"] = new.invoice.title if new.invoice else ""
        values["invoice_tax_id"] = new.invoice.tax_id if new.invoice else ""
        values["invoice_requested_at"] = sa.func.now() if new.invoice else None
    if values:
        await conn.execute(
            insert(order_amendments)
            .values(order_id=oid, **values)
            .on_conflict_do_update(index_elements=[order_amendments.c.order_id], set_=values)
        )
    if new.shipments == old.shipments:
        return
    # A later split replaces the earlier one; the timeline keeps both.
    await conn.execute(order_shipment_lines.delete().where(order_shipment_lines.c.order_id == oid))
    await conn.execute(order_shipments.delete().where(order_shipments.c.order_id == oid))
    if not new.shipments:
        return
    await conn.execute(
        order_shipments.insert(),
        [
            {
                "order_id": oid, "shipment_no": no, "recipient": s.address.recipient, "phone": s.address.phone,
                "province": s.address.province, "city": s.address.city, "district": s.address.district,
                "street": s.address.street,
            }
            for no, s in enumerate(new.shipments, start=1)
        ],
    )  # fmt: skip
    await conn.execute(
        order_shipment_lines.insert(),
        [
            {"order_id": oid, "shipment_no": no, "sku_code": sku, "quantity": quantity}
            for no, s in enumerate(new.shipments, start=1)
            for sku, quantity in s.lines
        ],
    )


async def _write_recorded(conn: AsyncConnection, oid: uuid.UUID, order: Order) -> None:
    """The order's new timeline entries and its events, in the caller's transaction."""
    await _insert_timeline(conn, _timeline_rows(oid, order))
    events = _events(order)
    if events:
        await publish_many(conn, kit.outbox, events)
    order.clear_pending()


_LINE_COLUMNS = ("order_id", "line_no", "sku_code", "quantity", "unit_price_fen")


@functools.cache
def _intake(order_columns: tuple[str, ...]) -> sa.Select[tuple[uuid.UUID]]:
    """Intake's one statement: the orders not sent before, and of those only, their lines, timeline and
    events, from one array per column each (prefixed ``line_``, ``timeline_``, ``event_``); returns the
    ids of the orders added."""
    added = (
        insert_rows(orders, order_columns)
        .on_conflict_do_nothing(index_elements=[orders.c.channel, orders.c.channel_order_id])
        .returning(orders.c.order_id)
        .cte("added")
    )

    def theirs(table: sa.Table, names: tuple[str, ...], prefix: str) -> sa.CTE:
        given = rows_of(table, names, prefix)
        key = given.c.order_id if "order_id" in names else sa.cast(given.c.aggregate_id, pg.UUID)
        chosen = sa.select(*(given.c[name] for name in names)).where(key.in_(sa.select(added.c.order_id)))
        return insert(table).from_select(list(names), chosen).cte(f"{prefix}rows")

    return sa.select(added.c.order_id).add_cte(
        theirs(order_lines, _LINE_COLUMNS, "line_"),
        theirs(order_timeline, _TIMELINE_COLUMNS, "timeline_"),
        theirs(kit.outbox, outbox.COLUMNS, "event_"),
    )


_TIMELINE_COLUMNS = ("order_id", "at", "actor", "event", "from_status", "to_status", "reason")


async def _insert_timeline(conn: AsyncConnection, rows: list[dict[str, object]]) -> None:
    if rows:
        await conn.execute(insert_rows(order_timeline, _TIMELINE_COLUMNS), arrays(rows, _TIMELINE_COLUMNS))


def _timeline_rows(oid: uuid.UUID, order: Order) -> list[dict[str, object]]:
    return [
        {
            "order_id": oid,
            "at": e.at,
            "actor": e.actor,
            "event": e.event,
            "from_status": e.from_status.value if e.from_status else None,
            "to_status": e.to_status.value if e.to_status else None,
            "reason": e.reason[:1000],
        }
        for e in order.new_timeline
    ]


def _events(order: Order) -> list[tuple[str, Message]]:
    """The order's pending events as outbox entries: each status change, and what ships on release."""
    events: list[tuple[str, Message]] = []
    for event in order.pending_events:
        events.append((order.order_id, _status_changed(event)))
        if event.to_status is OrderStatus.RELEASED:
            events.append((order.order_id, _released(order, event)))
    return events


def _released(order: Order, e: StatusChanged) -> events_pb2.OrderReleased:
    """What the warehouse ships (LOG-1), as the order stands when it is released."""
    return events_pb2.OrderReleased(
        order_id=order.order_id,
        channel=order.channel.value,
        channel_order_id=order.channel_order_id,
        shop_code=order.shop_code,
        buyer_id=order.buyer_id,
        shipments=[
            events_pb2.OrderReleased.Shipment(
                address=orders_pb2.Address(
                    recipient=s.address.recipient, phone=s.address.phone, province=s.address.province,
                    city=s.address.city, district=s.address.district, street=s.address.street,
                ),
                lines=[events_pb2.OrderReleased.Line(sku_code=sku, quantity=units) for sku, units in s.lines],
            )
            for s in order.shipping_plan()
        ],
        carrier_code=order.amendments.carrier_code,
        buyer_message=order.buyer_message,
        service_note=order.service_note,
        released_at=to_timestamp(e.at),
    )  # fmt: skip


def _status_changed(e: StatusChanged) -> events_pb2.OrderStatusChanged:
    return events_pb2.OrderStatusChanged(
        order_id=e.order_id,
        channel=e.channel.value,
        shop_code=e.shop_code,
        from_status=e.from_status.value if e.from_status else "",
        to_status=e.to_status.value,
        total=money(e.total_fen),
        at=to_timestamp(e.at),
        reason=e.reason[:500],
    )
