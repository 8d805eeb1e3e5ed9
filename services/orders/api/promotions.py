"""Promotion RPCs of OrdersService (ORD-8) and pricing own-site checkouts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shop.orders.v1 import orders_pb2 as pb
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.db import Database
from libs.errors import InvalidArgument
from libs.money import fen, money
from libs.telemetry import set_attributes
from libs.timestamps import from_timestamp, to_timestamp
from services.orders.api.enums import PROMOTION_KIND
from services.orders.clients.inventory import InventoryClient
from services.orders.domain import promotions as rules
from services.orders.domain.promotions import CartLine, Priced, Promotion
from services.orders.store import promotions


def promotion_to_pb(p: Promotion) -> pb.Promotion:
    """A promotion (ORD-8) as the contract carries it."""
    return pb.Promotion(
        promotion_id=p.promotion_id,
        name=p.name,
        kind=PROMOTION_KIND.to_pb(p.kind),
        starts_at=to_timestamp(p.starts_at),
        ends_at=to_timestamp(p.ends_at),
        eligible_skus=sorted(p.eligible_skus),
        eligible_categories=sorted(p.eligible_categories),
        coupon_code=p.coupon_code,
        amount_off=money(p.amount_off_fen),
        threshold=money(p.threshold_fen),
        repeat=p.repeat,
        max_off=money(p.max_off_fen or 0),
        rate_bp=p.rate_bp,
        stackable=p.stackable,
        priority=p.priority,
        budget=money(p.budget_fen or 0),
        per_buyer_limit=p.per_buyer_limit or 0,
        large=p.large,
        revision=p.revision,
    )


async def price_checkout(
    conn: AsyncConnection,
    inventory: InventoryClient,
    *,
    lines: Sequence[tuple[str, int, int]],
    buyer_id: str,
    coupon_codes: Sequence[str],
    caller: identity.Identity,
    lock: bool,
    at: datetime,
    categories: dict[str, str] | None = None,
) -> Priced:
    """Prices a cart with the promotions running at ``at``; with ``lock`` their rows stay locked until the
    caller's transaction ends, so recording the uses cannot overrun a budget or a per-buyer limit."""
    running = await promotions.active(conn, at, lock=lock)
    if categories is None:
        categories = {}
        if any(p.eligible_categories for p in running):
            categories = await inventory.categories([sku for sku, _, _ in lines], caller=caller)
    budget_left, uses = await promotions.budgets_and_uses(conn, running, buyer_id)
    return rules.price(
        [CartLine(sku, categories.get(sku, ""), qty, price) for sku, qty, price in lines],
        running,
        at=at,
        coupon_codes=list(coupon_codes),
        budget_left=budget_left,
        buyer_uses=uses,
    )


class PromotionsApi:
    """Mixed into OrdersServicer."""

    db: Database
    inventory: InventoryClient

    async def CreatePromotion(
        self, request: pb.CreatePromotionRequest, context: Any
    ) -> pb.CreatePromotionResponse:
        caller = identity.current()
        given = request.promotion
        for field in ("starts_at", "ends_at"):
            if not given.HasField(field):
                raise InvalidArgument.for_field(f"promotion.{field}", "is required")
        promotion = rules.validate_promotion(
            promotion_id=given.promotion_id,
            name=given.name,
            kind=PROMOTION_KIND.from_pb_or_none(given.kind, field="kind"),
            starts_at=from_timestamp(given.starts_at),
            ends_at=from_timestamp(given.ends_at),
            eligible_skus=list(given.eligible_skus),
            eligible_categories=list(given.eligible_categories),
            coupon_code=given.coupon_code,
            amount_off_fen=fen(given.amount_off, "promotion.amount_off"),
            threshold_fen=fen(given.threshold, "promotion.threshold"),
            repeat=given.repeat,
            max_off_fen=fen(given.max_off, "promotion.max_off") or None,
            rate_bp=given.rate_bp,
            stackable=given.stackable if given.HasField("stackable") else None,
            priority=given.priority,
            budget_fen=fen(given.budget, "promotion.budget") or None,
            per_buyer_limit=given.per_buyer_limit or None,
            large=given.large,
        )
        set_attributes(promotion_id=promotion.promotion_id)
        async with self.db.transaction() as conn:
            await promotions.create(conn, promotion, actor=caller.subject)
        return pb.CreatePromotionResponse(promotion=promotion_to_pb(promotion))

    async def ReschedulePromotion(
        self, request: pb.ReschedulePromotionRequest, context: Any
    ) -> pb.ReschedulePromotionResponse:
        for field in ("starts_at", "ends_at"):
            if not request.HasField(field):
                raise InvalidArgument.for_field(field, "is required")
        set_attributes(promotion_id=request.promotion_id)
        async with self.db.transaction() as conn:
            current = await promotions.get(conn, request.promotion_id, lock=True)
            moved = rules.reschedule(
                current, from_timestamp(request.starts_at), from_timestamp(request.ends_at)
            )
            await promotions.save_window(conn, moved)
        return pb.ReschedulePromotionResponse(promotion=promotion_to_pb(moved))

    async def QuoteCart(self, request: pb.QuoteCartRequest, context: Any) -> pb.QuoteCartResponse:
        caller = identity.current()
        if not request.lines:
            raise InvalidArgument.for_field("lines", "a cart has at least one line")
        lines = [
            (line.sku_code, line.quantity, fen(line.unit_price, f"lines[{i}].unit_price"))
            for i, line in enumerate(request.lines)
        ]
        async with self.db.connection() as conn:
            priced = await price_checkout(
                conn, self.inventory, lines=lines, buyer_id=request.buyer_id, coupon_codes=list(request.coupon_codes),
                caller=caller, lock=False, at=datetime.now(UTC),
            )  # fmt: skip
        return pb.QuoteCartResponse(
            goods=money(priced.goods_fen),
            discount=money(priced.discount_fen),
            total=money(priced.total_fen),
            applied=[
                pb.AppliedPromotion(promotion_id=a.promotion_id, discount=money(a.discount_fen))
                for a in priced.applied
            ],
            rejected=[
                pb.RejectedPromotion(promotion_id=pid, reason=reason) for pid, reason in priced.rejected
            ],
        )

    async def GetCampaignReport(
        self, request: pb.GetCampaignReportRequest, context: Any
    ) -> pb.GetCampaignReportResponse:
        async with self.db.connection() as conn:
            report = await promotions.campaign_report(conn, request.promotion_id)
        return pb.GetCampaignReportResponse(
            promotion=promotion_to_pb(report.promotion),
            orders=report.orders,
            paid_orders=report.paid_orders,
            sales=money(report.sales_fen),
            discount_spent=money(report.discount_fen),
            conversion_bp=report.conversion_bp,
        )
