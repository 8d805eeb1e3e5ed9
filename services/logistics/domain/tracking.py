"""Parcel tracking and exception cases (LOG-6).

Carriers push tracking events (物流轨迹) in batches. A batch is checked as a whole before anything of it is
recorded (``checked_batch``): every fault is named ``events[i].<field>``, and one bad item refuses the
whole batch. Each parcel keeps its events (``ParcelTracking``), recorded once per carrier event id. Carriers
send late and out of order, so the parcel's state is that of its latest event by time, except that a
delivery, once scanned, stays the state.

An exception (lost, damaged, or delayed past the carrier's promise) opens an ``ExceptionCase``. The logistics
clerks own it until it is assigned to a person; the customer is told; only then is it resolved by a
reship, a refund or a claim against the carrier. The sweeper finds the delayed parcels with ``overdue``.

Nothing here reads or writes anywhere.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from types import MappingProxyType
from typing import ClassVar, Protocol, TypeVar

from libs.business_time import BUSINESS_ZONE
from libs.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, Violations

#: How far ahead of our clock a carrier's event time may be: carriers' clocks drift, the future does not
#: happen.
MAX_CLOCK_SKEW = timedelta(minutes=10)

#: The owner of a new case: the role whose clerks share it until one of them takes it.
DEFAULT_OWNER = "logistics_clerk"

#: A promise longer than a year is a typo, refused before it reaches date arithmetic.
MAX_PROMISED_DAYS = 365


class TrackingState(enum.Enum):
    """Where a carrier says a parcel is."""

    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    LOST = "lost"
    DAMAGED = "damaged"

    @property
    def is_exception(self) -> bool:
        """Whether a scan in this state opens an exception case (LOG-6)."""
        return self in EXCEPTION_STATES


#: The states that are exceptions (LOG-6); a delay is no scan, the sweeper finds it.
EXCEPTION_STATES = frozenset({TrackingState.LOST, TrackingState.DAMAGED})

#: Among events at the same instant the one further along wins, so the state never depends on the order
#: the carrier sent them in.
_PROGRESS: Mapping[TrackingState, int] = MappingProxyType(
    {
        TrackingState.PICKED_UP: 0,
        TrackingState.IN_TRANSIT: 1,
        TrackingState.OUT_FOR_DELIVERY: 2,
        TrackingState.LOST: 3,
        TrackingState.DAMAGED: 4,
        TrackingState.DELIVERED: 5,
    }
)


class ExceptionKind(enum.Enum):
    """What went wrong with a parcel (LOG-6)."""

    LOST = "lost"
    DAMAGED = "damaged"
    DELAYED = "delayed"  # not delivered by the end of the carrier's promised days


#: The case kind an exception scan opens.
EXCEPTION_KIND_OF: Mapping[TrackingState, ExceptionKind] = MappingProxyType(
    {TrackingState.LOST: ExceptionKind.LOST, TrackingState.DAMAGED: ExceptionKind.DAMAGED}
)


class Resolution(enum.Enum):
    """How an exception case is settled."""

    RESHIP = "reship"  # the goods are sent again
    REFUND = "refund"  # the customer gets the money back
    CARRIER_CLAIM = "carrier_claim"  # the carrier is held liable


class ContactChannel(enum.Enum):
    """How the customer was told."""

    PHONE = "phone"
    SMS = "sms"
    PLATFORM_CHAT = "platform_chat"  # the platform's own messenger (旺旺, 京东咚咚)
    EMAIL = "email"


# ------------------------------------------------------------------------------------------- checks


def _is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def _require_text(v: Violations, path: str, value: object) -> None:
    v.require(isinstance(value, str) and bool(value.strip()), path, "is required")


def _require_moment(v: Violations, path: str, moment: datetime | None) -> bool:
    """Adds a fault unless ``moment`` is an aware datetime; True when it is."""
    if moment is None:
        v.add(path, "is required")
        return False
    if not _is_aware(moment):
        # A naive time could be UTC (as stored) or local (as shown): a guess could misplace it by 8 hours.
        v.add(path, "must carry a time zone (an aware datetime)")
        return False
    return True


def _require_promised_days(v: Violations, path: str, days: object) -> None:
    valid = isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= MAX_PROMISED_DAYS
    v.require(valid, path, f"must be a whole number of days from 1 to {MAX_PROMISED_DAYS}, got {days!r}")


def _aware(path: str, moment: datetime) -> None:
    v = Violations()
    _require_moment(v, path, moment)
    v.raise_if_any()


# ------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class TrackingEvent:
    """One carrier scan of a parcel (LOG-6). ``event_id`` is the carrier's own id of the scan.

    Ids and texts are kept without surrounding spaces and ``at`` in UTC, so the same scan sent again in
    another zone or with padding compares equal.
    """

    event_id: str
    tracking_number: str
    state: TrackingState
    at: datetime
    location: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        v = Violations()
        _require_text(v, "event_id", self.event_id)
        _require_text(v, "tracking_number", self.tracking_number)
        v.require(
            isinstance(self.state, TrackingState), "state", f"must be a tracking state, got {self.state!r}"
        )
        _require_moment(v, "at", self.at)
        v.raise_if_any()
        object.__setattr__(self, "event_id", self.event_id.strip())
        object.__setattr__(self, "tracking_number", self.tracking_number.strip())
        object.__setattr__(self, "location", self.location.strip())
        object.__setattr__(self, "note", self.note.strip())
        object.__setattr__(self, "at", self.at.astimezone(UTC))


@dataclass(frozen=True)
class PushedEvent:
    """One item of a carrier's pushed batch as it arrived: texts as sent, the time as parsed (None when
    the carrier sent none)."""

    event_id: str
    tracking_number: str
    state: str
    at: datetime | None
    location: str = ""
    note: str = ""


def checked_batch(
    items: Sequence[PushedEvent], *, now: datetime, clock_skew: timedelta = MAX_CLOCK_SKEW
) -> list[TrackingEvent]:
    """A carrier's pushed batch as tracking events, all or nothing (LOG-6).

    Refused with one InvalidArgument naming every fault as ``events[i].<field>``: an empty event id or
    tracking number, an unknown state, a missing or naive time or one more than ``clock_skew`` after
    ``now``, an event id given twice with other contents. An event sent twice alike is kept once; the
    rest keep the order they came in.
    """
    _aware("now", now)
    latest = now + clock_skew
    v = Violations()
    first_seen: dict[str, tuple[int, TrackingEvent]] = {}
    events: list[TrackingEvent] = []
    for i, item in enumerate(items):
        event = _checked_item(v, f"events[{i}]", item, latest, clock_skew)
        if event is None:
            continue
        earlier = first_seen.get(event.event_id)
        if earlier is None:
            first_seen[event.event_id] = (i, event)
            events.append(event)
        elif earlier[1] != event:
            v.add(
                f"events[{i}].event_id",
                f"{event.event_id!r} is also events[{earlier[0]}], with other contents",
            )
    v.raise_if_any()
    return events


def _checked_item(
    v: Violations, path: str, item: PushedEvent, latest: datetime, clock_skew: timedelta
) -> TrackingEvent | None:
    """The item as an event, or None after adding its faults to ``v``."""
    faults_before = len(v.items)
    _require_text(v, f"{path}.event_id", item.event_id)
    _require_text(v, f"{path}.tracking_number", item.tracking_number)
    state = _state_named(item.state)
    if state is None:
        known = ", ".join(s.value for s in TrackingState)
        v.add(f"{path}.state", f"must be one of {known}, got {item.state!r}")
    if _require_moment(v, f"{path}.at", item.at) and item.at is not None and item.at > latest:
        v.add(f"{path}.at", f"is more than {clock_skew.total_seconds() / 60:g} minutes ahead of the clock")
    if len(v.items) > faults_before or state is None or item.at is None:
        return None
    return TrackingEvent(item.event_id, item.tracking_number, state, item.at, item.location, item.note)


def _state_named(text: object) -> TrackingState | None:
    if not isinstance(text, str):
        return None
    try:
        return TrackingState(text.strip())
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------- parcels


@dataclass(frozen=True)
class ParcelDelivered:
    """The parcel's first delivery scan was recorded."""

    what: ClassVar[str] = "delivered"
    tracking_number: str
    event_id: str
    at: datetime


