"""Forgets stock changes older than a week (the change feed, INV-10): a listing reader that far behind
starts again from a full listing, and the feed's table stays small."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from libs.db import Database
from libs.telemetry import untraced
from services.inventory.store import stock_changes

log = logging.getLogger(__name__)

KEEP_DAYS = 7.0


async def run(database: Database, stop: asyncio.Event, *, interval_seconds: float = 3600.0) -> None:
    """Prunes every ``interval_seconds`` until ``stop`` is set; harmless in several replicas."""
    while not stop.is_set():
        try:
            with untraced():
                async with database.transaction() as conn:
                    await stock_changes.prune(conn, KEEP_DAYS)
        except Exception:
            log.exception("pruning the stock change feed failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
