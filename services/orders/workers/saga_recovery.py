"""Finishes reservation steps left open by a crash or an outage (the saga's ``resume``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from opentelemetry import trace

from libs.db import Database
from libs.identity import service_identity
from libs.telemetry import set_attributes, untraced
from services.orders.clients.inventory import InventoryClient
from services.orders.saga.reservation import ReservationSaga
from services.orders.store import orders

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

# A step younger than this may still be in flight in the process that started it.
GRACE_SECONDS = 5.0


async def recover_once(
    database: Database, saga: ReservationSaga, *, batch: int = 50, grace: float = GRACE_SECONDS
) -> int:
    """Resumes up to ``batch`` open steps; returns how many were looked at."""
    with untraced():  # looking for open steps is housekeeping; each resumed step is traced below
        async with database.transaction() as conn:
            pending = await orders.saga_pending(conn, older_than_seconds=grace, limit=batch)
    caller = service_identity("orders", ["integrator"])
    for order_id in pending:
        # Each resumed step is a flow of its own, traced from here.
        with _tracer.start_as_current_span("orders.resume_saga"):
            set_attributes(order_id=order_id)
            try:
                await saga.resume(order_id, caller=caller)
            except Exception:
                log.exception("saga step could not be resumed", extra={"order_id": order_id})
    return len(pending)


async def run(database: Database, stop: asyncio.Event, *, interval_seconds: float = 5.0) -> None:
    """Resumes open steps until ``stop`` is set."""
    inventory = InventoryClient()
    saga = ReservationSaga(database, inventory)
    try:
        while not stop.is_set():
            try:
                await recover_once(database, saga)
            except Exception:
                log.exception("saga recovery pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
    finally:
        await inventory.close()
