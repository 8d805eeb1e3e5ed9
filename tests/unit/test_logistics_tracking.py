"""LOG-6 tracking: carrier batches checked all or nothing with every fault named, events recorded once per id
and read by time whatever order they arrive in, delivery final, exception cases that cannot be resolved
before the customer is told, and overdue parcels to the second across midnight in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.business_time import BUSINESS_ZONE
from libs.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument
from services.logistics.domain.tracking import (
    DEFAULT_OWNER,
    EXCEPTION_KIND_OF,
    EXCEPTION_STATES,
    MAX_CLOCK_SKEW,
    CaseEntry,
    ContactChannel,
    ExceptionCase,
    ExceptionKind,
    ExceptionOpened,
    ParcelDelivered,
    ParcelToSweep,
    ParcelTracking,
    PushedEvent,
    Resolution,
    TrackingEvent,
    TrackingState,
    checked_batch,
    is_overdue,
    overdue,
    overdue_from,
)

T = TrackingState
K = ExceptionKind
TN = "SF1234567890"
#: The carriers' push arrives at noon UTC (20:00 in Asia/Shanghai).
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def local(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """A moment in December 2026, Asia/Shanghai wall-clock time."""
    return datetime(2026, 12, day, hour, minute, second, micro, tzinfo=BUSINESS_ZONE)


def scan(event_id: str, state: TrackingState, at: datetime, *, tn: str = TN, note: str = "") -> TrackingEvent:
    return TrackingEvent(event_id, tn, state, at, "Hangzhou hub", note)


def pushed(
    event_id: str = "E1",
    *,
    tracking_number: str = TN,
    state: str = "in_transit",
    at: datetime | None = NOW - timedelta(hours=1),
    location: str = "Hangzhou hub",
    note: str = "",
) -> PushedEvent:
    return PushedEvent(event_id, tracking_number, state, at, location, note)


def parcel() -> ParcelTracking:
    return ParcelTracking(TN, dispatched_at=local(1, 10), promised_days=2)


def fields(err: pytest.ExceptionInfo[DomainError]) -> list[str]:
    return [v.field for v in err.value.violations]


# --- states --------------------------------------------------------------------------------------------------


def test_log6_tracking_states_are_lower_case_strings() -> None:
    assert [s.value for s in TrackingState] == [
        "picked_up",
        "in_transit",
        "out_for_delivery",
        "delivered",
        "lost",
        "damaged",
    ]


def test_log6_only_lost_and_damaged_are_exceptions() -> None:
    assert {s for s in TrackingState if s.is_exception} == {T.LOST, T.DAMAGED}
    assert {T.LOST, T.DAMAGED} == EXCEPTION_STATES
    assert dict(EXCEPTION_KIND_OF) == {T.LOST: K.LOST, T.DAMAGED: K.DAMAGED}
    assert [k.value for k in ExceptionKind] == ["lost", "damaged", "delayed"]


# --- one event -----------------------------------------------------------------------------------------------


def test_log6_event_keeps_its_time_in_utc_and_its_ids_without_padding() -> None:
    event = TrackingEvent(" E1 ", f" {TN} ", T.IN_TRANSIT, local(2, 0, 30), " Hangzhou ", " sorted ")

    assert event.event_id == "E1"
    assert event.tracking_number == TN
    assert (event.location, event.note) == ("Hangzhou", "sorted")
    assert event.at == datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
    assert event.at.tzinfo is UTC
    # The same scan read in another zone is the same event.
    assert event == TrackingEvent(
        "E1", TN, T.IN_TRANSIT, datetime(2026, 12, 1, 16, 30, tzinfo=UTC), "Hangzhou", "sorted"
    )


def test_log6_event_refuses_empty_ids_a_foreign_state_and_a_naive_time() -> None:
    with pytest.raises(InvalidArgument) as err:
        TrackingEvent(" ", "", "in_transit", datetime(2026, 12, 1, 12, 0))  # type: ignore[arg-type]
    assert fields(err) == ["event_id", "tracking_number", "state", "at"]


# --- a pushed batch ------------------------------------------------------------------------------------------


def test_log6_batch_of_good_events_keeps_their_order() -> None:
    events = checked_batch(
        [
            pushed("E2", state="in_transit", at=NOW - timedelta(hours=1)),
            pushed("E1", state="picked_up", at=NOW - timedelta(hours=5), location=" Hangzhou "),
            pushed("E9", tracking_number="YT1", state="delivered", at=NOW),
        ],
        now=NOW,
    )

    assert [(e.event_id, e.tracking_number, e.state) for e in events] == [
        ("E2", TN, T.IN_TRANSIT),
        ("E1", TN, T.PICKED_UP),
        ("E9", "YT1", T.DELIVERED),
    ]
    assert events[1].location == "Hangzhou"
    assert events[1].at == NOW - timedelta(hours=5)


def test_log6_an_empty_batch_is_no_events() -> None:
    assert checked_batch([], now=NOW) == []


@pytest.mark.parametrize(
    ("bad", "field", "says"),
    [
        (pushed(""), "events[1].event_id", "required"),
        (pushed(" "), "events[1].event_id", "required"),
        (pushed("E2", tracking_number=""), "events[1].tracking_number", "required"),
        (pushed("E2", tracking_number="  "), "events[1].tracking_number", "required"),
        (pushed("E2", state="signed"), "events[1].state", "'signed'"),
        (pushed("E2", state="DELIVERED"), "events[1].state", "must be one of picked_up"),
        (pushed("E2", state=""), "events[1].state", "must be one of"),
        (pushed("E2", at=None), "events[1].at", "required"),
        (pushed("E2", at=datetime(2026, 12, 1, 11, 0)), "events[1].at", "time zone"),
        (pushed("E2", at=NOW + MAX_CLOCK_SKEW + timedelta(seconds=1)), "events[1].at", "10 minutes ahead"),
        (pushed("E2", at=NOW + timedelta(days=1)), "events[1].at", "ahead of the clock"),
    ],
)
def test_log6_batch_names_the_bad_field_and_records_nothing(bad: PushedEvent, field: str, says: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        checked_batch([pushed("E1"), bad, pushed("E3")], now=NOW)

    assert fields(err) == [field]
    assert says in err.value.violations[0].description
    assert err.value.message.startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("ahead", "accepted"),
    [
        (timedelta(0), True),
        (MAX_CLOCK_SKEW - timedelta(seconds=1), True),
        (MAX_CLOCK_SKEW, True),  # exactly the skew is still a drifting clock
        (MAX_CLOCK_SKEW + timedelta(microseconds=1), False),
        (MAX_CLOCK_SKEW + timedelta(seconds=1), False),
    ],
)
def test_log6_batch_allows_ten_minutes_of_carrier_clock_skew(ahead: timedelta, accepted: bool) -> None:
    assert timedelta(minutes=10) == MAX_CLOCK_SKEW
    batch = [pushed("E1", at=NOW + ahead)]
    if accepted:
        assert checked_batch(batch, now=NOW)[0].at == NOW + ahead
    else:
        with pytest.raises(InvalidArgument) as err:
            checked_batch(batch, now=NOW)
        assert fields(err) == ["events[0].at"]


def test_log6_batch_clock_skew_is_a_parameter() -> None:
    assert checked_batch([pushed("E1", at=NOW)], now=NOW, clock_skew=timedelta(0))
    with pytest.raises(InvalidArgument):
        checked_batch([pushed("E1", at=NOW + timedelta(seconds=1))], now=NOW, clock_skew=timedelta(0))


def test_log6_batch_is_all_or_nothing_and_names_every_fault_at_once() -> None:
    with pytest.raises(InvalidArgument) as err:
        checked_batch(
            [
                pushed("E1"),
                pushed("", tracking_number="", state="gone", at=None),
                pushed("E3"),
                pushed("E4", at=datetime(2026, 12, 1, 9, 0)),
            ],
            now=NOW,
        )

    assert fields(err) == [
        "events[1].event_id",
        "events[1].tracking_number",
        "events[1].state",
        "events[1].at",
        "events[3].at",
    ]
    assert err.value.message.endswith("(and 4 more)")


def test_log6_batch_refuses_an_event_id_twice_with_other_contents() -> None:
    with pytest.raises(InvalidArgument) as err:
        checked_batch(
            [pushed("E1", state="in_transit"), pushed("E2"), pushed("E1", state="delivered")], now=NOW
        )

    assert fields(err) == ["events[2].event_id"]
    assert "events[0]" in err.value.violations[0].description


@pytest.mark.parametrize(
    "other",
    [
        pushed("E1", location="Ningbo hub"),
        pushed("E1", note="left at the door"),
        pushed("E1", tracking_number="YT1"),
        pushed("E1", at=NOW - timedelta(hours=1, seconds=1)),
    ],
)
def test_log6_batch_compares_every_field_of_a_repeated_event_id(other: PushedEvent) -> None:
    with pytest.raises(InvalidArgument) as err:
        checked_batch([pushed("E1"), other], now=NOW)
    assert fields(err) == ["events[1].event_id"]


def test_log6_batch_keeps_an_event_sent_twice_alike_once() -> None:
    same_in_shanghai = pushed(" E1 ", at=(NOW - timedelta(hours=1)).astimezone(BUSINESS_ZONE))

    events = checked_batch([pushed("E1"), pushed("E2"), same_in_shanghai], now=NOW)

    assert [e.event_id for e in events] == ["E1", "E2"]


def test_log6_batch_needs_an_aware_clock() -> None:
    with pytest.raises(InvalidArgument) as err:
        checked_batch([pushed("E1")], now=datetime(2026, 12, 1, 12, 0))
    assert fields(err) == ["now"]


# --- one parcel's events -------------------------------------------------------------------------------------


def test_log6_parcel_refuses_a_bad_start() -> None:
    with pytest.raises(InvalidArgument) as err:
        ParcelTracking(" ", dispatched_at=datetime(2026, 12, 1, 10, 0), promised_days=0)
    assert fields(err) == ["tracking_number", "dispatched_at", "promised_days"]


def test_log6_parcel_without_events_has_no_state() -> None:
    p = parcel()
    assert p.state is None
    assert p.latest is None
    assert not p.delivered
    assert p.delivered_at is None
    assert p.events == ()
    assert p.open_cases == frozenset()


def test_log6_events_in_order_move_the_state_and_delivery_is_reported() -> None:
    p = parcel()

    states = []
    for event in [
        scan("E1", T.PICKED_UP, local(1, 11)),
        scan("E2", T.IN_TRANSIT, local(1, 20)),
        scan("E3", T.OUT_FOR_DELIVERY, local(2, 8)),
    ]:
        assert p.apply(event) == ()
        states.append(p.state)
    assert states == [T.PICKED_UP, T.IN_TRANSIT, T.OUT_FOR_DELIVERY]
    caused = p.apply(scan("E4", T.DELIVERED, local(2, 14)))

    assert caused == (ParcelDelivered(TN, "E4", local(2, 14)),)
    assert caused[0].what == "delivered"
    assert p.state is T.DELIVERED
    assert p.delivered_at == local(2, 14)
    assert [e.event_id for e in p.events] == ["E1", "E2", "E3", "E4"]


def test_log6_state_is_the_latest_event_by_time_not_by_arrival() -> None:
    p = parcel()
    p.apply(scan("E3", T.OUT_FOR_DELIVERY, local(2, 8)))
    p.apply(scan("E1", T.PICKED_UP, local(1, 11)))
    p.apply(scan("E2", T.IN_TRANSIT, local(1, 20)))

    assert p.state is T.OUT_FOR_DELIVERY
    latest = p.latest
    assert latest is not None
    assert latest.event_id == "E3"
    assert [e.event_id for e in p.events] == ["E1", "E2", "E3"]


def test_log6_a_later_scan_does_not_undo_a_delivery() -> None:
    p = parcel()
    p.apply(scan("E4", T.DELIVERED, local(2, 14)))
    assert p.apply(scan("E5", T.IN_TRANSIT, local(2, 18))) == ()

    assert p.state is T.DELIVERED
    latest = p.latest
    assert latest is not None
    assert latest.state is T.IN_TRANSIT  # recorded as it came, yet the state stays delivered


def test_log6_an_exception_does_not_hide_a_later_delivery() -> None:
    p = parcel()
    opened = p.apply(scan("E2", T.LOST, local(2, 9)))
    assert opened == (ExceptionOpened(TN, K.LOST, "E2", local(2, 9)),)
    assert opened[0].what == "exception opened"
    state_while_lost = p.state
    assert state_while_lost is T.LOST

    assert p.apply(scan("E3", T.DELIVERED, local(3, 15))) == (ParcelDelivered(TN, "E3", local(3, 15)),)
    assert p.state is T.DELIVERED
    # The lost case stays open until it is resolved: the parcel does not close it.
    assert p.open_cases == {K.LOST}


def test_log6_damage_reported_after_delivery_opens_a_case_and_the_state_stays_delivered() -> None:
    p = parcel()
    p.apply(scan("E3", T.DELIVERED, local(2, 14)))

    assert p.apply(scan("E4", T.DAMAGED, local(2, 19))) == (
        ExceptionOpened(TN, K.DAMAGED, "E4", local(2, 19)),
    )
    assert p.state is T.DELIVERED


def test_log6_the_same_event_again_changes_nothing() -> None:
    p = parcel()
    p.apply(scan("E1", T.IN_TRANSIT, local(1, 20)))
    p.apply(scan("E2", T.DELIVERED, local(2, 14)))
    before = p.events

    assert p.apply(scan("E2", T.DELIVERED, local(2, 14))) == ()
    # Sent again from another zone, with padding: still the same event.
    assert p.apply(scan(" E2 ", T.DELIVERED, local(2, 14).astimezone(UTC))) == ()
    assert p.events == before
    assert p.state is T.DELIVERED


def test_log6_the_same_event_id_with_other_contents_is_refused_and_changes_nothing() -> None:
    p = parcel()
    p.apply(scan("E1", T.IN_TRANSIT, local(1, 20)))

    with pytest.raises(AlreadyExists) as err:
        p.apply(scan("E1", T.DELIVERED, local(1, 20)))
    assert fields(err) == ["event_id"]
    assert err.value.reason == "TRACKING_EVENT_REUSED"

    with pytest.raises(AlreadyExists) as err:
        p.apply(scan("E1", T.IN_TRANSIT, local(1, 20), note="other"), path="events[4]")
    assert fields(err) == ["events[4].event_id"]

    assert [(e.event_id, e.state) for e in p.events] == [("E1", T.IN_TRANSIT)]
    assert not p.delivered


def test_log6_another_parcels_event_is_refused() -> None:
    p = parcel()
    with pytest.raises(InvalidArgument) as err:
        p.apply(scan("E1", T.DELIVERED, local(2, 14), tn="YT999"), path="events[2]")
    assert fields(err) == ["events[2].tracking_number"]
    assert p.events == ()


def test_log6_delivery_is_reported_the_first_time_only() -> None:
    p = parcel()
    assert p.apply(scan("E4", T.DELIVERED, local(2, 14)))
    # A second delivery scan, earlier in time and arriving late: recorded, not reported again.
    assert p.apply(scan("E3", T.DELIVERED, local(2, 11))) == ()
    assert p.delivered_at == local(2, 11)
    assert p.state is T.DELIVERED


def test_log6_an_exception_opens_once_per_kind_while_its_case_is_open() -> None:
    p = parcel()
    assert p.apply(scan("E1", T.LOST, local(2, 9))) == (ExceptionOpened(TN, K.LOST, "E1", local(2, 9)),)
    assert p.apply(scan("E2", T.LOST, local(2, 10))) == ()
    assert p.apply(scan("E3", T.DAMAGED, local(2, 11))) == (
        ExceptionOpened(TN, K.DAMAGED, "E3", local(2, 11)),
    )
    assert p.apply(scan("E4", T.DAMAGED, local(2, 12))) == ()
    assert p.open_cases == {K.LOST, K.DAMAGED}

    p.case_resolved(K.LOST)
    assert p.open_cases == {K.DAMAGED}
    assert p.apply(scan("E5", T.LOST, local(3, 9))) == (ExceptionOpened(TN, K.LOST, "E5", local(3, 9)),)
    assert p.apply(scan("E6", T.DAMAGED, local(3, 10))) == ()


def test_log6_a_case_noted_as_open_is_not_opened_again() -> None:
    p = parcel()
    p.case_opened(K.LOST)
    p.case_opened(K.LOST)
    assert p.apply(scan("E1", T.LOST, local(2, 9))) == ()
    p.case_resolved(K.DAMAGED)  # none open of that kind: nothing changes
    assert p.open_cases == {K.LOST}


def test_log6_a_restored_parcel_keeps_its_events_and_exactly_its_open_cases() -> None:
    recorded = [scan("E2", T.LOST, local(2, 9)), scan("E1", T.IN_TRANSIT, local(1, 20))]

    # The lost case of E2 was resolved since: a new lost scan opens a new case.
    resolved = ParcelTracking.restore(
        TN, dispatched_at=local(1, 10), promised_days=2, events=recorded, open_cases=[K.DELAYED]
    )
    assert [e.event_id for e in resolved.events] == ["E1", "E2"]
    assert resolved.state is T.LOST
    assert resolved.open_cases == {K.DELAYED}
    assert resolved.apply(scan("E3", T.LOST, local(3, 9))) == (
        ExceptionOpened(TN, K.LOST, "E3", local(3, 9)),
    )

    still_open = ParcelTracking.restore(
        TN, dispatched_at=local(1, 10), promised_days=2, events=recorded, open_cases=[K.LOST]
    )
    assert still_open.apply(scan("E3", T.LOST, local(3, 9))) == ()
    assert still_open.apply(scan("E2", T.LOST, local(2, 9))) == ()


def test_log6_restoring_refuses_another_parcels_event() -> None:
    with pytest.raises(InvalidArgument) as err:
        ParcelTracking.restore(
            TN,
            dispatched_at=local(1, 10),
            promised_days=2,
            events=[scan("E1", T.IN_TRANSIT, local(1, 20)), scan("E2", T.LOST, local(2, 9), tn="YT1")],
            open_cases=[],
        )
    assert fields(err) == ["events[1].tracking_number"]


def test_log6_a_delayed_case_is_noted_on_the_parcel() -> None:
    p = parcel()
    assert not p.delayed_case_open
    p.case_opened(K.DELAYED)
    assert p.delayed_case_open
    p.case_resolved(K.DELAYED)
    assert not p.delayed_case_open


@pytest.mark.parametrize("first_arrives", ["E1", "E2"])
def test_log6_at_the_same_instant_the_scan_further_along_wins(first_arrives: str) -> None:
    scans = {"E1": scan("E1", T.OUT_FOR_DELIVERY, local(2, 8)), "E2": scan("E2", T.IN_TRANSIT, local(2, 8))}
    p = parcel()
    p.apply(scans[first_arrives])
    p.apply(scans["E2" if first_arrives == "E1" else "E1"])

    assert p.state is T.OUT_FOR_DELIVERY
    assert [e.event_id for e in p.events] == ["E2", "E1"]


#: A parcel's whole journey: lost at the hub, found, delivered twice (a re-scan), scanned late, damaged.
JOURNEY = [
    scan("E1", T.PICKED_UP, local(1, 11)),
    scan("E2", T.IN_TRANSIT, local(1, 20)),
    scan("E3", T.LOST, local(2, 6)),
    scan("E4", T.OUT_FOR_DELIVERY, local(3, 8)),
    scan("E5", T.DELIVERED, local(3, 14)),
    scan("E6", T.DELIVERED, local(3, 14, 5)),
    scan("E7", T.IN_TRANSIT, local(3, 18)),
    scan("E8", T.DAMAGED, local(3, 19)),
]


@settings(max_examples=200, deadline=None)
@given(st.permutations(JOURNEY + JOURNEY[2:6]))
def test_log6_property_arrival_order_and_repeats_do_not_change_the_outcome(
    arrivals: list[TrackingEvent],
) -> None:
    p = parcel()
    caused = [outcome for event in arrivals for outcome in p.apply(event)]

    assert p.state is T.DELIVERED
    assert p.events == tuple(JOURNEY)
    assert p.delivered_at == local(3, 14)
    assert sorted(o.what for o in caused) == ["delivered", "exception opened", "exception opened"]
    assert {o.kind for o in caused if isinstance(o, ExceptionOpened)} == {K.LOST, K.DAMAGED}
    assert p.open_cases == {K.LOST, K.DAMAGED}


@settings(max_examples=100, deadline=None)
@given(st.permutations(JOURNEY[:4]))
def test_log6_property_undelivered_state_is_the_latest_by_time(arrivals: list[TrackingEvent]) -> None:
    p = parcel()
    for event in arrivals:
        p.apply(event)
    assert p.state is T.OUT_FOR_DELIVERY


# --- exception cases -----------------------------------------------------------------------------------------

OPENED = local(4, 9)


def new_case(kind: ExceptionKind = K.LOST) -> ExceptionCase:
    return ExceptionCase.open("C1", TN, kind, actor="tracking", at=OPENED, note="scan E3")


TOLD = local(4, 10)


def told(case: ExceptionCase, at: datetime = TOLD) -> ExceptionCase:
    case.record_customer_told(ContactChannel.PLATFORM_CHAT, "parcel lost, we reship", actor="bob", at=at)
    return case


def test_log6_a_new_case_belongs_to_the_logistics_clerks() -> None:
    case = new_case()

    assert DEFAULT_OWNER == "logistics_clerk"
    assert case.owner == "logistics_clerk"
    assert (case.case_id, case.tracking_number, case.kind, case.opened_at) == ("C1", TN, K.LOST, OPENED)
    assert case.is_open
    assert not case.customer_told
    assert case.resolution is None
    assert case.history == (CaseEntry(OPENED, "tracking", "opened", "lost: scan E3"),)


def test_log6_a_case_may_open_with_a_person_as_owner() -> None:
    case = ExceptionCase.open("C2", TN, K.DELAYED, actor="sweeper", at=OPENED, owner="alice")
    assert case.owner == "alice"
    assert case.history == (CaseEntry(OPENED, "sweeper", "opened", "delayed"),)


def test_log6_opening_a_case_names_every_bad_argument() -> None:
    with pytest.raises(InvalidArgument) as err:
        ExceptionCase.open("C1", TN, K.LOST, actor=" ", at=datetime(2026, 12, 4, 9, 0))
    assert fields(err) == ["actor", "at"]

    with pytest.raises(InvalidArgument) as err:
        ExceptionCase.open(" ", "", K.LOST, actor="tracking", at=OPENED, owner="")
    assert fields(err) == ["case_id", "tracking_number", "owner"]


def test_log6_assigning_gives_the_case_to_a_person_and_records_it() -> None:
    case = new_case()
    case.assign(" alice ", actor="lead", at=local(4, 9, 30))

    assert case.owner == "alice"
    assert case.history[-1] == CaseEntry(local(4, 9, 30), "lead", "assigned", "logistics_clerk -> alice")

    case.assign("alice", actor="lead", at=local(4, 9, 40))  # to its owner already: nothing changes
    assert len(case.history) == 2

    case.assign(DEFAULT_OWNER, actor="alice", at=local(4, 9, 50))  # handed back to the role
    assert case.owner == DEFAULT_OWNER
    assert len(case.history) == 3


def test_log6_assigning_to_nobody_is_refused() -> None:
    case = new_case()
    with pytest.raises(InvalidArgument) as err:
        case.assign("  ", actor="lead", at=local(4, 9, 30))
    assert fields(err) == ["owner"]
    assert case.owner == DEFAULT_OWNER
    assert len(case.history) == 1


def test_log6_telling_the_customer_is_recorded_each_time_and_the_first_time_kept() -> None:
    case = new_case()
    case.record_customer_told(ContactChannel.PHONE, "parcel is lost", actor="bob", at=local(4, 10))
    case.record_customer_told(ContactChannel.SMS, "reship on its way", actor="bob", at=local(4, 16))

    assert case.customer_told
    assert case.customer_told_at == local(4, 10)
    assert case.history[1:] == (
        CaseEntry(local(4, 10), "bob", "customer told", "phone: parcel is lost"),
        CaseEntry(local(4, 16), "bob", "customer told", "sms: reship on its way"),
    )


def test_log6_telling_the_customer_says_what_was_told() -> None:
    case = new_case()
    with pytest.raises(InvalidArgument) as err:
        case.record_customer_told(ContactChannel.PHONE, " ", actor="bob", at=local(4, 10))
    assert fields(err) == ["note"]
    assert not case.customer_told
    assert len(case.history) == 1


def test_log6_a_case_cannot_be_resolved_before_the_customer_is_told() -> None:
    case = new_case()
    with pytest.raises(FailedPrecondition) as err:
        case.resolve(Resolution.RESHIP, actor="alice", at=local(4, 11))

    assert fields(err) == ["case_id"]
    assert err.value.reason == "CUSTOMER_NOT_TOLD"
    assert case.is_open
    assert case.resolved_at is None
    assert len(case.history) == 1


def test_log6_a_case_cannot_be_resolved_at_a_time_before_the_customer_was_told() -> None:
    case = told(new_case(), at=local(4, 12))
    with pytest.raises(FailedPrecondition) as err:
        case.resolve(Resolution.REFUND, actor="alice", at=local(4, 11, 59, 59))
    assert err.value.reason == "CUSTOMER_NOT_TOLD"

    case.resolve(Resolution.REFUND, actor="alice", at=local(4, 12))  # the same second is after telling
    assert case.resolution is Resolution.REFUND


@pytest.mark.parametrize("resolution", list(Resolution))
def test_log6_a_told_case_is_resolved_by_reship_refund_or_carrier_claim(resolution: Resolution) -> None:
    case = told(new_case())
    case.resolve(resolution, " claim 778 ", actor="alice", at=local(4, 12))

    assert [r.value for r in Resolution] == ["reship", "refund", "carrier_claim"]
    assert case.resolution is resolution
    assert case.resolved_at == local(4, 12)
    assert not case.is_open
    assert case.history[-1] == CaseEntry(local(4, 12), "alice", "resolved", f"{resolution.value}: claim 778")


def test_log6_resolving_again_the_same_way_changes_nothing() -> None:
    case = told(new_case())
    case.resolve(Resolution.RESHIP, actor="alice", at=local(4, 12))
    history = case.history

    case.resolve(Resolution.RESHIP, "retry", actor="carol", at=local(5, 9))

    assert case.history == history
    assert case.resolved_at == local(4, 12)
    assert case.history[-1].detail == "reship"


def test_log6_resolving_again_another_way_is_refused() -> None:
    case = told(new_case())
    case.resolve(Resolution.RESHIP, actor="alice", at=local(4, 12))

    with pytest.raises(FailedPrecondition) as err:
        case.resolve(Resolution.REFUND, actor="alice", at=local(4, 13))

    assert fields(err) == ["resolution"]
    assert err.value.reason == "CASE_RESOLVED"
    assert case.resolution is Resolution.RESHIP
    assert len(case.history) == 3


@pytest.mark.parametrize(
    "command",
    [
        lambda c: c.assign("dave", actor="lead", at=local(5, 9)),
        lambda c: c.record_customer_told(ContactChannel.EMAIL, "done", actor="bob", at=local(5, 9)),
    ],
    ids=["assign", "record_customer_told"],
)
def test_log6_a_resolved_case_takes_no_further_command(command) -> None:
    case = told(new_case())
    case.resolve(Resolution.CARRIER_CLAIM, actor="alice", at=local(4, 12))
    history = case.history

    with pytest.raises(FailedPrecondition) as err:
        command(case)

    assert fields(err) == ["case_id"]
    assert err.value.reason == "CASE_RESOLVED"
    assert case.history == history
    assert case.owner == DEFAULT_OWNER


COMMANDS = {
    "assign": lambda c, actor, at: c.assign("dave", actor=actor, at=at),
    "record_customer_told": lambda c, actor, at: c.record_customer_told(
        ContactChannel.PHONE, "lost", actor=actor, at=at
    ),
    "resolve": lambda c, actor, at: c.resolve(Resolution.RESHIP, actor=actor, at=at),
}


@pytest.mark.parametrize("name", list(COMMANDS))
@pytest.mark.parametrize(
    ("actor", "at", "field"),
    [
        ("", local(4, 12), "actor"),
        ("   ", local(4, 12), "actor"),
        ("alice", datetime(2026, 12, 4, 12, 0), "at"),
        ("alice", OPENED - timedelta(seconds=1), "at"),
    ],
)
def test_log6_every_command_needs_an_actor_and_a_time_after_opening(
    name: str, actor: str, at: datetime, field: str
) -> None:
    case = told(new_case())
    history = case.history

    with pytest.raises(InvalidArgument) as err:
        COMMANDS[name](case, actor, at)

    assert fields(err) == [field]
    assert case.history == history
    assert case.is_open
    assert case.owner == DEFAULT_OWNER


@pytest.mark.parametrize("name", list(COMMANDS))
def test_log6_every_command_may_act_at_the_opening_second(name: str) -> None:
    case = told(new_case(), at=OPENED)
    COMMANDS[name](case, "alice", OPENED)
    assert case.history[-1].at == OPENED


def test_log6_every_command_records_who_did_what_and_when() -> None:
    case = new_case()
    case.assign("alice", actor="lead", at=local(4, 9, 30))
    case.record_customer_told(ContactChannel.PHONE, "lost; reship", actor="alice", at=local(4, 10))
    case.resolve(Resolution.RESHIP, "new parcel SF999", actor="alice", at=local(4, 11))

    assert [(e.what, e.actor, e.at) for e in case.history] == [
        ("opened", "tracking", OPENED),
        ("assigned", "lead", local(4, 9, 30)),
        ("customer told", "alice", local(4, 10)),
        ("resolved", "alice", local(4, 11)),
    ]


def test_log6_a_stored_case_resolved_untold_does_not_load() -> None:
    with pytest.raises(InvalidArgument) as err:
        ExceptionCase("C1", TN, K.LOST, OPENED, resolution=Resolution.REFUND, resolved_at=local(4, 12))
    assert fields(err) == ["customer_told_at"]

    with pytest.raises(InvalidArgument) as err:
        ExceptionCase("C1", TN, K.LOST, OPENED, customer_told_at=local(4, 10), resolution=Resolution.REFUND)
    assert fields(err) == ["resolved_at"]


# --- overdue -------------------------------------------------------------------------------------------------


def test_log6_promised_days_count_calendar_days_from_the_dispatch_date() -> None:
    # Dispatched 1 December with 2 days promised: due by the end of 3 December, late from midnight.
    assert overdue_from(local(1, 10), 2) == local(4, 0)
    assert overdue_from(local(1, 0, 0, 0), 2) == local(4, 0)
    assert overdue_from(local(1, 23, 59, 59), 2) == local(4, 0)
    assert overdue_from(local(1, 10), 1) == local(3, 0)


@pytest.mark.parametrize(
    ("now", "late"),
    [
        (local(1, 10), False),
        (local(3, 12), False),
        (local(3, 23, 59, 59), False),  # the last second of the last promised day
        (local(3, 23, 59, 59, 999_999), False),
        (local(4, 0, 0, 0), True),  # the first second after it
        (local(4, 0, 0, 1), True),
        (local(9, 12), True),
    ],
)
def test_log6_a_parcel_is_due_by_the_end_of_its_last_promised_day(now: datetime, late: bool) -> None:
    assert is_overdue(local(1, 10), 2, now) is late


@pytest.mark.parametrize(
    ("now", "late"),
    [
        (datetime(2026, 12, 3, 15, 59, 59, tzinfo=UTC), False),  # 23:59:59 in Shanghai on 3 December
        (datetime(2026, 12, 3, 16, 0, 0, tzinfo=UTC), True),  # 00:00:00 in Shanghai on 4 December
    ],
)
def test_log6_dispatch_after_midnight_in_shanghai_counts_from_the_shanghai_date(
    now: datetime, late: bool
) -> None:
    # 16:30 UTC on 1 December is 00:30 on 2 December in Asia/Shanghai: the count starts on 2 December.
    dispatched = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
    assert overdue_from(dispatched, 1) == local(4, 0)
    assert is_overdue(dispatched, 1, now) is late


def test_log6_dispatch_before_midnight_in_shanghai_counts_from_that_day() -> None:
    # 15:59:59 UTC is 23:59:59 in Shanghai, still 1 December: one second later is a day later.
    assert overdue_from(datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC), 1) == local(3, 0)
    assert overdue_from(datetime(2026, 12, 1, 16, 0, 0, tzinfo=UTC), 1) == local(4, 0)
    assert is_overdue(
        datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC), 1, datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    )
    assert not is_overdue(
        datetime(2026, 12, 1, 16, 0, 0, tzinfo=UTC), 1, datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    )


def test_log6_the_business_zone_is_a_parameter() -> None:
    dispatched = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
    assert overdue_from(dispatched, 1, tz=UTC) == datetime(2026, 12, 3, tzinfo=UTC)
    assert is_overdue(dispatched, 1, datetime(2026, 12, 3, 0, 0, tzinfo=UTC), tz=UTC)
    assert not is_overdue(dispatched, 1, datetime(2026, 12, 3, 0, 0, tzinfo=UTC))
    plus_two = timezone(timedelta(hours=2))
    assert overdue_from(dispatched, 1, tz=plus_two) == datetime(2026, 12, 3, tzinfo=plus_two)


@pytest.mark.parametrize("days", [0, -1, 366, True, 1.5, "2"])
def test_log6_promised_days_must_be_whole_days_from_one(days: object) -> None:
    with pytest.raises(InvalidArgument) as err:
        is_overdue(local(1, 10), days, local(9, 10))  # type: ignore[arg-type]
    assert fields(err) == ["promised_days"]


def test_log6_a_whole_year_may_be_promised() -> None:
    assert not is_overdue(local(1, 10), 365, local(9, 10))


def test_log6_overdue_needs_aware_times() -> None:
    with pytest.raises(InvalidArgument) as err:
        is_overdue(datetime(2026, 12, 1, 10, 0), 2, local(9, 10))
    assert fields(err) == ["dispatched_at"]
    with pytest.raises(InvalidArgument) as err:
        is_overdue(local(1, 10), 2, datetime(2026, 12, 9, 10, 0))
    assert fields(err) == ["now"]
    with pytest.raises(InvalidArgument) as err:
        overdue([], datetime(2026, 12, 9, 10, 0))
    assert fields(err) == ["now"]


def test_log6_sweeper_finds_overdue_undelivered_parcels_without_a_delayed_case() -> None:
    late = ParcelToSweep("A", local(1, 10), 2)
    delivered = ParcelToSweep("B", local(1, 10), 2, delivered=True)
    delayed_open = ParcelToSweep("C", local(1, 10), 2, delayed_case_open=True)
    on_time = ParcelToSweep("D", local(2, 10), 2)
    late_too = ParcelToSweep("E", local(1, 23, 59, 59), 2)
    after_midnight = ParcelToSweep("F", datetime(2026, 12, 1, 16, 0, tzinfo=UTC), 2)  # 2 December, local

    found = overdue([late_too, late, delivered, delayed_open, on_time, after_midnight], local(4, 0))

    assert [p.tracking_number for p in found] == ["E", "A"]
    assert overdue([late, on_time], local(3, 23, 59, 59)) == []
    assert overdue([], local(4, 0)) == []


def test_log6_sweeper_reads_parcel_tracking_directly() -> None:
    lost = parcel()
    lost.apply(scan("E1", T.LOST, local(2, 9)))
    delivered_late = ParcelTracking("YT2", dispatched_at=local(1, 10), promised_days=2)
    delivered_late.apply(scan("E2", T.DELIVERED, local(4, 9), tn="YT2"))
    flagged = ParcelTracking("YT3", dispatched_at=local(1, 10), promised_days=2)
    flagged.case_opened(K.DELAYED)

    # A lost parcel is still undelivered past its promise: the sweeper lists it too.
    assert overdue([lost, delivered_late, flagged], local(4, 12)) == [lost]

    lost.case_opened(K.DELAYED)
    assert overdue([lost, delivered_late, flagged], local(4, 12)) == []
