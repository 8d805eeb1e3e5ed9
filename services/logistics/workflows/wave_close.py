"""Closing a wave (LOG-1, LOG-2), in three steps that a crash at any point leaves resumable:

1. intent — in one transaction under the wave's row lock: the wave stops taking orders (``closing``), its
   waiting shipments are packed into parcels (orders of one buyer, shop and address merged, 合单) in print
   order. From here on the wave is fixed.
2. call — the inventory service keeps the lots and bins each shipment is picked from, first in first out
   (INV-11). The call is idempotent per shipment, so repeating it after a crash returns the same lots. It
   is made as soon as the intent has loaded the shipments, while the intent packs and writes the parcels:
   a shipment withdrawn meanwhile (ORD-5) has lots kept that its order's released reservation gives back,
   and a close rolled back leaves lots that the next attempt is given again.
3. outcome — each call's lots are recorded as its answer comes (the pick list), once the intent has
   committed, while the next call is on its way; then, in one transaction, shipments refused by inventory
   wait on hold with the reason, and the wave is ``closed``: printed.

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
            started: list[asyncio.Future[Any]] = []  # cancelled if the intent fails
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
                    # Asked at once, while this transaction packs the parcels: the answers are recorded
                    # once it has committed (the wave's row lock orders them after it).
                    calls = self.inventory.allocate_in_turn(to_pick, caller=caller)
                    picking = asyncio.create_task(self._record_picks(wave_id, calls))
                    started = [*calls, picking]
                    waiting = [c.shipment for c in in_wave if c.status is ShipmentStatus.WAITING]
                    if waiting:
                        # Packed on a worker thread, so that the event loop sends the calls meanwhile.
                        planned = await asyncio.to_thread(parcels_of, wave_id, wave.slot, waiting)
                        await parcels.create(conn, planned)
            except BaseException:
                for task in started:
                    task.cancel()
                await asyncio.gather(*started, return_exceptions=True)
                raise
            refused = await picking
            async with self.db.transaction() as conn:
                if await self._still_closing(conn, wave_id):
                    await parcels.set_aside(conn, refused)
                    await waves.finish_closing(conn, wave_id)
            async with self.db.connection() as conn:
                return await waves.get(conn, wave_id)

    async def _record_picks(self, wave_id: str, calls: list[asyncio.Future[Allocation]]) -> dict[str, str]:
        """Records each call's lots as its answer comes, while the next calls are on their way (a resumed
        close asks only for the rest); returns the refused shipments with why. Cancels the calls left if
        one fails."""
        refused: dict[str, str] = {}
        try:
            for call in calls:
                answer = await call
                async with self.db.transaction() as conn:
                    if await self._still_closing(conn, wave_id):
                        await parcels.record_picks(conn, answer.picked)
                refused.update(answer.refused)
        finally:
            for call in calls:
                call.cancel()
        return refused

    async def _still_closing(self, conn: AsyncConnection, wave_id: str) -> bool:
        """Locks the wave; False once another replica finished closing it (nothing more is written)."""
        return (await waves.get(conn, wave_id, lock=True)).status is WaveStatus.CLOSING
