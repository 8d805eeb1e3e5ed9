"""A continuous pull from a durable JetStream consumer: messages flow in as the broker stores them, and
the consumer takes them in batches.

nats-py's ``fetch()`` makes one pull request per call and, when fewer messages are waiting than it asked
for, holds the call open until its timeout, so a lone event waits out the fetch. This keeps pull requests
outstanding instead (the broker delivers into a local buffer the moment a message is stored) and tops
them up as they are used, the way the Go client's ``Consume()`` does. The broker bounds what is in
flight by the consumer's ``max_ack_pending``; the outstanding requests bound the buffer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

#: JetStream's status codes on pull-request replies (a message with a Status header and no data).
HEARTBEAT = "100"
NO_MESSAGES = "404"
REQUEST_TIMEOUT = "408"
CONFLICT = "409"


class FeedBroken(Exception):
    """The broker ended the feed (the consumer was deleted, leadership moved ...): subscribe again."""


class PullFeed:
    """Outstanding pull requests for one durable consumer, and the messages they brought."""

    def __init__(self, nc: Client, stream: str, durable: str, *, batch: int, expires: float = 5.0) -> None:
        self.nc = nc
        self.next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.batch = batch
        self.expires = expires
        self._buffer: collections.deque[Msg] = collections.deque()
        self._arrived = asyncio.Event()
        self._credit = 0  # messages the outstanding requests may still bring
        self._heard_at = time.monotonic()
        self._broken: str | None = None
        self._inbox = ""
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(self._inbox, cb=self._receive)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _receive(self, msg: Msg) -> None:
        self._heard_at = time.monotonic()
        status = (msg.headers or {}).get("Status") if not msg.data else None
        if status is None:
            self._buffer.append(msg)
            self._credit -= 1
            self._arrived.set()
            return
        if status in (NO_MESSAGES, REQUEST_TIMEOUT):
            # A request ended; the broker says how much of it was left unused.
            try:
                self._credit -= int((msg.headers or {}).get("Nats-Pending-Messages", "0"))
            except ValueError:
                self._credit = 0
        elif status == CONFLICT:
            self._broken = (msg.headers or {}).get("Description", "conflict")
        self._arrived.set()

    async def _top_up(self) -> None:
        if self._broken is not None:
            raise FeedBroken(self._broken)
        if self._credit > 0 and time.monotonic() - self._heard_at > self.expires + 2:
            # Requests lost with a connection never answer; the broker may even have lost the consumer
            # (a new, empty server): subscribe again, which declares the consumer again.
            raise FeedBroken("no answer to the outstanding pull requests")
        if self._credit <= self.batch // 2:
            request = {"batch": self.batch, "expires": int(self.expires * 1e9)}
            await self.nc.publish(self.next_subject, json.dumps(request).encode(), reply=self._inbox)
            self._credit += self.batch
            self._heard_at = time.monotonic()

    async def next_batch(self, limit: int, wait: float) -> list[Msg]:
        """Up to ``limit`` messages: those already here, else the first that arrives within ``wait``
        seconds with whatever came with it. Raises FeedBroken when the broker ended the feed."""
        await self._top_up()
        if not self._buffer:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=wait)
        taken = [self._buffer.popleft() for _ in range(min(limit, len(self._buffer)))]
        await self._top_up()
        return taken
