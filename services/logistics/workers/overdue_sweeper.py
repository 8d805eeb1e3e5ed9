"""Opens a ``delayed`` exception case for every parcel past its carrier's promise (LOG-6), safely with
several replicas.

Each pass takes a batch of overdue parcels under ``FOR UPDATE SKIP LOCKED``, so two replicas never take the
same parcel at once, and a replica that read a parcel just before another's commit is still stopped by the
unique index of open cases: a parcel gets one delayed case whoever sweeps it. The sweep runs every
``SHOP_OVERDUE_SWEEPER_SECONDS`` (60 s by default); a parcel is late from midnight after its last promised
day, so a minute's lag is nothing to the customer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime

from opentelemetry import trace

from libs import config
from libs.business_time import BUSINESS_ZONE
from libs.db import Database
from libs.telemetry import set_attributes, untraced
from services.logistics.domain.tracking import ExceptionCase, ExceptionKind
from services.logistics.store import tracking
from services.logistics.store.tracking import OverdueParcel

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

#: The actor of the cases the sweeper opens, on the case's history and the orders' timelines.
SWEEPER = "sweeper"
#: Parcels taken per transaction: a long backlog is worked off in short transactions.
BATCH = 100


def delayed_case(parcel: OverdueParcel, now: datetime) -> ExceptionCase:
    """The delayed case for an overdue parcel, opened by the sweeper at ``now``."""
    promised = parcel.promised_by.astimezone(BUSINESS_ZONE).isoformat(timespec="minutes")
    return ExceptionCase.open(
        str(uuid.uuid4()),
        parcel.tracking_number,
        ExceptionKind.DELAYED,
        actor=SWEEPER,
        at=now,
        note=f"not delivered by {promised}",
    )


async def sweep_once(database: Database, now: datetime | None = None) -> int:
    """Opens a delayed case for every parcel overdue at ``now`` (default: the clock) that has none yet;
    returns how many this call opened."""
    opened = 0
    while True:
        at = now or datetime.now(UTC)
        async with database.transaction() as conn:
            with untraced():  # looking for late parcels is housekeeping; each case opened is traced
                due = await tracking.overdue_parcels(conn, at, limit=BATCH)
            for parcel in due:
                with _tracer.start_as_current_span("logistics.open_delayed_case"):
                    set_attributes(parcel_id=parcel.parcel_id)
                    if await tracking.open_case(conn, parcel.parcel_id, delayed_case(parcel, at)) is not None:
                        opened += 1
        # A short batch was the last; a full one may have left more behind it.
        if len(due) < BATCH:
            return opened


async def run(database: Database, stop: asyncio.Event, *, interval_seconds: float | None = None) -> None:
    """Sweeps for overdue parcels until ``stop`` is set."""
    every = interval_seconds or config.overdue_sweeper_seconds()
    while not stop.is_set():
        try:
            opened = await sweep_once(database)
            if opened:
                log.info("delayed cases opened", extra={"opened": opened})
        except Exception:
            log.exception("sweeping for overdue parcels failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
