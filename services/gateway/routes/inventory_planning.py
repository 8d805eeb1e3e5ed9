"""Inventory routes: replenishment (补货, INV-15), packing materials (INV-16), and suppliers and the return
of defective units to them (退供应商, INV-17)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from shop.inventory.v1 import inventory_pb2 as pb

from libs.errors import DomainError, FieldViolation
from libs.grpc_client import call
from services.gateway.auth import Caller
from services.gateway.routes.common import (
    IdempotencyKey,
    Int64,
    StrictBody,
    request_id,
    request_id_field,
    upstreams,
    utc,
)
from services.gateway.routes.inventory import StockLevelOut
from services.gateway.routes.inventory_counts import YEAR_MONTH_PATTERN, IsoDate
from services.gateway.routes.inventory_receiving import Int32
from services.gateway.routes.inventory_reservations import StockLineBody

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])

SupplierKindName = Literal["manufacturer", "sporadic"]
_SUPPLIER_KIND_TO_PB: dict[SupplierKindName, pb.SupplierKind.ValueType] = {
    "manufacturer": pb.SUPPLIER_KIND_MANUFACTURER,
    "sporadic": pb.SUPPLIER_KIND_SPORADIC,
}
PackingAlertReason = Literal["low_cover", "promotion"]
_ALERT_REASONS: dict[str, PackingAlertReason] = {"low_cover": "low_cover", "promotion": "promotion"}


class PolicyBody(StrictBody):
    low_cover_days: Int32 = Field(description="Replenish when stock covers fewer days of sales, 1-365.")
    order_days: Int32 = Field(description="Order this many days of sales, 1-365.")
    fast_daily_units: Int32 | None = Field(
        default=None,
        description="Fast sellers: a SKU selling more units a day than this orders fast_order_days of sales "
        "instead. Set both fast fields or neither.",
    )
    fast_order_days: Int32 | None = Field(
        default=None, description="Days of sales a fast seller orders. Set both fast fields or neither."
    )


class PolicyOut(BaseModel):
    category: str = Field(description='"*": every category without a policy of its own.')
    low_cover_days: int
    order_days: int
    fast_daily_units: int | None = Field(description="Null: no fast-seller rule.")
    fast_order_days: int | None = Field(description="Null: no fast-seller rule.")


class PoliciesOut(BaseModel):
    policies: list[PolicyOut]


class GeneratePlanBody(StrictBody):
    business_date: IsoDate | None = Field(default=None, description="YYYY-MM-DD; unset: today in Shanghai.")


class ReplenishmentLineOut(BaseModel):
    sku_code: str
    category: str
    available: int
    units_sold: int = Field(description="Units sold in the window before the plan's day.")
    window_days: int
    cover_days: str = Field(description="available / daily sales, a decimal string with two places.")
    order_days: int
    order_quantity: int = Field(description="order_days of sales, rounded up to whole units.")


class PlanOut(BaseModel):
    plan_id: str
    business_date: str
    approved: bool
    approved_by: str = Field(description="Empty until purchasing approves.")
    lines: list[ReplenishmentLineOut]


class PackingUseBody(StrictBody):
    request_id: str | None = request_id_field()
    sku_code: str = Field(description="A packing material.")
    warehouse_code: str = "MAIN"
    quantity: Int64 = Field(description="Whole units used at the packing bench, at least 1.")


class PackingUseOut(BaseModel):
    level: StockLevelOut = Field(description="The material's stock after the use.")


class PackingAlertOut(BaseModel):
    sku_code: str
    on_hand: int
    daily_use: str = Field(description="Average daily use over the last 14 days, a decimal string.")
    cover_days: str | None = Field(description="Days the stock covers, a decimal string; null when unused.")
    reason: PackingAlertReason


class ScheduledPromotionOut(BaseModel):
    promotion_id: str
    name: str
    starts_at: datetime
    ends_at: datetime


class PackingAlertsOut(BaseModel):
    alerts: list[PackingAlertOut] = Field(description="Lowest cover first.")
    promotions: list[ScheduledPromotionOut] = Field(
        description="Large promotions announced by the orders service and not over yet, soonest first: "
        'while there is one, every packing material is alerted (reason "promotion").'
    )


class RegisterSupplierBody(StrictBody):
    supplier_code: str = Field(description="At most 64 characters.")
    name: str
    kind: SupplierKindName = Field(
        description="manufacturer: defective units cleared daily; sporadic: weekly (INV-17)."
    )


class SupplierOut(BaseModel):
    supplier_code: str


class ReturnToSupplierBody(StrictBody):
    request_id: str | None = request_id_field()
    supplier_code: str
    lines: list[StockLineBody] = Field(description="Defective units of the supplier's deliveries to return.")


class SupplierReturnOut(BaseModel):
    return_id: str = Field(description="The return document.")


class DefectiveStockOut(BaseModel):
    supplier_code: str = Field(description="The supplier whose delivery the lot came from; empty if none.")
    sku_code: str
    lot_id: str
    defective_since: datetime
    quantity: int
    return_due: bool = Field(description="The supplier's clearing interval (a day or a week) has passed.")


class DefectiveStocksOut(BaseModel):
    stock: list[DefectiveStockOut]


class MonthEndDefectiveOut(BaseModel):
    month: str
    stock: list[DefectiveStockOut] = Field(description="Defective stock not returned by the month's end.")


def _policy_out(policy: pb.ReplenishmentPolicy) -> PolicyOut:
    fast = policy.fast_daily_units != 0 or policy.fast_order_days != 0
    return PolicyOut(
        category=policy.category,
        low_cover_days=policy.low_cover_days,
        order_days=policy.order_days,
        fast_daily_units=policy.fast_daily_units if fast else None,
        fast_order_days=policy.fast_order_days if fast else None,
    )


def _plan_out(plan: pb.ReplenishmentPlan) -> PlanOut:
    return PlanOut(
        plan_id=plan.plan_id,
        business_date=plan.business_date,
        approved=plan.approved,
        approved_by=plan.approved_by,
        lines=[
            ReplenishmentLineOut(
                sku_code=line.sku_code,
                category=line.category,
                available=line.available,
                units_sold=line.units_sold,
                window_days=line.window_days,
                cover_days=line.cover_days,
                order_days=line.order_days,
                order_quantity=line.order_quantity,
            )
            for line in plan.lines
        ],
    )


def _defective_out(stock: pb.DefectiveStock) -> DefectiveStockOut:
    return DefectiveStockOut(
        supplier_code=stock.supplier_code,
        sku_code=stock.sku_code,
        lot_id=stock.lot_id,
        defective_since=utc(stock.defective_since),
        quantity=stock.quantity,
        return_due=stock.return_due,
    )


def _without_prefix(err: DomainError, prefix: str) -> DomainError:
    """The error with ``prefix`` taken off its field paths: the service names ``policy.order_days`` where
    this route's body has ``order_days``."""
    renamed = type(err)(
        err.message.removeprefix(prefix),
        violations=[FieldViolation(v.field.removeprefix(prefix), v.description) for v in err.violations],
        reason=err.reason,
        metadata=err.metadata,
    )
    renamed.code = err.code
    return renamed


