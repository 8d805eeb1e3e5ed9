"""Order reports: the same-day review report (ORD-6) and net sales by shop and channel (ORD-9)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.business_time import day_bounds
from services.orders.domain.reports import NetSalesRow, due_window, reviewed_in_time
from services.orders.store.tables import orders, refunds


@dataclass(frozen=True)
class SameDayLine:
    order_id: str
    channel_order_id: str
    shop_code: str
    channel: str
    paid_at: datetime
    reviewed_at: datetime | None
    in_time: bool


async def same_day_review(conn: AsyncConnection, day: date) -> list[SameDayLine]:
    """ORD-6: every order due for review on ``day`` (paid from 17:00 the day before to 17:00 that day) and
    whether it was reviewed in time."""
    start, end = due_window(day)
    rows = (
        await conn.execute(
            sa.select(
                orders.c.order_id,
                orders.c.channel_order_id,
                orders.c.shop_code,
                orders.c.channel,
                orders.c.paid_at,
                orders.c.reviewed_at,
            )
            .where(orders.c.paid_at >= start, orders.c.paid_at < end)
            .order_by(orders.c.paid_at)
        )
    ).all()
    return [
        SameDayLine(
            str(r.order_id),
            r.channel_order_id,
            r.shop_code,
            r.channel,
            r.paid_at,
            r.reviewed_at,
            reviewed_in_time(r.paid_at, r.reviewed_at),
        )
        for r in rows
    ]


async def net_sales(conn: AsyncConnection, first: date, last: date) -> list[NetSalesRow]:
    """ORD-9: paid amounts of orders paid in [first, last] minus refunds made in it, by shop and channel."""
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    paid = (
        sa.select(orders.c.shop_code, orders.c.channel, sa.func.sum(orders.c.paid_fen).label("fen"))
        .where(orders.c.paid_at >= start, orders.c.paid_at < end)
        .group_by(orders.c.shop_code, orders.c.channel)
    )
    refunded = (
        sa.select(orders.c.shop_code, orders.c.channel, sa.func.sum(refunds.c.amount_fen).label("fen"))
        .join(orders, orders.c.order_id == refunds.c.order_id)
        .where(refunds.c.refunded_at >= start, refunds.c.refunded_at < end)
        .group_by(orders.c.shop_code, orders.c.channel)
    )
    totals: dict[tuple[str, str], list[int]] = {}
    for shop, channel, fen in (await conn.execute(paid)).all():
        totals.setdefault((shop, channel), [0, 0])[0] = int(fen)
    for shop, channel, fen in (await conn.execute(refunded)).all():
        totals.setdefault((shop, channel), [0, 0])[1] = int(fen)
    return [NetSalesRow(shop, channel, p, r) for (shop, channel), (p, r) in sorted(totals.items())]
