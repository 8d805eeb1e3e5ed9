"""The transfer repository (INV-12): loads transfers and saves what their commands did.

Saving writes, in the caller's transaction, the ledger postings (``ledger.post``, the only way stock
moves), the transfer's header and lines, the lots in transit, and its events to the outbox.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import NotFound
from libs.outbox import publish
from services.inventory.domain.lots import LotStock
from services.inventory.domain.reservations import Line
from services.inventory.domain.transfers import DOCUMENT, Transfer, TransferStatus
from services.inventory.store import ledger, shipping_out
from services.inventory.store.tables import kit, transfer_lines, transfers


def _id(transfer_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(transfer_id)
    except ValueError:
        raise NotFound.for_field(
            "transfer_id", f"no transfer {transfer_id!r}", reason="TRANSFER_NOT_FOUND"
        ) from None


async def load(conn: AsyncConnection, transfer_id: str, *, lock: bool = False) -> Transfer:
    """The transfer with its lots in transit; ``lock`` holds its row until the transaction ends."""
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
        transfer_id=str(row.transfer_id),
        from_warehouse=row.from_warehouse_code,
        to_warehouse=row.to_warehouse_code,
        status=TransferStatus(row.status),
        lines=tuple(Line(sku, qty) for sku, qty in lines),
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        shipped_by=row.shipped_by,
        shipped_at=row.shipped_at,
        received_by=row.received_by,
        received_at=row.received_at,
        travelling=tuple(await shipping_out.taken_by(conn, DOCUMENT, str(row.transfer_id))),
    )


async def stock_to_ship(conn: AsyncConnection, transfer: Transfer) -> dict[str, list[LotStock]]:
    """The lots of the transfer's SKUs in the sending warehouse, locked in the ledger's order."""
    return await shipping_out.stock_to_take(conn, transfer.from_warehouse, transfer.sku_codes)


async def add(conn: AsyncConnection, transfer: Transfer) -> None:
    """Stores a new transfer."""
    transfer_id = _id(transfer.transfer_id)
    await conn.execute(
        transfers.insert().values(
            transfer_id=transfer_id,
            from_warehouse_code=transfer.from_warehouse,
            to_warehouse_code=transfer.to_warehouse,
            status=transfer.status.value,
            requested_by=transfer.requested_by,
            requested_at=transfer.requested_at,
        )
    )
    await conn.execute(
        transfer_lines.insert(),
        [
            {"transfer_id": transfer_id, "sku_code": line.sku_code, "quantity": line.quantity}
            for line in transfer.lines
        ],
    )
    await save(conn, transfer)


async def save(conn: AsyncConnection, transfer: Transfer) -> None:
    """Writes what the transfer's commands did: ledger postings, status and signatures, the lots in
    transit, and the events for the outbox."""
    for posting in transfer.take_postings():
        await ledger.post(conn, posting.movements, actor=posting.actor, field=posting.field)
    await conn.execute(
        transfers.update()
        .where(transfers.c.transfer_id == _id(transfer.transfer_id))
        .values(
            status=transfer.status.value,
            shipped_by=transfer.shipped_by,
            shipped_at=transfer.shipped_at,
            received_by=transfer.received_by,
            received_at=transfer.received_at,
        )
    )
    await shipping_out.remember(conn, DOCUMENT, transfer.transfer_id, transfer.travelling)
    for pending in transfer.take_events():
        await publish(conn, kit.outbox, pending.key, pending.event)


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
