"""Readers of the stock change feed waiting for its next change (INV-10), long polls and streams alike.

Rather than each waiting reader reading pages over and over, one task per process looks at the feed's
tip (the newest change a reader can be given) every ``TIP_POLL_SECONDS`` while anyone waits, and wakes
the readers it has passed. A hundred integrators following the feed cost one indexed look per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from libs.db import Database
from services.inventory.store import stock_changes
from services.inventory.store.stock_changes import Cursor

log = logging.getLogger(__name__)

TIP_POLL_SECONDS = 0.1


class FeedTip:
    """The feed's tip as last seen, and the readers waiting for it to pass their cursor."""

    def __init__(self, database: Database, interval: float = TIP_POLL_SECONDS) -> None:
        self.db = database
        self.interval = interval
        self._tip = Cursor(0, 0)
        self._moved = asyncio.Event()  # set, and replaced, each time the tip moves
        self._waiting = 0
        self._watcher: asyncio.Task[None] | None = None

    async def wait_past(self, cursor: Cursor, seconds: float) -> bool:
        """Waits up to ``seconds`` until a change after ``cursor`` can be read; False if none came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        self._waiting += 1
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch())
        try:
            while self._tip <= cursor:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._moved.wait(), remaining)
            return True
        finally:
            self._waiting -= 1

    async def _watch(self) -> None:
        while self._waiting > 0:
            try:
                async with self.db.connection() as conn:
                    tip = await stock_changes.tip(conn)
            except Exception:  # the readers' own pages report a database that is down
                log.warning("cannot read the stock change feed's tip", exc_info=True)
            else:
                if tip != self._tip:
                    self._tip = tip
                    moved, self._moved = self._moved, asyncio.Event()
                    moved.set()
            await asyncio.sleep(self.interval)
