"""Shipments in the database: created from released orders, packed into parcels when their wave closes,
withdrawn by a cancellation (ORD-5), and found again for after-sales (LOG-5's label stubs)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import FailedPrecondition, NotFound
from services.logistics.domain.shipments import (
    WITHDRAWABLE,
    Address,
    NewShipment,
    ParcelStatus,
    ShipmentStatus,
    WaitingShipment,
)
from services.logistics.store.tables import (
    parcels,
    shipment_lines,
    shipment_picks,
    shipments,
    withdrawn_orders,
)


@dataclass(frozen=True)
class PickedLot:
    sku_code: str
    lot_id: str
    lot_label: str
    bin_code: str
    quantity: int


@dataclass(frozen=True)
class StoredShipment:
    """A shipment as stored, with its parcel's tracking number once dispatched."""

    shipment_id: str
    order_id: str
    shipment_no: int
    channel: str
    channel_order_id: str
    shop_code: str
    buyer_id: str
    address: Address
    lines: tuple[tuple[str, int], ...]
    carrier_code: str
    wave_id: str
    parcel_id: str
    status: ShipmentStatus
    hold_reason: str
    released_at: datetime
    notes: str
    tracking_number: str
    picked: tuple[PickedLot, ...]
    exchange: bool = False
    signed_by: str = ""

    def waiting(self) -> WaitingShipment:
        return WaitingShipment(
            self.shipment_id, self.order_id, self.shop_code, self.buyer_id, self.address, self.carrier_code,
            self.notes, self.lines,
        )  # fmt: skip


async def is_withdrawn(conn: AsyncConnection, order_ids: Sequence[str]) -> set[str]:
    """The orders among ``order_ids`` whose cancellation withdrew them (ORD-5)."""
    rows = await conn.execute(
        sa.select(withdrawn_orders.c.order_id).where(withdrawn_orders.c.order_id.in_(list(order_ids)))
    )
    return {r.order_id for r in rows}


async def add(conn: AsyncConnection, new: Sequence[NewShipment], wave_of: dict[str, str]) -> None:
    """Creates the shipments in their waves (``wave_of`` by shipment id); ones that exist already are
    left as they are. Executed per row in one pipeline: one compiled statement for any batch size."""
    if not new:
        return
    rows = [
        {
            "shipment_id": s.shipment_id, "order_id": s.order.order_id, "shipment_no": s.shipment_no,
            "channel": s.order.channel, "channel_order_id": s.order.channel_order_id, "shop_code": s.order.shop_code,
            "buyer_id": s.order.buyer_id, "recipient": s.address.recipient, "phone": s.address.phone,
            "province": s.address.province, "city": s.address.city, "district": s.address.district,
            "street": s.address.street, "carrier_code": s.carrier_code, "buyer_message": s.order.buyer_message,
            "service_note": s.order.service_note, "wave_id": wave_of[s.shipment_id],
            "status": (ShipmentStatus.ON_HOLD if s.hold_reason else ShipmentStatus.WAITING).value,
            "hold_reason": s.hold_reason, "released_at": s.order.released_at, "exchange": s.exchange,
        }
        for s in new
    ]  # fmt: skip
    await conn.execute(
        insert(shipments).on_conflict_do_nothing(index_elements=[shipments.c.shipment_id]), rows
    )
    lines = [
        {"shipment_id": s.shipment_id, "sku_code": sku, "quantity": quantity}
        for s in new
        for sku, quantity in s.lines
    ]
    await conn.execute(insert(shipment_lines).on_conflict_do_nothing(), lines)


def _columns() -> list[sa.ColumnElement[object]]:
    return [*shipments.c, parcels.c.tracking_number]


async def _loaded(
    conn: AsyncConnection, where: sa.ColumnElement[bool], *, lock: bool = False
) -> list[StoredShipment]:
    query = (
        sa.select(*_columns())
        .select_from(shipments.outerjoin(parcels, parcels.c.parcel_id == shipments.c.parcel_id))
        .where(where)
        .order_by(shipments.c.released_at, shipments.c.order_id, shipments.c.shipment_no)
    )
    if lock:
        query = query.with_for_update(of=shipments)
    rows = (await conn.execute(query)).all()
    ids = [r.shipment_id for r in rows]
    lines: dict[str, list[tuple[str, int]]] = defaultdict(list)
    picks: dict[str, list[PickedLot]] = defaultdict(list)
    if ids:
        for r in await conn.execute(
            sa.select(shipment_lines)
            .where(shipment_lines.c.shipment_id.in_(ids))
            .order_by(shipment_lines.c.sku_code)
        ):
            lines[r.shipment_id].append((r.sku_code, int(r.quantity)))
        for r in await conn.execute(
            sa.select(shipment_picks)
            .where(shipment_picks.c.shipment_id.in_(ids))
            .order_by(shipment_picks.c.sku_code, shipment_picks.c.bin_code, shipment_picks.c.lot_label)
        ):
            picks[r.shipment_id].append(
                PickedLot(r.sku_code, r.lot_id, r.lot_label, r.bin_code, int(r.quantity))
            )
    return [
        StoredShipment(
            shipment_id=r.shipment_id,
            order_id=r.order_id,
            shipment_no=r.shipment_no,
            channel=r.channel,
            channel_order_id=r.channel_order_id,
            shop_code=r.shop_code,
            buyer_id=r.buyer_id,
            address=Address(r.recipient, r.phone, r.province, r.city, r.district, r.street),
            lines=tuple(lines[r.shipment_id]),
            carrier_code=r.carrier_code,
            wave_id=r.wave_id,
            parcel_id=r.parcel_id or "",
            status=ShipmentStatus(r.status),
            hold_reason=r.hold_reason,
            released_at=r.released_at,
            notes=" / ".join(n for n in (r.buyer_message, r.service_note) if n.strip()),
            tracking_number=r.tracking_number or "",
            picked=tuple(picks[r.shipment_id]),
            exchange=r.exchange,
            signed_by=r.signed_by,
        )
        for r in rows
    ]


