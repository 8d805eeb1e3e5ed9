"""Promotions at own-site checkout (ORD-8): budgets and per-buyer limits hold under concurrent checkouts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from shop.orders.v1 import orders_pb2 as pb

from tests.conftest import auth
from tests.integration.test_inventory_rpc import field_violations, sku_request
from tests.integration.test_inventory_stock_flow import KEEPER
from tests.integration.test_orders_flow import ADDRESS, SHOP, yuan

PROMOTER = auth("promoter", "mkt-1")
LEAD = auth("supervisor", "lead-1")


def ts(delta: timedelta) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(datetime.now(UTC) + delta)
    return out


def promotion(promotion_id: str, kind, **fields) -> pb.CreatePromotionRequest:
    return pb.CreatePromotionRequest(
        promotion=pb.Promotion(
            promotion_id=promotion_id, name=promotion_id, kind=kind,
            starts_at=ts(-timedelta(hours=1)), ends_at=ts(timedelta(hours=1)), **{"stackable": True, **fields},
        )
    )  # fmt: skip


def checkout(n: int, buyer="buyer-1", coupons=(), quantity=1, price=100.0) -> pb.SubmitOrderRequest:
    return pb.SubmitOrderRequest(
        channel=pb.CHANNEL_OWN_SITE, channel_order_id=f"WEB-{n}", shop_code="own-site", buyer_id=buyer,
        address=ADDRESS, lines=[pb.OrderLine(sku_code="LJ-250-GRN", quantity=quantity, unit_price=yuan(price))],
        coupon_codes=list(coupons),
    )  # fmt: skip


async def test_concurrent_checkouts_cannot_exceed_a_coupon_budget_ord_8(orders_stub):
    """ORD-8: 40 buyers race for a coupon of 30 yuan with a 100-yuan budget: the discounts add up to at most
    the budget (3 full uses and one partial)."""
    await orders_stub.CreatePromotion(
        promotion(
            "SPRING30",
            pb.PROMOTION_KIND_COUPON,
            coupon_code="SPRING30",
            amount_off=yuan(30),
            budget=yuan(100),
        ),
        metadata=PROMOTER,
    )
    replies = await asyncio.gather(
        *(
            orders_stub.SubmitOrder(checkout(i, buyer=f"b-{i}", coupons=["spring30"]), metadata=SHOP)
            for i in range(40)
        )
    )
    discounts = [r.order.discount.amount_minor for r in replies]
    assert sum(discounts) == 10000
    assert sorted(d for d in discounts if d)[-3:] == [3000, 3000, 3000]
    report = await orders_stub.GetCampaignReport(
        pb.GetCampaignReportRequest(promotion_id="SPRING30"), metadata=LEAD
    )
    assert (report.orders, report.discount_spent.amount_minor) == (4, 10000)
    assert all(r.order.total.amount_minor == 10000 - r.order.discount.amount_minor for r in replies)


async def test_per_buyer_limit_holds_under_concurrency_ord_8(orders_stub):
    await orders_stub.CreatePromotion(
        promotion(
            "ONCE", pb.PROMOTION_KIND_COUPON, coupon_code="ONCE-ONLY", amount_off=yuan(5), per_buyer_limit=1
        ),
        metadata=PROMOTER,
    )
    replies = await asyncio.gather(
        *(orders_stub.SubmitOrder(checkout(i, coupons=["ONCE-ONLY"]), metadata=SHOP) for i in range(10))
    )
    assert sum(1 for r in replies if r.order.discount.amount_minor) == 1


async def test_threshold_and_percentage_by_category_with_a_quote_ord_8(orders_stub, inventory_stub):
    """ORD-8: a category-wide percentage then a spend-X-get-Y-off threshold; the quote matches the checkout."""
    await inventory_stub.RegisterSku(sku_request(category="tea"), metadata=KEEPER)
    await orders_stub.CreatePromotion(
        promotion("TEA10", pb.PROMOTION_KIND_PERCENTAGE, rate_bp=9000, eligible_categories=["tea"]),
        metadata=PROMOTER,
    )
    await orders_stub.CreatePromotion(
        promotion("M300-30", pb.PROMOTION_KIND_THRESHOLD, threshold=yuan(300), amount_off=yuan(30)),
        metadata=PROMOTER,
    )
    quote = await orders_stub.QuoteCart(
        pb.QuoteCartRequest(
            buyer_id="b", lines=[pb.CartLine(sku_code="LJ-250-GRN", quantity=4, unit_price=yuan(88))]
        ),
        metadata=SHOP,
    )
    # 352 goods; 10% off = 35.20 -> 316.80 left, >= 300 so 30 off: 65.20 discount.
    assert (quote.goods.amount_minor, quote.discount.amount_minor) == (35200, 6520)
    order = (await orders_stub.SubmitOrder(checkout(1, quantity=4, price=88), metadata=SHOP)).order
    assert (order.discount.amount_minor, order.total.amount_minor) == (6520, 28680)
    assert {p.promotion_id for p in order.promotions} == {"TEA10", "M300-30"}


async def test_bad_promotions_name_the_field_ord_8(orders_stub):
    bad = promotion("X", pb.PROMOTION_KIND_PERCENTAGE, rate_bp=0)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.CreatePromotion(bad, metadata=PROMOTER)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any("rate_bp" in f for f in field_violations(exc.value))
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.CreatePromotion(
            promotion("Y", pb.PROMOTION_KIND_COUPON, coupon_code="ABCD", amount_off=yuan(1)), metadata=SHOP
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_own_site_order_paid_at_checkout_pays_the_promoted_total_ord_8(orders_stub):
    await orders_stub.CreatePromotion(
        promotion("TEA20", pb.PROMOTION_KIND_COUPON, coupon_code="TEA20", amount_off=yuan(20)),
        metadata=PROMOTER,
    )
    request = checkout(1, coupons=["tea20"], price=128)
    request.payment.CopyFrom(pb.Payment(amount=yuan(108), paid_at=ts(timedelta(0)), reference="WX-1"))
    order = (await orders_stub.SubmitOrder(request, metadata=SHOP)).order
    assert (order.status, order.total.amount_minor, order.paid.amount_minor) == (
        pb.ORDER_STATUS_PAID,
        10800,
        10800,
    )
    wrong = checkout(2, coupons=["tea20"], price=128)
    wrong.payment.CopyFrom(pb.Payment(amount=yuan(128), paid_at=ts(timedelta(0)), reference="WX-2"))
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.SubmitOrder(wrong, metadata=SHOP)
    assert "payment.amount" in field_violations(exc.value)


async def test_a_promotion_is_stackable_unless_its_creator_says_not_ord_8(orders_stub):
    """ORD-8 stacking: the service decides the default; a promotion created without saying is stackable."""
    unsaid = promotion("UNSAID", pb.PROMOTION_KIND_PERCENTAGE, rate_bp=9000)
    unsaid.promotion.ClearField("stackable")
    created = await orders_stub.CreatePromotion(unsaid, metadata=PROMOTER)
    assert created.promotion.HasField("stackable") and created.promotion.stackable
    alone = promotion("ALONE", pb.PROMOTION_KIND_PERCENTAGE, rate_bp=9500, stackable=False)
    created = await orders_stub.CreatePromotion(alone, metadata=PROMOTER)
    assert created.promotion.HasField("stackable") and not created.promotion.stackable
