"""Consuming events: a service subscribes a handler with one declaration, the kit does the rest.

    subscriptions = Subscriptions("orders")

    @subscriptions.on(inventory_events.StockAvailable)
    async def stock_available(conn: AsyncConnection, events: Sequence[Received[StockAvailable]]) -> None:
        ...  # the effect, in the transaction ``conn``

The kit runs each subscription on a durable JetStream consumer (``<service>-<event>``) that every replica of
the service shares. A batch of messages is applied in one transaction together with their event ids in the
service's inbox, so an event applied once is never applied again, however often it is delivered; messages
are acknowledged only after that commit. If a batch fails, its messages are applied one by one to find the
failing one, which is redelivered with back-off; after ``SHOP_EVENT_MAX_ATTEMPTS`` tries it moves to the
dead-letter stream (``libs.dead_letters``) and the events behind it go on. Each message gets a CONSUMER
span whose parent is the producer's span, so the asynchronous hop stays inside the flow's trace (made only
when it may be kept, ``ConsumerSpans``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.js import api
from opentelemetry import propagate, trace
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import config
from libs.bulk import array_type
from libs.db import Database
from libs.event_bus import BUS_ERRORS, EventBus
from libs.events import (
    AGGREGATE_HEADER,
    EVENT_TYPE_HEADER,
    MSG_ID_HEADER,
    PUBLISHED_AT_HEADER,
    EventSpec,
    catalogue,
    stream_name,
)
from libs.outbox import backoff
from libs.pull_feed import FeedBroken, PullFeed
from libs.upsert import insert

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

E = TypeVar("E", bound=Message)


@dataclass(frozen=True)
class Received(Generic[E]):
    """An event as a handler sees it."""

    event: E
    event_id: uuid.UUID
    subject: str
    aggregate_id: str
    published_at: datetime | None
    # 1 on first delivery.
    attempt: int
    # W3C traceparent of this event's consumer span: work the handler leaves for later joins the trace.
    traceparent: str


Handler = Callable[[AsyncConnection, Sequence[Received[E]]], Awaitable[None]]

#: Messages per transaction unless a subscription says otherwise. A batch's events share its time, and one
#: that takes the slow-trace threshold (SHOP_TRACE_SLOW_MS, 500 ms) keeps every event's span: batches
#: should stay well below it.
DEFAULT_BATCH_SIZE = 200


@dataclass(frozen=True)
class Subscription(Generic[E]):
    """One handler of one event for one service."""

    service: str
    spec: EventSpec
    handler: Handler[E]
    # Called after a batch commits (e.g. to wake the worker that does the follow-up work).
    after_commit: Callable[[], None] | None = None
    # Most messages one transaction applies.
    batch_size: int = DEFAULT_BATCH_SIZE
    # Batches applied at once, each in its own transaction.
    in_flight: int = 1

    @property
    def durable(self) -> str:
        return self.spec.durable_name(self.service)

    @property
    def stream(self) -> str:
        return stream_name(self.spec.publisher)


class Subscriptions:
    """The event handlers of one service."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._by_subject: dict[str, Subscription[Any]] = {}

    def on(
        self,
        event: type[E],
        *,
        after_commit: Callable[[], None] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        in_flight: int = 1,
    ) -> Callable[[Handler[E]], Handler[E]]:
        """Declares ``handler`` for ``event``; the catalogue must name this service as a consumer of it.

        A bigger ``batch_size`` spreads each batch's fixed statements over more events, for a handler
        whose events come in bursts; the batch then takes longer, and all its events wait for it.

        ``in_flight`` batches are applied at once, each in its own transaction, so that the service's
        work on one overlaps the database's on another. Their commits may then come in any order: only
        for events whose effects do not depend on each other's order (as every replica's batches must
        already be)."""
        spec = catalogue().of(event)
        if not any(c.service == self.service for c in spec.consumers):
            raise ValueError(
                f"{self.service} does not consume {spec.full_name}: add it to the event's consumers in its "
                f"events.proto (option (shop.common.v1.event))"
            )
        if spec.subject in self._by_subject:
            raise ValueError(f"{self.service} subscribes to {spec.subject} twice")
        if batch_size < 1:
            raise ValueError(f"{spec.full_name}: batch_size must be at least 1")
        if in_flight < 1:
            raise ValueError(f"{spec.full_name}: in_flight must be at least 1")

        def register(handler: Handler[E]) -> Handler[E]:
            self._by_subject[spec.subject] = Subscription(
                self.service, spec, handler, after_commit, batch_size, in_flight
            )
            return handler

        return register

    def __iter__(self) -> Iterator[Subscription[Any]]:
        return iter(self._by_subject.values())

    def for_subject(self, subject: str) -> Subscription[Any] | None:
        return self._by_subject.get(subject)