@dataclass(frozen=True)
class ExceptionOpened:
    """A lost or damaged scan while no case of its kind is open: an ``ExceptionCase`` is to be opened."""

    what: ClassVar[str] = "exception opened"
    tracking_number: str
    kind: ExceptionKind
    event_id: str
    at: datetime


TrackingOutcome = ParcelDelivered | ExceptionOpened


def _timeline_key(event: TrackingEvent) -> tuple[datetime, int, str]:
    return event.at, _PROGRESS[event.state], event.event_id


@dataclass(eq=False)
class ParcelTracking:
    """The tracking of one dispatched parcel (LOG-6): its carrier events and the kinds of case open for it.

    ``dispatched_at`` and ``promised_days`` (the carrier's promise to the address, LOG-7) say when the
    parcel is due. A stored parcel is loaded again with ``restore``.
    """

    tracking_number: str
    dispatched_at: datetime
    promised_days: int
    _events: dict[str, TrackingEvent] = field(default_factory=dict, init=False, repr=False)
    _open_cases: set[ExceptionKind] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        v = Violations()
        _require_text(v, "tracking_number", self.tracking_number)
        _require_moment(v, "dispatched_at", self.dispatched_at)
        _require_promised_days(v, "promised_days", self.promised_days)
        v.raise_if_any()
        self.tracking_number = self.tracking_number.strip()

    @classmethod
    def restore(
        cls,
        tracking_number: str,
        *,
        dispatched_at: datetime,
        promised_days: int,
        events: Iterable[TrackingEvent],
        open_cases: Iterable[ExceptionKind],
    ) -> ParcelTracking:
        """A stored parcel: its recorded events, and exactly the kinds of case open for it now (a scan's
        case that was resolved since stays closed)."""
        parcel = cls(tracking_number, dispatched_at, promised_days)
        for i, event in enumerate(events):
            parcel.apply(event, path=f"events[{i}]")
        parcel._open_cases = set(open_cases)
        return parcel

    def apply(self, event: TrackingEvent, *, path: str = "") -> tuple[TrackingOutcome, ...]:
        """Records a carrier event and returns what it newly caused (LOG-6).

        The same event again changes nothing and causes nothing; its id with other contents is refused
        (AlreadyExists naming ``<path>.event_id``), as is another parcel's event (InvalidArgument naming
        ``<path>.tracking_number``). The first delivery scan causes ``ParcelDelivered``; a lost or damaged
        scan causes ``ExceptionOpened`` unless a case of that kind is open already.
        """
        prefix = f"{path}." if path else ""
        if event.tracking_number != self.tracking_number:
            raise InvalidArgument.for_field(
                f"{prefix}tracking_number",
                f"is {event.tracking_number!r}, not this parcel's {self.tracking_number!r}",
            )
        known = self._events.get(event.event_id)
        if known is not None:
            if known == event:
                return ()
            raise AlreadyExists.for_field(
                f"{prefix}event_id",
                f"{event.event_id!r} was recorded before with other contents; a carrier event never changes",
                reason="TRACKING_EVENT_REUSED",
            )
        was_delivered = self.delivered
        self._events[event.event_id] = event
        if event.state is TrackingState.DELIVERED:
            if was_delivered:
                return ()
            return (ParcelDelivered(self.tracking_number, event.event_id, event.at),)
        kind = EXCEPTION_KIND_OF.get(event.state)
        if kind is None or kind in self._open_cases:
            return ()
        self._open_cases.add(kind)
        return (ExceptionOpened(self.tracking_number, kind, event.event_id, event.at),)

    def case_opened(self, kind: ExceptionKind) -> None:
        """Notes that a case of ``kind`` is open for the parcel (the sweeper's delayed case, or one loaded
        from storage); noting it again changes nothing."""
        self._open_cases.add(kind)

    def case_resolved(self, kind: ExceptionKind) -> None:
        """Notes that the parcel's case of ``kind`` was resolved: a later scan of that kind opens a new
        one. Without an open case of that kind it changes nothing."""
        self._open_cases.discard(kind)

    @property
    def events(self) -> tuple[TrackingEvent, ...]:
        """The recorded events by time, earliest first."""
        return tuple(sorted(self._events.values(), key=_timeline_key))

    @property
    def latest(self) -> TrackingEvent | None:
        """The latest event by time (None before the first); at the same instant, the one further along."""
        return max(self._events.values(), key=_timeline_key, default=None)

    @property
    def state(self) -> TrackingState | None:
        """The latest event's state, but delivered once any delivery scan is recorded: a later scan of
        another state does not undo a delivery. None before the first event."""
        if self.delivered:
            return TrackingState.DELIVERED
        latest = self.latest
        return None if latest is None else latest.state

    @property
    def delivered(self) -> bool:
        return self.delivered_at is not None

    @property
    def delivered_at(self) -> datetime | None:
        """The time of the earliest delivery scan, None when none is recorded."""
        return min((e.at for e in self._events.values() if e.state is TrackingState.DELIVERED), default=None)

    @property
    def open_cases(self) -> frozenset[ExceptionKind]:
        return frozenset(self._open_cases)

    @property
    def delayed_case_open(self) -> bool:
        return ExceptionKind.DELAYED in self._open_cases


