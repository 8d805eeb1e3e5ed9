"""Tracking events and exception cases in the database (LOG-6).

A parcel's carrier events are recorded once per (parcel, carrier event id) and loaded again as the domain's
``ParcelTracking``; the parcel row keeps the latest state and the delivery time for reads and the sweeper.
Exception cases keep their history row by row; every step of a case, and every delivery, is published
through the outbox in the caller's transaction, so the orders service learns exactly what was committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from shop.logistics.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.business_time import BUSINESS_ZONE
from libs.errors import AlreadyExists, FieldViolation, NotFound
from libs.outbox import publish
from libs.timestamps import to_timestamp
from libs.upsert import insert
from services.logistics.domain.shipments import ParcelStatus, ShipmentStatus
from services.logistics.domain.tracking import (
    MAX_PROMISED_DAYS,
    CaseEntry,
    ExceptionCase,
    ExceptionKind,
    ExceptionOpened,
    ParcelDelivered,
    ParcelTracking,
    Resolution,
    TrackingEvent,
    TrackingOutcome,
    TrackingState,
)
from services.logistics.store.tables import (
    exception_case_history,
    exception_cases,
    kit,
    parcels,
    shipments,
    tracking_events,
)


@dataclass(frozen=True)
class TrackedParcel:
    """A dispatched parcel as tracking needs it."""

    parcel_id: str
    tracking_number: str
    dispatched_at: datetime
    promised_by: datetime | None


@dataclass(frozen=True)
class StoredCase:
    """An exception case with the parcel it is about and the orders in that parcel."""

    case: ExceptionCase
    parcel_id: str
    order_ids: tuple[str, ...]


# ------------------------------------------------------------------------------------------- parcels


async def dispatched_parcels(
    conn: AsyncConnection, tracking_numbers: Iterable[str], *, visible: Callable[[str], bool] = lambda _: True
) -> dict[str, TrackedParcel]:
    """The dispatched parcels behind these tracking numbers, by tracking number, their rows locked until
    the transaction ends. They are locked in parcel id order, so two batches sharing parcels take them in
    the same order and cannot deadlock on them. An unknown number is simply absent, and so is a parcel of
    a shop ``visible`` refuses (an integrator acts for its own shops only)."""
    numbers = sorted(set(tracking_numbers))
    if not numbers:
        return {}
    rows = await conn.execute(
        sa.select(
            parcels.c.parcel_id,
            parcels.c.tracking_number,
            parcels.c.dispatched_at,
            parcels.c.promised_by,
            parcels.c.shop_code,
        )
        .where(
            parcels.c.tracking_number.in_(numbers),
            parcels.c.status == ParcelStatus.DISPATCHED.value,
            parcels.c.dispatched_at.is_not(None),
        )
        .order_by(parcels.c.parcel_id)
        .with_for_update()
    )
    return {
        r.tracking_number: TrackedParcel(r.parcel_id, r.tracking_number, r.dispatched_at, r.promised_by)
        for r in rows
        if visible(r.shop_code)
    }


def promised_days(parcel: TrackedParcel) -> int:
    """The carrier's promise in days, as the domain counts them, recovered from ``promised_by`` (the end
    of the last promised day that dispatch stored). A promise the row does not hold, or one edited outside
    the domain's range, reads as the nearest valid one: the days only describe the parcel, they decide
    nothing the stored ``promised_by`` does not."""
    if parcel.promised_by is None:
        return 1
    dispatch_day = parcel.dispatched_at.astimezone(BUSINESS_ZONE).date()
    first_late_day = parcel.promised_by.astimezone(BUSINESS_ZONE).date()
    return min(max((first_late_day - dispatch_day).days - 1, 1), MAX_PROMISED_DAYS)


async def load_trackings(
    conn: AsyncConnection, tracked: Sequence[TrackedParcel]
) -> dict[str, ParcelTracking]:
    """Each parcel's recorded events and the kinds of case open for it now, by parcel id; two queries
    whatever the number of parcels."""
    ids = [p.parcel_id for p in tracked]
    events: dict[str, list[TrackingEvent]] = {}
    for r in await conn.execute(
        sa.select(tracking_events)
        .where(tracking_events.c.parcel_id.in_(ids))
        .order_by(tracking_events.c.parcel_id, tracking_events.c.at, tracking_events.c.event_id)
    ):
        event = TrackingEvent(r.event_id, r.tracking_number, TrackingState(r.state), r.at, r.location, r.note)
        events.setdefault(r.parcel_id, []).append(event)
    open_kinds: dict[str, list[ExceptionKind]] = {}
    for r in await conn.execute(
        sa.select(exception_cases.c.parcel_id, exception_cases.c.kind).where(
            exception_cases.c.parcel_id.in_(ids), exception_cases.c.resolved_at.is_(None)
        )
    ):
        open_kinds.setdefault(r.parcel_id, []).append(ExceptionKind(r.kind))
    return {
        p.parcel_id: ParcelTracking.restore(
            p.tracking_number,
            dispatched_at=p.dispatched_at,
            promised_days=promised_days(p),
            events=events.get(p.parcel_id, ()),
            open_cases=open_kinds.get(p.parcel_id, ()),
        )
        for p in tracked
    }


async def record_events(conn: AsyncConnection, new: Sequence[tuple[str, TrackingEvent]]) -> None:
    """Stores new events, each with its parcel id, in one statement."""
    if not new:
        return
    # The parcel rows are locked by the caller, so nobody else records for them now; an id that is here
    # already would have been refused or skipped by the domain.
    await conn.execute(
        insert(tracking_events)
        .values([
            {
                "parcel_id": parcel_id, "event_id": e.event_id, "tracking_number": e.tracking_number,
                "state": e.state.value, "at": e.at, "location": e.location, "note": e.note,
            }
            for parcel_id, e in new
        ])
        .on_conflict_do_nothing()
    )  # fmt: skip


async def update_states(conn: AsyncConnection, trackings: Mapping[str, ParcelTracking]) -> None:
    """Writes each parcel's state after its events (the latest state, the delivery time), by parcel id."""
    if not trackings:
        return
    await conn.execute(
        parcels.update()
        .where(parcels.c.parcel_id == sa.bindparam("pid"))
        .values(tracking_state=sa.bindparam("state"), delivered_at=sa.bindparam("delivered")),
        [
            {"pid": parcel_id, "state": t.state.value if t.state else "", "delivered": t.delivered_at}
            for parcel_id, t in trackings.items()
        ],
    )