async def get(conn: AsyncConnection, shipment_id: str) -> StoredShipment:
    """One shipment; NotFound naming ``shipment_id``."""
    found = await _loaded(conn, shipments.c.shipment_id == shipment_id)
    if not found:
        raise NotFound.for_field("shipment_id", f"no shipment {shipment_id!r}")
    return found[0]


async def of_order(conn: AsyncConnection, order_id: str, *, lock: bool = False) -> list[StoredShipment]:
    return await _loaded(conn, shipments.c.order_id == order_id, lock=lock)


async def of_channel_order(
    conn: AsyncConnection, channel: str, channel_order_id: str
) -> list[StoredShipment]:
    return await _loaded(
        conn, sa.and_(shipments.c.channel == channel, shipments.c.channel_order_id == channel_order_id)
    )


async def of_tracking_number(conn: AsyncConnection, tracking_number: str) -> list[StoredShipment]:
    return await _loaded(conn, parcels.c.tracking_number == tracking_number)


async def of_wave(conn: AsyncConnection, wave_id: str) -> list[StoredShipment]:
    return await _loaded(conn, shipments.c.wave_id == wave_id)


async def of_parcels(conn: AsyncConnection, parcel_ids: Sequence[str]) -> list[StoredShipment]:
    return await _loaded(conn, shipments.c.parcel_id.in_(list(parcel_ids)))


async def withdraw(
    conn: AsyncConnection, order_id: str, reason: str, *, actor: str, at: datetime
) -> list[str]:
    """ORD-5: takes the order's shipments out of the warehouse's work, in the caller's transaction, unless
    one is packed already (FailedPrecondition ALREADY_PACKED naming ``order_id``, nothing changed). An order
    whose release has not arrived yet is remembered, so that it ships nothing when it arrives. A parcel
    left with no shipment is withdrawn too. Returns the shipments withdrawn now."""
    await conn.execute(
        insert(withdrawn_orders)
        .values(order_id=order_id, reason=reason, withdrawn_by=actor, withdrawn_at=at)
        .on_conflict_do_nothing(index_elements=[withdrawn_orders.c.order_id])
    )
    found = await of_order(conn, order_id, lock=True)
    parcel_ids = sorted({s.parcel_id for s in found if s.parcel_id})
    if parcel_ids:
        locked = await conn.execute(
            sa.select(parcels.c.parcel_id, parcels.c.status)
            .where(parcels.c.parcel_id.in_(parcel_ids))
            .order_by(parcels.c.parcel_id)
            .with_for_update()
        )
        for r in locked:
            status = ParcelStatus(r.status)
            if status not in WITHDRAWABLE and status is not ParcelStatus.WITHDRAWN:
                raise FailedPrecondition.for_field(
                    "order_id",
                    f"parcel {r.parcel_id} of order {order_id} is {status.value}: the goods are packed, so "
                    f"the order can no longer be stopped in the warehouse",
                    reason="ALREADY_PACKED",
                )
    now_withdrawn = [s.shipment_id for s in found if s.status is not ShipmentStatus.WITHDRAWN]
    if now_withdrawn:
        await conn.execute(
            shipments.update()
            .where(shipments.c.shipment_id.in_(now_withdrawn))
            .values(status=ShipmentStatus.WITHDRAWN.value, hold_reason=reason[:500])
        )
    if parcel_ids:
        still_shipping = (
            sa.select(shipments.c.shipment_id)
            .where(
                shipments.c.parcel_id == parcels.c.parcel_id,
                shipments.c.status != ShipmentStatus.WITHDRAWN.value,
            )
            .exists()
        )
        await conn.execute(
            parcels.update()
            .where(parcels.c.parcel_id.in_(parcel_ids), ~still_shipping)
            .values(status=ParcelStatus.WITHDRAWN.value)
        )
    return now_withdrawn


async def sign(conn: AsyncConnection, shipment_id: str, *, actor: str, at: datetime) -> StoredShipment:
    """LOG-8: the logistics clerk signs an exchange shipment, so that it may be dispatched; signing twice
    keeps the first signature. A shipment that is no exchange is refused naming ``shipment_id``."""
    found = await _loaded(conn, shipments.c.shipment_id == shipment_id, lock=True)
    if not found:
        raise NotFound.for_field("shipment_id", f"no shipment {shipment_id!r}")
    if not found[0].exchange:
        raise FailedPrecondition.for_field(
            "shipment_id",
            "only an exchange shipment (换货) needs the clerk's signature",
            reason="NOT_EXCHANGE",
        )
    if not found[0].signed_by:
        await conn.execute(
            shipments.update()
            .where(shipments.c.shipment_id == shipment_id)
            .values(signed_by=actor, signed_at=at)
        )
    return await get(conn, shipment_id)
