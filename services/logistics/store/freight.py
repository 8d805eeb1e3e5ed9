"""The month's freight by carrier (LOG-7), read from the dispatched parcels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.business_time import day_bounds
from services.logistics.domain.shipments import ParcelStatus, ShipmentStatus
from services.logistics.store.tables import parcels, shipments


@dataclass(frozen=True)
class CarrierMonth:
    carrier_code: str
    parcels: int
    weight_grams: int
    freight_fen: int
    saved_fen: int
    merged_parcels: int


async def by_carrier(conn: AsyncConnection, year: int, month: int) -> list[CarrierMonth]:
    """Parcels dispatched in the business month (Asia/Shanghai), per carrier, by carrier code."""
    start = day_bounds(date(year, month, 1))[0]
    end = day_bounds(date(year + month // 12, month % 12 + 1, 1))[0]
    orders_in = (
        sa.select(sa.func.count())
        .where(
            shipments.c.parcel_id == parcels.c.parcel_id, shipments.c.status != ShipmentStatus.WITHDRAWN.value
        )
        .scalar_subquery()
    )
    rows = await conn.execute(
        sa.select(
            parcels.c.carrier_code,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(parcels.c.weight_grams), 0),
            sa.func.coalesce(sa.func.sum(parcels.c.freight_fen), 0),
            sa.func.coalesce(sa.func.sum(parcels.c.freight_saved_fen), 0),
            sa.func.count().filter(orders_in > 1),
        )
        .where(
            parcels.c.status == ParcelStatus.DISPATCHED.value,
            parcels.c.dispatched_at >= start,
            parcels.c.dispatched_at < end,
        )
        .group_by(parcels.c.carrier_code)
        .order_by(parcels.c.carrier_code)
    )
    return [CarrierMonth(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]
