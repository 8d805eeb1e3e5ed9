"""Closing a wave (LOG-1, LOG-2), in three steps that a crash at any point leaves resumable:

1. intent — in one transaction under the wave's row lock: the wave stops taking orders (``closing``), its
   waiting shipments are packed into parcels (orders of one buyer, shop and address merged, 合单) in print
   order. From here on the wave is fixed.
2. call — the inventory service keeps the lots and bins each shipment is picked from, first in first out
   (INV-11). The call is idempotent per shipment, so repeating it after a crash returns the same lots. It
   is made as soon as the intent has loaded the shipments, while the intent packs and writes the parcels:
   a shipment withdrawn meanwhile (ORD-5) has lots kept that its order's released reservation gives back,
   and a close rolled back leaves lots that the next attempt is given again.
3. outcome — each call's lots are recorded (the pick list): those already answered when the parcels are
   written, in the intent's transaction; each later one in a transaction of its own as its answer comes,
   while the next call is on its way. Then, in one transaction, shipments refused by inventory wait on
   hold with the reason, and the wave is ``closed``: printed.

The scheduler and the clerk run the same ``close``; a wave left ``closing`` is picked up again by the
scheduler. Two replicas finishing the same wave write the same lots, and only one marks it closed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.db import Database
from libs.telemetry import set_attributes
from services.logistics.clients.inventory import Allocation, InventoryClient
from services.logistics.domain.shipments import ShipmentStatus, parcels_of
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
            try:
                async with self.db.transaction() as conn:
                    wave = await waves.start_closing(conn, wave_id, actor=actor, at=datetime.now(UTC))
                    if wave.status is WaveStatus.CLOSED:
                        return wave
                    # Loaded once: the waiting ones are packed now, and the same shipments (their lines do
                    # not change) are what the inventory service is asked for, less those whose lots an
                    # earlier attempt recorded.
                    in_wave = await shipments.in_closing_wave(conn, wave_id)
                    to_pick = [c.shipment for c in in_wave if not c.picked]
                    # Asked at once, while this transaction packs the parcels.
                    calls = self.inventory.allocate_in_turn(to_pick, caller=caller)
                    waiting = [c.shipment for c in in_wave if c.status is ShipmentStatus.WAITING]
                    if waiting:
                        # Packed on a worker thread, so that the event loop sends the calls meanwhile.
                        planned = await asyncio.to_thread(parcels_of, wave_id, wave.slot, waiting)
                        await parcels.create(conn, planned)
                    # The answers already in are kept with the parcels; the rest as they come.
                    answered = [c for c in calls if c.done() and not c.cancelled() and c.exception() is None]
                    await self._record(conn, answered)
                await self._record_rest(wave_id, [c for c in calls if c not in answered])
                refused = _refused(calls)
            finally:
                for call in calls:
                    call.cancel()
                await asyncio.gather(*calls, return_exceptions=True)
            async with self.db.transaction() as conn:
                if await self._still_closing(conn, wave_id):
                    await parcels.set_aside(conn, refused)
                    await waves.finish_closing(conn, wave_id)
            async with self.db.connection() as conn:
                return await waves.get(conn, wave_id)

    @staticmethod
    async def _record(conn: AsyncConnection, answered: list[asyncio.Future[Allocation]]) -> None:
        for call in answered:
            await parcels.record_picks(conn, call.result().picked)

    async def _record_rest(self, wave_id: str, calls: list[asyncio.Future[Allocation]]) -> None:
        """Records each call's lots in a transaction of its own as its answer comes, while the next calls
        are on their way (a close cut short keeps them, and a resumed one asks only for the rest)."""
        for call in calls:
            await call
            async with self.db.transaction() as conn:
                if await self._still_closing(conn, wave_id):
                    await self._record(conn, [call])

    async def _still_closing(self, conn: AsyncConnection, wave_id: str) -> bool:
        """Locks the wave; False once another replica finished closing it (nothing more is written)."""
        return (await waves.get(conn, wave_id, lock=True)).status is WaveStatus.CLOSING


def _refused(calls: list[asyncio.Future[Allocation]]) -> dict[str, str]:
    """The shipments the answered calls refused, with why."""
    return {shipment_id: why for call in calls for shipment_id, why in call.result().refused.items()}
