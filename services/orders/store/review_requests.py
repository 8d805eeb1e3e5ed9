"""Requests to review again orders held for short stock, once stock of one of their SKUs arrived (ORD-2).

The StockAvailable handler writes them in its inbox transaction; the re-review worker claims them (a
lease, so a worker that dies only delays a review) oldest order first, reviews, and removes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.bulk import array_type
from libs.upsert import insert
from services.orders.domain.states import HoldCategory, OrderStatus
from services.orders.store.tables import order_lines, orders, review_requests


@dataclass(frozen=True)
class ReviewRequest:
    order_id: str
    requested_at: datetime
    cause: str
    traceparent: str


async def held_for_short_stock(conn: AsyncConnection, available: Mapping[str, int]) -> dict[str, str]:
    """Orders held for short stock that ``available`` units of a SKU could now serve (at least one of
    their lines fits what is available of its SKU), each with one such SKU, the earliest paid first."""
    stock = {sku: units for sku, units in sorted(available.items()) if units > 0}
    if not stock:
        return {}
    rows = (await conn.execute(_HELD_THAT_FIT, {"skus": list(stock), "units": list(stock.values())})).all()
    return {str(order_id): sku for order_id, sku in rows}


# One statement for any number of SKUs (compiled once): the SKUs and their units arrive as two arrays.
_arrived = (
    sa.func.unnest(
        sa.bindparam("skus", type_=array_type(sa.Text)),
        sa.bindparam("units", type_=array_type(sa.BigInteger)),
    )
    .table_valued("sku_code", "units", name="arrived")
    .render_derived()
)
_HELD_THAT_FIT = (
    sa.select(orders.c.order_id, sa.func.min(order_lines.c.sku_code))
    .join(order_lines, order_lines.c.order_id == orders.c.order_id)
    .join(
        _arrived,
        sa.and_(_arrived.c.sku_code == order_lines.c.sku_code, order_lines.c.quantity <= _arrived.c.units),
    )
    .where(
        orders.c.status == OrderStatus.ON_HOLD.value,
        orders.c.hold_category == HoldCategory.SHORT_STOCK.value,
    )
    .group_by(orders.c.order_id)
    .order_by(sa.func.min(orders.c.paid_at), sa.func.min(orders.c.created_at))
)


@dataclass(frozen=True)
class Ask:
    """Review ``order_id`` again, because of ``cause``, in the trace ``traceparent``."""

    order_id: str
    cause: str
    traceparent: str


async def request(conn: AsyncConnection, asks: list[Ask]) -> None:
    """Asks for the review of each order; a request already waiting is renewed (a claimed one is reviewed
    once more after the claim, since stock arrived in the meantime)."""
    if not asks:
        return
    stmt = insert(review_requests).values(
        [
            {"order_id": uuid.UUID(a.order_id), "cause": a.cause[:1000], "traceparent": a.traceparent}
            for a in sorted(asks, key=lambda a: a.order_id)
        ]
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[review_requests.c.order_id],
            set_={
                "requested_at": sa.func.clock_timestamp(),
                "cause": stmt.excluded.cause,
                "traceparent": stmt.excluded.traceparent,
            },
        )
    )


async def claim(conn: AsyncConnection, *, limit: int, lease_seconds: float) -> list[ReviewRequest]:
    """Claims up to ``limit`` requests nobody holds, the orders paid earliest first (first come, first
    served: the oldest order gets the stock that arrived)."""
    pick = (
        sa.select(review_requests.c.order_id, orders.c.paid_at, orders.c.created_at)
        .join(orders, orders.c.order_id == review_requests.c.order_id)
        .where(
            sa.or_(
                review_requests.c.claimed_until.is_(None),
                review_requests.c.claimed_until < sa.func.now(),
            )
        )
        .order_by(orders.c.paid_at, orders.c.created_at)
        .limit(limit)
        .with_for_update(of=review_requests, skip_locked=True)
        .cte("pick")
    )
    rows = list(
        await conn.execute(
            review_requests.update()
            .where(review_requests.c.order_id == pick.c.order_id)
            .values(claimed_until=sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, lease_seconds))
            .returning(
                review_requests.c.order_id,
                review_requests.c.requested_at,
                review_requests.c.cause,
                review_requests.c.traceparent,
                pick.c.paid_at,
                pick.c.created_at,
            )
        )
    )
    rows.sort(key=lambda r: (r.paid_at is None, r.paid_at or r.created_at, r.created_at))
    return [ReviewRequest(str(r.order_id), r.requested_at, r.cause, r.traceparent) for r in rows]


async def done(conn: AsyncConnection, claimed: ReviewRequest) -> None:
    """Removes a request once reviewed, unless it was renewed meanwhile (then it is reviewed again)."""
    await conn.execute(
        review_requests.delete().where(
            review_requests.c.order_id == uuid.UUID(claimed.order_id),
            review_requests.c.requested_at == claimed.requested_at,
        )
    )


async def waiting(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(review_requests))).scalar_one())
