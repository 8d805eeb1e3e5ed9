"""The transactional outbox, its relay, and the consumer's inbox.

A fact another service must learn is written with ``publish`` in the same transaction as the change that
caused it, so it exists exactly when the change does. ``OutboxRelay`` delivers pending events with
retries and exponential back-off; several relay replicas can run at once because each claims its batch
with ``FOR UPDATE SKIP LOCKED``. Delivery is at least once: consumers record each event id in their
inbox (``record_once``) in the transaction that applies it, which makes redelivery harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from google.protobuf.message import Message
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.db import Database

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class OutboxEvent:
    """An event as the relay hands it to a delivery function."""

    event_id: uuid.UUID
    topic: str
    aggregate_id: str
    payload_type: str
    payload: bytes
    traceparent: str
    tracestate: str
    attempts: int


async def publish(
    conn: AsyncConnection, outbox: sa.Table, topic: str, aggregate_id: str, event: Message
) -> uuid.UUID:
    """Adds ``event`` to the outbox inside the caller's transaction, with the current trace context."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    event_id = uuid.uuid4()
    await conn.execute(
        outbox.insert().values(
            event_id=event_id,
            topic=topic,
            aggregate_id=aggregate_id,
            payload_type=event.DESCRIPTOR.full_name,
            payload=event.SerializeToString(deterministic=True),
            traceparent=carrier.get("traceparent", ""),
            tracestate=carrier.get("tracestate", ""),
        )
    )
    return event_id


async def record_once(conn: AsyncConnection, inbox: sa.Table, event_id: uuid.UUID, topic: str) -> bool:
    """Records a received event in the consumer's inbox; False if it was already applied."""
    inserted = await conn.execute(
        insert(inbox)
        .values(event_id=event_id, topic=topic)
        .on_conflict_do_nothing()
        .returning(inbox.c.event_id)
    )
    return inserted.first() is not None


def backoff(attempts: int, *, base: float = 0.5, cap: float = 300.0) -> timedelta:
    """Delay before retry number ``attempts`` (1-based): doubling from ``base`` up to ``cap`` seconds."""
    # The exponent is bounded so that an event failing for days never overflows the float arithmetic.
    return timedelta(seconds=min(cap, base * (2 ** min(max(0, attempts - 1), 60))))


Deliver = Callable[[OutboxEvent], Awaitable[None]]


class OutboxRelay:
    """Delivers pending outbox events through ``deliver``; an exception schedules a retry."""

    def __init__(
        self, database: Database, outbox: sa.Table, deliver: Deliver, *, batch_size: int = 50
    ) -> None:
        self.database = database
        self.outbox = outbox
        self.deliver = deliver
        self.batch_size = batch_size

    async def run_once(self) -> int:
        """Claims and delivers one batch; returns how many events were delivered."""
        t = self.outbox
        delivered = 0
        async with self.database.transaction() as conn:
            rows = (
                await conn.execute(
                    sa.select(t)
                    .where(t.c.delivered_at.is_(None), t.c.next_attempt_at <= sa.func.now())
                    .order_by(t.c.created_at)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                event = OutboxEvent(
                    event_id=row.event_id,
                    topic=row.topic,
                    aggregate_id=row.aggregate_id,
                    payload_type=row.payload_type,
                    payload=row.payload,
                    traceparent=row.traceparent,
                    tracestate=row.tracestate,
                    attempts=row.attempts,
                )
                error = await self._deliver_in_trace(event)
                if error is None:
                    delivered += 1
                    await conn.execute(
                        t.update().where(t.c.event_id == row.event_id).values(delivered_at=sa.func.now())
                    )
                else:
                    attempts = row.attempts + 1
                    await conn.execute(
                        t.update()
                        .where(t.c.event_id == row.event_id)
                        .values(
                            attempts=attempts,
                            next_attempt_at=sa.func.now() + backoff(attempts),
                            last_error=error[:2000],
                        )
                    )
        return delivered

    async def _deliver_in_trace(self, event: OutboxEvent) -> str | None:
        carrier = {"traceparent": event.traceparent, "tracestate": event.tracestate}
        parent = propagate.extract(carrier)
        token = otel_context.attach(parent)
        try:
            with _tracer.start_as_current_span(
                f"outbox deliver {event.topic}",
                kind=trace.SpanKind.PRODUCER,
                attributes={"shop.event_id": str(event.event_id), "shop.topic": event.topic},
            ) as span:
                try:
                    await self.deliver(event)
                except Exception as exc:  # any failure means: try again later
                    span.record_exception(exc)
                    span.set_status(trace.StatusCode.ERROR, str(exc))
                    log.warning("outbox delivery failed", extra={"topic": event.topic, "error": str(exc)})
                    return f"{type(exc).__name__}: {exc}"
                return None
        finally:
            otel_context.detach(token)

    async def run_forever(self, stop: asyncio.Event, *, idle_seconds: float = 0.5) -> None:
        """Delivers until ``stop`` is set, sleeping while there is nothing to deliver."""
        while not stop.is_set():
            try:
                if await self.run_once():
                    continue
            except Exception:
                log.exception("outbox relay pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
