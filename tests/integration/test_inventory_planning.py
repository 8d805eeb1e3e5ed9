"""Replenishment (INV-15), packing-material alerts (INV-16) and supplier returns (INV-17) end to end."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from shop.inventory.v1 import inventory_pb2 as pb
from shop.orders.v1 import events_pb2 as orders_events

from libs.business_time import business_day
from libs.timestamps import to_timestamp
from services.inventory.consumers import subscriptions
from services.inventory.store.tables import kit, stock_movements
from tests.conftest import apply_event, auth
from tests.integration.test_inventory_receiving import counted, inspect, new_receipt, register, sign_both
from tests.integration.test_inventory_rpc import field_violations, sku_request
from tests.integration.test_inventory_stock_flow import KEEPER, SHOP, SUPERVISOR, level, reserve

BUYER = auth("purchasing", "buyer-1")
TOMORROW = (business_day(datetime.now(UTC)) + timedelta(days=1)).isoformat()


async def sold(
    stub, sku: str, category: str, received: int, sold_units: int, kind=pb.SKU_KIND_SELLABLE
) -> None:
    """A SKU of ``category`` with ``received`` units of which ``sold_units`` left with orders today."""
    await stub.RegisterSku(
        sku_request(
            f"r-{sku}", sku_code=sku, style_number=sku, category=category, barcode=f"BC-{sku}", kind=kind
        ),
        metadata=KEEPER,
    )
    await stub.ReceiveStock(
        pb.ReceiveStockRequest(
            request_id=f"in-{sku}", sku_code=sku, warehouse_code="MAIN", quantity=received
        ),
        metadata=KEEPER,
    )
    if sold_units:
        await stub.ReserveStock(reserve(f"o-{sku}", (sku, sold_units)), metadata=SHOP)
        await stub.IssueReservation(
            pb.IssueReservationRequest(request_id=f"s-{sku}", order_id=f"o-{sku}", shipment_id=f"P-{sku}"),
            metadata=KEEPER,
        )


async def test_daily_plan_follows_the_default_policies_inv_15(inventory_stub, inventory):
    """INV-15: tea below 2 days of cover orders 7 days of sales (3 days above 100 a day); others below 5
    days order 15 days; "order n days" is n x velocity rounded up, not a top-up."""
    await sold(inventory_stub, "TEA-1", "tea", 10, 9)  # velocity 9/14, cover 1.56 days
    await sold(inventory_stub, "TEA-FAST", "tea", 1500, 1401)  # 100.07 a day, cover 0.99 days
    await sold(inventory_stub, "TEA-OK", "tea", 30, 9)  # cover 32.7 days
    await sold(inventory_stub, "TEE-1", "apparel", 10, 9)  # cover 1.56 < 5
    await sold(inventory_stub, "TEE-SLOW", "apparel", 10, 0)  # no sales, no plan line
    reply = await inventory_stub.GenerateReplenishmentPlan(
        pb.GenerateReplenishmentPlanRequest(business_date=TOMORROW), metadata=BUYER
    )
    lines = {line.sku_code: line for line in reply.plan.lines}
    assert set(lines) == {"TEA-1", "TEA-FAST", "TEE-1"}
    assert (lines["TEA-1"].order_days, lines["TEA-1"].order_quantity, lines["TEA-1"].cover_days) == (
        7,
        5,
        "1.56",
    )
    assert (lines["TEA-FAST"].order_days, lines["TEA-FAST"].order_quantity) == (3, 301)
    assert (lines["TEE-1"].order_days, lines["TEE-1"].order_quantity) == (15, 10)
    assert not reply.plan.approved
    async with inventory.database.connection() as conn:
        low = (
            (
                await conn.execute(
                    sa.select(kit.outbox.c.aggregate_id).where(
                        kit.outbox.c.topic == "shop.inventory.v1.low_stock"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert sorted(low) == ["TEA-1", "TEA-FAST", "TEE-1"]
    # Today's plan looks at the 14 days before today: nothing sold yet, nothing to order.
    today = await inventory_stub.GenerateReplenishmentPlan(
        pb.GenerateReplenishmentPlanRequest(business_date=business_day(datetime.now(UTC)).isoformat()),
        metadata=BUYER,
    )
    assert list(today.plan.lines) == []
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ApproveReplenishmentPlan(
            pb.ApproveReplenishmentPlanRequest(plan_id=reply.plan.plan_id), metadata=SUPERVISOR
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    approved = await inventory_stub.ApproveReplenishmentPlan(
        pb.ApproveReplenishmentPlanRequest(plan_id=reply.plan.plan_id), metadata=BUYER
    )
    assert approved.plan.approved and approved.plan.approved_by == "buyer-1"


async def test_policies_are_data_inv_15(inventory_stub):
    listed = await inventory_stub.ListReplenishmentPolicies(
        pb.ListReplenishmentPoliciesRequest(), metadata=BUYER
    )
    assert {
        (p.category, p.low_cover_days, p.order_days, p.fast_daily_units, p.fast_order_days)
        for p in listed.policies
    } == {
        ("tea", 2, 7, 100, 3),
        ("*", 5, 15, 0, 0),
    }
    await inventory_stub.SetReplenishmentPolicy(
        pb.SetReplenishmentPolicyRequest(
            policy=pb.ReplenishmentPolicy(category="apparel", low_cover_days=3, order_days=10)
        ),
        metadata=BUYER,
    )
    await sold(inventory_stub, "TEE-1", "apparel", 10, 9)
    reply = await inventory_stub.GenerateReplenishmentPlan(
        pb.GenerateReplenishmentPlanRequest(business_date=TOMORROW), metadata=BUYER
    )
    assert [(line.sku_code, line.order_days, line.order_quantity) for line in reply.plan.lines] == [
        ("TEE-1", 10, 7)
    ]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.SetReplenishmentPolicy(
            pb.SetReplenishmentPolicyRequest(
                policy=pb.ReplenishmentPolicy(category="x", low_cover_days=0, order_days=10)
            ),
            metadata=BUYER,
        )
    assert "policy.low_cover_days" in field_violations(exc.value)


def large_promotion(
    promotion_id: str, *, days_from_now: float, days_long: float = 3, revision: int = 1
) -> orders_events.LargePromotionScheduled:
    starts = datetime.now(UTC) + timedelta(days=days_from_now)
    return orders_events.LargePromotionScheduled(
        promotion_id=promotion_id,
        name=f"{promotion_id} sale",
        starts_at=to_timestamp(starts),
        ends_at=to_timestamp(starts + timedelta(days=days_long)),
        revision=revision,
    )


async def test_packing_material_alerts_inv_16(inventory_stub, inventory):
    """INV-16: a packing material under 10 days of normal use alerts the warehouse supervisor; so does every
    material when a large promotion is scheduled."""
    for sku, received, used in (("BOX-S", 200, 140), ("TAPE", 500, 14)):
        await inventory_stub.RegisterSku(
            sku_request(f"r-{sku}", sku_code=sku, style_number=sku, colour="", size="", category="packing",
                        barcode=f"BC-{sku}", kind=pb.SKU_KIND_PACKING_MATERIAL),
            metadata=KEEPER,
        )  # fmt: skip
        await inventory_stub.ReceiveStock(
            pb.ReceiveStockRequest(
                request_id=f"in-{sku}", sku_code=sku, warehouse_code="MAIN", quantity=received
            ),
            metadata=KEEPER,
        )
        used_reply = await inventory_stub.RecordPackingUse(
            pb.RecordPackingUseRequest(request_id=f"use-{sku}", sku_code=sku, quantity=used), metadata=KEEPER
        )
        assert used_reply.level.on_hand == received - used
    normal = await inventory_stub.ListPackingAlerts(pb.ListPackingAlertsRequest(), metadata=SUPERVISOR)
    assert [(a.sku_code, a.reason, a.daily_use, a.cover_days) for a in normal.alerts] == [
        ("BOX-S", "low_cover", "10.00", "6.00")
    ]
    # The orders service announces a large promotion: from then on every material is alerted.
    await apply_event(inventory.database, kit.inbox, subscriptions, large_promotion("P-618", days_from_now=3))
    promo = await inventory_stub.ListPackingAlerts(pb.ListPackingAlertsRequest(), metadata=SUPERVISOR)
    assert {a.sku_code: a.reason for a in promo.alerts} == {"BOX-S": "low_cover", "TAPE": "promotion"}
    assert [p.promotion_id for p in promo.promotions] == ["P-618"]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.RecordPackingUse(
            pb.RecordPackingUseRequest(request_id="u-x", sku_code="BOX-S", quantity=61), metadata=KEEPER
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_defective_units_go_back_to_their_supplier_inv_17(inventory_stub, inventory):
    """INV-17: defective units are returned to the supplier by document; manufacturers are cleared daily;
    what is not returned by month end is reported."""
    await register(inventory_stub, "TEE-R", "TEE")
    await inventory_stub.RegisterSupplier(
        pb.RegisterSupplierRequest(
            supplier_code="SUP-1", name="Hangzhou Mill", kind=pb.SUPPLIER_KIND_MANUFACTURER
        ),
        metadata=BUYER,
    )
    receipt = await new_receipt(inventory_stub, lines=(("TEE-R", 20),))
    await counted(inventory_stub, receipt.receipt_id, 20)
    await inspect(inventory_stub, receipt.receipt_id, "q1", (1, pb.INSPECTION_STAGE_ROUND_1, 2, 1))
    # 3 of 4 pass
    await inspect(inventory_stub, receipt.receipt_id, "q2", (1, pb.INSPECTION_STAGE_ROUND_2, 2, 0))
    await inspect(inventory_stub, receipt.receipt_id, "q3", (1, pb.INSPECTION_STAGE_FULL, 20, 3))
    await sign_both(inventory_stub, receipt.receipt_id)
    await inventory_stub.PostReceipt(
        pb.PostReceiptRequest(request_id="p", receipt_id=receipt.receipt_id), metadata=KEEPER
    )

    stock = await inventory_stub.ListDefectiveStock(pb.ListDefectiveStockRequest(), metadata=BUYER)
    assert [(s.supplier_code, s.sku_code, s.quantity, s.return_due) for s in stock.stock] == [
        ("SUP-1", "TEE-R", 3, False)
    ]
    async with inventory.database.transaction() as conn:  # a day and a half later
        await conn.execute(
            stock_movements.update().values(created_at=stock_movements.c.created_at - timedelta(hours=36))
        )
    stock = await inventory_stub.ListDefectiveStock(pb.ListDefectiveStockRequest(), metadata=BUYER)
    assert stock.stock[0].return_due

    month = business_day(datetime.now(UTC)).strftime("%Y-%m")
    report = await inventory_stub.MonthEndDefectiveReport(
        pb.MonthEndDefectiveReportRequest(month=month), metadata=BUYER
    )
    assert [(s.supplier_code, s.quantity) for s in report.stock] == [("SUP-1", 3)]

    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ReturnToSupplier(
            pb.ReturnToSupplierRequest(
                request_id="rt-0", supplier_code="SUP-1", lines=[pb.StockLine(sku_code="TEE-R", quantity=4)]
            ),
            metadata=KEEPER,
        )
    assert "lines[0].quantity" in field_violations(exc.value)
    returned = await inventory_stub.ReturnToSupplier(
        pb.ReturnToSupplierRequest(
            request_id="rt-1", supplier_code="SUP-1", lines=[pb.StockLine(sku_code="TEE-R", quantity=3)]
        ),
        metadata=KEEPER,
    )
    assert returned.return_id
    assert (await level(inventory_stub, "TEE-R", "DEFECTIVE")).on_hand == 0
    assert (
        list((await inventory_stub.ListDefectiveStock(pb.ListDefectiveStockRequest(), metadata=BUYER)).stock)
        == []
    )
    report = await inventory_stub.MonthEndDefectiveReport(
        pb.MonthEndDefectiveReportRequest(month=month), metadata=BUYER
    )
    assert list(report.stock) == []
    async with inventory.database.connection() as conn:
        kinds = (
            await conn.execute(
                sa.select(stock_movements.c.kind).where(stock_movements.c.kind == "return_to_supplier")
            )
        ).all()
    assert len(kinds) == 1
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ReturnToSupplier(
            pb.ReturnToSupplierRequest(
                request_id="rt-2", supplier_code="NOPE", lines=[pb.StockLine(sku_code="TEE-R", quantity=1)]
            ),
            metadata=KEEPER,
        )
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
    assert "supplier_code" in field_violations(exc.value)


async def test_the_latest_announcement_of_a_large_promotion_wins_whatever_order_they_arrive_in_inv_16(
    inventory_stub, inventory
):
    moved = large_promotion("P-1111", days_from_now=5, revision=2)
    first = large_promotion("P-1111", days_from_now=1, revision=1)
    over = large_promotion("P-OLD", days_from_now=-10, days_long=2)
    assert await apply_event(inventory.database, kit.inbox, subscriptions, moved)
    assert await apply_event(inventory.database, kit.inbox, subscriptions, first)  # late and stale
    assert await apply_event(inventory.database, kit.inbox, subscriptions, over)
    reply = await inventory_stub.ListPackingAlerts(pb.ListPackingAlertsRequest(), metadata=SUPERVISOR)
    assert [(p.promotion_id, p.starts_at) for p in reply.promotions] == [("P-1111", moved.starts_at)]
    # The same event delivered again is applied once.
    again = large_promotion("P-2222", days_from_now=2)
    event_id = uuid.uuid4()
    assert await apply_event(inventory.database, kit.inbox, subscriptions, again, event_id=event_id)
    assert not await apply_event(inventory.database, kit.inbox, subscriptions, again, event_id=event_id)
