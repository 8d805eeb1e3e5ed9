"""The connection to NATS JetStream, the same in every service process.

One connection per process, opened in the background and kept by the client's own reconnect logic: a
service starts and serves while NATS is down (its outbox keeps the events), and its relay and consumers
resume once the connection is back. The streams are declared from the event catalogue — one per publishing
service, holding ``shop.<service>.v1.>``, plus the dead-letter stream — and created or updated by whichever
process gets there first, so no deployment step has to create them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext, api

from libs import config
from libs.events import (
    AGGREGATE_HEADER,
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    EVENT_TYPE_HEADER,
    MSG_ID_HEADER,
    PUBLISHED_AT_HEADER,
    catalogue,
    stream_name,
    stream_subjects,
)

if TYPE_CHECKING:
    from libs.outbox import OutboxEvent, Outcome

log = logging.getLogger(__name__)

#: How long the relay waits for the broker's acknowledgements of a batch.
PUBLISH_TIMEOUT_SECONDS = 5.0

STREAM_EXISTS = 10058  # JetStream's err_code for "stream name already in use"

#: Errors that say the bus (not the message) is the problem: wait for the connection, count no attempt.
BUS_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    asyncio.TimeoutError,
    OSError,
)


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: list[str]
    max_age_seconds: float  # 0: kept until deleted


def stream_specs() -> list[StreamSpec]:
    """Every stream of the suite: one per publisher in the catalogue, and the dead letters."""
    settings = config.event_settings()
    streams = [
        StreamSpec(stream_name(p), stream_subjects(p), settings.stream_max_age_days * 86400)
        for p in catalogue().publishers()
    ]
    # Dead letters wait for an SRE however long it takes.
    streams.append(StreamSpec(DEAD_LETTER_STREAM, [f"{DEAD_LETTER_PREFIX}.>"], 0))
    return streams


class EventBus:
    """A process's connection to JetStream: ``connect`` opens it (and the client keeps it open), ``ready``
    says whether it can be used, ``close`` ends it."""

    def __init__(self, service: str, url: str | None = None) -> None:
        self.service = service
        self.url = url or config.nats_url()
        self.nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._ready = asyncio.Event()

    @property
    def js(self) -> JetStreamContext:
        """The JetStream context (one per connection: it holds the inbox of asynchronous publishes)."""
        if self._js is None:
            raise RuntimeError("the event bus is not connected")
        return self._js

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.nc is not None and self.nc.is_connected

    async def wait_ready(self, stop: asyncio.Event, within: float | None = None) -> bool:
        """Waits until the bus can be used (True) or ``stop`` is set / ``within`` seconds pass (False)."""
        waiters = {asyncio.ensure_future(self._ready.wait()), asyncio.ensure_future(stop.wait())}
        try:
            await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        return self.ready and not stop.is_set()

    async def connect(self, stop: asyncio.Event) -> bool:
        """Connects (retrying with back-off until ``stop``) and declares the streams; True when ready."""
        delay = 0.2
        while not stop.is_set():
            try:
                self.nc = await nats.connect(
                    servers=[s.strip() for s in self.url.split(",") if s.strip()],
                    name=self.service,
                    connect_timeout=2,
                    reconnect_time_wait=0.5,
                    max_reconnect_attempts=-1,
                    # Publishes made while reconnecting are buffered up to this size, then refused.
                    pending_size=8 * 1024 * 1024,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                    error_cb=self._error,
                )
                self._js = self.nc.jetstream(timeout=5.0)
                await self.ensure_streams()
                self._ready.set()
                log.info("event bus connected", extra={"url": self.url})
                return True
            except Exception as err:  # the broker is down or not yet up: try again
                log.warning("event bus not reachable, retrying", extra={"error": repr(err)})
                await self._close_quietly()
                self._js = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, 5.0)
        return False

    async def ensure_streams(self) -> None:
        """Creates the suite's streams, or updates them to the current settings."""
        js = self.js
        replicas = config.event_replicas()
        window = config.event_settings().duplicate_window_seconds
        for spec in stream_specs():
            cfg = api.StreamConfig(
                name=spec.name,
                subjects=spec.subjects,
                retention=api.RetentionPolicy.LIMITS,
                storage=api.StorageType.FILE,
                max_age=spec.max_age_seconds or None,
                duplicate_window=min(window, spec.max_age_seconds) if spec.max_age_seconds else window,
                num_replicas=replicas,
                discard=api.DiscardPolicy.OLD,
                allow_direct=True,
            )
            try:
                await js.add_stream(cfg)
            except nats.js.errors.BadRequestError as err:
                if err.err_code != STREAM_EXISTS:
                    raise
                await js.update_stream(cfg)

    async def publish_batch(self, events: Sequence[OutboxEvent]) -> list[Outcome]:
        """Publishes outbox events in order and waits for the broker's acknowledgements.

        Each message carries the trace context its event was written with (the PRODUCER span of
        ``libs.outbox.publish``), so the consumer's span becomes a child of it.
        """
        from libs.outbox import UNSENT, Refused

        js = self.js
        futures: list[asyncio.Future[api.PubAck] | None] = []
        for event in events:
            headers = {
                MSG_ID_HEADER: str(event.event_id),
                EVENT_TYPE_HEADER: event.payload_type,
                AGGREGATE_HEADER: event.aggregate_id,
                PUBLISHED_AT_HEADER: event.created_at.isoformat(),
            }
            if event.traceparent:
                headers["traceparent"] = event.traceparent
                if event.tracestate:
                    headers["tracestate"] = event.tracestate
            try:
                # No wait_stall: it would yield to the client's flusher after every message, one write
                # each; this way the batch goes out in a few writes (the batch is far below the cap).
                futures.append(await js.publish_async(event.subject, event.payload, headers=headers))
            except BUS_ERRORS:
                futures.append(None)
        pending = [f for f in futures if f is not None]
        if pending:
            await asyncio.wait(pending, timeout=PUBLISH_TIMEOUT_SECONDS)
        outcomes: list[Outcome] = []
        missing_stream = False
        for future in futures:
            outcome: Outcome
            if future is None or not future.done():
                if future is not None:
                    future.cancel()
                outcome = UNSENT
            elif future.cancelled():
                outcome = UNSENT
            elif (err := future.exception()) is None:
                outcome = None
            elif isinstance(err, BUS_ERRORS):
                missing_stream = missing_stream or isinstance(err, nats.js.errors.NoStreamResponseError)
                outcome = UNSENT
            else:
                outcome = Refused(f"{type(err).__name__}: {err}")
            outcomes.append(outcome)
        if missing_stream:
            await self.declare_streams_again()
        return outcomes

    async def declare_streams_again(self) -> None:
        """Declares the streams again: a broker that lost its data (a new, empty server) gets them back."""
        with contextlib.suppress(*BUS_ERRORS):
            await self.ensure_streams()

    async def close(self) -> None:
        self._ready.clear()
        self._js = None
        if self.nc is not None and self.nc.is_connected:
            # Acknowledgements are written without waiting for an answer: send what is buffered first.
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=2)
        await self._close_quietly()

    async def _close_quietly(self) -> None:
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()
        self.nc = None

    async def _disconnected(self) -> None:
        log.warning("event bus disconnected; reconnecting")

    async def _reconnected(self) -> None:
        log.info("event bus reconnected")
        # A broker restarted without its data has no streams: declare them again before publishing.
        await self.declare_streams_again()

    async def _error(self, err: Exception) -> None:
        log.warning("event bus error", extra={"error": repr(err)})
