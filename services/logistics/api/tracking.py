"""Carriers' tracking events and the exception cases they open (LOG-6)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from shop.logistics.v1 import logistics_pb2 as pb

from libs import identity
from libs.db import Database
from libs.errors import InvalidArgument, Violations
from libs.telemetry import set_attributes
from libs.timestamps import from_timestamp, to_timestamp
from services.logistics.api.enums import CONTACT_CHANNEL, EXCEPTION_KIND, RESOLUTION, TRACKING_STATE
from services.logistics.domain.tracking import (
    CaseEntry,
    ExceptionCase,
    PushedEvent,
    TrackingEvent,
    checked_batch,
)
from services.logistics.store import tracking as store
from services.logistics.store.tracking import StoredCase

#: A carrier's batch holds 1 to this many events (the contract's limit).
MAX_BATCH = 500
#: Cases listed when the request names no limit, and the most it may name.
DEFAULT_LIMIT, MAX_LIMIT = 200, 500


# ------------------------------------------------------------------------------------------- requests


def _state_text(number: int) -> str:
    """The state's domain name, or for an unset or unknown number its contract name (or the number), which
    the domain's check then refuses by name."""
    try:
        return TRACKING_STATE.from_pb(number, field="state").value
    except InvalidArgument:
        known = pb.TrackingState.DESCRIPTOR.values_by_number.get(number)
        return known.name if known is not None else str(number)


def _moment(v: Violations, path: str, value: Timestamp, given: bool) -> datetime | None:
    """The event's time in UTC; None when unset (the domain names it) or not a time at all (named here)."""
    if not given:
        return None
    try:
        return from_timestamp(value)
    except (ValueError, OverflowError):
        v.add(path, "is not a valid time")
        return None


def pushed_from_pb(v: Violations, path: str, event: pb.TrackingEvent) -> PushedEvent:
    """One item of a carrier's batch as it arrived; a time that is no time is added to ``v``."""
    return PushedEvent(
        event_id=event.event_id,
        tracking_number=event.tracking_number,
        state=_state_text(event.state),
        at=_moment(v, f"{path}.at", event.at, event.HasField("at")),
        location=event.location,
        note=event.note,
    )


def checked_events(items: list[pb.TrackingEvent], now: datetime) -> list[tuple[str, TrackingEvent]]:
    """The batch as (request path, event), each distinct event once; every fault of every item is named
    ``events[i].<field>`` in one InvalidArgument, and one bad item refuses the batch."""
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidArgument.for_field("events", f"send 1 to {MAX_BATCH} events, got {len(items)}")
    faults = Violations()
    pushed = [pushed_from_pb(faults, f"events[{i}]", e) for i, e in enumerate(items)]
    try:
        events = checked_batch(pushed, now=now)
    except InvalidArgument as refused:
        # A time that could not be read is named once, as such, not again as missing.
        named = {f.field for f in faults.items}
        faults.items.extend(f for f in refused.violations if f.field not in named)
        faults.raise_if_any()
        raise
    faults.raise_if_any()
    # The checked events are the items in request order, each repeated id after its first dropped.
    first_paths: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(pushed):
        if item.event_id.strip() not in seen:
            seen.add(item.event_id.strip())
            first_paths.append(f"events[{i}]")
    return list(zip(first_paths, events, strict=True))


def _case_id(request_case_id: str) -> str:
    case_id = request_case_id.strip()
    if not case_id:
        raise InvalidArgument.for_field("case_id", "is required")
    set_attributes(case_id=case_id)
    return case_id


# ------------------------------------------------------------------------------------------- answers


def _entry_to_pb(entry: CaseEntry) -> pb.CaseEntry:
    return pb.CaseEntry(at=to_timestamp(entry.at), actor=entry.actor, what=entry.what, detail=entry.detail)


