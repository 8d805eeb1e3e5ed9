"""The transactional outbox and its relay to NATS JetStream.

A fact another service must learn is written with ``publish`` in the same transaction as the change that
caused it, so it exists exactly when the change does; its subject comes from the event catalogue
(``libs.events``). The relay claims pending rows with ``FOR UPDATE SKIP LOCKED`` (so several replicas share
the work), publishes them to JetStream with the event id as ``Nats-Msg-Id`` (the broker drops a second copy
within its duplicate window) and the W3C trace context in the headers, and marks them delivered only after
the broker's acknowledgement. A commit wakes the relay at once through PostgreSQL NOTIFY (a trigger on the
outbox); a slow poll covers anything the notification missed.

Delivery is at least once; consumers apply each event once by their inbox (``libs.subscriptions``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from google.protobuf.message import Message
from opentelemetry import propagate, trace
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.bulk import arrays, insert_rows
from libs.db import Database, Notifications
from libs.events import catalogue
from libs.kit_tables import OUTBOX_NOTIFY_CHANNEL
from libs.telemetry import untraced

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class OutboxEvent:
    """An event as the relay hands it to the broker."""

    event_id: uuid.UUID
    subject: str
    aggregate_id: str
    payload_type: str
    payload: bytes
    traceparent: str
    tracestate: str
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class Refused:
    """The broker answered but did not store the event (no stream for the subject, too large ...):
    retried with back-off, and the error is kept on the row."""

    error: str


class Unsent:
    """No answer from the broker (down, reconnecting, timed out): the event is tried again as soon as the
    bus is back, and no attempt is counted against it."""


UNSENT = Unsent()

#: None when the broker acknowledged the event.
Outcome = None | Refused | Unsent

#: Publishes a batch, in order; one outcome per event.
PublishBatch = Callable[[Sequence[OutboxEvent]], Awaitable[list[Outcome]]]


async def publish(conn: AsyncConnection, outbox: sa.Table, aggregate_id: str, event: Message) -> uuid.UUID:
    """Adds ``event`` to the outbox inside the caller's transaction.

    The subject is the one the event's message declares in the catalogue. The event gets a PRODUCER span
    (``create <subject>``, the messaging conventions' name for a message made now and sent later), child
    of the current span; its context goes with the event, so the consumer's span becomes its child and
    the trace crosses the broker.
    """
    (event_id,) = await publish_many(conn, outbox, [(aggregate_id, event)])
    return event_id


def rows_for(events: Sequence[tuple[str, Message]]) -> list[dict[str, object]]:
    """The outbox rows of (aggregate id, event) pairs (``COLUMNS``), each with a new event id and the
    context of its PRODUCER span, for a statement that writes them with other rows (``publish_many``
    writes them alone).

    The events of one subject share one PRODUCER span (``create <subject>``, with the batch's message
    count, as the messaging conventions make a batch's span); each event carries its context, so every
    consumer's span is its child. A span per event would cost a batch of hundreds more than its SQL.
    """
    given = [(aggregate_id, event, catalogue().of(event), uuid.uuid4()) for aggregate_id, event in events]
    by_subject: dict[str, list[uuid.UUID]] = {}
    for _, _, kind, event_id in given:
        by_subject.setdefault(kind.subject, []).append(event_id)
    contexts: dict[str, dict[str, str]] = {}
    for subject, event_ids in by_subject.items():
        attributes: dict[str, str | int] = {
            "messaging.system": "nats",
            "messaging.operation.type": "create",
            "messaging.destination.name": subject,
        }
        if len(event_ids) == 1:
            attributes["messaging.message.id"] = str(event_ids[0])
        else:
            attributes["messaging.batch.message_count"] = len(event_ids)
        with _tracer.start_as_current_span(
            f"create {subject}", kind=trace.SpanKind.PRODUCER, attributes=attributes
        ):
            contexts[subject] = {}
            propagate.inject(contexts[subject])
    return [
        {
            "event_id": event_id,
            "topic": kind.subject,
            "aggregate_id": aggregate_id,
            "payload_type": kind.full_name,
            "payload": event.SerializeToString(deterministic=True),
            "traceparent": contexts[kind.subject].get("traceparent", ""),
            "tracestate": contexts[kind.subject].get("tracestate", ""),
        }
        for aggregate_id, event, kind, event_id in given
    ]


async def publish_many(
    conn: AsyncConnection, outbox: sa.Table, events: Sequence[tuple[str, Message]]
) -> list[uuid.UUID]:
    """Adds (aggregate id, event) pairs to the outbox in one statement, in the caller's transaction;
    returns their event ids in the order given."""
    rows = rows_for(events)
    if rows:
        await conn.execute(insert_rows(outbox, COLUMNS), arrays(rows, COLUMNS))
    return [cast(uuid.UUID, row["event_id"]) for row in rows]


_NO_SORT = sa.text("SET LOCAL enable_sort = off")
#: The columns of an outbox row, as ``rows_for`` gives them.
COLUMNS = ("event_id", "topic", "aggregate_id", "payload_type", "payload", "traceparent", "tracestate")


def backoff(attempts: int, *, base: float = 0.5, cap: float = 30.0) -> timedelta:
    """Delay before retry number ``attempts`` (1-based): doubling from ``base`` up to ``cap`` seconds."""
    # The exponent is bounded so that an event failing for days never overflows the float arithmetic.
    return timedelta(seconds=min(cap, base * (2 ** min(max(0, attempts - 1), 60))))


class BusUnavailable(Exception):
    """The broker did not answer; the relay waits for the connection before it claims more rows."""


class OutboxRelay:
    """Publishes pending outbox rows through ``publish_batch``."""

    def __init__(
        self, database: Database, outbox: sa.Table, publish_batch: PublishBatch, *, batch_size: int = 500
    ) -> None:
        self.database = database
        self.outbox = outbox
        self.publish_batch = publish_batch
        self.batch_size = batch_size

    async def run_once(self) -> int:
        """Claims and publishes one batch; returns how many events the broker acknowledged.

        Raises BusUnavailable (after marking what was acknowledged) when the broker stopped answering.
        """
        t = self.outbox
        with untraced():  # the relay's poll is housekeeping; each event carries its own flow's trace
            return await self._publish_pending(t)

    async def _publish_pending(self, t: sa.Table) -> int:
        async with self.database.transaction() as conn:
            # A backlog grows faster than the table's statistics: planned from a stale count, the claim
            # sorted the whole backlog (250 ms at 50,000 pending, on every claim). Without sorts the plan
            # is the pending index, read in order, stopping at the batch: a few milliseconds at any size.
            await conn.execute(_NO_SORT)
            rows = (
                await conn.execute(
                    sa.select(t)
                    .where(t.c.delivered_at.is_(None), t.c.next_attempt_at <= sa.func.now())
                    # The pending index's order (a new event's next attempt is its creation): the oldest
                    # rows come straight off the index. Ordering by created_at sorted the whole backlog
                    # on every claim, which made a relay that fell behind fall further behind.
                    .order_by(t.c.next_attempt_at)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            events = [
                OutboxEvent(
                    event_id=r.event_id,
                    subject=r.topic,
                    aggregate_id=r.aggregate_id,
                    payload_type=r.payload_type,
                    payload=r.payload,
                    traceparent=r.traceparent,
                    tracestate=r.tracestate,
                    attempts=r.attempts,
                    created_at=r.created_at,
                )
                for r in rows
            ]
            outcomes = await self.publish_batch(events)
            acked = [e.event_id for e, o in zip(events, outcomes, strict=True) if o is None]
            if acked:
                await conn.execute(
                    t.update().where(t.c.event_id.in_(acked)).values(delivered_at=sa.func.now())
                )
            for event, outcome in zip(events, outcomes, strict=True):
                if isinstance(outcome, Refused):
                    attempts = event.attempts + 1
                    log.warning(
                        "event refused by the broker",
                        extra={"subject": event.subject, "error": outcome.error, "attempts": attempts},
                    )
                    await conn.execute(
                        t.update()
                        .where(t.c.event_id == event.event_id)
                        .values(
                            attempts=attempts,
                            next_attempt_at=sa.func.now() + backoff(attempts),
                            last_error=outcome.error[:2000],
                        )
                    )
        if any(isinstance(o, Unsent) for o in outcomes):
            raise BusUnavailable(f"{sum(isinstance(o, Unsent) for o in outcomes)} events unanswered")
        return len(acked)

    async def run_forever(
        self,
        stop: asyncio.Event,
        *,
        bus_ready: Callable[[asyncio.Event], Awaitable[bool]] | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        """Publishes until ``stop`` is set: at once after each outbox commit, else every ``poll_seconds``.

        ``bus_ready`` waits for the broker connection (returning False if ``stop`` came first).
        """
        wakeups = Notifications(self.database.url, OUTBOX_NOTIFY_CHANNEL)
        try:
            while not stop.is_set():
                if bus_ready is not None and not await bus_ready(stop):
                    continue
                try:
                    if await self.run_once() >= self.batch_size:
                        continue  # more are waiting
                except BusUnavailable as err:
                    log.warning("event bus did not answer; waiting", extra={"error": str(err)})
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
                    continue
                except Exception:
                    log.exception("outbox relay pass failed")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
                    continue
                await wakeups.wait(stop, poll_seconds)
        finally:
            await wakeups.close()