@router.get("/replenishment-policies", response_model=PoliciesOut)
async def list_replenishment_policies(request: Request, caller: Caller) -> PoliciesOut:
    """The replenishment policies per category (INV-15)."""
    reply = await call(
        upstreams(request).inventory.ListReplenishmentPolicies,
        pb.ListReplenishmentPoliciesRequest(),
        caller=caller,
    )
    return PoliciesOut(policies=[_policy_out(p) for p in reply.policies])


@router.put("/replenishment-policies/{category}", response_model=PolicyOut)
async def set_replenishment_policy(
    category: str, body: PolicyBody, request: Request, caller: Caller
) -> PolicyOut:
    """Creates or changes a category's replenishment policy ("*": every other category; INV-15).
    Purchasing and warehouse supervisors."""
    try:
        reply = await call(
            upstreams(request).inventory.SetReplenishmentPolicy,
            pb.SetReplenishmentPolicyRequest(
                policy=pb.ReplenishmentPolicy(
                    category=category,
                    low_cover_days=body.low_cover_days,
                    order_days=body.order_days,
                    fast_daily_units=body.fast_daily_units or 0,
                    fast_order_days=body.fast_order_days or 0,
                )
            ),
            caller=caller,
        )
    except DomainError as err:
        raise _without_prefix(err, "policy.") from None
    return _policy_out(reply.policy)


@router.post("/replenishment-plans", status_code=201, response_model=PlanOut)
async def generate_replenishment_plan(
    request: Request, caller: Caller, body: GeneratePlanBody | None = None
) -> PlanOut:
    """Builds a day's replenishment plan from the 14 days of sales before it and the policies (INV-15;
    purchasing and warehouse supervisors). Nothing is ordered until purchasing approves."""
    reply = await call(
        upstreams(request).inventory.GenerateReplenishmentPlan,
        pb.GenerateReplenishmentPlanRequest(business_date=(body.business_date or "") if body else ""),
        caller=caller,
    )
    return _plan_out(reply.plan)