def case_to_pb(stored: StoredCase) -> pb.ExceptionCase:
    """A case as the contract shows it, with its parcel's orders and every step."""
    case = stored.case
    return pb.ExceptionCase(
        case_id=case.case_id,
        parcel_id=stored.parcel_id,
        tracking_number=case.tracking_number,
        order_ids=list(stored.order_ids),
        kind=EXCEPTION_KIND.to_pb(case.kind),
        owner=case.owner,
        opened_at=to_timestamp(case.opened_at),
        customer_told_at=to_timestamp(case.customer_told_at) if case.customer_told_at else None,
        resolution=RESOLUTION.to_pb_or_unspecified(case.resolution),
        resolved_at=to_timestamp(case.resolved_at) if case.resolved_at else None,
        history=[_entry_to_pb(e) for e in case.history],
    )


# ------------------------------------------------------------------------------------------- the API


class TrackingApi:
    db: Database

    async def RecordTrackingEvents(
        self, request: pb.RecordTrackingEventsRequest, context: Any
    ) -> pb.RecordTrackingEventsResponse:
        caller = identity.current()
        now = datetime.now(UTC)
        events = checked_events(list(request.events), now)
        async with self.db.transaction() as conn:
            done = await store.record_batch(
                conn, events, actor=caller.subject, at=now, visible=caller.acts_for
            )
        return pb.RecordTrackingEventsResponse(
            recorded=done.recorded,
            repeated=done.repeated,
            delivered=list(done.delivered),
            opened=[case_to_pb(c) for c in done.opened],
        )

    async def ListExceptionCases(
        self, request: pb.ListExceptionCasesRequest, context: Any
    ) -> pb.ListExceptionCasesResponse:
        identity.current()
        limit = request.limit or DEFAULT_LIMIT
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidArgument.for_field("limit", f"must be between 1 and {MAX_LIMIT}")
        async with self.db.connection() as conn:
            found = await store.list_cases(conn, include_resolved=request.include_resolved, limit=limit)
        return pb.ListExceptionCasesResponse(cases=[case_to_pb(c) for c in found])

    async def AssignExceptionCase(
        self, request: pb.AssignExceptionCaseRequest, context: Any
    ) -> pb.AssignExceptionCaseResponse:
        caller = identity.current()
        case_id = _case_id(request.case_id)
        at = datetime.now(UTC)

        def assign(case: ExceptionCase) -> None:
            case.assign(request.owner, actor=caller.subject, at=at)

        stored = await self._command(case_id, assign)
        return pb.AssignExceptionCaseResponse(exception_case=case_to_pb(stored))

    async def RecordCustomerTold(
        self, request: pb.RecordCustomerToldRequest, context: Any
    ) -> pb.RecordCustomerToldResponse:
        caller = identity.current()
        case_id = _case_id(request.case_id)
        channel = CONTACT_CHANNEL.from_pb(request.channel, field="channel")
        at = datetime.now(UTC)

        def told(case: ExceptionCase) -> None:
            case.record_customer_told(channel, request.note, actor=caller.subject, at=at)

        stored = await self._command(case_id, told)
        return pb.RecordCustomerToldResponse(exception_case=case_to_pb(stored))

    async def ResolveExceptionCase(
        self, request: pb.ResolveExceptionCaseRequest, context: Any
    ) -> pb.ResolveExceptionCaseResponse:
        caller = identity.current()
        case_id = _case_id(request.case_id)
        resolution = RESOLUTION.from_pb(request.resolution, field="resolution")
        at = datetime.now(UTC)

        def resolve(case: ExceptionCase) -> None:
            case.resolve(resolution, request.note, actor=caller.subject, at=at)

        stored = await self._command(case_id, resolve)
        return pb.ResolveExceptionCaseResponse(exception_case=case_to_pb(stored))

    async def _command(self, case_id: str, command: Callable[[ExceptionCase], None]) -> StoredCase:
        """Runs a case command on the locked case and stores (and publishes) what it changed."""
        async with self.db.transaction() as conn:
            before = await store.get_case(conn, case_id, lock=True)
            # The domain's commands change a case in place: they run on a copy, so ``before`` still says
            # what is stored and ``save_case`` writes only the difference.
            case = replace(before.case)
            command(case)
            return await store.save_case(conn, before, case)
