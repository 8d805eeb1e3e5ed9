"""Shipping waves (波次, LOG-1): which wave a released order ships in, and the order labels are printed in.

The warehouse ships in daily waves that close at cut-off times in Asia/Shanghai, by default 10:30, 12:00,
14:30, 16:30 and 17:30 (seed 001 part 3 §4.1(3) 3.2). The cut-offs are data: a ``CutoffSchedule`` holds
them, and a promotion day may have its own schedule as a per-date override.

An order released strictly before a cut-off belongs to that cut-off's wave, so one released at exactly
10:30:00 goes to the 12:00 wave. One released at or after the day's last cut-off goes to the first wave of
the next day, under that day's schedule (which may be an override). In the last wave of a day SF Express
(顺丰) parcels are printed first ("第五批单子顺丰快递优先打印"); every other wave prints in a stable order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from typing import Protocol, TypeVar

from libs.business_time import BUSINESS_ZONE
from libs.errors import InvalidArgument, Violations

#: LOG-1: the five daily cut-offs, local Asia/Shanghai times.
DEFAULT_CUTOFFS: tuple[time, ...] = (time(10, 30), time(12, 0), time(14, 30), time(16, 30), time(17, 30))

#: The carrier code of SF Express (顺丰), printed first in the last wave of a day.
SF_EXPRESS = "sf"


@dataclass(frozen=True)
class CutoffSchedule:
    """A day's wave cut-offs as local (Asia/Shanghai) wall-clock times, earliest first.

    Refused unless there is at least one cut-off, they are strictly increasing (sorted and distinct), and
    each is a whole minute after midnight with no time zone: the zone is always the business zone, and
    wave codes name the cut-off to the minute, so a seconds part would make two waves share a code.
    """

    cutoffs: tuple[time, ...] = DEFAULT_CUTOFFS

    def __post_init__(self) -> None:
        # Accept any sequence but keep a tuple, so a caller's later mutation cannot move a cut-off.
        object.__setattr__(self, "cutoffs", tuple(self.cutoffs))
        v = Violations()
        v.require(len(self.cutoffs) >= 1, "cutoffs", "must hold at least one cut-off")
        for i, cutoff in enumerate(self.cutoffs):
            path = f"cutoffs[{i}]"
            if not isinstance(cutoff, time):
                v.add(path, f"must be a time of day, got {cutoff!r}")
                continue
            v.require(cutoff.tzinfo is None, path, "must be a local time without a zone (Asia/Shanghai)")
            v.require(cutoff.second == 0 and cutoff.microsecond == 0, path, "must be a whole minute")
            # A wave closing at midnight could never receive an order: nothing is released before 00:00.
            v.require(cutoff != time(0, 0), path, "must be after 00:00")
            if i > 0 and isinstance(self.cutoffs[i - 1], time):
                v.require(
                    self.cutoffs[i - 1] < cutoff,
                    path,
                    "cut-offs must be sorted and distinct (strictly later)",
                )
        v.raise_if_any()

    @property
    def first(self) -> time:
        return self.cutoffs[0]

    @property
    def last(self) -> time:
        return self.cutoffs[-1]


DEFAULT_SCHEDULE = CutoffSchedule()

#: No per-date overrides: every day runs the given schedule.
NO_OVERRIDES: Mapping[date, CutoffSchedule] = MappingProxyType({})


@dataclass(frozen=True, order=True)
class WaveSlot:
    """One wave: a business day and its cut-off. Slots order by day, then cut-off.

    ``number`` (1 for the day's first wave) and ``last_of_day`` describe the slot within its day's schedule;
    they follow from day and cut-off, so they take no part in equality or ordering.
    """

    day: date
    cutoff: time
    number: int = field(compare=False)
    last_of_day: bool = field(compare=False)

    def __post_init__(self) -> None:
        if self.number < 1:
            raise InvalidArgument.for_field("number", "a wave number starts at 1")

    @property
    def cutoff_at(self) -> datetime:
        """The cut-off as an instant: the wall-clock time in the business zone (Asia/Shanghai)."""
        return datetime.combine(self.day, self.cutoff, tzinfo=BUSINESS_ZONE)

    @property
    def wave_code(self) -> str:
        """A stable code for the wave, e.g. ``2026-12-01T10:30``: day and cut-off, local time."""
        return f"{self.day.isoformat()}T{self.cutoff:%H:%M}"


def schedule_for(
    day: date,
    schedule: CutoffSchedule = DEFAULT_SCHEDULE,
    overrides: Mapping[date, CutoffSchedule] = NO_OVERRIDES,
) -> CutoffSchedule:
    """The cut-offs that apply on ``day``: its override if it has one, else the normal schedule."""
    return overrides.get(day, schedule)


def slots_of(
    day: date,
    schedule: CutoffSchedule = DEFAULT_SCHEDULE,
    overrides: Mapping[date, CutoffSchedule] = NO_OVERRIDES,
) -> tuple[WaveSlot, ...]:
    """Every wave of ``day``, earliest first."""
    return _slots(day, schedule_for(day, schedule, overrides).cutoffs)


@functools.lru_cache(maxsize=1024)
def _slots(day: date, cutoffs: tuple[time, ...]) -> tuple[WaveSlot, ...]:
    # Cached: a burst of releases asks for the same few days' slots thousands of times.
    return tuple(
        WaveSlot(day, cutoff, number=i + 1, last_of_day=i == len(cutoffs) - 1)
        for i, cutoff in enumerate(cutoffs)
    )


def slot_for(
    released_at: datetime,
    schedule: CutoffSchedule = DEFAULT_SCHEDULE,
    overrides: Mapping[date, CutoffSchedule] = NO_OVERRIDES,
) -> WaveSlot:
    """The wave an order released at ``released_at`` ships in (LOG-1).

    ``released_at`` must be aware (any zone; it is read in Asia/Shanghai). The first cut-off strictly
    later than the local release time wins; at or after the day's last cut-off the order goes to the first
    wave of the next calendar day, under that day's own schedule.
    """
    if released_at.tzinfo is None or released_at.utcoffset() is None:
        # A naive time could be UTC (as stored) or local (as shown): a guess could misplace it by 8 hours.
        raise InvalidArgument.for_field("released_at", "must carry a time zone (an aware datetime)")
    local = released_at.astimezone(BUSINESS_ZONE)
    day, clock = local.date(), local.time().replace(tzinfo=None)
    for slot in slots_of(day, schedule, overrides):
        if clock < slot.cutoff:  # strictly before: a release at the cut-off itself misses that wave
            return slot
    return slots_of(day + timedelta(days=1), schedule, overrides)[0]


class WaveClock:
    """``slot_for`` over one schedule for many releases (a burst of thousands).

    A release placed in a wave places every later instant before that wave's cut-off in it too: no cut-off
    lies between. So the clock keeps, per wave it has answered, the stretch from the earliest release seen
    to the cut-off, and a release inside a known stretch is placed by comparing two numbers, without
    reading it in the business zone.
    """

    def __init__(
        self,
        schedule: CutoffSchedule = DEFAULT_SCHEDULE,
        overrides: Mapping[date, CutoffSchedule] = NO_OVERRIDES,
    ) -> None:
        self.schedule = schedule
        self.overrides = overrides
        self._known: list[tuple[float, float, WaveSlot]] = []  # (from, cut-off) as POSIX seconds, slot

    def slot_for(self, released_at: datetime) -> WaveSlot:
        """The wave ``released_at`` ships in, as the module's ``slot_for`` decides it."""
        if released_at.tzinfo is None or released_at.utcoffset() is None:
            return slot_for(released_at)  # refused there, naming the field
        at = released_at.timestamp()
        for start, cutoff, slot in self._known:
            if start <= at < cutoff:
                return slot
        slot = slot_for(released_at, self.schedule, self.overrides)
        for i, (start, cutoff, known) in enumerate(self._known):
            if known == slot:  # earlier in a known wave than any release seen yet: the stretch grows
                self._known[i] = (min(start, at), cutoff, slot)
                return slot
        self._known.append((at, slot.cutoff_at.timestamp(), slot))
        return slot


class PrintableParcel(Protocol):
    """The least a parcel must show to be put in print order."""

    @property
    def order_id(self) -> str: ...

    @property
    def carrier_code(self) -> str: ...


@dataclass(frozen=True)
class ParcelToPrint:
    """A minimal parcel view for printing: its order and its carrier."""

    order_id: str
    carrier_code: str


P = TypeVar("P", bound=PrintableParcel)


def print_order(parcels: Iterable[P], slot: WaveSlot) -> list[P]:
    """The order a wave's labels are printed in (LOG-1).

    By order id in every wave; in the day's last wave SF Express parcels come first (each group still by
    order id). The sort is stable, so parcels of one order keep the order they were given in.
    """
    if slot.last_of_day:
        return sorted(parcels, key=lambda p: (p.carrier_code != SF_EXPRESS, p.order_id))
    return sorted(parcels, key=lambda p: p.order_id)


def cutoff_overrides(entries: Sequence[tuple[date, Sequence[time]]]) -> Mapping[date, CutoffSchedule]:
    """Builds validated per-date overrides from ``(day, cut-offs)`` rows (e.g. read from configuration).

    Refuses a day that is not a plain date or is given twice, naming ``overrides[i].day``; each schedule
    is validated as a ``CutoffSchedule`` and its faults are reported under ``overrides[i].<field>``.
    """
    v = Violations()
    built: dict[date, CutoffSchedule] = {}
    for i, (day, cutoffs) in enumerate(entries):
        if not isinstance(day, date) or isinstance(day, datetime):
            # A datetime is a date to the type checker, but as a key it would never match a business day.
            v.add(f"overrides[{i}].day", f"must be a business date, got {day!r}")
            continue
        if day in built:
            v.add(f"overrides[{i}].day", f"{day.isoformat()} is given more than once")
            continue
        try:
            built[day] = CutoffSchedule(tuple(cutoffs))
        except InvalidArgument as err:
            for violation in err.violations:
                v.add(f"overrides[{i}].{violation.field}", violation.description)
    v.raise_if_any()
    return MappingProxyType(built)
