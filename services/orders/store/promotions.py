"""Promotions and their uses (ORD-8): the budget and per-buyer limits hold under concurrent checkouts
because every checkout locks the promotions it prices with, in id order, until it commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from shop.orders.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import AlreadyExists, NotFound
from libs.outbox import publish
from libs.timestamps import to_timestamp
from libs.upsert import insert
from services.orders.domain.promotions import Applied, Promotion, PromotionKind
from services.orders.store.orders import parse_id
from services.orders.store.tables import kit, orders, promotion_uses, promotions


def _promotion(r: sa.Row[tuple[object, ...]]) -> Promotion:
    m = r._mapping
    return Promotion(
        promotion_id=m["promotion_id"],
        name=m["name"],
        kind=PromotionKind(m["kind"]),
        starts_at=m["starts_at"],
        ends_at=m["ends_at"],
        eligible_skus=frozenset(m["eligible_skus"]),
        eligible_categories=frozenset(m["eligible_categories"]),
        coupon_code=m["coupon_code"] or "",
        amount_off_fen=m["amount_off_fen"],
        threshold_fen=m["threshold_fen"],
        repeat=m["repeat"],
        max_off_fen=m["max_off_fen"],
        rate_bp=m["rate_bp"],
        stackable=m["stackable"],
        priority=m["priority"],
        budget_fen=m["budget_fen"],
        per_buyer_limit=m["per_buyer_limit"],
        large=m["large"],
        revision=m["revision"],
    )


async def create(conn: AsyncConnection, promotion: Promotion, *, actor: str) -> None:
    added = await conn.execute(
        insert(promotions)
        .values(
            promotion_id=promotion.promotion_id,
            name=promotion.name,
            kind=promotion.kind.value,
            starts_at=promotion.starts_at,
            ends_at=promotion.ends_at,
            eligible_skus=sorted(promotion.eligible_skus),
            eligible_categories=sorted(promotion.eligible_categories),
            coupon_code=promotion.coupon_code or None,
            amount_off_fen=promotion.amount_off_fen,
            threshold_fen=promotion.threshold_fen,
            repeat=promotion.repeat,
            max_off_fen=promotion.max_off_fen,
            rate_bp=promotion.rate_bp,
            stackable=promotion.stackable,
            priority=promotion.priority,
            budget_fen=promotion.budget_fen,
            per_buyer_limit=promotion.per_buyer_limit,
            large=promotion.large,
            revision=promotion.revision,
            created_by=actor,
        )
        .on_conflict_do_nothing()
        .returning(promotions.c.promotion_id)
    )
    if added.first() is None:
        taken = (
            await conn.execute(
                sa.select(promotions.c.promotion_id).where(
                    promotions.c.promotion_id == promotion.promotion_id
                )
            )
        ).first()
        field = "promotion_id" if taken else "coupon_code"
        raise AlreadyExists.for_field(field, f"{field} is already in use")
    await _announce(conn, promotion)


async def get(conn: AsyncConnection, promotion_id: str, *, lock: bool = False) -> Promotion:
    query = sa.select(promotions).where(promotions.c.promotion_id == promotion_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.for_field(
            "promotion_id", f"no promotion {promotion_id!r}", reason="PROMOTION_NOT_FOUND"
        )
    return _promotion(row)


async def save_window(conn: AsyncConnection, promotion: Promotion) -> None:
    """Stores a rescheduled promotion's window and revision, and announces a large one again."""
    await conn.execute(
        promotions.update()
        .where(promotions.c.promotion_id == promotion.promotion_id)
        .values(starts_at=promotion.starts_at, ends_at=promotion.ends_at, revision=promotion.revision)
    )
    await _announce(conn, promotion)


async def _announce(conn: AsyncConnection, promotion: Promotion) -> None:
    """INV-16 needs the warehouse to know of a large promotion: published in the same transaction."""
    if not promotion.large:
        return
    await publish(
        conn,
        kit.outbox,
        promotion.promotion_id,
        events_pb2.LargePromotionScheduled(
            promotion_id=promotion.promotion_id,
            name=promotion.name,
            starts_at=to_timestamp(promotion.starts_at),
            ends_at=to_timestamp(promotion.ends_at),
            revision=promotion.revision,
        ),
    )


