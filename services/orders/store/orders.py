"""Queries and changes of orders, their lines and timelines."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from shop.common.v1 import money_pb2
from shop.orders.v1 import events_pb2
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import NotFound
from libs.outbox import publish
from libs.timestamps import to_timestamp
from services.orders.domain.intake import Address, Channel, IncomingOrder, OrderLine
from services.orders.domain.states import HoldCategory, OrderStatus, TimelineEntry, check_transition
from services.orders.domain.states import OrderStatus as S
from services.orders.store.tables import kit, order_lines, order_timeline, orders


@dataclass(frozen=True)
class Order:
    order_id: str
    channel: Channel
    channel_order_id: str
    shop_code: str
    buyer_id: str
    address: Address
    lines: tuple[OrderLine, ...]
    buyer_message: str
    service_note: str
    notes_resolved: bool
    status: OrderStatus
    hold_category: HoldCategory | None
    hold_reason: str
    reservation_state: str
    goods_fen: int
    discount_fen: int
    shipping_fee_fen: int
    total_fen: int
    paid_fen: int
    paid_at: datetime | None
    payment_reference: str
    created_at: datetime
    refunded_fen: int = 0


def parse_id(order_id: str, field: str = "order_id") -> uuid.UUID:
    try:
        return uuid.UUID(order_id)
    except ValueError:
        raise NotFound.for_field(field, f"no order {order_id!r}", reason="ORDER_NOT_FOUND") from None


async def insert_order(conn: AsyncConnection, incoming: IncomingOrder, *, actor: str) -> tuple[str, bool]:
    """Stores a new order unless the channel already sent it; returns (order id, created).

    The (channel, channel_order_id) unique key decides: a concurrent duplicate waits for the first insert
    to commit and then finds it (ORD-1).
    """
    order_id = uuid.uuid4()
    status = OrderStatus.PAID if incoming.payment else OrderStatus.PENDING_PAYMENT
    a = incoming.address
    inserted = await conn.execute(
        insert(orders)
        .values(
            order_id=order_id,
            channel=incoming.channel.value,
            channel_order_id=incoming.channel_order_id,
            shop_code=incoming.shop_code,
            buyer_id=incoming.buyer_id,
            recipient=a.recipient,
            phone=a.phone,
            province=a.province,
            city=a.city,
            district=a.district,
            street=a.street,
            buyer_message=incoming.buyer_message,
            status=status.value,
            goods_fen=incoming.goods_fen,
            discount_fen=incoming.discount_fen,
            shipping_fee_fen=incoming.shipping_fee_fen,
            total_fen=incoming.total_fen,
            paid_fen=incoming.payment.amount_fen if incoming.payment else 0,
            paid_at=incoming.payment.paid_at if incoming.payment else None,
            payment_reference=incoming.payment.reference if incoming.payment else "",
        )
        .on_conflict_do_nothing(index_elements=[orders.c.channel, orders.c.channel_order_id])
        .returning(orders.c.order_id)
    )
    if inserted.first() is None:
        existing = (
            await conn.execute(
                sa.select(orders.c.order_id).where(
                    orders.c.channel == incoming.channel.value,
                    orders.c.channel_order_id == incoming.channel_order_id,
                )
            )
        ).scalar_one()
        return str(existing), False
    await conn.execute(
        order_lines.insert(),
        [
            {
                "order_id": order_id,
                "line_no": i + 1,
                "sku_code": line.sku_code,
                "quantity": line.quantity,
                "unit_price_fen": line.unit_price_fen,
            }
            for i, line in enumerate(incoming.lines)
        ],
    )
    entries = [
        {"order_id": order_id, "actor": actor, "event": "received", "to_status": S.PENDING_PAYMENT.value}
    ]
    if incoming.payment:
        entries.append(
            {"order_id": order_id, "actor": actor, "event": "paid", "from_status": S.PENDING_PAYMENT.value,
             "to_status": S.PAID.value}
        )  # fmt: skip
    await conn.execute(order_timeline.insert(), entries)
    # A new order is a fact others learn of (pay, ORD-9): received, and paid when the channel says so.
    await publish(
        conn,
        kit.outbox,
        str(order_id),
        events_pb2.OrderStatusChanged(
            order_id=str(order_id),
            channel=incoming.channel.value,
            shop_code=incoming.shop_code,
            to_status=status.value,
            total=money_pb2.Money(currency_code="CNY", amount_minor=incoming.total_fen),
            at=to_timestamp(incoming.payment.paid_at if incoming.payment else datetime.now().astimezone()),
        ),
    )
    return str(order_id), True


def just_stored(
    order_id: str, incoming: IncomingOrder, *, actor: str, created_at: datetime
) -> tuple[Order, list[TimelineEntry]]:
    """The order ``insert_order`` has just stored, with its first timeline entries, without reading it back."""
    status = S.PAID if incoming.payment else S.PENDING_PAYMENT
    order = Order(
        order_id=order_id, channel=incoming.channel, channel_order_id=incoming.channel_order_id,
        shop_code=incoming.shop_code, buyer_id=incoming.buyer_id, address=incoming.address, lines=incoming.lines,
        buyer_message=incoming.buyer_message, service_note="", notes_resolved=False, status=status,
        hold_category=None, hold_reason="", reservation_state="none", goods_fen=incoming.goods_fen,
        discount_fen=incoming.discount_fen, shipping_fee_fen=incoming.shipping_fee_fen, total_fen=incoming.total_fen,
        paid_fen=incoming.payment.amount_fen if incoming.payment else 0,
        paid_at=incoming.payment.paid_at if incoming.payment else None,
        payment_reference=incoming.payment.reference if incoming.payment else "", created_at=created_at,
    )  # fmt: skip
    timeline = [TimelineEntry(created_at, actor, "received", None, S.PENDING_PAYMENT)]
    if incoming.payment:
        timeline.append(TimelineEntry(created_at, actor, "paid", S.PENDING_PAYMENT, S.PAID))
    return order, timeline


async def created_at_of(conn: AsyncConnection, order_id: str) -> datetime:
    return (  # type: ignore[no-any-return]
        await conn.execute(sa.select(orders.c.created_at).where(orders.c.order_id == parse_id(order_id)))
    ).scalar_one()


async def get(conn: AsyncConnection, order_id: str, *, lock: bool = False, with_lines: bool = True) -> Order:
    oid = parse_id(order_id)
    query = sa.select(orders).where(orders.c.order_id == oid)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.for_field("order_id", f"no order {order_id!r}", reason="ORDER_NOT_FOUND")
    lines = (
        (
            await conn.execute(
                sa.select(order_lines).where(order_lines.c.order_id == oid).order_by(order_lines.c.line_no)
            )
        ).all()
        if with_lines
        else []
    )
    m = row._mapping
    return Order(
        order_id=str(m["order_id"]),
        channel=Channel(m["channel"]),
        channel_order_id=m["channel_order_id"],
        shop_code=m["shop_code"],
        buyer_id=m["buyer_id"],
        address=Address(m["recipient"], m["phone"], m["province"], m["city"], m["district"], m["street"]),
        lines=tuple(OrderLine(r.sku_code, r.quantity, r.unit_price_fen) for r in lines),
        buyer_message=m["buyer_message"],
        service_note=m["service_note"],
        notes_resolved=m["notes_resolved"],
        status=OrderStatus(m["status"]),
        hold_category=HoldCategory(m["hold_category"]) if m["hold_category"] else None,
        hold_reason=m["hold_reason"] or "",
        reservation_state=m["reservation_state"],
        goods_fen=m["goods_fen"],
        discount_fen=m["discount_fen"],
        shipping_fee_fen=m["shipping_fee_fen"],
        total_fen=m["total_fen"],
        paid_fen=m["paid_fen"],
        paid_at=m["paid_at"],
        payment_reference=m["payment_reference"],
        created_at=m["created_at"],
        refunded_fen=m["refunded_fen"],
    )


async def find_id(conn: AsyncConnection, channel: Channel, channel_order_id: str) -> str | None:
    oid = (
        await conn.execute(
            sa.select(orders.c.order_id).where(
                orders.c.channel == channel.value, orders.c.channel_order_id == channel_order_id
            )
        )
    ).scalar_one_or_none()
    return None if oid is None else str(oid)


async def find(conn: AsyncConnection, channel: Channel, channel_order_id: str) -> Order:
    oid = (
        await conn.execute(
            sa.select(orders.c.order_id).where(
                orders.c.channel == channel.value, orders.c.channel_order_id == channel_order_id
            )
        )
    ).scalar_one_or_none()
    if oid is None:
        raise NotFound.for_field("channel_order_id", f"no {channel.value} order {channel_order_id!r}")
    return await get(conn, str(oid))


async def add_timeline(
    conn: AsyncConnection,
    order_id: str,
    *,
    actor: str,
    event: str,
    from_status: OrderStatus | None = None,
    to_status: OrderStatus | None = None,
    reason: str = "",
) -> None:
    await conn.execute(
        order_timeline.insert().values(
            order_id=parse_id(order_id),
            actor=actor,
            event=event,
            from_status=from_status.value if from_status else None,
            to_status=to_status.value if to_status else None,
            reason=reason[:1000],
        )
    )


async def timeline(conn: AsyncConnection, order_id: str) -> list[TimelineEntry]:
    rows = (
        await conn.execute(
            sa.select(order_timeline)
            .where(order_timeline.c.order_id == parse_id(order_id))
            .order_by(order_timeline.c.entry_id)
        )
    ).all()
    return [
        TimelineEntry(
            r.at,
            r.actor,
            r.event,
            OrderStatus(r.from_status) if r.from_status else None,
            OrderStatus(r.to_status) if r.to_status else None,
            r.reason,
        )
        for r in rows
    ]


async def change_status(
    conn: AsyncConnection,
    order: Order,
    target: OrderStatus,
    *,
    actor: str,
    event: str,
    reason: str = "",
    hold: HoldCategory | None = None,
    **values: object,
) -> None:
    """Moves an order one step of ORD-4, with a timeline entry and an outbox event."""
    check_transition(order.status, target)
    await conn.execute(
        orders.update()
        .where(orders.c.order_id == parse_id(order.order_id))
        .values(
            status=target.value,
            hold_category=hold.value if hold else None,
            hold_reason=reason if hold else None,
            updated_at=sa.func.now(),
            **values,
        )
    )
    await add_timeline(
        conn,
        order.order_id,
        actor=actor,
        event=event,
        from_status=order.status,
        to_status=target,
        reason=reason,
    )
    await publish(
        conn,
        kit.outbox,
        order.order_id,
        events_pb2.OrderStatusChanged(
            order_id=order.order_id,
            channel=order.channel.value,
            shop_code=order.shop_code,
            from_status=order.status.value,
            to_status=target.value,
            total=money_pb2.Money(currency_code="CNY", amount_minor=order.total_fen),
            at=to_timestamp(datetime.now().astimezone()),
            reason=reason[:500],
        ),
    )


async def set_values(conn: AsyncConnection, order_id: str, **values: object) -> None:
    await conn.execute(
        orders.update()
        .where(orders.c.order_id == parse_id(order_id))
        .values(updated_at=sa.func.now(), **values)
    )


async def exceptions(conn: AsyncConnection, limit: int) -> list[str]:
    rows = (
        await conn.execute(
            sa.select(orders.c.order_id)
            .where(orders.c.status == OrderStatus.ON_HOLD.value)
            .order_by(orders.c.updated_at)
            .limit(limit)
        )
    ).scalars()
    return [str(r) for r in rows]


async def saga_pending(conn: AsyncConnection, *, older_than_seconds: float, limit: int) -> list[str]:
    """Orders whose reservation step was started and not finished: claimed with SKIP LOCKED so recovery
    workers in several replicas share them."""
    rows = (
        await conn.execute(
            sa.select(orders.c.order_id)
            .where(
                orders.c.reservation_state.in_(("reserving", "releasing")),
                orders.c.updated_at
                < sa.func.now() - sa.text(f"interval '{float(older_than_seconds)} seconds'"),
            )
            .order_by(orders.c.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).scalars()
    return [str(r) for r in rows]
