"""Wave schedules per warehouse (LOG-1): cut-offs are data, set by the logistics clerk."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from shop.logistics.v1 import logistics_pb2 as pb

from libs import identity
from libs.business_time import parse_business_date
from libs.db import Database
from libs.errors import InvalidArgument, Violations
from services.logistics.domain.waves import CutoffSchedule, cutoff_overrides
from services.logistics.store import schedules
from services.logistics.store.schedules import WarehouseSchedule
from services.logistics.store.waves import DEFAULT_WAREHOUSE


def _times(texts: list[str], path: str, v: Violations) -> tuple[time, ...]:
    found = []
    for i, text in enumerate(texts):
        try:
            found.append(time.fromisoformat(text.strip()))
        except ValueError:
            v.add(f"{path}[{i}]", f"{text!r} is not a time of day HH:MM")
    return tuple(found)


def schedule_from_pb(value: pb.WaveSchedule) -> WarehouseSchedule:
    """The schedule as the request states it; every bad cut-off or date is named."""
    warehouse = value.warehouse_code.strip()
    if not warehouse:
        raise InvalidArgument.for_field("schedule.warehouse_code", "is required")
    v = Violations()
    normal = _times(list(value.cutoffs), "schedule.cutoffs", v)
    days = []
    for i, day in enumerate(value.overrides):
        try:
            when = parse_business_date(day.date, f"schedule.overrides[{i}].date")
        except InvalidArgument as err:
            for violation in err.violations:
                v.add(violation.field, violation.description)
            continue
        days.append((when, _times(list(day.cutoffs), f"schedule.overrides[{i}].cutoffs", v)))
    v.raise_if_any()
    try:
        built = CutoffSchedule(normal)
    except InvalidArgument as err:
        raise InvalidArgument.for_field(
            "schedule." + err.violations[0].field, err.violations[0].description
        ) from None
    try:
        overrides = cutoff_overrides(days)
    except InvalidArgument as err:
        raise InvalidArgument.for_field(
            "schedule." + err.violations[0].field, err.violations[0].description
        ) from None
    return WarehouseSchedule(warehouse, built, overrides)


def schedule_to_pb(s: WarehouseSchedule) -> pb.WaveSchedule:
    return pb.WaveSchedule(
        warehouse_code=s.warehouse_code,
        cutoffs=[f"{c:%H:%M}" for c in s.normal.cutoffs],
        overrides=[
            pb.DaySchedule(date=day.isoformat(), cutoffs=[f"{c:%H:%M}" for c in cutoffs.cutoffs])
            for day, cutoffs in sorted(s.overrides.items())
        ],
    )


class SchedulesApi:
    db: Database

    async def PutWaveSchedule(
        self, request: pb.PutWaveScheduleRequest, context: Any
    ) -> pb.PutWaveScheduleResponse:
        caller = identity.current()
        schedule = schedule_from_pb(request.schedule)
        async with self.db.transaction() as conn:
            await schedules.put(conn, schedule, actor=caller.subject, at=datetime.now(UTC))
        return pb.PutWaveScheduleResponse(schedule=schedule_to_pb(schedule))

    async def GetWaveSchedule(
        self, request: pb.GetWaveScheduleRequest, context: Any
    ) -> pb.GetWaveScheduleResponse:
        warehouse = request.warehouse_code.strip() or DEFAULT_WAREHOUSE
        async with self.db.connection() as conn:
            found = await schedules.of_warehouse(conn, warehouse)
        return pb.GetWaveScheduleResponse(schedule=schedule_to_pb(found))