# ------------------------------------------------------------------------------------ exception cases


@dataclass(frozen=True)
class CaseEntry:
    """One entry of a case's history: who did what, when."""

    at: datetime
    actor: str
    what: str
    detail: str = ""


def _case_refused(message: str, reason: str, field_path: str = "case_id") -> DomainError:
    return FailedPrecondition.for_field(field_path, message, reason=reason)


@dataclass(eq=False)
class ExceptionCase:
    """A parcel's exception (LOG-6) and its handling: an owner, telling the customer, a resolution.

    Every command is refused while its arguments are bad (InvalidArgument naming ``actor``, ``at`` or
    the argument), changes nothing when it would change nothing, and otherwise records a history entry.
    A resolved case takes no further command. Built directly, the fields are a stored case loaded again.
    """

    case_id: str
    tracking_number: str
    kind: ExceptionKind
    opened_at: datetime
    owner: str = DEFAULT_OWNER
    customer_told_at: datetime | None = None
    resolution: Resolution | None = None
    resolved_at: datetime | None = None
    history: tuple[CaseEntry, ...] = ()

    def __post_init__(self) -> None:
        v = Violations()
        _require_text(v, "case_id", self.case_id)
        _require_text(v, "tracking_number", self.tracking_number)
        _require_text(v, "owner", self.owner)
        _require_moment(v, "opened_at", self.opened_at)
        # The invariant LOG-6 asks for holds for stored cases too: none is resolved untold.
        v.require(
            self.resolution is None or self.customer_told_at is not None,
            "customer_told_at",
            "a resolved case must record when the customer was told",
        )
        v.require(
            (self.resolution is None) == (self.resolved_at is None),
            "resolved_at",
            "is given exactly when the case has a resolution",
        )
        v.raise_if_any()

    @classmethod
    def open(
        cls,
        case_id: str,
        tracking_number: str,
        kind: ExceptionKind,
        *,
        actor: str,
        at: datetime,
        owner: str = DEFAULT_OWNER,
        note: str = "",
    ) -> ExceptionCase:
        """Opens a case of ``kind`` for a parcel, owned by ``owner`` (the logistics clerks by default)."""
        v = Violations()
        _require_text(v, "actor", actor)
        _require_moment(v, "at", at)
        v.raise_if_any()
        case = cls(case_id.strip(), tracking_number.strip(), kind, at, owner.strip())
        case._record(actor, at, "opened", f"{kind.value}: {note.strip()}" if note.strip() else kind.value)
        return case

    @property
    def is_open(self) -> bool:
        return self.resolution is None

    @property
    def customer_told(self) -> bool:
        return self.customer_told_at is not None

    def assign(self, owner: str, *, actor: str, at: datetime) -> None:
        """Gives the case to ``owner`` (a person, or a role again); to its owner already, nothing changes."""
        self._check_command(actor, at)
        _checked_text("owner", owner)
        self._refuse_if_resolved()
        owner = owner.strip()
        if owner == self.owner:
            return
        previous, self.owner = self.owner, owner
        self._record(actor, at, "assigned", f"{previous} -> {owner}")

    def record_customer_told(self, channel: ContactChannel, note: str, *, actor: str, at: datetime) -> None:
        """Records that the customer was told, how and what (``note``, required). The customer may be told
        again (news, a new date): each time is recorded, and ``customer_told_at`` keeps the first."""
        self._check_command(actor, at)
        _checked_text("note", note)
        self._refuse_if_resolved()
        if self.customer_told_at is None or at < self.customer_told_at:
            self.customer_told_at = at
        self._record(actor, at, "customer told", f"{channel.value}: {note.strip()}")

    def resolve(self, resolution: Resolution, note: str = "", *, actor: str, at: datetime) -> None:
        """Settles the case by ``resolution`` (LOG-6: only after the customer was told, at or before ``at``).

        Resolving again the same way changes nothing; another way is refused (FailedPrecondition naming
        ``resolution``); resolving untold is refused (FailedPrecondition naming ``case_id``).
        """
        self._check_command(actor, at)
        if self.resolution is not None:
            if self.resolution is resolution:
                return
            raise _case_refused(
                f"the case was resolved by {self.resolution.value} already", "CASE_RESOLVED", "resolution"
            )
        if self.customer_told_at is None or self.customer_told_at > at:
            raise _case_refused(
                "the customer must be told before the case is resolved (LOG-6)", "CUSTOMER_NOT_TOLD"
            )
        self.resolution, self.resolved_at = resolution, at
        detail = f"{resolution.value}: {note.strip()}" if note.strip() else resolution.value
        self._record(actor, at, "resolved", detail)

    def _check_command(self, actor: str, at: datetime) -> None:
        v = Violations()
        _require_text(v, "actor", actor)
        if _require_moment(v, "at", at):
            v.require(
                at >= self.opened_at, "at", f"is before the case was opened ({self.opened_at.isoformat()})"
            )
        v.raise_if_any()

    def _refuse_if_resolved(self) -> None:
        if self.resolution is not None:
            raise _case_refused(f"the case was resolved by {self.resolution.value}", "CASE_RESOLVED")

    def _record(self, actor: str, at: datetime, what: str, detail: str) -> None:
        self.history = (*self.history, CaseEntry(at, actor.strip(), what, detail))


