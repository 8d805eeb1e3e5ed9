"""Expires holds past their time and returns their units to sale (INV-9)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from opentelemetry import trace

from libs.db import Database
from libs.telemetry import untraced
from services.inventory.store import holds

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)


async def sweep_once(database: Database, *, batch: int = 100) -> int:
    """Expires one batch of due holds; returns how many expired."""
    with untraced():  # looking is housekeeping; expiring holds is a flow, traced below
        async with database.connection() as conn:
            if not await holds.any_due(conn):
                return 0
    with _tracer.start_as_current_span("inventory.expire_holds") as span:
        async with database.transaction() as conn:
            expired = await holds.expire_due(conn, limit=batch)
        span.set_attribute("shop.holds_expired", len(expired))
    for hold in expired:
        log.info(
            "hold expired",
            extra={"hold_id": str(hold.hold_id), "sku": hold.sku_code, "quantity": hold.quantity},
        )
    return len(expired)


async def run(database: Database, stop: asyncio.Event, *, interval_seconds: float = 30.0) -> None:
    """Sweeps until ``stop`` is set: at once while work remains, then every ``interval_seconds``."""
    while not stop.is_set():
        try:
            if await sweep_once(database):
                continue
        except Exception:
            log.exception("hold sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
