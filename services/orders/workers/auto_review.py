"""Reviews paid orders automatically, in batches of up to 200, as they arrive (ORD-2, ORD-3).

Chinese multi-platform ERPs review everything that passes the checks and leave only the exceptions to
people; so does this worker. It reviews through the same saga as a supervisor (one reservation call
per batch) under its own identity, so each order's timeline shows whether a person or the worker
reviewed it. Orders that fail go to the exception queue as they would by hand. Intake wakes it after
each commit; a short poll covers orders paid through another replica. Safe in several replicas: each
batch is claimed with SKIP LOCKED. ``SHOP_ORDERS_AUTO_REVIEW_BATCH=0`` turns it off.
"""

from __future__ import annotations

import asyncio
import logging

from libs import config
from libs.db import Database
from libs.identity import Identity, service_identity
from services.orders.clients.inventory import InventoryClient
from services.orders.saga.reservation import ReservationSaga
from services.orders.workers.wakeup import rest

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# After a pass that found fewer orders than a batch, orders are let gather this long before the next: a
# steady trickle of single orders is then reviewed a dozen at a time, not one by one (each batch costs
# about as much as a single order's review), for a fraction of a second's delay.
GATHER_SECONDS = 0.2
REVIEWERS = 2
#: The subject the worker reviews as, on every order's timeline.
REVIEWER = "auto-review"


class AutoReview:
    """The worker, and the wake-up intake pulls after committing paid orders."""

    def __init__(self) -> None:
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Paid orders were committed: review them now rather than at the next poll."""
        self._wakeup.set()

    async def run(
        self, database: Database, stop: asyncio.Event, *, inventory_target: str | None = None
    ) -> None:
        """Reviews paid orders as they come, until ``stop`` is set."""
        batch = config.auto_review_batch()
        if not batch:
            log.info("automatic review is off (SHOP_ORDERS_AUTO_REVIEW_BATCH=0)")
            return
        inventory = InventoryClient(inventory_target)
        saga = ReservationSaga(database, inventory)
        caller = service_identity(REVIEWER, ["supervisor"])
        try:
            # Two reviewers side by side: while one batch waits on inventory or the database, the next
            # is checked; SKIP LOCKED gives them different orders.
            await asyncio.gather(*(self._review(saga, caller, batch, stop) for _ in range(REVIEWERS)))
        finally:
            await inventory.close()

    async def _review(self, saga: ReservationSaga, caller: Identity, batch: int, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wakeup.clear()
            try:
                if len(await saga.review_due(batch, caller=caller)) >= batch:
                    continue  # more are waiting
            except Exception:
                log.exception("automatic review pass failed")
            await rest(self._wakeup, stop, POLL_SECONDS)
            await rest(asyncio.Event(), stop, GATHER_SECONDS)


#: The orders process's worker; intake wakes it.
auto_reviews = AutoReview()
