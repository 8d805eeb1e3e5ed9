"""Replenishment, packing-material and supplier-return RPCs of InventoryService (INV-15 .. INV-17)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

from shop.inventory.v1 import inventory_pb2 as pb

from libs import identity
from libs.business_time import BUSINESS_ZONE, business_day, parse_business_date, parse_business_month
from libs.db import Database
from libs.errors import InvalidArgument
from libs.timestamps import to_timestamp
from services.inventory.api.convert import level_to_pb
from services.inventory.api.enums import SUPPLIER_KIND
from services.inventory.domain.places import DEFECTIVE_WAREHOUSE, warehouse_or_default
from services.inventory.domain.replenishment import (
    ReplenishmentPolicy,
    cover_days,
    daily_velocity,
    validate_policy,
)
from services.inventory.domain.reservations import reservation_request
from services.inventory.domain.skus import SkuKind
from services.inventory.domain.stock import stock_in
from services.inventory.domain.supplier_returns import month_end, return_due
from services.inventory.store import catalogue, ledger, planning, suppliers
from services.inventory.store.planning import Plan
from services.inventory.store.suppliers import DefectiveLot, Supplier


def decimal(value: Fraction | None) -> str:
    """A fraction as a decimal string with two places (rounded half up), "" for none."""
    if value is None:
        return ""
    hundredths = (value * 100 + Fraction(1, 2)).__floor__()
    sign = "-" if hundredths < 0 else ""
    return f"{sign}{abs(hundredths) // 100}.{abs(hundredths) % 100:02d}"


def policy_to_pb(policy: ReplenishmentPolicy) -> pb.ReplenishmentPolicy:
    return pb.ReplenishmentPolicy(
        category=policy.category,
        low_cover_days=policy.low_cover_days,
        order_days=policy.order_days,
        fast_daily_units=policy.fast_daily_units or 0,
        fast_order_days=policy.fast_order_days or 0,
    )


def plan_to_pb(plan: Plan) -> pb.ReplenishmentPlan:
    return pb.ReplenishmentPlan(
        plan_id=plan.plan_id,
        business_date=plan.business_date.isoformat(),
        approved=plan.approved_by is not None,
        approved_by=plan.approved_by or "",
        lines=[
            pb.ReplenishmentLine(
                sku_code=line.sku_code,
                category=line.category,
                available=line.available,
                units_sold=line.units_sold,
                window_days=line.window_days,
                cover_days=decimal(
                    cover_days(line.available, daily_velocity(line.units_sold, line.window_days))
                ),
                order_days=line.order_days,
                order_quantity=line.order_quantity,
            )
            for line in plan.lines
        ],
    )


def defective_to_pb(lot: DefectiveLot, due: bool) -> pb.DefectiveStock:
    return pb.DefectiveStock(
        supplier_code=lot.supplier_code,
        sku_code=lot.sku_code,
        lot_id=lot.lot_id,
        defective_since=to_timestamp(lot.defective_since),
        quantity=lot.on_hand,
        return_due=due,
    )


def _today() -> date:
    return business_day(datetime.now(UTC))


class PlanningApi:
    """Mixed into InventoryServicer."""

    db: Database

    async def ListReplenishmentPolicies(
        self, request: pb.ListReplenishmentPoliciesRequest, context: Any
    ) -> pb.ListReplenishmentPoliciesResponse:
        identity.current()
        async with self.db.connection() as conn:
            found = await planning.policies(conn)
        return pb.ListReplenishmentPoliciesResponse(policies=[policy_to_pb(p) for p in found])

    async def SetReplenishmentPolicy(
        self, request: pb.SetReplenishmentPolicyRequest, context: Any
    ) -> pb.SetReplenishmentPolicyResponse:
        caller = identity.current()
        given = request.policy
        policy = validate_policy(
            given.category,
            given.low_cover_days,
            given.order_days,
            given.fast_daily_units or None,
            given.fast_order_days or None,
            prefix="policy",
        )
        async with self.db.transaction() as conn:
            await planning.set_policy(conn, policy, actor=caller.subject)
        return pb.SetReplenishmentPolicyResponse(policy=policy_to_pb(policy))

    async def GenerateReplenishmentPlan(
        self, request: pb.GenerateReplenishmentPlanRequest, context: Any
    ) -> pb.GenerateReplenishmentPlanResponse:
        caller = identity.current()
        day = (
            parse_business_date(request.business_date, "business_date") if request.business_date else _today()
        )
        async with self.db.transaction() as conn:
            plan = await planning.generate_plan(conn, day, actor=caller.subject)
        return pb.GenerateReplenishmentPlanResponse(plan=plan_to_pb(plan))

    async def ApproveReplenishmentPlan(
        self, request: pb.ApproveReplenishmentPlanRequest, context: Any
    ) -> pb.ApproveReplenishmentPlanResponse:
        caller = identity.current()
        async with self.db.transaction() as conn:
            plan = await planning.approve_plan(conn, request.plan_id, actor=caller.subject)
        return pb.ApproveReplenishmentPlanResponse(plan=plan_to_pb(plan))

    async def RecordPackingUse(
        self, request: pb.RecordPackingUseRequest, context: Any
    ) -> pb.RecordPackingUseResponse:
        caller = identity.current()
        use = stock_in(
            sku_code=request.sku_code,
            warehouse_code=warehouse_or_default(request.warehouse_code),
            quantity=request.quantity,
            note="",
        )
        async with self.db.transaction() as conn:
            sku, _ = await catalogue.get_sku(conn, use.sku_code)
            if sku.kind is not SkuKind.PACKING_MATERIAL:
                raise InvalidArgument.for_field("sku_code", f"{use.sku_code} is not a packing material")
            await catalogue.warehouse_sellable(conn, use.warehouse_code)
            await planning.record_packing_use(
                conn,
                sku_code=use.sku_code,
                warehouse_code=use.warehouse_code,
                quantity=use.quantity,
                # The movement names the request that caused it; without an id, a fresh one.
                document_id=request.request_id or str(uuid.uuid4()),
                actor=caller.subject,
            )
            level = await ledger.level_of(conn, use.sku_code, use.warehouse_code)
        return pb.RecordPackingUseResponse(level=level_to_pb(level))

    async def ListPackingAlerts(
        self, request: pb.ListPackingAlertsRequest, context: Any
    ) -> pb.ListPackingAlertsResponse:
        identity.current()
        async with self.db.connection() as conn:
            alerts, promotions = await planning.current_packing_alerts(conn, datetime.now(UTC))
        return pb.ListPackingAlertsResponse(
            alerts=[
                pb.PackingAlert(
                    sku_code=a.sku_code,
                    on_hand=a.on_hand,
                    daily_use=decimal(a.daily_use),
                    cover_days=decimal(a.cover_days),
                    reason=a.reason,
                )
                for a in alerts
            ],
            promotions=[
                pb.ScheduledPromotion(
                    promotion_id=p.promotion_id,
                    name=p.name,
                    starts_at=to_timestamp(p.starts_at),
                    ends_at=to_timestamp(p.ends_at),
                )
                for p in promotions
            ],
        )

    async def RegisterSupplier(
        self, request: pb.RegisterSupplierRequest, context: Any
    ) -> pb.RegisterSupplierResponse:
        code, name = request.supplier_code.strip(), request.name.strip()
        if not code or len(code) > 64:
            raise InvalidArgument.for_field("supplier_code", "is required (at most 64 characters)")
        if not name:
            raise InvalidArgument.for_field("name", "is required")
        kind = SUPPLIER_KIND.from_pb(request.kind, field="kind")
        async with self.db.transaction() as conn:
            await suppliers.register(conn, Supplier(code, name, kind))
        return pb.RegisterSupplierResponse(supplier_code=code)

    async def ReturnToSupplier(
        self, request: pb.ReturnToSupplierRequest, context: Any
    ) -> pb.ReturnToSupplierResponse:
        caller = identity.current()
        if not request.supplier_code.strip():
            raise InvalidArgument.for_field("supplier_code", "is required")
        # The same line rules as an order's reservation; the supplier stands where the order would.
        wanted = reservation_request(
            request.supplier_code,
            DEFECTIVE_WAREHOUSE,
            [(line.sku_code, line.quantity) for line in request.lines],
        )
        async with self.db.transaction() as conn:
            return_id = await suppliers.return_to_supplier(
                conn, request.supplier_code, wanted.lines, actor=caller.subject
            )
        return pb.ReturnToSupplierResponse(return_id=return_id)

    async def ListDefectiveStock(
        self, request: pb.ListDefectiveStockRequest, context: Any
    ) -> pb.ListDefectiveStockResponse:
        identity.current()
        now = datetime.now(UTC)
        async with self.db.connection() as conn:
            lots = await suppliers.defective_lots(conn)
            kinds = await suppliers.kinds(conn)
        return pb.ListDefectiveStockResponse(
            stock=[
                defective_to_pb(
                    lot,
                    lot.supplier_code in kinds
                    and return_due(kinds[lot.supplier_code], lot.defective_since, now),
                )
                for lot in lots
            ]
        )

    async def MonthEndDefectiveReport(
        self, request: pb.MonthEndDefectiveReportRequest, context: Any
    ) -> pb.MonthEndDefectiveReportResponse:
        identity.current()
        year, month = parse_business_month(request.month)
        bound = month_end(datetime(year, month, 15, tzinfo=BUSINESS_ZONE))
        async with self.db.connection() as conn:
            lots = await suppliers.defective_lots(conn, as_of=bound)
        return pb.MonthEndDefectiveReportResponse(stock=[defective_to_pb(lot, True) for lot in lots])
