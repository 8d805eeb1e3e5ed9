"""Parcels in the database: made when a wave closes, then scanned, packed and dispatched (LOG-2 .. LOG-5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.bulk import any_of, columns, given_columns, insert_rows, rows_of
from libs.errors import NotFound
from libs.upsert import insert
from services.logistics.domain.shipments import ParcelStatus, PlannedParcel, ShipmentStatus
from services.logistics.store import shipments as shipment_store
from services.logistics.store.shipments import StoredShipment
from services.logistics.store.tables import parcel_scans, parcels, shipment_picks, shipments


@dataclass(frozen=True)
class StoredParcel:
    parcel_id: str
    wave_id: str
    print_seq: int
    carrier_code: str
    shop_code: str
    status: ParcelStatus
    weight_grams: int
    zone: int
    freight_fen: int
    freight_saved_fen: int
    tracking_number: str
    dispatched_at: datetime | None
    dispatched_by: str
    shipments: tuple[StoredShipment, ...]
    scanned: dict[str, int] = field(default_factory=dict)
    promised_by: datetime | None = None
    # The latest tracking event's state (LOG-6), "" before any.
    tracking_state: str = ""

    @property
    def shipping(self) -> tuple[StoredShipment, ...]:
        """Its shipments that still ship (a merged parcel loses a withdrawn order's shipment)."""
        return tuple(s for s in self.shipments if s.status is not ShipmentStatus.WITHDRAWN)

    def expected(self) -> dict[str, int]:
        """Units per SKU the parcel must hold (LOG-3)."""
        units: dict[str, int] = {}
        for s in self.shipping:
            for sku, quantity in s.lines:
                units[sku] = units.get(sku, 0) + quantity
        return units


# A wave's parcels, the shipments put in them and their picks: one statement each, the rows as arrays
# (``libs.bulk``), whatever the size of the wave.
_PARCEL_COLUMNS = ("parcel_id", "wave_id", "print_seq", "carrier_code", "shop_code", "status")
_ADD_PARCELS = insert_rows(parcels, _PARCEL_COLUMNS)
_PLACED = rows_of(shipments, ("shipment_id", "parcel_id"))
_PLACE = (
    shipments.update()
    # Only a shipment still waiting: one withdrawn (ORD-5) since the plan was made stays withdrawn.
    .where(
        shipments.c.shipment_id == _PLACED.c.shipment_id, shipments.c.status == ShipmentStatus.WAITING.value
    )
    .values(parcel_id=_PLACED.c.parcel_id, status=ShipmentStatus.IN_PARCEL.value)
)
_EMPTY = ~sa.select(shipments.c.shipment_id).where(shipments.c.parcel_id == parcels.c.parcel_id).exists()
_PICK_COLUMNS = ("shipment_id", "sku_code", "lot_id", "bin_code", "lot_label", "quantity")
_ADD_PICKS = insert_rows(shipment_picks, _PICK_COLUMNS).on_conflict_do_nothing()


async def create(conn: AsyncConnection, planned: Sequence[PlannedParcel]) -> None:
    """Stores a closing wave's parcels and puts its shipments in them, in the caller's transaction."""
    if not planned:
        return
    wave_id = planned[0].parcel_id.rsplit("-", 1)[0]
    status = ParcelStatus.PICKING.value
    await conn.execute(
        _ADD_PARCELS,
        columns(
            _PARCEL_COLUMNS,
            ((p.parcel_id, wave_id, p.print_seq, p.carrier_code, p.shipments[0].shop_code, status) for p in planned),
        ),
    )  # fmt: skip
    placed = [(s.shipment_id, p.parcel_id) for p in planned for s in p.shipments]
    result = await conn.execute(_PLACE, columns(("shipment_id", "parcel_id"), placed))
    if result.rowcount < len(placed):
        await _drop_empty(conn, [p.parcel_id for p in planned])


@dataclass
class Picks:
    """Lots kept for shipments, as one list per column of ``shipment_picks``: a close records thousands of
    them, appended straight from the inventory service's answers and sent to the database as they are."""

    shipment_id: list[str] = field(default_factory=list)
    sku_code: list[str] = field(default_factory=list)
    lot_id: list[str] = field(default_factory=list)
    bin_code: list[str] = field(default_factory=list)
    lot_label: list[str] = field(default_factory=list)
    quantity: list[int] = field(default_factory=list)


async def record_picks(conn: AsyncConnection, picks: Picks) -> None:
    """The lots the inventory service kept for each shipment (LOG-2, INV-11); kept ones stay as they are."""
    if picks.shipment_id:
        await conn.execute(
            _ADD_PICKS, given_columns(_PICK_COLUMNS, [getattr(picks, n) for n in _PICK_COLUMNS])
        )


_ASIDE = rows_of(shipments, ("shipment_id", "hold_reason"))
_SET_ASIDE = (
    shipments.update()
    .where(shipments.c.shipment_id == _ASIDE.c.shipment_id)
    .values(status=ShipmentStatus.ON_HOLD.value, hold_reason=_ASIDE.c.hold_reason, parcel_id=None)
)


async def set_aside(conn: AsyncConnection, refused: dict[str, str]) -> None:
    """Shipments whose lots could not be taken wait on hold with the reason, out of their parcels; a
    parcel left empty is dropped before anything is printed. Three statements however many."""
    if not refused:
        return
    ids = sorted(refused)
    left = {
        parcel_id
        for (parcel_id,) in await conn.execute(
            sa.select(shipments.c.parcel_id).where(any_of(shipments.c.shipment_id, ids))
        )
        if parcel_id is not None
    }
    await conn.execute(
        _SET_ASIDE, columns(("shipment_id", "hold_reason"), ((i, refused[i][:500]) for i in ids))
    )
    if left:
        await _drop_empty(conn, sorted(left))


async def _drop_empty(conn: AsyncConnection, parcel_ids: Sequence[str]) -> None:
    """Drops those of the parcels that no shipment is in, before anything is printed."""
    await conn.execute(
        parcels.delete().where(
            any_of(parcels.c.parcel_id, parcel_ids), _EMPTY, parcels.c.status == ParcelStatus.PICKING.value
        )
    )


async def _scans(conn: AsyncConnection, parcel_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for r in await conn.execute(sa.select(parcel_scans).where(any_of(parcel_scans.c.parcel_id, parcel_ids))):
        found.setdefault(r.parcel_id, {})[r.sku_code] = int(r.scanned)
    return found


# What a StoredParcel is made of, in the order the rows are unpacked below (by position: reading a row's
# field by name costs about a microsecond, a wave has thousands of parcels).
_STORED = (
    parcels.c.parcel_id, parcels.c.wave_id, parcels.c.print_seq, parcels.c.carrier_code, parcels.c.shop_code,
    parcels.c.status, parcels.c.weight_grams, parcels.c.zone, parcels.c.freight_fen, parcels.c.freight_saved_fen,
    parcels.c.tracking_number, parcels.c.dispatched_at, parcels.c.dispatched_by, parcels.c.promised_by,
    parcels.c.tracking_state,
)  # fmt: skip


def _packing_order(s: StoredShipment) -> tuple[str, int]:
    return s.order_id, s.shipment_no


async def _loaded(
    conn: AsyncConnection, where: sa.ColumnElement[bool], *, lock: bool = False
) -> list[StoredParcel]:
    query = sa.select(*_STORED).where(where).order_by(parcels.c.wave_id, parcels.c.print_seq)
    if lock:
        query = query.with_for_update()
    rows = (await conn.execute(query)).all()
    ids = [r[0] for r in rows]
    if not ids:
        return []
    inside: dict[str, list[StoredShipment]] = {}
    for s in await shipment_store.of_parcels(conn, ids):
        inside.setdefault(s.parcel_id, []).append(s)
    scans = await _scans(conn, ids)
    return [
        StoredParcel(
            parcel_id=parcel_id,
            wave_id=wave_id,
            print_seq=print_seq,
            carrier_code=carrier_code,
            shop_code=shop_code,
            status=ParcelStatus(status),
            weight_grams=weight_grams,
            zone=zone,
            freight_fen=freight_fen,
            freight_saved_fen=freight_saved_fen,
            tracking_number=tracking_number or "",
            dispatched_at=dispatched_at,
            dispatched_by=dispatched_by,
            shipments=tuple(sorted(inside.get(parcel_id, []), key=_packing_order)),
            scanned=scans.get(parcel_id, {}),
            promised_by=promised_by,
            tracking_state=tracking_state,
        )
        for (
            parcel_id, wave_id, print_seq, carrier_code, shop_code, status, weight_grams, zone, freight_fen,
            freight_saved_fen, tracking_number, dispatched_at, dispatched_by, promised_by, tracking_state,
        ) in rows
    ]  # fmt: skip


async def get(
    conn: AsyncConnection, parcel_id: str, *, lock: bool = False, field_path: str = "parcel_id"
) -> StoredParcel:
    """One parcel with its shipments and scans; NotFound naming ``field_path``."""
    found = await _loaded(conn, parcels.c.parcel_id == parcel_id, lock=lock)
    if not found:
        raise NotFound.for_field(field_path, f"no parcel {parcel_id!r}")
    return found[0]


async def of_wave(conn: AsyncConnection, wave_id: str) -> list[StoredParcel]:
    """A wave's parcels in print order."""
    return await _loaded(conn, parcels.c.wave_id == wave_id)


async def count_scan(conn: AsyncConnection, parcel_id: str, sku_code: str) -> None:
    """One more unit of ``sku_code`` scanned into the parcel (LOG-3)."""
    await conn.execute(
        insert(parcel_scans)
        .values(parcel_id=parcel_id, sku_code=sku_code, scanned=1)
        .on_conflict_do_update(
            index_elements=[parcel_scans.c.parcel_id, parcel_scans.c.sku_code],
            set_={"scanned": parcel_scans.c.scanned + 1},
        )
    )


async def update(conn: AsyncConnection, parcel_id: str, **values: object) -> None:
    """Writes a parcel's new state (status, weight, tracking number ...), in the caller's transaction."""
    await conn.execute(parcels.update().where(parcels.c.parcel_id == parcel_id).values(**values))


async def statuses(conn: AsyncConnection, parcel_ids: Sequence[str]) -> dict[str, ParcelStatus]:
    """Where each of these parcels stands."""
    rows = await conn.execute(
        sa.select(parcels.c.parcel_id, parcels.c.status).where(parcels.c.parcel_id.in_(list(parcel_ids)))
    )
    return {r.parcel_id: ParcelStatus(r.status) for r in rows}
