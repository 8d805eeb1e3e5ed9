"""Queries of orders that are not the aggregate's: lookups, the timeline, the exception queue and the
reservation steps left open. Loading and saving an order is ``store.order_repository``'s."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.db import advisory_lock_key
from libs.errors import NotFound
from services.orders.domain.intake import Channel
from services.orders.domain.states import OrderStatus, ReservationState, TimelineEntry
from services.orders.store.tables import order_timeline, orders

#: Reservation steps whose answer is not booked yet.
OPEN_STEPS = (ReservationState.RESERVING.value, ReservationState.RELEASING.value)


def parse_id(order_id: str, field: str = "order_id") -> uuid.UUID:
    """An order id as stored; NotFound naming ``field`` for text that cannot be one."""
    try:
        return uuid.UUID(order_id)
    except ValueError:
        raise NotFound.for_field(field, f"no order {order_id!r}", reason="ORDER_NOT_FOUND") from None


async def find_id(conn: AsyncConnection, channel: Channel, channel_order_id: str) -> str | None:
    """The id of the order a channel sent under ``channel_order_id``, if it did (ORD-1)."""
    oid = (
        await conn.execute(
            sa.select(orders.c.order_id).where(
                orders.c.channel == channel.value, orders.c.channel_order_id == channel_order_id
            )
        )
    ).scalar_one_or_none()
    return None if oid is None else str(oid)


async def id_of(conn: AsyncConnection, channel: Channel, channel_order_id: str) -> str:
    """As ``find_id``; NotFound naming ``channel_order_id`` when the channel sent no such order."""
    found = await find_id(conn, channel, channel_order_id)
    if found is None:
        raise NotFound.for_field("channel_order_id", f"no {channel.value} order {channel_order_id!r}")
    return found


async def timeline(conn: AsyncConnection, order_id: str) -> list[TimelineEntry]:
    """The order's timeline (ORD-4), oldest first."""
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


async def exceptions(conn: AsyncConnection, limit: int) -> list[str]:
    """The exception queue (ORD-2): orders on hold, the longest waiting first."""
    rows = (
        await conn.execute(
            sa.select(orders.c.order_id)
            .where(orders.c.status == OrderStatus.ON_HOLD.value)
            .order_by(orders.c.updated_at)
            .limit(limit)
        )
    ).scalars()
    return [str(r) for r in rows]


#: Reviewers claim their batches in turn (``due_for_review``).
_CLAIMS = advisory_lock_key("orders.review_claims")


async def due_for_review(conn: AsyncConnection, limit: int) -> list[str]:
    """Paid orders no review has started on, the earliest paid first (ORD-2, ORD-6): locked with SKIP
    LOCKED, so automatic reviewers in several replicas take different orders and never wait on a
    person's review of the same order. Claims take turns (a lock held until the caller's transaction
    ends): two reviewers woken by the same commit would otherwise split its few orders between them,
    and the later-paid half could reserve the last units before the earlier-paid one."""
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_CLAIMS)))
    rows = (
        await conn.execute(
            sa.select(orders.c.order_id)
            .where(
                orders.c.status == OrderStatus.PAID.value,
                orders.c.reservation_state == ReservationState.NONE.value,
            )
            .order_by(orders.c.paid_at, orders.c.order_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
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
                orders.c.reservation_state.in_(OPEN_STEPS),
                orders.c.updated_at
                < sa.func.now() - sa.text(f"interval '{float(older_than_seconds)} seconds'"),
            )
            .order_by(orders.c.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).scalars()
    return [str(r) for r in rows]