@router.post("/replenishment-plans/{plan_id}/approve", response_model=PlanOut)
async def approve_replenishment_plan(plan_id: str, request: Request, caller: Caller) -> PlanOut:
    """Purchasing approves a plan (INV-15)."""
    reply = await call(
        upstreams(request).inventory.ApproveReplenishmentPlan,
        pb.ApproveReplenishmentPlanRequest(plan_id=plan_id),
        caller=caller,
    )
    return _plan_out(reply.plan)


@router.post("/packing-uses", status_code=201, response_model=PackingUseOut)
async def record_packing_use(
    body: PackingUseBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> PackingUseOut:
    """Books packing materials used at the packing bench, oldest lot first (stock keepers and logistics
    clerks)."""
    reply = await call(
        upstreams(request).inventory.RecordPackingUse,
        pb.RecordPackingUseRequest(
            request_id=request_id(body.request_id, idempotency_key),
            sku_code=body.sku_code,
            warehouse_code=body.warehouse_code,
            quantity=body.quantity,
        ),
        caller=caller,
    )
    level = reply.level
    return PackingUseOut(
        level=StockLevelOut(
            sku_code=level.sku_code,
            warehouse_code=level.warehouse_code,
            on_hand=level.on_hand,
            reserved=level.reserved,
            held=level.held,
            available=level.available,
            sellable=level.sellable,
        )
    )


@router.get("/packing-alerts", response_model=PackingAlertsOut)
async def list_packing_alerts(request: Request, caller: Caller) -> PackingAlertsOut:
    """Packing materials covering under 10 days of normal use, or all of them while a large promotion
    (announced by the orders service when a promoter creates or moves it) is scheduled: the warehouse
    supervisor's buying alert (INV-16)."""
    reply = await call(
        upstreams(request).inventory.ListPackingAlerts, pb.ListPackingAlertsRequest(), caller=caller
    )
    return PackingAlertsOut(
        alerts=[
            PackingAlertOut(
                sku_code=a.sku_code,
                on_hand=a.on_hand,
                daily_use=a.daily_use,
                cover_days=a.cover_days or None,
                reason=_ALERT_REASONS[a.reason],
            )
            for a in reply.alerts
        ],
        promotions=[
            ScheduledPromotionOut(
                promotion_id=p.promotion_id, name=p.name, starts_at=utc(p.starts_at), ends_at=utc(p.ends_at)
            )
            for p in reply.promotions
        ],
    )


@router.post("/suppliers", status_code=201, response_model=SupplierOut)
async def register_supplier(body: RegisterSupplierBody, request: Request, caller: Caller) -> SupplierOut:
    """Registers a supplier: a manufacturer or a sporadic supplier (INV-17; purchasing only)."""
    reply = await call(
        upstreams(request).inventory.RegisterSupplier,
        pb.RegisterSupplierRequest(
            supplier_code=body.supplier_code, name=body.name, kind=_SUPPLIER_KIND_TO_PB[body.kind]
        ),
        caller=caller,
    )
    return SupplierOut(supplier_code=reply.supplier_code)


@router.post("/supplier-returns", status_code=201, response_model=SupplierReturnOut)
async def return_to_supplier(
    body: ReturnToSupplierBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> SupplierReturnOut:
    """Returns defective units to their supplier by one document, oldest lot first (INV-17; stock keepers)."""
    reply = await call(
        upstreams(request).inventory.ReturnToSupplier,
        pb.ReturnToSupplierRequest(
            request_id=request_id(body.request_id, idempotency_key),
            supplier_code=body.supplier_code,
            lines=[pb.StockLine(sku_code=line.sku_code, quantity=line.quantity) for line in body.lines],
        ),
        caller=caller,
    )
    return SupplierReturnOut(return_id=reply.return_id)


@router.get("/defective-stock", response_model=DefectiveStocksOut)
async def list_defective_stock(request: Request, caller: Caller) -> DefectiveStocksOut:
    """Defective stock per supplier and lot, with whether its clearing is due (INV-17)."""
    reply = await call(
        upstreams(request).inventory.ListDefectiveStock, pb.ListDefectiveStockRequest(), caller=caller
    )
    return DefectiveStocksOut(stock=[_defective_out(s) for s in reply.stock])


@router.get("/defective-stock/month-end", response_model=MonthEndDefectiveOut)
async def month_end_defective_report(
    request: Request,
    caller: Caller,
    month: Annotated[str, Query(pattern=YEAR_MONTH_PATTERN, description="YYYY-MM.")],
) -> MonthEndDefectiveOut:
    """Defective stock not returned by a month's end (Asia/Shanghai), for purchasing and finance (INV-17)."""
    reply = await call(
        upstreams(request).inventory.MonthEndDefectiveReport,
        pb.MonthEndDefectiveReportRequest(month=month),
        caller=caller,
    )
    return MonthEndDefectiveOut(month=month, stock=[_defective_out(s) for s in reply.stock])
