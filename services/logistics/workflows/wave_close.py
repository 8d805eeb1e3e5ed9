"""Closing a wave (LOG-1, LOG-2), in three steps that a crash at any point leaves resumable:

1. intent — in one transaction under the wave's row lock: the wave stops taking orders (``closing``), its
   waiting shipments are packed into parcels (orders of one buyer, shop and address merged, 合单) in print
   order. From here on the wave is fixed.
2. call — the inventory service keeps the lots and bins each shipment is picked from, first in first out
   (INV-11). The call is idempotent per shipment, so repeating it after a crash returns the same lots. It
   is made as soon as the intent has read the shipments' lines, while the intent loads the shipments and
   writes the parcels: a shipment withdrawn meanwhile (ORD-5) has lots kept that its order's released
   reservation gives back, and a close rolled back leaves lots that the next attempt is given again.
3. outcome — each call's lots are recorded (the pick list) as its answer comes, in a transaction of its
   own beside the intent's, while the next call is on its way. Then, in one transaction, shipments
   refused by inventory wait on hold with the reason, and the wave is ``closed``: printed.

The scheduler and the clerk run the same ``close``; a wave left ``closing`` is picked up again by the
scheduler. Two replicas finishing the same wave write the same lots, and only one marks it closed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.db import Database
from libs.telemetry import set_attributes
from services.logistics.clients.inventory import Allocation, InventoryClient
from services.logistics.domain.shipments import parcels_of
from services.logistics.store import parcels, shipments, waves
from services.logistics.store.waves import Wave, WaveStatus

_tracer = trace.get_tracer(__name__)

#: The roles the service acts with towards the inventory service when the scheduler closes a wave.
SCHEDULER = "scheduler"


class WaveClosing:
    """Closes waves: by the clerk before the cut-off, or by the scheduler at it."""

    def __init__(self, database: Database, inventory: InventoryClient) -> None:
        self.db = database
        self.inventory = inventory

    async def close(self, wave_id: str, *, actor: str, caller: identity.Identity | None = None) -> Wave:
        """Closes the wave, or finishes closing it; a closed wave is returned as it is."""
        with _tracer.start_as_current_span("logistics.close_wave"):
            set_attributes(wave_id=wave_id)
            caller = caller or identity.service_identity("logistics", ["logistics_clerk"])
            calls: list[asyncio.Future[Allocation]] = []  # cancelled if the close fails
            recorded: list[asyncio.Future[None]] = []
            try:
                async with self.db.transaction() as conn:
                    wave = await waves.start_closing(conn, wave_id, actor=actor, at=datetime.now(UTC))
                    if wave.status is WaveStatus.CLOSED:
                        return wave
                    # Asked first, from the lines alone: the calls go out while this transaction loads
                    # the waiting shipments and packs them into parcels, and each answer's lots are
                    # recorded as it comes.
                    to_pick = await shipments.to_pick(conn, wave_id)
                    calls = self.inventory.allocate_in_turn(to_pick, caller=caller)
                    recorded = [asyncio.ensure_future(self._record(call)) for call in calls]
                    waiting = await shipments.waiting_in_wave(conn, wave_id)
                    if waiting:
                        # Packed on a worker thread, so that the event loop sends the calls meanwhile.
                        planned = await asyncio.to_thread(parcels_of, wave_id, wave.slot, waiting)
                        await parcels.create(conn, planned)
                await asyncio.gather(*recorded)
                refused = _refused(calls)
            finally:
                pending: list[asyncio.Future[Any]] = [*calls, *recorded]
                for each in pending:
                    each.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            async with self.db.transaction() as conn:
                if await self._still_closing(conn, wave_id):
                    await parcels.set_aside(conn, refused)
                    await waves.finish_closing(conn, wave_id)
            async with self.db.connection() as conn:
                return await waves.get(conn, wave_id)

    async def _record(self, call: asyncio.Future[Allocation]) -> None:
        """Records a call's lots as soon as it answers, in a transaction of its own beside the intent's: a
        close cut short keeps them, and a resumed one asks only for the rest. Not under the wave's lock,
        which the intent holds: the lots are the inventory service's answer for each shipment, the same
        however often it is asked, and a lot recorded twice is kept once."""
        allocation = await call
        async with self.db.transaction() as conn:
            await parcels.record_picks(conn, allocation.picked)

    async def _still_closing(self, conn: AsyncConnection, wave_id: str) -> bool:
        """Locks the wave; False once another replica finished closing it (nothing more is written)."""
        return (await waves.get(conn, wave_id, lock=True)).status is WaveStatus.CLOSING


def _refused(calls: list[asyncio.Future[Allocation]]) -> dict[str, str]:
    """The shipments the answered calls refused, with why."""
    return {shipment_id: why for call in calls for shipment_id, why in call.result().refused.items()}