async def active(conn: AsyncConnection, at: datetime, *, lock: bool = False) -> list[Promotion]:
    """Promotions running at ``at``; ``lock`` takes their rows in id order for a checkout."""
    query = (
        sa.select(promotions)
        .where(promotions.c.starts_at <= at, promotions.c.ends_at > at)
        .order_by(promotions.c.promotion_id)
    )
    if lock:
        query = query.with_for_update()
    return [_promotion(r) for r in (await conn.execute(query)).all()]


async def budgets_and_uses(
    conn: AsyncConnection, found: list[Promotion], buyer_id: str
) -> tuple[dict[str, int | None], dict[str, int]]:
    ids = [p.promotion_id for p in found]
    if not ids:
        return {}, {}
    spent_rows = await conn.execute(
        sa.select(promotions.c.promotion_id, promotions.c.spent_fen).where(promotions.c.promotion_id.in_(ids))
    )
    spent: dict[str, int] = {pid: int(fen) for pid, fen in spent_rows.all()}
    use_rows = await conn.execute(
        sa.select(promotion_uses.c.promotion_id, sa.func.count())
        .where(promotion_uses.c.promotion_id.in_(ids), promotion_uses.c.buyer_id == buyer_id)
        .group_by(promotion_uses.c.promotion_id)
    )
    uses: dict[str, int] = {pid: int(n) for pid, n in use_rows.all()}
    left = {
        p.promotion_id: None if p.budget_fen is None else p.budget_fen - int(spent[p.promotion_id])
        for p in found
    }
    return left, uses


async def record_uses(
    conn: AsyncConnection, order_id: str, buyer_id: str, applied: tuple[Applied, ...]
) -> None:
    for use in applied:
        await conn.execute(
            promotion_uses.insert().values(
                promotion_id=use.promotion_id,
                order_id=parse_id(order_id),
                buyer_id=buyer_id,
                discount_fen=use.discount_fen,
            )
        )
        await conn.execute(
            promotions.update()
            .where(promotions.c.promotion_id == use.promotion_id)
            .values(spent_fen=promotions.c.spent_fen + use.discount_fen)
        )


async def uses_of_order(conn: AsyncConnection, order_id: str) -> list[Applied]:
    rows = (
        await conn.execute(
            sa.select(promotion_uses.c.promotion_id, promotion_uses.c.discount_fen)
            .where(promotion_uses.c.order_id == parse_id(order_id))
            .order_by(promotion_uses.c.promotion_id)
        )
    ).all()
    return [Applied(pid, int(d)) for pid, d in rows]


@dataclass(frozen=True)
class CampaignReport:
    promotion: Promotion
    orders: int
    paid_orders: int
    sales_fen: int
    discount_fen: int

    @property
    def conversion_bp(self) -> int:
        """Share of the campaign's orders that were paid, in basis points."""
        return 0 if self.orders == 0 else self.paid_orders * 10_000 // self.orders


async def campaign_report(conn: AsyncConnection, promotion_id: str) -> CampaignReport:
    row = (await conn.execute(sa.select(promotions).where(promotions.c.promotion_id == promotion_id))).first()
    if row is None:
        raise NotFound.for_field(
            "promotion_id", f"no promotion {promotion_id!r}", reason="PROMOTION_NOT_FOUND"
        )
    totals = (
        await conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(orders.c.paid_fen > 0),
                sa.func.coalesce(sa.func.sum(orders.c.paid_fen), 0),
                sa.func.coalesce(sa.func.sum(promotion_uses.c.discount_fen), 0),
            )
            .select_from(promotion_uses.join(orders, orders.c.order_id == promotion_uses.c.order_id))
            .where(promotion_uses.c.promotion_id == promotion_id)
        )
    ).one()
    return CampaignReport(_promotion(row), int(totals[0]), int(totals[1]), int(totals[2]), int(totals[3]))