async def _order_ids(conn: AsyncConnection, parcel_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The orders whose shipments travel in each parcel (a withdrawn one does not)."""
    found: dict[str, set[str]] = {}
    rows = await conn.execute(
        sa.select(shipments.c.parcel_id, shipments.c.order_id).where(
            shipments.c.parcel_id.in_(list(parcel_ids)),
            shipments.c.status != ShipmentStatus.WITHDRAWN.value,
        )
    )
    for r in rows:
        found.setdefault(r.parcel_id, set()).add(r.order_id)
    return {parcel_id: tuple(sorted(ids)) for parcel_id, ids in found.items()}


async def _orders_delivered(conn: AsyncConnection, order_ids: Sequence[str]) -> dict[str, bool]:
    """Per order: whether every shipment of it that still ships is in a delivered parcel.

    The orders' shipment rows are locked first: two parcels of one split order delivered at the same time
    then decide one after the other, and the second sees the first's delivery, so one of them tells the
    order it is delivered.
    """
    if not order_ids:
        return {}
    await conn.execute(
        sa.select(shipments.c.shipment_id)
        .where(shipments.c.order_id.in_(list(order_ids)))
        .order_by(shipments.c.shipment_id)
        .with_for_update()
    )
    delivered = sa.func.bool_and(parcels.c.delivered_at.is_not(None))
    rows = await conn.execute(
        sa.select(shipments.c.order_id, delivered.label("delivered"))
        .select_from(shipments.outerjoin(parcels, parcels.c.parcel_id == shipments.c.parcel_id))
        .where(
            shipments.c.order_id.in_(list(order_ids)),
            shipments.c.status != ShipmentStatus.WITHDRAWN.value,
        )
        .group_by(shipments.c.order_id)
    )
    return {r.order_id: bool(r.delivered) for r in rows}


async def publish_delivered(conn: AsyncConnection, parcel: TrackedParcel, delivered_at: datetime) -> None:
    """Publishes ``ParcelDelivered`` (LOG-6, ORD-4) with, per order in the parcel, whether all its parcels
    are delivered now. The parcel's ``delivered_at`` must be stored first."""
    order_ids = (await _order_ids(conn, [parcel.parcel_id])).get(parcel.parcel_id, ())
    done = await _orders_delivered(conn, order_ids)
    event = events_pb2.ParcelDelivered(
        parcel_id=parcel.parcel_id,
        tracking_number=parcel.tracking_number,
        delivered_at=to_timestamp(delivered_at),
        orders=[
            events_pb2.ParcelDelivered.Order(order_id=o, order_delivered=done.get(o, False))
            for o in order_ids
        ],
    )
    await publish(conn, kit.outbox, parcel.parcel_id, event)


# ------------------------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class BatchRecorded:
    """What a carrier's batch did: events recorded now and sent again, parcels it delivered (by tracking
    number) and the cases it opened."""

    recorded: int
    repeated: int
    delivered: tuple[str, ...]
    opened: tuple[StoredCase, ...]


@dataclass
class _ParcelPlan:
    """One parcel's share of a batch, applied in memory before anything is written."""

    parcel: TrackedParcel
    tracking: ParcelTracking
    new: list[TrackingEvent]
    repeated: int
    outcomes: list[TrackingOutcome]


async def record_batch(
    conn: AsyncConnection,
    events: Sequence[tuple[str, TrackingEvent]],
    *,
    actor: str,
    at: datetime,
    visible: Callable[[str], bool] = lambda _: True,
) -> BatchRecorded:
    """Records a checked carrier batch (LOG-6), all or nothing; ``events`` are (request path, event).

    Refused before anything is written: NotFound naming every ``<path>.tracking_number`` no dispatched
    parcel carries, then AlreadyExists naming every ``<path>.event_id`` recorded before with other contents.
    Then each parcel's new events and state are stored, a first delivery publishes ``ParcelDelivered`` and
    a lost or damaged scan opens a case (opened by ``actor`` at ``at``).
    """
    found = await dispatched_parcels(conn, (e.tracking_number for _, e in events), visible=visible)
    _refuse_unknown(events, found)
    by_number: dict[str, list[tuple[str, TrackingEvent]]] = {}
    for path, event in events:
        by_number.setdefault(event.tracking_number, []).append((path, event))
    trackings = await load_trackings(conn, [found[n] for n in sorted(by_number)])
    conflicts: list[FieldViolation] = []
    plans = [
        _applied(found[n], trackings[found[n].parcel_id], by_number[n], conflicts) for n in sorted(by_number)
    ]
    if conflicts:
        first = conflicts[0]
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise AlreadyExists(
            f"{first.field}: {first.description}{more}", violations=conflicts, reason="TRACKING_EVENT_REUSED"
        )
    await record_events(conn, [(p.parcel.parcel_id, e) for p in plans for e in p.new])
    await update_states(conn, {p.parcel.parcel_id: p.tracking for p in plans if p.new})
    delivered: list[str] = []
    opened: list[StoredCase] = []
    for plan in plans:
        for outcome in plan.outcomes:
            if isinstance(outcome, ParcelDelivered):
                assert plan.tracking.delivered_at is not None
                await publish_delivered(conn, plan.parcel, plan.tracking.delivered_at)
                delivered.append(plan.parcel.tracking_number)
            else:
                case = await open_case(conn, plan.parcel.parcel_id, _case_for(outcome, actor=actor, at=at))
                if case is not None:
                    opened.append(case)
    return BatchRecorded(
        recorded=sum(len(p.new) for p in plans),
        repeated=sum(p.repeated for p in plans),
        delivered=tuple(delivered),
        opened=tuple(opened),
    )


def _refuse_unknown(events: Sequence[tuple[str, TrackingEvent]], found: dict[str, TrackedParcel]) -> None:
    unknown = [
        FieldViolation(
            f"{path}.tracking_number", f"no dispatched parcel has tracking number {e.tracking_number!r}"
        )
        for path, e in events
        if e.tracking_number not in found
    ]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise NotFound(
            f"{unknown[0].field}: {unknown[0].description}{more}",
            violations=unknown,
            reason="PARCEL_NOT_FOUND",
        )


def _applied(
    parcel: TrackedParcel,
    tracking: ParcelTracking,
    events: Sequence[tuple[str, TrackingEvent]],
    conflicts: list[FieldViolation],
) -> _ParcelPlan:
    """The parcel's events applied in memory; an id reused with other contents goes to ``conflicts``."""
    plan = _ParcelPlan(parcel, tracking, [], 0, [])
    known = {e.event_id for e in tracking.events}
    for path, event in events:
        try:
            plan.outcomes.extend(tracking.apply(event, path=path))
        except AlreadyExists as refused:
            conflicts.extend(refused.violations)
            continue
        if event.event_id in known:
            plan.repeated += 1
        else:
            known.add(event.event_id)
            plan.new.append(event)
    return plan


def _case_for(outcome: ExceptionOpened, *, actor: str, at: datetime) -> ExceptionCase:
    note = f"carrier event {outcome.event_id} at {outcome.at.isoformat()}"
    return ExceptionCase.open(
        str(uuid.uuid4()), outcome.tracking_number, outcome.kind, actor=actor, at=at, note=note
    )


# ------------------------------------------------------------------------------------ exception cases


async def open_case(conn: AsyncConnection, parcel_id: str, case: ExceptionCase) -> StoredCase | None:
    """Stores a newly opened case with its history and publishes its steps. None, and nothing stored,
    when the parcel has an open case of that kind already (the unique index decides, so two sweepers or
    a sweeper and a carrier batch never open two)."""
    opened = await conn.execute(
        insert(exception_cases)
        .values(
            case_id=case.case_id, parcel_id=parcel_id, tracking_number=case.tracking_number,
            kind=case.kind.value, owner=case.owner, opened_at=case.opened_at,
            customer_told_at=case.customer_told_at,
            resolution=case.resolution.value if case.resolution else None, resolved_at=case.resolved_at,
        )
        .on_conflict_do_nothing(
            index_elements=[exception_cases.c.parcel_id, exception_cases.c.kind],
            index_where=exception_cases.c.resolved_at.is_(None),
        )
        .returning(exception_cases.c.case_id)
    )  # fmt: skip
    if opened.first() is None:
        return None
    order_ids = (await _order_ids(conn, [parcel_id])).get(parcel_id, ())
    stored = StoredCase(case, parcel_id, order_ids)
    await _add_history(conn, stored, case.history, first_seq=1)
    return stored


async def get_case(conn: AsyncConnection, case_id: str, *, lock: bool = False) -> StoredCase:
    """One case with its history; NotFound naming ``case_id``. ``lock`` holds its row until the
    transaction ends, so two commands on one case apply one after the other."""
    query = sa.select(exception_cases).where(exception_cases.c.case_id == case_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.for_field("case_id", f"no exception case {case_id!r}", reason="CASE_NOT_FOUND")
    (found,) = await _loaded(conn, [row])
    return found


async def save_case(conn: AsyncConnection, before: StoredCase, case: ExceptionCase) -> StoredCase:
    """Stores what the case's commands changed since ``before`` was loaded: its columns and its new
    history entries, each published as a step."""
    new_entries = case.history[len(before.case.history) :]
    if not new_entries:
        return before
    await conn.execute(
        exception_cases.update()
        .where(exception_cases.c.case_id == case.case_id)
        .values(
            owner=case.owner,
            customer_told_at=case.customer_told_at,
            resolution=case.resolution.value if case.resolution else None,
            resolved_at=case.resolved_at,
        )
    )
    after = StoredCase(case, before.parcel_id, before.order_ids)
    await _add_history(conn, after, new_entries, first_seq=len(before.case.history) + 1)
    return after


async def list_cases(conn: AsyncConnection, *, include_resolved: bool, limit: int) -> list[StoredCase]:
    """Cases oldest first: the open ones, or all of them with ``include_resolved``."""
    query = sa.select(exception_cases).order_by(exception_cases.c.opened_at, exception_cases.c.case_id)
    if not include_resolved:
        query = query.where(exception_cases.c.resolved_at.is_(None))
    rows = (await conn.execute(query.limit(limit))).all()
    return await _loaded(conn, rows)


async def _loaded(conn: AsyncConnection, rows: Sequence[sa.Row[tuple[object, ...]]]) -> list[StoredCase]:
    if not rows:
        return []
    ids = [r.case_id for r in rows]
    history: dict[str, list[CaseEntry]] = {}
    for h in await conn.execute(
        sa.select(exception_case_history)
        .where(exception_case_history.c.case_id.in_(ids))
        .order_by(exception_case_history.c.case_id, exception_case_history.c.seq)
    ):
        history.setdefault(h.case_id, []).append(CaseEntry(h.at, h.actor, h.what, h.detail))
    orders = await _order_ids(conn, sorted({r.parcel_id for r in rows}))
    return [
        StoredCase(
            ExceptionCase(
                case_id=r.case_id,
                tracking_number=r.tracking_number,
                kind=ExceptionKind(r.kind),
                opened_at=r.opened_at,
                owner=r.owner,
                customer_told_at=r.customer_told_at,
                resolution=Resolution(r.resolution) if r.resolution else None,
                resolved_at=r.resolved_at,
                history=tuple(history.get(r.case_id, ())),
            ),
            r.parcel_id,
            orders.get(r.parcel_id, ()),
        )
        for r in rows
    ]


async def _add_history(
    conn: AsyncConnection, stored: StoredCase, entries: Sequence[CaseEntry], *, first_seq: int
) -> None:
    """Appends the entries to the case's history and publishes each as ``ParcelExceptionChanged``."""
    if not entries:
        return
    await conn.execute(
        exception_case_history.insert(),
        [
            {"case_id": stored.case.case_id, "seq": seq, "at": e.at, "actor": e.actor, "what": e.what,
             "detail": e.detail}
            for seq, e in enumerate(entries, start=first_seq)
        ],
    )  # fmt: skip
    for entry in entries:
        await publish(conn, kit.outbox, stored.parcel_id, _changed(stored, entry))


def _changed(stored: StoredCase, entry: CaseEntry) -> events_pb2.ParcelExceptionChanged:
    return events_pb2.ParcelExceptionChanged(
        case_id=stored.case.case_id,
        parcel_id=stored.parcel_id,
        tracking_number=stored.case.tracking_number,
        order_ids=list(stored.order_ids),
        kind=stored.case.kind.value,
        what=entry.what,
        detail=entry.detail,
        at=to_timestamp(entry.at),
        actor=entry.actor,
    )


# ------------------------------------------------------------------------------------------- overdue


@dataclass(frozen=True)
class OverdueParcel:
    """A parcel past the carrier's promise, not delivered, without a delayed case."""

    parcel_id: str
    tracking_number: str
    promised_by: datetime


async def overdue_parcels(conn: AsyncConnection, now: datetime, *, limit: int) -> list[OverdueParcel]:
    """Up to ``limit`` dispatched parcels not delivered by ``promised_by`` (the first late instant, which
    dispatch stored with the domain's ``overdue_from``) at ``now``, that never had a delayed case, their
    rows locked. Rows another transaction holds are skipped (SKIP LOCKED): several sweepers share the work
    and none waits for another.

    A parcel whose delayed case was resolved is not taken again: the promise was broken once, and the case
    settled it; reopening would undo the clerk's resolution at every pass.
    """
    delayed_case = (
        sa.select(exception_cases.c.case_id)
        .where(
            exception_cases.c.parcel_id == parcels.c.parcel_id,
            exception_cases.c.kind == ExceptionKind.DELAYED.value,
        )
        .exists()
    )
    rows = await conn.execute(
        sa.select(parcels.c.parcel_id, parcels.c.tracking_number, parcels.c.promised_by)
        .where(
            parcels.c.status == ParcelStatus.DISPATCHED.value,
            parcels.c.delivered_at.is_(None),
            parcels.c.promised_by <= now,
            ~delayed_case,
        )
        .order_by(parcels.c.promised_by, parcels.c.parcel_id)
        .limit(limit)
        .with_for_update(of=parcels, skip_locked=True)
    )
    return [OverdueParcel(r.parcel_id, r.tracking_number, r.promised_by) for r in rows]
