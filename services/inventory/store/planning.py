"""Planning: the daily replenishment plan (INV-15) and packing-material alerts (INV-16)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from shop.inventory.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.business_time import day_bounds
from libs.errors import FailedPrecondition, NotFound
from libs.outbox import publish
from libs.upsert import insert
from services.inventory.domain.lots import pick_fifo
from services.inventory.domain.packing import PackingAlert, packing_alerts
from services.inventory.domain.replenishment import (
    VELOCITY_WINDOW_DAYS,
    ReplenishmentPolicy,
    plan,
)
from services.inventory.domain.stock import Movement, MovementKind
from services.inventory.store import ledger
from services.inventory.store.tables import (
    kit,
    replenishment_plan_lines,
    replenishment_plans,
    replenishment_policies,
    scheduled_promotions,
    skus,
    stock_levels,
    stock_movements,
    warehouses,
)

SALES_DOCUMENT = "shipment"
PACKING_DOCUMENT = "packing_use"


async def policies(conn: AsyncConnection) -> tuple[ReplenishmentPolicy, ...]:
    rows = (
        await conn.execute(sa.select(replenishment_policies).order_by(replenishment_policies.c.category))
    ).all()
    return tuple(
        ReplenishmentPolicy(r.category, r.low_cover_days, r.order_days, r.fast_daily_units, r.fast_order_days)
        for r in rows
    )


async def set_policy(conn: AsyncConnection, policy: ReplenishmentPolicy, *, actor: str) -> None:
    values = {
        "low_cover_days": policy.low_cover_days,
        "order_days": policy.order_days,
        "fast_daily_units": policy.fast_daily_units,
        "fast_order_days": policy.fast_order_days,
        "updated_by": actor,
        "updated_at": sa.func.now(),
    }
    await conn.execute(
        insert(replenishment_policies)
        .values(category=policy.category, **values)
        .on_conflict_do_update(index_elements=[replenishment_policies.c.category], set_=values)
    )


async def units_out(
    conn: AsyncConnection, document_type: str, start: datetime, end: datetime, kind: str
) -> dict[str, int]:
    """Units issued per SKU of ``kind`` against ``document_type`` documents in [start, end)."""
    rows = (
        await conn.execute(
            sa.select(stock_movements.c.sku_code, -sa.func.sum(stock_movements.c.on_hand_delta))
            .join(skus, skus.c.sku_code == stock_movements.c.sku_code)
            .where(
                stock_movements.c.kind == MovementKind.ISSUE.value,
                stock_movements.c.document_type == document_type,
                stock_movements.c.created_at >= start,
                stock_movements.c.created_at < end,
                skus.c.kind == kind,
            )
            .group_by(stock_movements.c.sku_code)
        )
    ).all()
    return {sku: int(units) for sku, units in rows}


async def _stock_by_sku(conn: AsyncConnection, kind: str) -> list[tuple[str, str, int, int]]:
    """(sku, category, available, on_hand) over sellable warehouses for every SKU of ``kind``."""
    available = sa.func.coalesce(
        sa.func.sum(stock_levels.c.on_hand - stock_levels.c.reserved - stock_levels.c.held), 0
    )
    on_hand = sa.func.coalesce(sa.func.sum(stock_levels.c.on_hand), 0)
    rows = (
        await conn.execute(
            sa.select(skus.c.sku_code, skus.c.category, available, on_hand)
            .select_from(
                skus.outerjoin(stock_levels, stock_levels.c.sku_code == skus.c.sku_code).outerjoin(
                    warehouses, warehouses.c.warehouse_code == stock_levels.c.warehouse_code
                )
            )
            .where(skus.c.kind == kind, sa.or_(warehouses.c.sellable.is_(None), warehouses.c.sellable))
            .group_by(skus.c.sku_code, skus.c.category)
            .order_by(skus.c.sku_code)
        )
    ).all()
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


@dataclass(frozen=True)
class PlanLineRow:
    sku_code: str
    category: str
    available: int
    units_sold: int
    window_days: int
    order_days: int
    order_quantity: int


@dataclass(frozen=True)
class Plan:
    plan_id: str
    business_date: date
    approved_by: str | None
    lines: tuple[PlanLineRow, ...]


async def generate_plan(conn: AsyncConnection, day: date, *, actor: str) -> Plan:
    """The replenishment plan of ``day`` from the 14 business days before it, for purchasing to approve."""
    start, _ = day_bounds(day - timedelta(days=VELOCITY_WINDOW_DAYS))
    end, _ = day_bounds(day)
    sold = await units_out(conn, SALES_DOCUMENT, start, end, "sellable")
    stock = [
        (sku, category, available, sold.get(sku, 0))
        for sku, category, available, _ in await _stock_by_sku(conn, "sellable")
    ]
    lines = plan(stock, await policies(conn), VELOCITY_WINDOW_DAYS)
    plan_id = uuid.uuid4()
    await conn.execute(
        replenishment_plans.insert().values(
            plan_id=plan_id, business_date=day, status="proposed", created_by=actor
        )
    )
    if lines:
        await conn.execute(
            replenishment_plan_lines.insert(),
            [
                {
                    "plan_id": plan_id,
                    "sku_code": line.sku_code,
                    "category": line.category,
                    "available": line.available,
                    "units_sold": sold.get(line.sku_code, 0),
                    "window_days": VELOCITY_WINDOW_DAYS,
                    "order_days": line.order_days,
                    "order_quantity": line.order_quantity,
                }
                for line in lines
            ],
        )
        for line in lines:
            await publish(
                conn,
                kit.outbox,
                line.sku_code,
                events_pb2.LowStock(
                    sku_code=line.sku_code,
                    category=line.category,
                    available=line.available,
                    proposed_order_quantity=line.order_quantity,
                    plan_id=str(plan_id),
                ),
            )
    return await get_plan(conn, str(plan_id))


def _plan_id(plan_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(plan_id)
    except ValueError:
        raise NotFound.for_field("plan_id", f"no plan {plan_id!r}", reason="PLAN_NOT_FOUND") from None


async def get_plan(conn: AsyncConnection, plan_id: str, *, lock: bool = False) -> Plan:
    query = sa.select(replenishment_plans).where(replenishment_plans.c.plan_id == _plan_id(plan_id))
    if lock:
        query = query.with_for_update()
    head = (await conn.execute(query)).first()
    if head is None:
        raise NotFound.for_field("plan_id", f"no plan {plan_id!r}", reason="PLAN_NOT_FOUND")
    rows = (
        await conn.execute(
            sa.select(replenishment_plan_lines)
            .where(replenishment_plan_lines.c.plan_id == head.plan_id)
            .order_by(replenishment_plan_lines.c.sku_code)
        )
    ).all()
    return Plan(
        str(head.plan_id),
        head.business_date,
        head.approved_by,
        tuple(
            PlanLineRow(
                r.sku_code,
                r.category,
                r.available,
                r.units_sold,
                r.window_days,
                r.order_days,
                r.order_quantity,
            )
            for r in rows
        ),
    )


async def approve_plan(conn: AsyncConnection, plan_id: str, *, actor: str) -> Plan:
    found = await get_plan(conn, plan_id, lock=True)
    if found.approved_by is not None:
        raise FailedPrecondition.for_field("plan_id", "the plan is already approved", reason="PLAN_APPROVED")
    await conn.execute(
        replenishment_plans.update()
        .where(replenishment_plans.c.plan_id == _plan_id(plan_id))
        .values(status="approved", approved_by=actor, approved_at=sa.func.now())
    )
    return await get_plan(conn, plan_id)


async def record_packing_use(
    conn: AsyncConnection, *, sku_code: str, warehouse_code: str, quantity: int, document_id: str, actor: str
) -> None:
    """Packing materials used at the packing bench leave the books oldest lot first."""
    await ledger.lock_levels(conn, [(sku_code, warehouse_code)])
    stock = await ledger.lots_of(conn, sku_code, warehouse_code, lock=True)
    await ledger.post(
        conn,
        [
            Movement(
                kind=MovementKind.ISSUE,
                sku_code=sku_code,
                warehouse_code=warehouse_code,
                lot_id=pick.lot_id,
                bin_code=pick.bin_code,
                on_hand_delta=-pick.quantity,
                document_type=PACKING_DOCUMENT,
                document_id=document_id,
            )
            for pick in pick_fifo(stock, quantity)
        ],
        actor=actor,
    )


async def current_packing_alerts(
    conn: AsyncConnection, now: datetime
) -> tuple[list[PackingAlert], list[ScheduledPromotion]]:
    """INV-16: packing materials covering under 10 days of normal use (the 14 days up to ``now``), or all
    of them while a large promotion is scheduled; and those promotions."""
    start = now - timedelta(days=VELOCITY_WINDOW_DAYS)
    used = await units_out(conn, PACKING_DOCUMENT, start, now, "packing_material")
    materials = [
        (sku, on_hand, used.get(sku, 0))
        for sku, _, _, on_hand in await _stock_by_sku(conn, "packing_material")
    ]
    promotions = await scheduled_promotions_after(conn, now)
    return packing_alerts(materials, VELOCITY_WINDOW_DAYS, bool(promotions)), promotions


@dataclass(frozen=True)
class ScheduledPromotion:
    """A large promotion announced by the orders service (INV-16)."""

    promotion_id: str
    name: str
    starts_at: datetime
    ends_at: datetime
    revision: int


async def record_large_promotion(conn: AsyncConnection, promotion: ScheduledPromotion) -> bool:
    """Keeps the latest announcement of a large promotion; an older revision arriving late changes
    nothing. True when it was kept."""
    stmt = insert(scheduled_promotions).values(
        promotion_id=promotion.promotion_id,
        name=promotion.name,
        starts_at=promotion.starts_at,
        ends_at=promotion.ends_at,
        revision=promotion.revision,
    )
    kept = await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[scheduled_promotions.c.promotion_id],
            set_={
                "name": stmt.excluded.name,
                "starts_at": stmt.excluded.starts_at,
                "ends_at": stmt.excluded.ends_at,
                "revision": stmt.excluded.revision,
                "received_at": sa.func.now(),
            },
            where=scheduled_promotions.c.revision < stmt.excluded.revision,
        ).returning(scheduled_promotions.c.promotion_id)
    )
    return kept.first() is not None


async def scheduled_promotions_after(conn: AsyncConnection, now: datetime) -> list[ScheduledPromotion]:
    """Large promotions not over at ``now``, soonest first."""
    rows = (
        await conn.execute(
            sa.select(scheduled_promotions)
            .where(scheduled_promotions.c.ends_at > now)
            .order_by(scheduled_promotions.c.starts_at, scheduled_promotions.c.promotion_id)
        )
    ).all()
    return [ScheduledPromotion(r.promotion_id, r.name, r.starts_at, r.ends_at, r.revision) for r in rows]
