"""A wave's close interrupted between its steps (LOG-1, LOG-2): the inventory service cannot be reached
after the parcels are fixed. The wave stays ``closing``; the scheduler finishes it once inventory is back,
with the same parcels, each shipment's lots kept once, and the wave closed once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from shop.inventory.v1 import inventory_pb2_grpc
from shop.logistics.v1 import logistics_pb2 as lg

from libs.errors import DomainError
from libs.grpc_client import open_channel
from services.inventory.store import reservations
from services.inventory.store.tables import pick_allocations
from services.logistics.clients.inventory import InventoryClient
from services.logistics.domain.shipments import parcels_of
from services.logistics.store import parcels as parcel_store
from services.logistics.store import shipments as shipment_store
from services.logistics.store import waves
from services.logistics.store.tables import parcels, shipment_picks, shipments
from services.logistics.workers.wave_scheduler import close_due
from services.logistics.workflows.wave_close import SCHEDULER, WaveClosing
from tests.integration.test_inventory_stock_flow import stock
from tests.integration.test_logistics_floor import CLERK, carriers, released, to_logistics
from tests.integration.test_orders_flow import order_request
from tests.ports import free_port


async def count(database, table) -> int:
    async with database.connection() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def test_a_close_cut_short_after_its_parcels_are_fixed_is_finished_once_by_the_scheduler_log_1(
    orders_stub, orders_service, inventory_stub, inventory, logistics_stub, logistics
):
    await carriers(logistics_stub)
    await stock(inventory_stub, quantity=20)
    ids = await released(orders_stub, *(order_request(f"TM-C{n}", quantity=1) for n in range(4)))
    await to_logistics(orders_service, logistics, set())
    (shipment,) = (
        await logistics_stub.FindShipments(lg.FindShipmentsRequest(order_id=ids[0]), metadata=CLERK)
    ).shipments

    down = InventoryClient(f"127.0.0.1:{free_port()}")  # nothing listens there: the call fails
    try:
        interrupted = WaveClosing(logistics.database, down)
        try:
            await interrupted.close(shipment.wave_id, actor=SCHEDULER)
            raise AssertionError("the close cannot finish without the inventory service")
        except DomainError:
            pass
    finally:
        await down.close()
    async with logistics.database.connection() as conn:
        stuck = await waves.get(conn, shipment.wave_id)
    assert stuck.status is waves.WaveStatus.CLOSING
    fixed = await count(logistics.database, parcels)
    assert fixed == 1  # one buyer, shop and address: the four orders are one parcel (合单)
    assert await count(logistics.database, shipment_picks) == 0
    picks_list = await logistics_stub.GetWave(lg.GetWaveRequest(wave_id=shipment.wave_id), metadata=CLERK)
    assert picks_list.wave.status == lg.WAVE_STATUS_CLOSING

    up = InventoryClient(inventory.target)
    try:
        for _ in range(2):  # a second pass finds nothing left to do
            await close_due(
                logistics.database,
                WaveClosing(logistics.database, up),
                now=datetime.now(UTC) + timedelta(minutes=5),
            )
    finally:
        await up.close()
    done = (await logistics_stub.GetWave(lg.GetWaveRequest(wave_id=shipment.wave_id), metadata=CLERK)).wave
    assert (done.status, done.parcels, done.closed_by) == (lg.WAVE_STATUS_CLOSED, 1, SCHEDULER)
    assert await count(logistics.database, parcels) == fixed
    assert await count(logistics.database, shipment_picks) == 4
    assert await count(inventory.database, pick_allocations) == 4


class Asking(InventoryClient):
    """The real client, counting the shipments of each call; with ``cut``, every call after the first
    goes where nothing listens, and fails."""

    def __init__(self, target: str, *, cut: bool) -> None:
        super().__init__(target)
        self.cut = cut
        self.asked: list[int] = []
        self.nowhere = open_channel(f"127.0.0.1:{free_port()}")

    async def _ask(self, request, caller):  # type: ignore[no-untyped-def]
        self.asked.append(len(request.shipments))
        if self.cut and len(self.asked) == 2:
            self.stub = inventory_pb2_grpc.InventoryServiceStub(self.nowhere)
        return await super()._ask(request, caller)

    async def close(self) -> None:
        await self.nowhere.close()
        await super().close()


async def test_a_close_keeps_each_answers_lots_and_a_resumed_close_asks_only_for_the_rest_log_2(
    orders_stub, orders_service, inventory_stub, inventory, logistics_stub, logistics, monkeypatch
):
    monkeypatch.setattr("services.logistics.clients.inventory.CHUNK", 2)
    await carriers(logistics_stub)
    await stock(inventory_stub, quantity=20)
    ids = await released(orders_stub, *(order_request(f"TM-P{n}", quantity=1) for n in range(5)))
    await to_logistics(orders_service, logistics, set())
    (shipment,) = (
        await logistics_stub.FindShipments(lg.FindShipmentsRequest(order_id=ids[0]), metadata=CLERK)
    ).shipments

    cut = Asking(inventory.target, cut=True)
    try:
        with pytest.raises(DomainError):  # the close cannot finish once the inventory service is out of reach
            await WaveClosing(logistics.database, cut).close(shipment.wave_id, actor=SCHEDULER)
    finally:
        await cut.close()
    assert cut.asked[:2] == [2, 2]  # two calls on their way at once
    assert await count(logistics.database, shipment_picks) == 2  # the first answer's lots are kept

    up = Asking(inventory.target, cut=False)
    try:
        closed = await WaveClosing(logistics.database, up).close(shipment.wave_id, actor=SCHEDULER)
    finally:
        await up.close()
    assert closed.status is waves.WaveStatus.CLOSED
    assert up.asked == [2, 1]  # only the shipments whose lots were not recorded yet
    assert await count(logistics.database, shipment_picks) == 5
    assert await count(inventory.database, pick_allocations) == 5


async def test_shipments_inventory_refuses_wait_on_hold_with_the_reason_and_an_emptied_parcel_is_dropped_log_2(
    orders_stub, orders_service, inventory_stub, inventory, logistics_stub, logistics
):
    await carriers(logistics_stub)
    await stock(inventory_stub, quantity=20)
    merged = await released(orders_stub, *(order_request(f"TM-R{n}", quantity=1) for n in range(2)))
    (alone,) = await released(orders_stub, order_request("TM-R9", quantity=1, message="please gift wrap"))
    await to_logistics(orders_service, logistics, set())
    # A count cut these orders' reservations meanwhile (INV-13): inventory has nothing kept for them.
    async with inventory.database.transaction() as conn:
        for order_id in (merged[1], alone):
            await reservations.release(conn, order_id, actor="count", reason="count cut")
    (shipment,) = (
        await logistics_stub.FindShipments(lg.FindShipmentsRequest(order_id=alone), metadata=CLERK)
    ).shipments

    up = InventoryClient(inventory.target)
    try:
        closed = await WaveClosing(logistics.database, up).close(shipment.wave_id, actor=SCHEDULER)
    finally:
        await up.close()

    assert closed.status is waves.WaveStatus.CLOSED
    async with logistics.database.connection() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    shipments.c.order_id, shipments.c.status, shipments.c.parcel_id, shipments.c.hold_reason
                )
            )
        ).all()
        left = (await conn.execute(sa.select(parcels.c.parcel_id))).scalars().all()
    by_order = {r.order_id: r for r in rows}
    assert by_order[merged[0]].status == "in_parcel"
    for order_id in (merged[1], alone):
        assert (by_order[order_id].status, by_order[order_id].parcel_id) == ("on_hold", None)
        assert by_order[order_id].hold_reason.startswith("RESERVATION_CLOSED")
    assert left == [by_order[merged[0]].parcel_id]  # the lone order's parcel is empty and gone
    assert await count(logistics.database, shipment_picks) == 1


async def test_a_shipment_withdrawn_while_its_wave_is_packed_stays_withdrawn_and_its_parcel_is_dropped_ord_5(
    orders_stub, orders_service, inventory_stub, inventory, logistics_stub, logistics
):
    await carriers(logistics_stub)
    await stock(inventory_stub, quantity=20)
    (kept,) = await released(orders_stub, order_request("TM-W1", quantity=1))
    (cancelled,) = await released(orders_stub, order_request("TM-W2", quantity=1, message="gift wrap"))
    await to_logistics(orders_service, logistics, set())
    (shipment,) = (
        await logistics_stub.FindShipments(lg.FindShipmentsRequest(order_id=kept), metadata=CLERK)
    ).shipments
    async with logistics.database.connection() as conn:
        wave = await waves.get(conn, shipment.wave_id)
        loaded = await shipment_store.waiting_in_wave(conn, wave.wave_id)
    # The cancellation commits between the close loading the wave and packing it.
    async with logistics.database.transaction() as conn:
        await shipment_store.withdraw(conn, cancelled, "buyer cancelled", actor="cs-1", at=datetime.now(UTC))
    async with logistics.database.transaction() as conn:
        await parcel_store.create(conn, parcels_of(wave.wave_id, wave.slot, loaded))

    async with logistics.database.connection() as conn:
        rows = {
            r.order_id: r
            for r in await conn.execute(
                sa.select(shipments.c.order_id, shipments.c.status, shipments.c.parcel_id)
            )
        }
        left = (await conn.execute(sa.select(parcels.c.parcel_id))).scalars().all()
    assert (rows[cancelled].status, rows[cancelled].parcel_id) == ("withdrawn", None)
    assert rows[kept].status == "in_parcel"
    assert left == [rows[kept].parcel_id]  # the withdrawn order's parcel would have been empty