class PoisonMessage(Exception):
    """A message no attempt can apply (not the declared event type, undecodable): dead-lettered at once."""


@dataclass(frozen=True)
class Delivery:
    """A message as the broker delivered it (or as it was kept in the dead-letter stream)."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    attempt: int

    @classmethod
    def of(cls, msg: Msg) -> Delivery:
        return cls(msg.subject, msg.data, msg.headers or {}, _delivered(msg))

    @property
    def event_id(self) -> str:
        return self.headers.get(MSG_ID_HEADER, "")


def _delivered(msg: Msg) -> int:
    """How often the broker has delivered ``msg``: read from its reply subject
    (``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``) by hand, as
    nats-py's ``metadata`` builds its times and sequence pairs too, some 8 us a message."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK" and tokens[4].isdigit():
        return int(tokens[4])
    return msg.metadata.num_delivered  # the longer form, with a domain and an account


def _published_at(headers: Mapping[str, str]) -> datetime | None:
    raw = headers.get(PUBLISHED_AT_HEADER, "")
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Decoded:
    """A delivery with its event id and its event, checked against the subscription."""

    delivery: Delivery
    event_id: uuid.UUID
    event: Message


def _traceparent(span: trace.Span) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}" if ctx.is_valid else ""


def _unsampled(headers: Mapping[str, str]) -> bool:
    """Whether the producer's W3C traceparent says its flow is not sampled (flags without bit 0). Read by
    hand: this is asked for every event, and the propagator's full parse costs ten times more."""
    parts = headers.get("traceparent", "").split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
        return False
    try:
        return not int(parts[3], 16) & 1
    except ValueError:
        return False


class ConsumerSpans:
    """The CONSUMER spans of one batch of deliveries, each a child of its producer's span.

    An event whose flow is sampled gets its span at once. The span of one that is not is made only if the
    batch fails or is slow (``SHOP_TRACE_SLOW_MS``), after the fact with the batch's times, since only
    then would the tail keep it (``libs.sampling``): the span is the same, and the nine events in ten
    that no one keeps do not pay some 50 us each for a span dropped at its end. Their handler's work
    carries the producer's trace context (``traceparent``) instead."""

    def __init__(self, name: str, deliveries: Sequence[Delivery], slow_ms: float) -> None:
        self.name = name
        self.deliveries = deliveries
        self.slow_ns = int(slow_ms * 1_000_000)
        self.started_ns = time.time_ns()
        self.live: dict[int, trace.Span] = {}
        self.deferred: list[int] = []
        for i, d in enumerate(deliveries):
            if _unsampled(d.headers):
                self.deferred.append(i)
            else:
                self.live[i] = self._start(i, self.started_ns)

    def _start(self, i: int, start_ns: int) -> trace.Span:
        d = self.deliveries[i]
        span = _tracer.start_span(
            self.name,
            context=propagate.extract(dict(d.headers)),
            kind=trace.SpanKind.CONSUMER,
            # One attribute besides: the name says the subject, the consumer is <service>-<event name>.
            attributes={"messaging.message.id": d.event_id},
            start_time=start_ns,
        )
        if d.attempt > 1:
            span.set_attribute("shop.event_attempt", d.attempt)
        return span

    def current(self) -> trace.Span:
        """The span the batch's work runs in: the first live one, else the first producer's context."""
        if self.live:
            return next(iter(self.live.values()))
        parent = propagate.extract(dict(self.deliveries[0].headers))
        return trace.get_current_span(parent)

    def traceparent(self, i: int) -> str:
        """The trace context that the handler's later work of delivery ``i`` continues."""
        span = self.live.get(i)
        return _traceparent(span) if span is not None else self.deliveries[i].headers.get("traceparent", "")

    def duplicate(self, i: int) -> None:
        span = self.live.get(i)
        if span is not None:
            span.set_attribute("shop.duplicate", True)

    def end(self, failure: BaseException | None) -> None:
        """Ends the batch's spans; makes the deferred ones first if the tail would keep them."""
        ended_ns = time.time_ns()
        if self.deferred and (failure is not None or ended_ns - self.started_ns >= self.slow_ns):
            for i in self.deferred:
                self.live[i] = self._start(i, self.started_ns)
        for span in self.live.values():
            if failure is not None:
                span.record_exception(failure)
                span.set_status(trace.StatusCode.ERROR, str(failure)[:500])
            span.end(end_time=ended_ns)


