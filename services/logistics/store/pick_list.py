"""What a closed wave's pickers work from (LOG-2), read set-based: the walk through the bins (the lots the
inventory service kept, summed per bin, SKU and lot) and the sort into parcels. The JSON pick list and the
printed one both read these, so the paper in a picker's hand and the screen in the office agree; a 10,000
order wave is a few aggregate queries, not 10,000 loaded parcels."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.db import hashing_joins
from services.logistics.domain.shipments import ParcelStatus, ShipmentStatus
from services.logistics.store.tables import parcels, shipment_lines, shipment_picks, shipments


@dataclass(frozen=True)
class PickRow:
    """One stop of the walk: ``quantity`` units of ``sku_code`` from lot ``lot_label`` in ``bin_code``."""

    bin_code: str
    sku_code: str
    lot_label: str
    quantity: int


@dataclass(frozen=True)
class SortRow:
    """One parcel of the sort list: its orders, its carrier and its ``(sku_code, quantity)`` lines."""

    print_seq: int
    parcel_id: str
    order_ids: tuple[str, ...]
    carrier_code: str
    lines: tuple[tuple[str, int], ...]


def _picked(wave_id: str) -> sa.ColumnElement[bool]:
    """The wave's shipments still in a parcel that is still picked (a withdrawn order's lots are not)."""
    return sa.and_(
        shipments.c.wave_id == wave_id,
        shipments.c.status == ShipmentStatus.IN_PARCEL.value,
        parcels.c.status != ParcelStatus.WITHDRAWN.value,
    )


async def walk(conn: AsyncConnection, wave_id: str) -> list[PickRow]:
    """The lots to take, one row per bin, SKU and lot, in walking order: bin codes are laid out along the
    walking path (aisle-rack-level), so their order is the walk."""
    async with hashing_joins(conn):
        rows = await conn.execute(
            sa.select(shipment_picks.c.bin_code, shipment_picks.c.sku_code, shipment_picks.c.lot_label,
                      sa.func.sum(shipment_picks.c.quantity))
            .join(shipments, shipments.c.shipment_id == shipment_picks.c.shipment_id)
            .join(parcels, parcels.c.parcel_id == shipments.c.parcel_id)
            .where(_picked(wave_id))
            .group_by(shipment_picks.c.bin_code, shipment_picks.c.sku_code, shipment_picks.c.lot_label)
            .order_by(shipment_picks.c.bin_code, shipment_picks.c.sku_code, shipment_picks.c.lot_label)
        )  # fmt: skip
    return [PickRow(r[0], r[1], r[2], int(r[3])) for r in rows]


def sku_totals(rows: list[PickRow]) -> list[tuple[str, int]]:
    """Units per SKU over every bin and lot of the walk, by SKU code."""
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.sku_code] = totals.get(row.sku_code, 0) + row.quantity
    return sorted(totals.items())


_SORTED = (
    sa.select(parcels.c.print_seq, parcels.c.parcel_id, parcels.c.carrier_code, shipments.c.order_id,
              shipment_lines.c.sku_code, shipment_lines.c.quantity)
    .join(shipments, shipments.c.parcel_id == parcels.c.parcel_id)
    .join(shipment_lines, shipment_lines.c.shipment_id == shipments.c.shipment_id)
    .where(
        parcels.c.wave_id == sa.bindparam("wave_id"),
        parcels.c.status != ParcelStatus.WITHDRAWN.value,
        shipments.c.wave_id == sa.bindparam("wave_id"),
        shipments.c.status != ShipmentStatus.WITHDRAWN.value,
    )
    .order_by(parcels.c.print_seq, shipment_lines.c.sku_code, shipments.c.order_id)
)  # fmt: skip


async def sort_list(conn: AsyncConnection, wave_id: str) -> list[SortRow]:
    """Each parcel still picked, in print order, with its orders and the units it must hold: one statement
    over the parcels' lines, summed per SKU here (a merged parcel's orders may carry the same SKU). A
    parcel is withdrawn once none of its shipments ships any more, so each one read has lines."""
    async with hashing_joins(conn):
        found = await conn.execute(_SORTED, {"wave_id": wave_id})
    made: list[SortRow] = []
    # Rows unpacked by position: reading a row's field by name costs about a microsecond, and a big wave's
    # sort list reads tens of thousands.
    for (print_seq, parcel_id, carrier_code), rows in groupby(found, key=itemgetter(0, 1, 2)):
        orders: set[str] = set()
        units: dict[str, int] = {}
        for _, _, _, order_id, sku_code, quantity in rows:
            orders.add(order_id)
            units[sku_code] = units.get(sku_code, 0) + quantity
        made.append(SortRow(print_seq, parcel_id, tuple(sorted(orders)), carrier_code, tuple(units.items())))
    return made
