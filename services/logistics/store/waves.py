"""Waves in the database (LOG-1): created when their first shipment arrives, closed once.

A shipment joins a wave under a shared row lock on the wave; closing takes the row's exclusive lock and
moves it out of ``open``. So a shipment is either in the wave before it closes or finds it closed and
joins the next one — never both, never neither.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.business_time import BUSINESS_ZONE
from libs.errors import FailedPrecondition, NotFound
from libs.upsert import insert
from services.logistics.domain.waves import WaveSlot, slot_for, slots_of
from services.logistics.store import schedules
from services.logistics.store.tables import parcels, shipments, waves

DEFAULT_WAREHOUSE = "MAIN"


class WaveStatus(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True)
class Wave:
    wave_id: str
    warehouse_code: str
    slot: WaveSlot
    cutoff_at: datetime
    status: WaveStatus
    closed_at: datetime | None
    closed_by: str
    shipments: int = 0
    parcels: int = 0


def wave_id_for(warehouse_code: str, slot: WaveSlot) -> str:
    """``MAIN-20261201-1030``: warehouse, business day and cut-off; no ':' so it reads well in a URL."""
    return f"{warehouse_code}-{slot.day:%Y%m%d}-{slot.cutoff:%H%M}"


async def join(
    conn: AsyncConnection,
    warehouse_code: str,
    released_at: datetime,
    plan: schedules.WarehouseSchedule | None = None,
) -> str:
    """The open wave an order released at ``released_at`` ships in (LOG-1), created if new and locked
    shared until the caller's transaction ends. The warehouse's own schedule decides (``schedules``); a
    wave closed already (early by the clerk, or at its cut-off before the release arrived) passes the
    order to the next wave. ``plan`` is the warehouse's schedule when the caller has read it already."""
    plan = plan or await schedules.of_warehouse(conn, warehouse_code)
    return await join_slot(conn, warehouse_code, slot_for(released_at, plan.normal, plan.overrides), plan)


async def join_slot(
    conn: AsyncConnection, warehouse_code: str, slot: WaveSlot, plan: schedules.WarehouseSchedule
) -> str:
    """``join`` for releases already placed in ``slot`` under ``plan`` (``WaveClock``)."""
    while True:
        wave_id = wave_id_for(warehouse_code, slot)
        await conn.execute(
            insert(waves)
            .values(
                wave_id=wave_id,
                warehouse_code=warehouse_code,
                business_date=slot.day,
                cutoff_at=slot.cutoff_at,
                last_of_day=slot.last_of_day,
            )
            .on_conflict_do_nothing(index_elements=[waves.c.wave_id])
        )
        status = (
            await conn.execute(
                sa.select(waves.c.status).where(waves.c.wave_id == wave_id).with_for_update(read=True)
            )
        ).scalar_one()
        if status == WaveStatus.OPEN.value:
            return wave_id
        # Released "at" the cut-off is strictly after it: the next wave.
        slot = slot_for(slot.cutoff_at, plan.normal, plan.overrides)


def _slot(business_date: date, cutoff_at: datetime, last_of_day: bool) -> WaveSlot:
    local = cutoff_at.astimezone(BUSINESS_ZONE)
    number = next(
        (s.number for s in slots_of(business_date) if s.cutoff == local.time().replace(tzinfo=None)), 1
    )
    return WaveSlot(business_date, local.time().replace(tzinfo=None), number=number, last_of_day=last_of_day)


def _counts() -> tuple[sa.ScalarSelect[int], sa.ScalarSelect[int]]:
    in_wave = (
        sa.select(sa.func.count())
        .where(shipments.c.wave_id == waves.c.wave_id, shipments.c.status != "withdrawn")
        .scalar_subquery()
    )
    packed = sa.select(sa.func.count()).where(parcels.c.wave_id == waves.c.wave_id).scalar_subquery()
    return in_wave, packed