class Applier:
    """Applies deliveries of one subscription exactly once: inbox row and effect in one transaction."""

    def __init__(self, database: Database, inbox: sa.Table, subscription: Subscription[Any]) -> None:
        self.database = database
        self.inbox = inbox
        self.subscription = subscription
        self.slow_ms = config.trace_slow_ms()
        # One statement for any batch size, so it is compiled and prepared once.
        ids = sa.bindparam("ids", type_=array_type(pg.UUID(as_uuid=True)))
        topics = sa.bindparam("topics", type_=array_type(sa.Text))
        recorded = (
            insert(inbox)
            .from_select(["event_id", "topic"], sa.select(sa.func.unnest(ids), sa.func.unnest(topics)))
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
            .cte("recorded")
        )
        given = sa.func.unnest(ids).table_valued("event_id").render_derived(name="given")
        # Records the batch and answers the ids seen before: almost always none, where answering the
        # recorded ones would load a thousand rows for every thousand events.
        self._record = sa.select(given.c.event_id).where(
            given.c.event_id.not_in(sa.select(recorded.c.event_id))
        )

    def decode(self, delivery: Delivery) -> Decoded:
        """Raises PoisonMessage for a message no attempt can apply."""
        spec = self.subscription.spec
        declared = delivery.headers.get(EVENT_TYPE_HEADER, spec.full_name)
        if declared != spec.full_name:
            raise PoisonMessage(f"{delivery.subject} carries {declared}, not {spec.full_name}")
        try:
            event_id = uuid.UUID(delivery.event_id)
        except ValueError:
            raise PoisonMessage(f"no event id (Nats-Msg-Id) on {delivery.subject}") from None
        try:
            return Decoded(delivery, event_id, spec.message.FromString(delivery.data))
        except DecodeError as err:
            raise PoisonMessage(f"undecodable {spec.full_name}: {err}") from None

    async def apply(self, deliveries: Sequence[Delivery], *, operation: str = "process") -> set[uuid.UUID]:
        """Applies what the inbox has not seen yet; returns the event ids applied now. Raises on failure
        (nothing of the batch is then written)."""
        return await self.apply_decoded([self.decode(d) for d in deliveries], operation=operation)

    async def apply_decoded(
        self, decoded: Sequence[Decoded], *, operation: str = "process"
    ) -> set[uuid.UUID]:
        spans = ConsumerSpans(
            f"{operation} {decoded[0].delivery.subject}", [d.delivery for d in decoded], self.slow_ms
        )
        failure: BaseException | None = None
        try:
            with trace.use_span(spans.current(), end_on_exit=False):
                applied = await self._apply(decoded, spans)
        except BaseException as err:
            failure = err
            raise
        finally:
            spans.end(failure)
        if applied and self.subscription.after_commit is not None:
            self.subscription.after_commit()
        return applied

    async def _apply(self, decoded: Sequence[Decoded], spans: ConsumerSpans) -> set[uuid.UUID]:
        unique = {d.event_id: (i, d) for i, d in enumerate(decoded)}
        async with self.database.transaction() as conn:
            recorded = await conn.execute(
                self._record,
                {"ids": list(unique), "topics": [d.delivery.subject for _, d in unique.values()]},
            )
            seen = set(recorded.scalars())
            fresh = unique.keys() - seen
            received = []
            for event_id, (i, d) in unique.items():
                if event_id in seen:
                    spans.duplicate(i)
                    continue
                received.append(
                    Received(
                        event=d.event,
                        event_id=event_id,
                        subject=d.delivery.subject,
                        aggregate_id=d.delivery.headers.get(AGGREGATE_HEADER, ""),
                        published_at=_published_at(d.delivery.headers),
                        attempt=d.delivery.attempt,
                        traceparent=spans.traceparent(i),
                    )
                )
            if received:
                await self.subscription.handler(conn, received)
        return fresh


#: Errors after which a consumer subscribes again once the bus is back.
RESUBSCRIBE: tuple[type[BaseException], ...] = (*BUS_ERRORS, FeedBroken)

DeadLetterSink = Callable[[Subscription[Any], Msg, str], Awaitable[None]]