def _checked_text(path: str, value: str) -> None:
    v = Violations()
    _require_text(v, path, value)
    v.raise_if_any()


# ------------------------------------------------------------------------------------------- overdue


def overdue_from(dispatched_at: datetime, promised_days: int, tz: tzinfo = BUSINESS_ZONE) -> datetime:
    """The first instant a parcel is late: midnight in ``tz`` after its last promised day.

    The promised days are calendar days counted from the dispatch date in ``tz``: a parcel dispatched on
    1 December with 2 days promised is due by the end of 3 December.
    """
    v = Violations()
    _require_moment(v, "dispatched_at", dispatched_at)
    _require_promised_days(v, "promised_days", promised_days)
    v.raise_if_any()
    dispatch_day = dispatched_at.astimezone(tz).date()
    return datetime.combine(dispatch_day + timedelta(days=promised_days + 1), time.min, tzinfo=tz)


def is_overdue(
    dispatched_at: datetime, promised_days: int, now: datetime, tz: tzinfo = BUSINESS_ZONE
) -> bool:
    """Whether a parcel dispatched at ``dispatched_at`` is past the carrier's promise at ``now`` (LOG-6):
    due by the end of the last promised day in ``tz``, late from the next midnight on."""
    _aware("now", now)
    return now >= overdue_from(dispatched_at, promised_days, tz)


class SweptParcel(Protocol):
    """The least the sweeper must know of a parcel."""

    @property
    def tracking_number(self) -> str: ...

    @property
    def dispatched_at(self) -> datetime: ...

    @property
    def promised_days(self) -> int: ...

    @property
    def delivered(self) -> bool: ...

    @property
    def delayed_case_open(self) -> bool: ...


@dataclass(frozen=True)
class ParcelToSweep:
    """A minimal parcel view for the sweeper, e.g. one row of a query."""

    tracking_number: str
    dispatched_at: datetime
    promised_days: int
    delivered: bool = False
    delayed_case_open: bool = False


P = TypeVar("P", bound=SweptParcel)


def overdue(parcels: Iterable[P], now: datetime, tz: tzinfo = BUSINESS_ZONE) -> list[P]:
    """The parcels to open a delayed case for (LOG-6): past their promise at ``now``, not delivered, and
    without an open delayed case. They keep the order they were given in."""
    _aware("now", now)
    return [
        p
        for p in parcels
        if not p.delivered
        and not p.delayed_case_open
        and is_overdue(p.dispatched_at, p.promised_days, now, tz)
    ]
