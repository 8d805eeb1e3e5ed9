"""LOG-1 waves: every cut-off boundary, the next-day roll-over, per-date overrides, time zones, and SF Express
printed first only in the last wave of the day."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest

from libs.business_time import BUSINESS_ZONE
from libs.errors import InvalidArgument
from services.logistics.domain.waves import (
    DEFAULT_CUTOFFS,
    DEFAULT_SCHEDULE,
    CutoffSchedule,
    ParcelToPrint,
    WaveClock,
    WaveSlot,
    cutoff_overrides,
    print_order,
    slot_for,
    slots_of,
)

DAY = date(2026, 12, 1)
NEXT_DAY = DAY + timedelta(days=1)
#: A promotion day (双十二) with its own, later schedule.
PROMO_DAY = date(2026, 12, 12)
PROMO = CutoffSchedule((time(9, 0), time(13, 0), time(20, 0), time(23, 0)))
OVERRIDES = {PROMO_DAY: PROMO}


def local(day: date, hour: int, minute: int, second: int = 0, micro: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=BUSINESS_ZONE)


def wave(day: date, hour: int, minute: int) -> tuple[date, time]:
    return day, time(hour, minute)


def key(slot: WaveSlot) -> tuple[date, time]:
    return slot.day, slot.cutoff


# --- the schedule is data, validated ---------------------------------------------------------------------


def test_log1_default_schedule_is_the_five_seed_cutoffs() -> None:
    assert DEFAULT_SCHEDULE.cutoffs == (time(10, 30), time(12, 0), time(14, 30), time(16, 30), time(17, 30))
    assert DEFAULT_SCHEDULE.cutoffs == DEFAULT_CUTOFFS
    assert DEFAULT_SCHEDULE.last == time(17, 30)


@pytest.mark.parametrize(
    ("cutoffs", "field"),
    [
        ((), "cutoffs"),
        ((time(12, 0), time(10, 30)), "cutoffs[1]"),
        ((time(10, 30), time(10, 30)), "cutoffs[1]"),
        ((time(10, 30, 15),), "cutoffs[0]"),
        ((time(0, 0), time(10, 30)), "cutoffs[0]"),
        ((time(10, 30, tzinfo=UTC),), "cutoffs[0]"),
    ],
    ids=["empty", "unsorted", "duplicate", "seconds", "midnight", "zoned"],
)
def test_log1_invalid_schedules_are_refused_naming_the_field(cutoffs: tuple[time, ...], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        CutoffSchedule(cutoffs)
    assert [v.field for v in caught.value.violations] == [field]


def test_log1_overrides_built_from_rows_are_validated_naming_the_row() -> None:
    built = cutoff_overrides([(PROMO_DAY, PROMO.cutoffs)])
    assert built[PROMO_DAY] == PROMO
    with pytest.raises(InvalidArgument) as caught:
        cutoff_overrides(
            [
                (PROMO_DAY, PROMO.cutoffs),
                (PROMO_DAY, DEFAULT_CUTOFFS),
                (DAY, (time(12, 0), time(11, 0))),
                (datetime(2026, 12, 2, tzinfo=UTC), DEFAULT_CUTOFFS),
            ]
        )
    assert [v.field for v in caught.value.violations] == [
        "overrides[1].day",
        "overrides[2].cutoffs[1]",
        "overrides[3].day",
    ]


# --- slot_for: every boundary ------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(DEFAULT_CUTOFFS)))
def test_log1_just_before_each_cutoff_joins_that_wave(index: int) -> None:
    cutoff = DEFAULT_CUTOFFS[index]
    released = local(DAY, cutoff.hour, cutoff.minute) - timedelta(microseconds=1)
    slot = slot_for(released)
    assert key(slot) == (DAY, cutoff)
    assert slot.number == index + 1


@pytest.mark.parametrize("index", range(len(DEFAULT_CUTOFFS) - 1))
def test_log1_exactly_at_and_just_after_a_cutoff_join_the_next_wave(index: int) -> None:
    cutoff, following = DEFAULT_CUTOFFS[index], DEFAULT_CUTOFFS[index + 1]
    at = local(DAY, cutoff.hour, cutoff.minute)
    assert key(slot_for(at)) == (DAY, following)
    assert key(slot_for(at + timedelta(seconds=1))) == (DAY, following)


def test_log1_released_at_1030_exactly_goes_to_the_1200_wave() -> None:
    assert slot_for(local(DAY, 10, 30)).wave_code == "2026-12-01T12:00"
    assert slot_for(local(DAY, 10, 29, 59, 999_999)).wave_code == "2026-12-01T10:30"


@pytest.mark.parametrize(
    "released",
    [local(DAY, 17, 30), local(DAY, 17, 30, 1), local(DAY, 20, 0), local(DAY, 23, 59, 59, 999_999)],
    ids=["at-last", "just-after-last", "evening", "last-instant"],
)
def test_log1_at_or_after_the_last_cutoff_goes_to_the_next_days_first_wave(released: datetime) -> None:
    slot = slot_for(released)
    assert key(slot) == wave(NEXT_DAY, 10, 30)
    assert slot.number == 1
    assert slot.wave_code == "2026-12-02T10:30"


def test_log1_midnight_belongs_to_the_new_days_first_wave() -> None:
    assert key(slot_for(local(NEXT_DAY, 0, 0))) == wave(NEXT_DAY, 10, 30)
    assert key(slot_for(local(DAY, 23, 59, 59))) == wave(NEXT_DAY, 10, 30)


def test_log1_roll_over_crosses_month_and_year_ends() -> None:
    assert key(slot_for(local(date(2026, 12, 31), 18, 0))) == wave(date(2027, 1, 1), 10, 30)


def test_log1_an_override_day_runs_its_own_schedule() -> None:
    assert key(slot_for(local(PROMO_DAY, 8, 59), overrides=OVERRIDES)) == wave(PROMO_DAY, 9, 0)
    assert key(slot_for(local(PROMO_DAY, 9, 0), overrides=OVERRIDES)) == wave(PROMO_DAY, 13, 0)
    # 17:30 is no cut-off on the promotion day: the 20:00 wave is still open.
    assert key(slot_for(local(PROMO_DAY, 17, 30), overrides=OVERRIDES)) == wave(PROMO_DAY, 20, 0)
    last = slot_for(local(PROMO_DAY, 22, 59), overrides=OVERRIDES)
    assert key(last) == wave(PROMO_DAY, 23, 0)
    assert last.last_of_day and last.number == 4
    # After the override's last cut-off the next (ordinary) day's first wave takes over.
    assert key(slot_for(local(PROMO_DAY, 23, 0), overrides=OVERRIDES)) == wave(
        PROMO_DAY + timedelta(1), 10, 30
    )


def test_log1_the_day_before_an_override_rolls_into_the_override_days_first_wave() -> None:
    eve = PROMO_DAY - timedelta(days=1)
    assert key(slot_for(local(eve, 23, 59), overrides=OVERRIDES)) == wave(PROMO_DAY, 9, 0)
    assert key(slot_for(local(eve, 17, 30), overrides=OVERRIDES)) == wave(PROMO_DAY, 9, 0)
    # ... and without the override the same release goes to the ordinary 10:30 wave.
    assert key(slot_for(local(eve, 23, 59))) == wave(PROMO_DAY, 10, 30)
    # Before the eve's own last cut-off the eve's ordinary schedule still applies.
    assert key(slot_for(local(eve, 17, 29), overrides=OVERRIDES)) == wave(eve, 17, 30)


def _boundaries(days: list[date]) -> list[datetime]:
    """Every cut-off of ``days`` (normal and override schedules), a microsecond before, at and after."""
    found = []
    for day in days:
        for cutoff in (*DEFAULT_CUTOFFS, *PROMO.cutoffs):
            at = local(day, cutoff.hour, cutoff.minute)
            found += [at - timedelta(microseconds=1), at, at + timedelta(microseconds=1)]
    return found


@pytest.mark.parametrize("seed", range(5))
def test_log1_a_wave_clock_places_a_burst_as_slot_for_does(seed: int) -> None:
    """A burst's releases placed through one clock land where ``slot_for`` puts each of them, whatever
    order they come in: boundaries to the microsecond, midnight, an override day and its eve, UTC."""
    days = [PROMO_DAY - timedelta(days=1), PROMO_DAY, PROMO_DAY + timedelta(days=1)]
    rng = random.Random(seed)
    start = local(days[0], 0, 0)
    spread = [start + timedelta(seconds=rng.uniform(0, 3 * 86_400)) for _ in range(2_000)]
    releases = [*_boundaries(days), *spread, *(r.astimezone(UTC) for r in spread[:200])]
    rng.shuffle(releases)
    clock = WaveClock(DEFAULT_SCHEDULE, OVERRIDES)
    for released in releases:
        assert clock.slot_for(released) == slot_for(released, overrides=OVERRIDES), released
    # Sorted as a burst mostly arrives: the same answers from a fresh clock.
    clock = WaveClock(DEFAULT_SCHEDULE, OVERRIDES)
    for released in sorted(releases):
        assert clock.slot_for(released) == slot_for(released, overrides=OVERRIDES), released


def test_log1_a_wave_clock_refuses_naive_times_naming_the_field() -> None:
    clock = WaveClock()
    clock.slot_for(local(DAY, 9, 0))  # a stretch 09:00-10:30 is known; a naive 10:00 is still refused
    with pytest.raises(InvalidArgument) as refused:
        clock.slot_for(datetime(2026, 12, 1, 10, 0))
    assert refused.value.violations[0].field == "released_at"


def test_log1_a_custom_normal_schedule_is_used_on_ordinary_days() -> None:
    two_waves = CutoffSchedule((time(11, 0), time(16, 0)))
    assert key(slot_for(local(DAY, 10, 59), two_waves)) == wave(DAY, 11, 0)
    assert key(slot_for(local(DAY, 16, 0), two_waves)) == wave(NEXT_DAY, 11, 0)
    assert key(slot_for(local(PROMO_DAY, 10, 0), two_waves, OVERRIDES)) == wave(PROMO_DAY, 13, 0)


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 12, 1, 2, 29, 59, tzinfo=UTC), wave(DAY, 10, 30)),  # 10:29:59 Shanghai
        (datetime(2026, 12, 1, 2, 30, tzinfo=UTC), wave(DAY, 12, 0)),  # 10:30:00 Shanghai
        (datetime(2026, 12, 1, 9, 29, tzinfo=UTC), wave(DAY, 17, 30)),  # 17:29 Shanghai
        (datetime(2026, 12, 1, 9, 30, tzinfo=UTC), wave(NEXT_DAY, 10, 30)),  # 17:30 Shanghai
        # 23:00 UTC on 30 Nov is already 07:00 on 1 Dec in Shanghai: the business day is 1 Dec.
        (datetime(2026, 11, 30, 23, 0, tzinfo=UTC), wave(DAY, 10, 30)),
        # 16:00 UTC is midnight in Shanghai.
        (datetime(2026, 11, 30, 16, 0, tzinfo=UTC), wave(DAY, 10, 30)),
        (datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC), wave(DAY, 10, 30)),
    ],
)
def test_log1_utc_inputs_are_read_in_asia_shanghai(utc: datetime, expected: tuple[date, time]) -> None:
    assert key(slot_for(utc)) == expected


def test_log1_utc_release_on_the_eve_of_an_override_day() -> None:
    eve_2359_shanghai = datetime(2026, 12, 11, 15, 59, tzinfo=UTC)
    assert key(slot_for(eve_2359_shanghai, overrides=OVERRIDES)) == wave(PROMO_DAY, 9, 0)


def test_log1_naive_release_times_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        slot_for(datetime(2026, 12, 1, 10, 0))
    assert [v.field for v in caught.value.violations] == ["released_at"]


# --- slots ------------------------------------------------------------------------------------------------


def test_log1_wave_slots_order_by_day_then_cutoff_with_stable_codes() -> None:
    today = slots_of(DAY)
    assert [s.wave_code for s in today] == [
        "2026-12-01T10:30",
        "2026-12-01T12:00",
        "2026-12-01T14:30",
        "2026-12-01T16:30",
        "2026-12-01T17:30",
    ]
    assert [s.number for s in today] == [1, 2, 3, 4, 5]
    assert [s.last_of_day for s in today] == [False, False, False, False, True]
    tomorrow_first = slots_of(NEXT_DAY)[0]
    assert sorted([tomorrow_first, *reversed(today)]) == [*today, tomorrow_first]
    assert today[-1] < tomorrow_first
    assert slot_for(local(DAY, 9, 0)) == today[0]


def test_log1_a_wave_number_starts_at_one() -> None:
    with pytest.raises(InvalidArgument):
        WaveSlot(DAY, time(10, 30), number=0, last_of_day=False)


# --- print order -------------------------------------------------------------------------------------------

PARCELS = [
    ParcelToPrint("O-3", "yto"),
    ParcelToPrint("O-1", "zto"),
    ParcelToPrint("O-4", "sf"),
    ParcelToPrint("O-2", "sf"),
    ParcelToPrint("O-1", "sf"),
]


def test_log1_sf_express_is_printed_first_in_the_last_wave() -> None:
    last = slots_of(DAY)[-1]
    assert [(p.order_id, p.carrier_code) for p in print_order(PARCELS, last)] == [
        ("O-1", "sf"),
        ("O-2", "sf"),
        ("O-4", "sf"),
        ("O-1", "zto"),
        ("O-3", "yto"),
    ]


@pytest.mark.parametrize("index", range(len(DEFAULT_CUTOFFS) - 1))
def test_log1_other_waves_print_by_order_id_without_sf_priority(index: int) -> None:
    slot = slots_of(DAY)[index]
    assert [(p.order_id, p.carrier_code) for p in print_order(PARCELS, slot)] == [
        ("O-1", "zto"),  # stable: two parcels of O-1 keep their given order
        ("O-1", "sf"),
        ("O-2", "sf"),
        ("O-3", "yto"),
        ("O-4", "sf"),
    ]


def test_log1_sf_first_follows_the_days_last_wave_not_the_clock_1730() -> None:
    promo_waves = slots_of(PROMO_DAY, overrides=OVERRIDES)
    assert print_order(PARCELS, promo_waves[-1])[0] == ParcelToPrint("O-1", "sf")
    # The 13:00 promotion wave is not the last one: no SF priority.
    assert print_order(PARCELS, promo_waves[1])[0] == ParcelToPrint("O-1", "zto")
    assert print_order([], promo_waves[-1]) == []
