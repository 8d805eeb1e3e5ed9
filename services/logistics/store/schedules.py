"""Wave schedules in the database (LOG-1): a warehouse's normal cut-offs and its days with their own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.upsert import insert
from services.logistics.domain.waves import DEFAULT_SCHEDULE, NO_OVERRIDES, CutoffSchedule
from services.logistics.store.tables import wave_schedule_days, wave_schedules


@dataclass(frozen=True)
class WarehouseSchedule:
    """A warehouse's cut-offs: the normal day's and the overridden days'."""

    warehouse_code: str
    normal: CutoffSchedule = DEFAULT_SCHEDULE
    overrides: Mapping[date, CutoffSchedule] = field(default_factory=lambda: NO_OVERRIDES)


def _times(texts: Sequence[str]) -> tuple[time, ...]:
    return tuple(time.fromisoformat(t) for t in texts)


def _texts(schedule: CutoffSchedule) -> list[str]:
    return [f"{c:%H:%M}" for c in schedule.cutoffs]


async def of_warehouse(conn: AsyncConnection, warehouse_code: str) -> WarehouseSchedule:
    """The warehouse's schedule; the defaults until one is set."""
    normal = (
        await conn.execute(
            sa.select(wave_schedules.c.cutoffs).where(wave_schedules.c.warehouse_code == warehouse_code)
        )
    ).scalar_one_or_none()
    days = await conn.execute(
        sa.select(wave_schedule_days.c.business_date, wave_schedule_days.c.cutoffs)
        .where(wave_schedule_days.c.warehouse_code == warehouse_code)
        .order_by(wave_schedule_days.c.business_date)
    )
    return WarehouseSchedule(
        warehouse_code,
        CutoffSchedule(_times(normal)) if normal else DEFAULT_SCHEDULE,
        {r.business_date: CutoffSchedule(_times(r.cutoffs)) for r in days},
    )


async def put(conn: AsyncConnection, schedule: WarehouseSchedule, *, actor: str, at: datetime) -> None:
    """Replaces the warehouse's schedule, in the caller's transaction."""
    values = {"cutoffs": _texts(schedule.normal), "updated_by": actor, "updated_at": at}
    await conn.execute(
        insert(wave_schedules)
        .values(warehouse_code=schedule.warehouse_code, **values)
        .on_conflict_do_update(index_elements=[wave_schedules.c.warehouse_code], set_=values)
    )
    await conn.execute(
        wave_schedule_days.delete().where(wave_schedule_days.c.warehouse_code == schedule.warehouse_code)
    )
    if schedule.overrides:
        await conn.execute(
            wave_schedule_days.insert(),
            [
                {"warehouse_code": schedule.warehouse_code, "business_date": day, "cutoffs": _texts(cutoffs)}
                for day, cutoffs in sorted(schedule.overrides.items())
            ],
        )
