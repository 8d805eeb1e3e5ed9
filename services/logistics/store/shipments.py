"""Shipments in the database: created from released orders, packed into parcels when their wave closes,
withdrawn by a cancellation (ORD-5), and found again for after-sales (LOG-5's label stubs)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import itemgetter

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.bulk import any_of, given_columns, insert_rows
from libs.db import hashing_joins
from libs.errors import FailedPrecondition, NotFound
from libs.upsert import insert
from services.logistics.domain.shipments import (
    WITHDRAWABLE,
    Address,
    NewShipment,
    ParcelStatus,
    ShipmentStatus,
    ShipmentToPick,
    WaitingShipment,
    new_status,
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


async def is_withdrawn(conn: AsyncConnection, order_ids: Sequence[str]) -> set[str]:
    """The orders among ``order_ids`` whose cancellation withdrew them (ORD-5)."""
    rows = await conn.execute(
        sa.select(withdrawn_orders.c.order_id).where(any_of(withdrawn_orders.c.order_id, order_ids))
    )
    return {r.order_id for r in rows}


_SHIPMENT_COLUMNS = (
    "shipment_id", "order_id", "shipment_no", "channel", "channel_order_id", "shop_code", "buyer_id",
    "recipient", "phone", "province", "city", "district", "street", "carrier_code", "buyer_message",
    "service_note", "wave_id", "status", "hold_reason", "released_at", "exchange",
)  # fmt: skip
_ADD_SHIPMENTS = insert_rows(shipments, _SHIPMENT_COLUMNS).on_conflict_do_nothing(
    index_elements=[shipments.c.shipment_id]
)
_LINE_COLUMNS = ("shipment_id", "sku_code", "quantity")
_ADD_LINES = insert_rows(shipment_lines, _LINE_COLUMNS).on_conflict_do_nothing()


@dataclass
class NewShipments:
    """Shipments to create, held as one list per column of ``shipments`` (and ``line_*`` of
    ``shipment_lines``). A burst of releases makes thousands at a time: appending each value to its
    column's list is the least a row can cost to make, and the lists go to the database as they are."""

    shipment_id: list[str] = field(default_factory=list)
    order_id: list[str] = field(default_factory=list)
    shipment_no: list[int] = field(default_factory=list)
    channel: list[str] = field(default_factory=list)
    channel_order_id: list[str] = field(default_factory=list)
    shop_code: list[str] = field(default_factory=list)
    buyer_id: list[str] = field(default_factory=list)
    recipient: list[str] = field(default_factory=list)
    phone: list[str] = field(default_factory=list)
    province: list[str] = field(default_factory=list)
    city: list[str] = field(default_factory=list)
    district: list[str] = field(default_factory=list)
    street: list[str] = field(default_factory=list)
    carrier_code: list[str] = field(default_factory=list)
    buyer_message: list[str] = field(default_factory=list)
    service_note: list[str] = field(default_factory=list)
    wave_id: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    hold_reason: list[str] = field(default_factory=list)
    released_at: list[datetime] = field(default_factory=list)
    exchange: list[bool] = field(default_factory=list)
    line_shipment_id: list[str] = field(default_factory=list)
    line_sku_code: list[str] = field(default_factory=list)
    line_quantity: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, made: Sequence[NewShipment], wave_id: str) -> NewShipments:
        """The rows of shipments made one by one (``shipments_of``), all in wave ``wave_id``."""
        new = cls()
        for s in made:
            o, a = s.order, s.address
            values = (
                s.shipment_id, o.order_id, s.shipment_no, o.channel, o.channel_order_id, o.shop_code,
                o.buyer_id, a.recipient, a.phone, a.province, a.city, a.district, a.street, s.carrier_code,
                o.buyer_message, o.service_note, wave_id, new_status(s.hold_reason).value, s.hold_reason,
                o.released_at, s.exchange,
            )  # fmt: skip
            for name, value in zip(_SHIPMENT_COLUMNS, values, strict=True):
                getattr(new, name).append(value)
            for sku, quantity in s.lines:
                new.line_shipment_id.append(s.shipment_id)
                new.line_sku_code.append(sku)
                new.line_quantity.append(quantity)
        return new


