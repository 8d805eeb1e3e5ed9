"""Transfers between warehouses (INV-12): requested, shipped (in transit), received."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import NotFound
from services.inventory.domain.reservations import Line
from services.inventory.domain.transfers import TransferRequest, TransferStatus, check_receiver, check_step
from services.inventory.store import catalogue, shipping_out
from services.inventory.store.tables import transfer_lines, transfers

DOCUMENT = "transfer"


@dataclass(frozen=True)
class Transfer:
    transfer_id: str
    from_warehouse: str
    to_warehouse: str
    status: TransferStatus
    lines: tuple[Line, ...]
    requested_by: str
    shipped_by: str | None
    received_by: str | None
    requested_at: datetime
    shipped_at: datetime | None
    received_at: datetime | None


def _id(transfer_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(transfer_id)
    except ValueError:
        raise NotFound.for_field(
            "transfer_id", f"no transfer {transfer_id!r}", reason="TRANSFER_NOT_FOUND"
        ) from None


async def get(conn: AsyncConnection, transfer_id: str, *, lock: bool = False) -> Transfer:
    query = sa.select(transfers).where(transfers.c.transfer_id == _id(transfer_id))
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.for_field("transfer_id", f"no transfer {transfer_id!r}", reason="TRANSFER_NOT_FOUND")
    lines = (
        await conn.execute(
            sa.select(transfer_lines.c.sku_code, transfer_lines.c.quantity)
            .where(transfer_lines.c.transfer_id == row.transfer_id)
            .order_by(transfer_lines.c.sku_code)
        )
    ).all()
    return Transfer(
        str(row.transfer_id),
        row.from_warehouse_code,
        row.to_warehouse_code,
        TransferStatus(row.status),
        tuple(Line(sku, qty) for sku, qty in lines),
        row.requested_by,
        row.shipped_by,
        row.received_by,
        row.requested_at,
        row.shipped_at,
        row.received_at,
    )


async def request(conn: AsyncConnection, wanted: TransferRequest, *, actor: str) -> Transfer:
    """The receiving warehouse asks the sending one for stock."""
    await catalogue.warehouse_sellable(conn, wanted.from_warehouse)
    await catalogue.warehouse_sellable(conn, wanted.to_warehouse)
    for i, line in enumerate(wanted.lines):
        if not await catalogue.sku_exists(conn, line.sku_code):
            raise NotFound.for_field(
                f"lines[{i}].sku_code", f"unknown SKU {line.sku_code!r}", reason="SKU_NOT_FOUND"
            )
    transfer_id = uuid.uuid4()
    await conn.execute(
        transfers.insert().values(
            transfer_id=transfer_id,
            from_warehouse_code=wanted.from_warehouse,
            to_warehouse_code=wanted.to_warehouse,
            status=TransferStatus.REQUESTED.value,
            requested_by=actor,
        )
    )
    await conn.execute(
        transfer_lines.insert(),
        [
            {"transfer_id": transfer_id, "sku_code": line.sku_code, "quantity": line.quantity}
            for line in wanted.lines
        ],
    )
    return await get(conn, str(transfer_id))


async def ship(conn: AsyncConnection, transfer_id: str, *, actor: str) -> Transfer:
    """The sending keeper ships and signs: units leave the sending warehouse and are in transit."""
    transfer = await get(conn, transfer_id, lock=True)
    check_step(transfer.status, TransferStatus.IN_TRANSIT)
    await shipping_out.take_out(
        conn,
        document_type=DOCUMENT,
        document_id=transfer.transfer_id,
        warehouse_code=transfer.from_warehouse,
        lines=transfer.lines,
        actor=actor,
        note=f"to {transfer.to_warehouse}",
    )
    await _set(conn, transfer, TransferStatus.IN_TRANSIT, shipped_by=actor, shipped_at=sa.func.now())
    return await get(conn, transfer_id)


async def receive(conn: AsyncConnection, transfer_id: str, *, actor: str) -> Transfer:
    """The receiving keeper confirms arrival and signs: the same lots enter the receiving warehouse."""
    transfer = await get(conn, transfer_id, lock=True)
    check_step(transfer.status, TransferStatus.RECEIVED)
    check_receiver(transfer.shipped_by, actor)
    await shipping_out.bring_in(
        conn,
        document_type=DOCUMENT,
        document_id=transfer.transfer_id,
        warehouse_code=transfer.to_warehouse,
        actor=actor,
        note=f"from {transfer.from_warehouse}",
    )
    await _set(conn, transfer, TransferStatus.RECEIVED, received_by=actor, received_at=sa.func.now())
    return await get(conn, transfer_id)


async def cancel(conn: AsyncConnection, transfer_id: str, *, actor: str) -> Transfer:
    transfer = await get(conn, transfer_id, lock=True)
    check_step(transfer.status, TransferStatus.CANCELLED)
    await _set(conn, transfer, TransferStatus.CANCELLED)
    return await get(conn, transfer_id)


async def _set(conn: AsyncConnection, transfer: Transfer, status: TransferStatus, **values: object) -> None:
    await conn.execute(
        transfers.update()
        .where(transfers.c.transfer_id == _id(transfer.transfer_id))
        .values(status=status.value, **values)
    )


async def in_transit_to(conn: AsyncConnection, sku_code: str) -> dict[str, int]:
    """Units of a SKU in transit, per destination warehouse (visible, but nobody's available stock)."""
    rows = (
        await conn.execute(
            sa.select(transfers.c.to_warehouse_code, sa.func.sum(transfer_lines.c.quantity))
            .join(transfer_lines, transfer_lines.c.transfer_id == transfers.c.transfer_id)
            .where(
                transfers.c.status == TransferStatus.IN_TRANSIT.value, transfer_lines.c.sku_code == sku_code
            )
            .group_by(transfers.c.to_warehouse_code)
        )
    ).all()
    return {warehouse: int(total) for warehouse, total in rows}
