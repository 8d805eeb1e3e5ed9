"""Pruning of the kit tables, so that neither the outbox nor the inbox grows without bound.

Delivered outbox rows are kept ``SHOP_OUTBOX_RETENTION_HOURS`` (for looking into recent deliveries). Inbox
rows are kept ``SHOP_INBOX_RETENTION_DAYS``, longer than the streams keep events
(``SHOP_EVENT_MAX_AGE_DAYS``, checked at start-up): an event the broker can still deliver always finds its
inbox row, so pruning never lets an effect happen twice. Deletes go in small chunks so that a large backlog
never holds long locks; running in several replicas at once is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import sqlalchemy as sa

from libs import config
from libs.db import Database
from libs.kit_tables import KitTables
from libs.telemetry import untraced

log = logging.getLogger(__name__)

CHUNK = 5000


@dataclass(frozen=True)
class Pruned:
    outbox: int
    inbox: int


async def _delete_older(
    database: Database, table: sa.Table, column: sa.Column[object], seconds: float
) -> int:
    total = 0
    while True:
        with untraced():
            deleted = await _delete_chunk(database, table, column, seconds)
        total += deleted
        if deleted < CHUNK:
            return total


async def _delete_chunk(
    database: Database, table: sa.Table, column: sa.Column[object], seconds: float
) -> int:
    async with database.transaction() as conn:
        doomed = (
            sa.select(table.c.event_id)
            .where(
                column.is_not(None),
                column < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds),
            )
            .limit(CHUNK)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        return int((await conn.execute(table.delete().where(table.c.event_id.in_(doomed)))).rowcount)


async def prune_once(
    database: Database, kit: KitTables, settings: config.EventSettings | None = None
) -> Pruned:
    """Deletes delivered outbox rows and inbox rows past their retention; returns how many."""
    settings = settings or config.event_settings()
    outbox = await _delete_older(
        database, kit.outbox, kit.outbox.c.delivered_at, settings.outbox_retention_hours * 3600
    )
    inbox = await _delete_older(
        database, kit.inbox, kit.inbox.c.received_at, settings.inbox_retention_days * 86400
    )
    if outbox or inbox:
        log.info("pruned kit tables", extra={"outbox_rows": outbox, "inbox_rows": inbox})
    return Pruned(outbox, inbox)


async def run(
    database: Database, kit: KitTables, stop: asyncio.Event, *, interval_seconds: float = 600.0
) -> None:
    """Prunes every ``interval_seconds`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            await prune_once(database, kit)
        except Exception:
            log.exception("pruning the kit tables failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