async def add(conn: AsyncConnection, new: NewShipments) -> None:
    """Creates the shipments; ones that exist already are left as they are. Two statements for any number
    (rows as arrays)."""
    if not new.shipment_id:
        return
    await conn.execute(
        _ADD_SHIPMENTS, given_columns(_SHIPMENT_COLUMNS, [getattr(new, name) for name in _SHIPMENT_COLUMNS])
    )
    await conn.execute(
        _ADD_LINES,
        given_columns(_LINE_COLUMNS, [new.line_shipment_id, new.line_sku_code, new.line_quantity]),
    )


# What a StoredShipment is made of, in the order the rows are unpacked below: by position, because reading a
# row's field by name costs about a microsecond, a quarter of a second for a wave's 10,000 shipments.
_STORED = (
    shipments.c.shipment_id, shipments.c.order_id, shipments.c.shipment_no, shipments.c.channel,
    shipments.c.channel_order_id, shipments.c.shop_code, shipments.c.buyer_id, shipments.c.recipient,
    shipments.c.phone, shipments.c.province, shipments.c.city, shipments.c.district, shipments.c.street,
    shipments.c.carrier_code, shipments.c.wave_id, shipments.c.parcel_id, shipments.c.status,
    shipments.c.hold_reason, shipments.c.released_at, shipments.c.buyer_message, shipments.c.service_note,
    parcels.c.tracking_number, shipments.c.exchange, shipments.c.signed_by,
)  # fmt: skip


def _notes(buyer_message: str, service_note: str) -> str:
    return " / ".join(n for n in (buyer_message, service_note) if n.strip())


async def _loaded(
    conn: AsyncConnection, where: sa.ColumnElement[bool], *, lock: bool = False
) -> list[StoredShipment]:
    query = (
        sa.select(*_STORED)
        .select_from(shipments.outerjoin(parcels, parcels.c.parcel_id == shipments.c.parcel_id))
        .where(where)
        .order_by(shipments.c.released_at, shipments.c.order_id, shipments.c.shipment_no)
    )
    if lock:
        query = query.with_for_update(of=shipments)
    rows = (await conn.execute(query)).all()
    ids = [r[0] for r in rows]
    lines: dict[str, list[tuple[str, int]]] = defaultdict(list)
    picks: dict[str, list[PickedLot]] = defaultdict(list)
    if ids:
        for shipment_id, sku_code, quantity in await conn.execute(
            sa.select(shipment_lines.c.shipment_id, shipment_lines.c.sku_code, shipment_lines.c.quantity)
            .where(any_of(shipment_lines.c.shipment_id, ids))
            .order_by(shipment_lines.c.sku_code)
        ):
            lines[shipment_id].append((sku_code, int(quantity)))
        for shipment_id, sku_code, lot_id, lot_label, bin_code, quantity in await conn.execute(
            sa.select(
                shipment_picks.c.shipment_id, shipment_picks.c.sku_code, shipment_picks.c.lot_id,
                shipment_picks.c.lot_label, shipment_picks.c.bin_code, shipment_picks.c.quantity,
            )
            .where(any_of(shipment_picks.c.shipment_id, ids))
            .order_by(shipment_picks.c.sku_code, shipment_picks.c.bin_code, shipment_picks.c.lot_label)
        ):  # fmt: skip
            picks[shipment_id].append(PickedLot(sku_code, lot_id, lot_label, bin_code, int(quantity)))
    return [
        StoredShipment(
            shipment_id=shipment_id,
            order_id=order_id,
            shipment_no=shipment_no,
            channel=channel,
            channel_order_id=channel_order_id,
            shop_code=shop_code,
            buyer_id=buyer_id,
            address=Address(recipient, phone, province, city, district, street),
            lines=tuple(lines[shipment_id]),
            carrier_code=carrier_code,
            wave_id=wave_id,
            parcel_id=parcel_id or "",
            status=ShipmentStatus(status),
            hold_reason=hold_reason,
            released_at=released_at,
            notes=_notes(buyer_message, service_note),
            tracking_number=tracking_number or "",
            picked=tuple(picks[shipment_id]),
            exchange=exchange,
            signed_by=signed_by,
        )
        for (
            shipment_id, order_id, shipment_no, channel, channel_order_id, shop_code, buyer_id, recipient, phone,
            province, city, district, street, carrier_code, wave_id, parcel_id, status, hold_reason, released_at,
            buyer_message, service_note, tracking_number, exchange, signed_by,
        ) in rows
    ]  # fmt: skip


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
    return await _loaded(conn, any_of(shipments.c.parcel_id, parcel_ids))