def _wave(r: sa.Row[tuple[object, ...]]) -> Wave:
    m = r._mapping
    return Wave(
        wave_id=m["wave_id"],
        warehouse_code=m["warehouse_code"],
        slot=_slot(m["business_date"], m["cutoff_at"], m["last_of_day"]),
        cutoff_at=m["cutoff_at"],
        status=WaveStatus(m["status"]),
        closed_at=m["closed_at"],
        closed_by=m["closed_by"],
        shipments=m.get("shipments", 0) or 0,
        parcels=m.get("parcels", 0) or 0,
    )


async def get(conn: AsyncConnection, wave_id: str, *, lock: bool = False) -> Wave:
    """The wave with its counts; NotFound naming ``wave_id``. ``lock`` takes its row lock (closing)."""
    in_wave, packed = _counts()
    query = sa.select(waves, in_wave.label("shipments"), packed.label("parcels")).where(
        waves.c.wave_id == wave_id
    )
    if lock:
        query = query.with_for_update(of=waves)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.for_field("wave_id", f"no wave {wave_id!r}")
    return _wave(row)


async def of_day(conn: AsyncConnection, warehouse_code: str, business_date: date) -> list[Wave]:
    """The day's waves that have shipments, earliest cut-off first."""
    in_wave, packed = _counts()
    rows = await conn.execute(
        sa.select(waves, in_wave.label("shipments"), packed.label("parcels"))
        .where(waves.c.warehouse_code == warehouse_code, waves.c.business_date == business_date)
        .order_by(waves.c.cutoff_at)
    )
    return [_wave(r) for r in rows]


async def start_closing(conn: AsyncConnection, wave_id: str, *, actor: str, at: datetime) -> Wave:
    """Moves an open wave to ``closing`` under its row lock, in the caller's transaction; a wave closing or
    closed already is returned as it is."""
    wave = await get(conn, wave_id, lock=True)
    if wave.status is WaveStatus.OPEN:
        await conn.execute(
            waves.update()
            .where(waves.c.wave_id == wave_id)
            .values(status=WaveStatus.CLOSING.value, closed_at=at, closed_by=actor)
        )
        wave = await get(conn, wave_id)
    return wave


async def finish_closing(conn: AsyncConnection, wave_id: str) -> bool:
    """Marks a closing wave closed; False when another replica did it first (nothing changes)."""
    done = await conn.execute(
        waves.update()
        .where(waves.c.wave_id == wave_id, waves.c.status == WaveStatus.CLOSING.value)
        .values(status=WaveStatus.CLOSED.value)
    )
    return bool(done.rowcount)


#: A close that started longer ago than this and is still ``closing`` was cut short (a crash, an outage);
#: a younger one may still be running in another replica and is left to it.
STALE_CLOSE = timedelta(minutes=2)


async def due(conn: AsyncConnection, now: datetime, grace: timedelta) -> str | None:
    """One wave that must be closed now — open with its cut-off plus ``grace`` passed, or closing since
    long enough to have been cut short — locked so that no other replica takes it; None when none is due."""
    row = (
        await conn.execute(
            sa.select(waves.c.wave_id)
            .where(
                waves.c.status != WaveStatus.CLOSED.value,
                sa.or_(
                    sa.and_(waves.c.status == WaveStatus.OPEN.value, waves.c.cutoff_at + grace <= now),
                    sa.and_(
                        waves.c.status == WaveStatus.CLOSING.value, waves.c.closed_at + STALE_CLOSE <= now
                    ),
                ),
            )
            .order_by(waves.c.cutoff_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).first()
    return None if row is None else str(row.wave_id)


def require_closed(wave: Wave) -> None:
    """Pick lists and documents exist once the wave is closed (LOG-2)."""
    if wave.status is not WaveStatus.CLOSED:
        raise FailedPrecondition.for_field(
            "wave_id",
            f"wave {wave.wave_id} is {wave.status.value}: it prints when it closes "
            f"(at its cut-off, or earlier by the logistics clerk)",
            reason="WAVE_NOT_CLOSED",
        )
