"""Holds (囤货): stock kept back for a customer, released by hand or when it expires (INV-9)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from shop.inventory.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import FailedPrecondition, NotFound
from libs.outbox import publish
from services.inventory.domain.reservations import HoldRequest, HoldStatus
from services.inventory.domain.stock import Movement, MovementKind
from services.inventory.store import catalogue, ledger
from services.inventory.store.tables import holds, kit

DOCUMENT = "hold"


@dataclass(frozen=True)
class Hold:
    hold_id: uuid.UUID
    sku_code: str
    warehouse_code: str
    quantity: int
    customer_ref: str
    status: HoldStatus
    expires_at: datetime
    created_at: datetime


def _hold(row: sa.Row[tuple[object, ...]]) -> Hold:
    m = row._mapping
    return Hold(
        m["hold_id"],
        m["sku_code"],
        m["warehouse_code"],
        m["quantity"],
        m["customer_ref"],
        HoldStatus(m["status"]),
        m["expires_at"],
        m["created_at"],
    )


async def get(conn: AsyncConnection, hold_id: uuid.UUID, *, lock: bool = False) -> Hold:
    query = sa.select(holds).where(holds.c.hold_id == hold_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.for_field("hold_id", f"no hold {hold_id}", reason="HOLD_NOT_FOUND")
    return _hold(row)


async def place(conn: AsyncConnection, request: HoldRequest, *, actor: str) -> Hold:
    """Holds units out of available stock (INV-9, INV-10)."""
    await catalogue.get_sku(conn, request.sku_code)
    if not await catalogue.warehouse_sellable(conn, request.warehouse_code):
        raise FailedPrecondition.for_field(
            "warehouse_code",
            "stock in a defective-goods warehouse is never for sale (INV-2)",
            reason="NOT_SELLABLE",
        )
    hold_id = uuid.uuid4()
    await conn.execute(
        holds.insert().values(
            hold_id=hold_id,
            sku_code=request.sku_code,
            warehouse_code=request.warehouse_code,
            quantity=request.quantity,
            customer_ref=request.customer_ref,
            status=HoldStatus.ACTIVE.value,
            expires_at=request.expires_at,
            created_by=actor,
        )
    )
    await ledger.post(
        conn,
        [
            Movement(
                kind=MovementKind.HOLD,
                sku_code=request.sku_code,
                warehouse_code=request.warehouse_code,
                held_delta=request.quantity,
                document_type=DOCUMENT,
                document_id=str(hold_id),
            )
        ],
        actor=actor,
    )
    return await get(conn, hold_id)


async def _close(conn: AsyncConnection, hold: Hold, status: HoldStatus, *, actor: str) -> Hold:
    kind = MovementKind.HOLD_EXPIRY if status is HoldStatus.EXPIRED else MovementKind.HOLD_RELEASE
    await ledger.post(
        conn,
        [
            Movement(
                kind=kind,
                sku_code=hold.sku_code,
                warehouse_code=hold.warehouse_code,
                held_delta=-hold.quantity,
                document_type=DOCUMENT,
                document_id=str(hold.hold_id),
            )
        ],
        actor=actor,
    )
    await conn.execute(
        holds.update()
        .where(holds.c.hold_id == hold.hold_id)
        .values(status=status.value, closed_at=sa.func.now())
    )
    return await get(conn, hold.hold_id)


async def release(conn: AsyncConnection, hold_id: uuid.UUID, *, actor: str) -> Hold:
    """Returns a hold's units to normal sale; releasing a closed hold again changes nothing."""
    hold = await get(conn, hold_id, lock=True)
    if hold.status is not HoldStatus.ACTIVE:
        return hold
    return await _close(conn, hold, HoldStatus.RELEASED, actor=actor)


async def any_due(conn: AsyncConnection) -> bool:
    """Whether any active hold is past its time."""
    due = sa.select(holds.c.hold_id).where(
        holds.c.status == HoldStatus.ACTIVE.value, holds.c.expires_at <= sa.func.now()
    )
    return bool((await conn.execute(sa.select(due.exists()))).scalar())


async def expire_due(conn: AsyncConnection, *, now: datetime | None = None, limit: int = 100) -> list[Hold]:
    """Expires up to ``limit`` holds past their time. Claims them with SKIP LOCKED, so sweepers in several
    replicas share the work and never expire a hold twice."""
    due_at = now if now is not None else sa.func.now()
    rows = (
        await conn.execute(
            sa.select(holds)
            .where(holds.c.status == HoldStatus.ACTIVE.value, holds.c.expires_at <= due_at)
            .order_by(holds.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    # Stock levels are locked in the service's one order, whatever order the holds came in.
    due = sorted((_hold(r) for r in rows), key=lambda h: (h.sku_code, h.warehouse_code))
    await ledger.lock_levels(conn, [(h.sku_code, h.warehouse_code) for h in due])
    expired = [await _close(conn, hold, HoldStatus.EXPIRED, actor="system:hold-sweeper") for hold in due]
    for hold in expired:
        await publish(
            conn,
            kit.outbox,
            str(hold.hold_id),
            events_pb2.HoldExpired(
                hold_id=str(hold.hold_id),
                sku_code=hold.sku_code,
                warehouse_code=hold.warehouse_code,
                quantity=hold.quantity,
            ),
        )
    return expired


async def active_for(conn: AsyncConnection, sku_code: str) -> list[Hold]:
    rows = (
        await conn.execute(
            sa.select(holds)
            .where(holds.c.sku_code == sku_code, holds.c.status == HoldStatus.ACTIVE.value)
            .order_by(holds.c.expires_at)
        )
    ).all()
    return [_hold(r) for r in rows]