class EventConsumer:
    """Runs one subscription on its durable JetStream consumer until stopped."""

    def __init__(
        self, bus: EventBus, applier: Applier, dead_letter: DeadLetterSink, *, idle_seconds: float = 1.0
    ) -> None:
        self.bus = bus
        self.applier = applier
        self.subscription = applier.subscription
        self.dead_letter = dead_letter
        self.batch_size = self.subscription.batch_size
        self.idle_seconds = idle_seconds
        self.settings = config.event_settings()

    async def run(self, stop: asyncio.Event) -> None:
        """Declares the durable consumer and applies its messages until ``stop`` is set; subscribes again
        (declaring the consumer again) whenever the bus or the feed was lost."""
        while not stop.is_set():
            if not await self.bus.wait_ready(stop, within=self.idle_seconds):
                continue
            try:
                await self._bind()
                await self._consume(stop)
            except RESUBSCRIBE as err:
                log.warning(
                    "event consumer lost the bus; resubscribing",
                    extra={"consumer": self.subscription.durable, "error": repr(err)},
                )
            except Exception:
                log.exception(
                    "event consumer failed; resubscribing", extra={"consumer": self.subscription.durable}
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.idle_seconds)

    async def _bind(self) -> None:
        sub = self.subscription
        js = self.bus.js
        await js.add_consumer(
            sub.stream,
            api.ConsumerConfig(
                durable_name=sub.durable,
                description=f"{sub.service} consumes {sub.spec.full_name}",
                filter_subject=sub.spec.subject,
                deliver_policy=api.DeliverPolicy.ALL,
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=self.settings.ack_wait_seconds,
                # The kit counts attempts itself and dead-letters the message; the server never gives up
                # on its own, or a crash during the last attempt would lose the message silently.
                max_deliver=-1,
                max_ack_pending=max(1000, self.batch_size * 4),
            ),
        )

    async def _consume(self, stop: asyncio.Event) -> None:
        assert self.bus.nc is not None
        in_flight = self.subscription.in_flight
        feed = PullFeed(
            self.bus.nc,
            self.subscription.stream,
            self.subscription.durable,
            batch=self.batch_size * in_flight,
        )
        await feed.start()
        running: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                if len(running) >= in_flight:
                    done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()
                    continue
                msgs = await feed.next_batch(self.batch_size, wait=self.idle_seconds)
                if not msgs:
                    continue
                if in_flight == 1:
                    await self.handle(msgs)
                else:
                    running.add(asyncio.create_task(self.handle(msgs)))
        finally:
            # Batches in flight finish and settle their messages before the feed goes.
            await asyncio.gather(*running, return_exceptions=True)
            await feed.stop()

    async def handle(self, msgs: Sequence[Msg]) -> None:
        """Applies a fetched batch and settles every message: ack, redeliver later, or dead-letter."""
        good: list[tuple[Msg, Decoded]] = []
        for msg in msgs:
            try:
                good.append((msg, self.applier.decode(Delivery.of(msg))))
            except PoisonMessage as err:
                await self._give_up(msg, str(err))
        if len(good) > 1:
            try:
                await self.applier.apply_decoded([d for _, d in good])
            except Exception as err:
                log.info(
                    "event batch failed; applying one by one",
                    extra={"consumer": self.subscription.durable, "error": repr(err)},
                )
            else:
                for msg, _ in good:
                    await msg.ack()
                return
        for msg, decoded in good:
            await self._one(msg, decoded)

    async def _one(self, msg: Msg, decoded: Decoded) -> None:
        try:
            await self.applier.apply_decoded([decoded])
        except Exception as err:
            attempt = msg.metadata.num_delivered
            error = f"{type(err).__name__}: {err}"
            if attempt >= self.settings.max_attempts:
                await self._give_up(msg, error)
                return
            delay = backoff(attempt).total_seconds()
            log.warning(
                "event handler failed; redelivering",
                extra={
                    "consumer": self.subscription.durable,
                    "attempt": attempt,
                    "delay": delay,
                    "error": error,
                },
            )
            await msg.nak(delay=delay)
            return
        await msg.ack()

    async def _give_up(self, msg: Msg, error: str) -> None:
        try:
            await self.dead_letter(self.subscription, msg, error)
        except BUS_ERRORS as err:
            # Not kept anywhere yet: let the broker deliver it again and try once more.
            log.warning("dead-lettering failed; redelivering", extra={"error": repr(err)})
            await msg.nak(delay=1.0)
            return
        await msg.term()
