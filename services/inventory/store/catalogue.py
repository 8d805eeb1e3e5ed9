"""Queries on items and places."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import AlreadyExists, NotFound
from libs.upsert import insert
from services.inventory.domain.places import Bin, Warehouse
from services.inventory.domain.skus import Sku, SkuKind
from services.inventory.store.tables import bins, lots, skus, warehouses


def _sku(row: sa.Row[tuple[object, ...]]) -> tuple[Sku, datetime]:
    m = row._mapping
    return (
        Sku(
            sku_code=m["sku_code"],
            style_number=m["style_number"],
            colour=m["colour"],
            size=m["size"],
            name=m["name"],
            category=m["category"],
            barcode=m["barcode"],
            kind=SkuKind(m["kind"]),
        ),
        m["created_at"],
    )


async def add_sku(conn: AsyncConnection, sku: Sku, *, actor: str) -> datetime:
    """Inserts ``sku``; ALREADY_EXISTS names the field that collides. Returns its creation time."""
    inserted = await conn.execute(
        insert(skus)
        .values(
            sku_code=sku.sku_code,
            style_number=sku.style_number,
            colour=sku.colour,
            size=sku.size,
            name=sku.name,
            category=sku.category,
            barcode=sku.barcode,
            kind=sku.kind.value,
            created_by=actor,
        )
        .on_conflict_do_nothing()
        .returning(skus.c.created_at)
    )
    created_at: datetime | None = inserted.scalar_one_or_none()
    if created_at is not None:
        return created_at
    # Say which uniqueness rule the SKU broke.
    clashes = (
        await conn.execute(
            sa.select(skus.c.sku_code, skus.c.barcode, skus.c.style_number, skus.c.colour, skus.c.size).where(
                sa.or_(
                    skus.c.sku_code == sku.sku_code,
                    skus.c.barcode == sku.barcode,
                    sa.and_(
                        skus.c.style_number == sku.style_number,
                        skus.c.colour == sku.colour,
                        skus.c.size == sku.size,
                    ),
                )
            )
        )
    ).all()
    for row in clashes:
        if row.sku_code == sku.sku_code:
            raise AlreadyExists.for_field("sku_code", f"SKU {sku.sku_code} is already registered")
        if row.barcode == sku.barcode:
            raise AlreadyExists.for_field("barcode", f"barcode is already used by SKU {row.sku_code}")
    raise AlreadyExists.for_field(
        "style_number",
        f"style/colour/size is already registered as SKU {clashes[0].sku_code if clashes else '?'}",
    )


async def get_sku(conn: AsyncConnection, sku_code: str) -> tuple[Sku, datetime]:
    row = (await conn.execute(sa.select(skus).where(skus.c.sku_code == sku_code))).first()
    if row is None:
        raise NotFound.for_field("sku_code", f"unknown SKU {sku_code!r}", reason="SKU_NOT_FOUND")
    return _sku(row)


async def sku_exists(conn: AsyncConnection, sku_code: str) -> bool:
    return (
        await conn.execute(sa.select(skus.c.sku_code).where(skus.c.sku_code == sku_code))
    ).first() is not None


async def warehouse_sellable(conn: AsyncConnection, warehouse_code: str) -> bool:
    """Whether stock in ``warehouse_code`` may be sold; NOT_FOUND names the field when unknown."""
    sellable = (
        await conn.execute(
            sa.select(warehouses.c.sellable).where(warehouses.c.warehouse_code == warehouse_code)
        )
    ).scalar_one_or_none()
    if sellable is None:
        raise NotFound.for_field(
            "warehouse_code", f"unknown warehouse {warehouse_code!r}", reason="WAREHOUSE_NOT_FOUND"
        )
    return bool(sellable)


async def add_warehouse(conn: AsyncConnection, warehouse: Warehouse) -> None:
    inserted = await conn.execute(
        insert(warehouses)
        .values(warehouse_code=warehouse.warehouse_code, name=warehouse.name, sellable=warehouse.sellable)
        .on_conflict_do_nothing()
        .returning(warehouses.c.warehouse_code)
    )
    if inserted.first() is None:
        raise AlreadyExists.for_field(
            "warehouse_code", f"warehouse {warehouse.warehouse_code} already exists"
        )


async def list_warehouses(conn: AsyncConnection) -> list[Warehouse]:
    rows = (await conn.execute(sa.select(warehouses).order_by(warehouses.c.warehouse_code))).all()
    return [Warehouse(r.warehouse_code, r.name, r.sellable) for r in rows]


async def add_bin(conn: AsyncConnection, bin_: Bin) -> None:
    await warehouse_sellable(conn, bin_.warehouse_code)
    inserted = await conn.execute(
        insert(bins)
        .values(warehouse_code=bin_.warehouse_code, bin_code=bin_.bin_code, description=bin_.description)
        .on_conflict_do_nothing()
        .returning(bins.c.bin_code)
    )
    if inserted.first() is None:
        raise AlreadyExists.for_field(
            "bin_code", f"bin {bin_.bin_code} already exists in {bin_.warehouse_code}"
        )


async def list_bins(conn: AsyncConnection, warehouse_code: str) -> list[Bin]:
    rows = (
        await conn.execute(
            sa.select(bins).where(bins.c.warehouse_code == warehouse_code).order_by(bins.c.bin_code)
        )
    ).all()
    return [Bin(r.warehouse_code, r.bin_code, r.description) for r in rows]


async def require_bin(
    conn: AsyncConnection, warehouse_code: str, bin_code: str, *, field: str = "bin_code"
) -> None:
    await warehouse_sellable(conn, warehouse_code)
    found = (
        await conn.execute(
            sa.select(bins.c.bin_code).where(
                bins.c.warehouse_code == warehouse_code, bins.c.bin_code == bin_code
            )
        )
    ).first()
    if found is None:
        raise NotFound.for_field(
            field, f"no bin {bin_code!r} in warehouse {warehouse_code}", reason="BIN_NOT_FOUND"
        )


async def sku_of_lot(conn: AsyncConnection, lot_id: uuid.UUID) -> str:
    sku_code = (
        await conn.execute(sa.select(lots.c.sku_code).where(lots.c.lot_id == lot_id))
    ).scalar_one_or_none()
    if sku_code is None:
        raise NotFound.for_field("lot_id", f"no lot {lot_id}", reason="LOT_NOT_FOUND")
    return str(sku_code)


async def unknown_skus(conn: AsyncConnection, sku_codes: list[str]) -> set[str]:
    """The codes among ``sku_codes`` that name no SKU (one query for a whole order)."""
    known = (await conn.execute(sa.select(skus.c.sku_code).where(skus.c.sku_code.in_(sku_codes)))).scalars()
    return set(sku_codes) - set(known)
