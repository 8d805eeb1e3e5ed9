"""Suppliers and returns to them (退供应商, INV-17): defective stock goes back by document."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import AlreadyExists, FailedPrecondition, NotFound
from libs.upsert import insert
from services.inventory.domain.lots import pick_fifo
from services.inventory.domain.places import DEFECTIVE_WAREHOUSE
from services.inventory.domain.reservations import Line
from services.inventory.domain.stock import Movement, MovementKind
from services.inventory.domain.supplier_returns import SupplierKind
from services.inventory.store import catalogue, ledger
from services.inventory.store.tables import lots, receipts, stock_movements, supplier_returns, suppliers

DOCUMENT = "supplier_return"


@dataclass(frozen=True)
class Supplier:
    supplier_code: str
    name: str
    kind: SupplierKind


@dataclass(frozen=True)
class DefectiveLot:
    """Defective units of one lot waiting in the defective-goods warehouse."""

    supplier_code: str
    sku_code: str
    lot_id: str
    defective_since: datetime
    on_hand: int


async def register(conn: AsyncConnection, supplier: Supplier) -> None:
    added = await conn.execute(
        insert(suppliers)
        .values(supplier_code=supplier.supplier_code, name=supplier.name, kind=supplier.kind.value)
        .on_conflict_do_nothing()
        .returning(suppliers.c.supplier_code)
    )
    if added.first() is None:
        raise AlreadyExists.for_field("supplier_code", f"supplier {supplier.supplier_code} already exists")


async def get(conn: AsyncConnection, supplier_code: str) -> Supplier:
    row = (await conn.execute(sa.select(suppliers).where(suppliers.c.supplier_code == supplier_code))).first()
    if row is None:
        raise NotFound.for_field(
            "supplier_code", f"unknown supplier {supplier_code!r}", reason="SUPPLIER_NOT_FOUND"
        )
    return Supplier(row.supplier_code, row.name, SupplierKind(row.kind))


def _supplier_of_lot() -> sa.ColumnElement[str]:
    # A lot stocked by a receipt belongs to that receipt's supplier; other lots have none.
    return sa.func.coalesce(receipts.c.supplier_code, "")


async def defective_lots(conn: AsyncConnection, *, as_of: datetime | None = None) -> list[DefectiveLot]:
    """Units per lot in the defective-goods warehouse, from the ledger (as of ``as_of`` if given)."""
    m = stock_movements
    query = (
        sa.select(
            _supplier_of_lot().label("supplier_code"),
            lots.c.sku_code,
            lots.c.lot_id,
            sa.func.min(m.c.created_at).label("since"),
            sa.func.sum(m.c.on_hand_delta).label("on_hand"),
        )
        .select_from(
            m.join(lots, lots.c.lot_id == m.c.lot_id).outerjoin(
                receipts,
                sa.and_(
                    lots.c.document_type == "receipt",
                    sa.cast(receipts.c.receipt_id, sa.Text) == lots.c.document_id,
                ),
            )
        )
        .where(m.c.warehouse_code == DEFECTIVE_WAREHOUSE)
        .group_by(receipts.c.supplier_code, lots.c.sku_code, lots.c.lot_id)
        .having(sa.func.sum(m.c.on_hand_delta) > 0)
        .order_by(sa.text("since"), lots.c.lot_id)
    )
    if as_of is not None:
        query = query.where(m.c.created_at < as_of)
    return [
        DefectiveLot(r.supplier_code, r.sku_code, str(r.lot_id), r.since, int(r.on_hand))
        for r in (await conn.execute(query)).all()
    ]


async def return_to_supplier(
    conn: AsyncConnection, supplier_code: str, lines: tuple[Line, ...], *, actor: str
) -> str:
    """Sends defective units of ``supplier_code``'s deliveries back, oldest first, by one document."""
    await get(conn, supplier_code)
    return_id = uuid.uuid4()
    await conn.execute(
        supplier_returns.insert().values(return_id=return_id, supplier_code=supplier_code, created_by=actor)
    )
    for i, line in enumerate(lines):
        if not await catalogue.sku_exists(conn, line.sku_code):
            raise NotFound.for_field(
                f"lines[{i}].sku_code", f"unknown SKU {line.sku_code!r}", reason="SKU_NOT_FOUND"
            )
    own = [d for d in await defective_lots(conn) if d.supplier_code == supplier_code]
    await ledger.lock_levels(conn, [(line.sku_code, DEFECTIVE_WAREHOUSE) for line in lines])
    movements: list[Movement] = []
    for i, line in enumerate(lines):
        mine = {d.lot_id for d in own if d.sku_code == line.sku_code}
        stock = [
            s
            for s in await ledger.lots_of(conn, line.sku_code, DEFECTIVE_WAREHOUSE, lock=True)
            if str(s.lot_id) in mine
        ]
        if sum(s.on_hand for s in stock) < line.quantity:
            raise FailedPrecondition.for_field(
                f"lines[{i}].quantity",
                f"only {sum(s.on_hand for s in stock)} defective units of {line.sku_code} came from {supplier_code}",
                reason="INSUFFICIENT_DEFECTIVE_STOCK",
            )
        movements += [
            _out(line.sku_code, pick.lot_id, pick.bin_code, pick.quantity, str(return_id))
            for pick in pick_fifo(stock, line.quantity)
        ]
    await ledger.post(conn, movements, actor=actor, field="lines")
    return str(return_id)


def _out(sku_code: str, lot_id: uuid.UUID, bin_code: str, quantity: int, document_id: str) -> Movement:
    return Movement(
        kind=MovementKind.RETURN_TO_SUPPLIER,
        sku_code=sku_code,
        warehouse_code=DEFECTIVE_WAREHOUSE,
        lot_id=lot_id,
        bin_code=bin_code,
        on_hand_delta=-quantity,
        document_type=DOCUMENT,
        document_id=document_id,
    )


async def kinds(conn: AsyncConnection) -> dict[str, SupplierKind]:
    rows = (await conn.execute(sa.select(suppliers.c.supplier_code, suppliers.c.kind))).all()
    return {code: SupplierKind(kind) for code, kind in rows}
