"""Reviews again the orders held for short stock once stock of one of their SKUs arrived (ORD-2).

No person has to press retry: the StockAvailable handler leaves a review request in its inbox
transaction and wakes this worker, which reviews the requested orders, the earliest paid first, through
the same reservation saga as a supervisor's review. Each review joins the trace of the event that asked
for it. Safe in several replicas (requests are claimed with SKIP LOCKED and a lease).
"""

from __future__ import annotations

import asyncio
import logging

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from libs.db import Database
from libs.errors import FailedPrecondition, NotFound
from libs.identity import Identity, service_identity
from libs.telemetry import set_attributes, untraced
from services.orders.clients.inventory import InventoryClient
from services.orders.saga.reservation import ReservationSaga
from services.orders.store import review_requests
from services.orders.workers.wakeup import rest

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

BATCH = 50
LEASE_SECONDS = 120.0
POLL_SECONDS = 2.0


class ReReviews:
    """The worker, and the wake-up the event handler pulls after its commit."""

    def __init__(self) -> None:
        self._wakeup = asyncio.Event()
        self._asked = False

    def asked(self) -> None:
        """The handler asked for reviews in the transaction it is in."""
        self._asked = True

    def wake(self) -> None:
        """After the handler's commit: start on the reviews it asked for (if it asked for any)."""
        if self._asked:
            self._asked = False
            self._wakeup.set()

    async def review_waiting(self, database: Database, saga: ReservationSaga, caller: Identity) -> int:
        """Reviews one batch of waiting requests; returns how many were claimed."""
        with untraced():  # looking for work is housekeeping; each review joins its event's trace
            async with database.transaction() as conn:
                claimed = await review_requests.claim(conn, limit=BATCH, lease_seconds=LEASE_SECONDS)
        for request in claimed:
            parent = propagate.extract({"traceparent": request.traceparent})
            token = otel_context.attach(parent)
            try:
                with _tracer.start_as_current_span("orders.review_again"):
                    set_attributes(order_id=request.order_id, review_cause=request.cause[:200])
                    try:
                        await saga.review(request.order_id, caller=caller)
                    except (FailedPrecondition, NotFound) as err:
                        # Cancelled, or otherwise no longer reviewable: nothing to do for it.
                        log.info(
                            "re-review not needed", extra={"order_id": request.order_id, "why": err.message}
                        )
            except Exception:
                log.exception(
                    "re-review failed; retried after its lease", extra={"order_id": request.order_id}
                )
                continue
            finally:
                otel_context.detach(token)
            with untraced():
                async with database.transaction() as conn:
                    await review_requests.done(conn, request)
        return len(claimed)

    async def run(self, database: Database, stop: asyncio.Event) -> None:
        """Reviews requested orders as they come, until ``stop`` is set."""
        inventory = InventoryClient()
        saga = ReservationSaga(database, inventory)
        caller = service_identity("orders", ["integrator", "supervisor"])
        try:
            while not stop.is_set():
                try:
                    if await self.review_waiting(database, saga, caller) >= BATCH:
                        continue
                except Exception:
                    log.exception("re-review pass failed")
                await rest(self._wakeup, stop, POLL_SECONDS)
                self._wakeup.clear()
        finally:
            await inventory.close()


#: The orders process's worker; the StockAvailable handler wakes it.
rereviews = ReReviews()
