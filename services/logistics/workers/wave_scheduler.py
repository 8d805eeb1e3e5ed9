"""Closes every wave at its cut-off (LOG-1), safely with several replicas: each pass takes one due wave
under ``FOR UPDATE SKIP LOCKED``, so two replicas never start the same close, and a close interrupted by a
crash (a wave left ``closing``) is finished by whichever replica finds it next.

A wave is closed a short grace after its cut-off (``SHOP_WAVE_CLOSE_GRACE_SECONDS``, 60 s by default): an
order released just before the cut-off is still on its way as an event, and must make its wave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from libs import config
from libs.db import Database
from libs.telemetry import untraced
from services.logistics.clients.inventory import InventoryClient
from services.logistics.store import waves
from services.logistics.workflows.wave_close import SCHEDULER, WaveClosing

log = logging.getLogger(__name__)


def grace() -> timedelta:
    return timedelta(seconds=config.wave_close_grace_seconds())


async def close_due(database: Database, closing: WaveClosing, *, now: datetime | None = None) -> int:
    """Closes every wave that is due now; returns how many it closed."""
    closed = 0
    while True:
        with untraced():  # looking for due waves is housekeeping; each close is traced
            async with database.transaction() as conn:
                wave_id = await waves.due(conn, now or datetime.now(UTC), grace())
                if wave_id is not None:
                    # Taken under this replica's lock: the close's own first step locks it again.
                    await waves.start_closing(conn, wave_id, actor=SCHEDULER, at=now or datetime.now(UTC))
        if wave_id is None:
            return closed
        await closing.close(wave_id, actor=SCHEDULER)
        closed += 1


async def run(database: Database, stop: asyncio.Event, *, interval_seconds: float | None = None) -> None:
    """Closes due waves until ``stop`` is set."""
    every = interval_seconds or config.wave_scheduler_seconds()
    inventory = InventoryClient()
    closing = WaveClosing(database, inventory)
    try:
        while not stop.is_set():
            try:
                await close_due(database, closing)
            except Exception:
                log.exception("closing due waves failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
    finally:
        await inventory.close()