# A closing wave's shipments as merging sees them: only the columns it reads, by position (a wave has
# 10,000; the full StoredShipment with its parcel and picks costs three times as much to load).
_WAITING = (
    shipments.c.shipment_id, shipments.c.order_id, shipments.c.shop_code, shipments.c.buyer_id,
    shipments.c.recipient, shipments.c.phone, shipments.c.province, shipments.c.city, shipments.c.district,
    shipments.c.street, shipments.c.carrier_code, shipments.c.buyer_message, shipments.c.service_note,
)  # fmt: skip
_RELEASE_ORDER = (shipments.c.released_at, shipments.c.order_id, shipments.c.shipment_no)
_WAITING_IN_WAVE = (
    sa.select(*_WAITING)
    .where(shipments.c.wave_id == sa.bindparam("wave_id"), shipments.c.status == ShipmentStatus.WAITING.value)
    .order_by(*_RELEASE_ORDER)
)
_TO_PICK = (
    sa.select(shipment_lines.c.shipment_id, shipments.c.order_id, shipment_lines.c.sku_code, shipment_lines.c.quantity)
    .join(shipments, shipments.c.shipment_id == shipment_lines.c.shipment_id)
    .where(
        shipments.c.wave_id == sa.bindparam("wave_id"),
        shipments.c.status.in_([ShipmentStatus.WAITING.value, ShipmentStatus.IN_PARCEL.value]),
        # An earlier attempt recorded its lots: not asked for again.
        ~sa.select(shipment_picks.c.shipment_id).where(shipment_picks.c.shipment_id == shipments.c.shipment_id).exists(),
    )
    .order_by(*_RELEASE_ORDER, shipment_lines.c.sku_code)
)  # fmt: skip


async def to_pick(conn: AsyncConnection, wave_id: str) -> list[ShipmentToPick]:
    """The closing wave's shipments whose lots the inventory service is asked for: those closing packs
    (``waiting``) or packed (``in_parcel``) and whose lots no earlier attempt recorded, with their lines, in
    release order. One statement over the lines, so that the calls can go out before the rest is loaded.
    The wave's thousands of shipments came since the tables were last analysed: joined by hashing."""
    async with hashing_joins(conn):
        lines = await conn.execute(_TO_PICK, {"wave_id": wave_id})
    return [
        ShipmentToPick(shipment_id, order_id, tuple((sku, int(quantity)) for _, _, sku, quantity in rows))
        for (shipment_id, order_id), rows in groupby(lines, key=itemgetter(0, 1))
    ]


async def waiting_in_wave(conn: AsyncConnection, wave_id: str) -> list[WaitingShipment]:
    """The wave's shipments that closing packs (``waiting``), in release order; one withdrawn (ORD-5),
    set aside on hold or packed already is not among them."""
    return [
        WaitingShipment(
            shipment_id, order_id, shop_code, buyer_id,
            Address(recipient, phone, province, city, district, street), carrier_code,
            _notes(buyer_message, service_note),
        )
        for (
            shipment_id, order_id, shop_code, buyer_id, recipient, phone, province, city, district, street,
            carrier_code, buyer_message, service_note,
        ) in await conn.execute(_WAITING_IN_WAVE, {"wave_id": wave_id})
    ]  # fmt: skip


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
