"""Allocating a wave's picks (LOG-2, INV-11): each shipment is given the oldest units left, across lots, and
keeps them; a shipment beyond its order's reservation, or of an order with none, is refused with the
reason, and the others are allocated all the same."""

from __future__ import annotations

import asyncio

from shop.inventory.v1 import inventory_pb2 as pb

from tests.conftest import auth
from tests.integration.test_inventory_stock_flow import SHOP, reserve, stock

CLERK = auth("logistics_clerk", "clerk-1")
SKU = "LJ-250-GRN"


def to_pick(shipment_id: str, order_id: str, quantity: int) -> pb.ShipmentToPick:
    return pb.ShipmentToPick(
        shipment_id=shipment_id, order_id=order_id, lines=[pb.StockLine(sku_code=SKU, quantity=quantity)]
    )


async def test_shipments_take_the_oldest_units_left_in_turn_and_refusals_name_their_reason_inv_11_log_2(
    inventory_stub,
):
    old = await stock(inventory_stub, quantity=3, request_id="in-old")
    new = await stock(inventory_stub, quantity=10, request_id="in-new")
    await inventory_stub.ReserveStock(reserve("order-1", (SKU, 2)), metadata=SHOP)
    await inventory_stub.ReserveStock(reserve("order-2", (SKU, 4)), metadata=SHOP)
    await inventory_stub.ReserveStock(reserve("order-3", (SKU, 1)), metadata=SHOP)
    await inventory_stub.ReleaseReservation(pb.ReleaseReservationRequest(order_id="order-3"), metadata=SHOP)
    wave = [
        to_pick("S-1", "order-1", 2),
        to_pick("S-2", "order-2", 3),  # the old lot's last unit, then the new lot
        to_pick("S-3", "order-2", 2),  # one more than order-2 has left
        to_pick("S-4", "order-3", 1),  # released
        to_pick("S-5", "order-4", 1),  # never reserved
    ]

    reply = await inventory_stub.AllocatePicks(pb.AllocatePicksRequest(shipments=wave), metadata=CLERK)

    answers = {s.shipment_id: s for s in reply.shipments}
    assert [s.shipment_id for s in reply.shipments] == ["S-1", "S-2", "S-3", "S-4", "S-5"]
    assert [(x.lot_id, x.quantity) for x in answers["S-1"].lots] == [(old.lot_id, 2)]
    assert [(x.lot_id, x.quantity) for x in answers["S-2"].lots] == [(old.lot_id, 1), (new.lot_id, 2)]
    assert answers["S-3"].refusal.startswith("MORE_THAN_RESERVED: lines: order order-2 has 1 units")
    assert answers["S-4"].refusal.startswith("RESERVATION_CLOSED")
    assert answers["S-5"].refusal.startswith("RESERVATION_CLOSED")

    # Asked again (a close resumed after a crash): the same lots, nothing kept twice; the refused are
    # weighed anew against what is left, and a new shipment takes what the others left.
    again = await inventory_stub.AllocatePicks(
        pb.AllocatePicksRequest(shipments=[*wave[:3], to_pick("S-6", "order-2", 1)]), metadata=CLERK
    )
    answers = {s.shipment_id: s for s in again.shipments}
    assert [(x.lot_id, x.quantity) for x in answers["S-2"].lots] == [(old.lot_id, 1), (new.lot_id, 2)]
    assert answers["S-3"].refusal.startswith("MORE_THAN_RESERVED")
    assert [(x.lot_id, x.quantity) for x in answers["S-6"].lots] == [(new.lot_id, 1)]


async def test_two_allocations_at_once_for_one_order_keep_one_shipments_lots_once_inv_11_log_2(
    inventory_stub,
):
    """Two replicas closing the same wave ask at once: the order's reservation is locked before its kept
    units are read, so the second sees the first's lots, gives the same shipment the same ones, and keeps
    no more than the order reserved."""
    await stock(inventory_stub, quantity=10, request_id="in-1")
    await inventory_stub.ReserveStock(reserve("order-1", (SKU, 3)), metadata=SHOP)
    wave = [to_pick("S-1", "order-1", 2), to_pick("S-2", "order-1", 2)]

    replies = await asyncio.gather(
        *(
            inventory_stub.AllocatePicks(pb.AllocatePicksRequest(shipments=wave), metadata=CLERK)
            for _ in range(4)
        )
    )

    for reply in replies:
        answers = {s.shipment_id: s for s in reply.shipments}
        assert [x.quantity for x in answers["S-1"].lots] == [2]
        assert answers["S-2"].refusal.startswith("MORE_THAN_RESERVED: lines: order order-1 has 1 units")
    assert len({tuple(x.lot_id for x in r.shipments[0].lots) for r in replies}) == 1
