"""The carriers' terms (LOG-7): replaced whole, read whole."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.upsert import insert
from services.logistics.domain.carriers import Carrier, ZonePrice
from services.logistics.store.tables import carrier_provinces, carrier_zones, carriers


async def put(conn: AsyncConnection, carrier: Carrier, *, actor: str, at: datetime) -> None:
    """Stores ``carrier``'s terms, replacing any it had; the row lock serialises concurrent replacements."""
    await conn.execute(
        insert(carriers)
        .values(carrier_code=carrier.code, name=carrier.name, updated_by=actor, updated_at=at)
        .on_conflict_do_update(
            index_elements=[carriers.c.carrier_code],
            set_={"name": carrier.name, "updated_by": actor, "updated_at": at},
        )
    )
    await conn.execute(carrier_provinces.delete().where(carrier_provinces.c.carrier_code == carrier.code))
    await conn.execute(carrier_zones.delete().where(carrier_zones.c.carrier_code == carrier.code))
    await conn.execute(
        carrier_zones.insert(),
        [
            {
                "carrier_code": carrier.code,
                "zone": zone,
                "promised_days": carrier.service_days[zone],
                "first_weight_grams": price.first_weight_grams,
                "first_weight_fen": price.first_weight_fen,
                "additional_kg_fen": price.additional_kg_fen,
            }
            for zone, price in sorted(carrier.prices.items())
        ],
    )
    await conn.execute(
        carrier_provinces.insert(),
        [
            {"carrier_code": carrier.code, "province": province, "zone": zone}
            for province, zone in sorted(carrier.zones.items())
        ],
    )


async def all_carriers(conn: AsyncConnection) -> list[tuple[Carrier, datetime]]:
    """Every carrier with the time its terms last changed, by code."""
    heads = (await conn.execute(sa.select(carriers).order_by(carriers.c.carrier_code))).all()
    zones: dict[str, list[sa.Row[tuple[object, ...]]]] = defaultdict(list)
    for row in (await conn.execute(sa.select(carrier_zones))).all():
        zones[row.carrier_code].append(row)
    provinces: dict[str, dict[str, int]] = defaultdict(dict)
    for row in (await conn.execute(sa.select(carrier_provinces))).all():
        provinces[row.carrier_code][row.province] = row.zone
    return [
        (
            Carrier(
                code=head.carrier_code,
                name=head.name,
                coverage=set(provinces[head.carrier_code]),
                zones=provinces[head.carrier_code],
                service_days={z.zone: z.promised_days for z in zones[head.carrier_code]},
                prices={
                    z.zone: ZonePrice(z.first_weight_fen, z.additional_kg_fen, z.first_weight_grams)
                    for z in zones[head.carrier_code]
                },
            ),
            head.updated_at,
        )
        for head in heads
    ]
