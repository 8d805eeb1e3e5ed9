"""The automatic review worker (ORD-2, ORD-3): paid orders are reviewed in batches as they arrive, by the
worker under its own name; exceptions are left to people, and replicas never review an order twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import sqlalchemy as sa
from shop.orders.v1 import orders_pb2 as pb

from libs.db import Database
from services.orders.store.tables import order_timeline, orders
from services.orders.workers.auto_review import AutoReview
from tests.integration.test_inventory_stock_flow import stock
from tests.integration.test_orders_flow import CS, LEAD, SHOP, order_request
from tests.integration.test_review_batches import reserved_units


@asynccontextmanager
async def reviewers(database: Database, inventory_target: str, replicas: int = 1) -> AsyncIterator[None]:
    """``replicas`` automatic reviewers, as in that many orders processes, running until the block ends."""
    stop = asyncio.Event()
    workers = [AutoReview() for _ in range(replicas)]
    tasks = [asyncio.create_task(w.run(database, stop, inventory_target=inventory_target)) for w in workers]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def settled(database: Database, within: float = 30) -> None:
    """Waits until no paid order is left unreviewed."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        async with database.connection() as conn:
            waiting = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(orders)
                    .where(orders.c.status == "paid", orders.c.reservation_state.in_(["none", "reserving"]))
                )
            ).scalar_one()
        if not waiting:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{waiting} paid orders still unreviewed")


async def page(orders_stub, requests: list[pb.SubmitOrderRequest]) -> list[str]:
    reply = await orders_stub.BatchSubmitOrders(pb.BatchSubmitOrdersRequest(orders=requests), metadata=SHOP)
    assert not [o.problem for o in reply.outcomes if o.HasField("problem")]
    return [o.order_id for o in reply.outcomes]


async def test_paid_orders_are_reviewed_as_they_arrive_and_exceptions_left_to_people_ord_2(
    orders_stub, orders_service, inventory, inventory_stub
):
    await stock(inventory_stub, "AR-TEA", quantity=5)
    async with reviewers(orders_service.database, inventory.target):
        good, note, unpaid, short = await page(
            orders_stub,
            [
                order_request("AR-1", sku="AR-TEA", quantity=2),
                order_request("AR-2", sku="AR-TEA", quantity=1, message="no invoice in the box please"),
                order_request("AR-3", sku="AR-TEA", quantity=1, paid=False),
                order_request("AR-4", sku="AR-TEA", quantity=4),
            ],
        )
        await settled(orders_service.database)
    shown = {
        order_id: (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=CS)).order
        for order_id in (good, note, unpaid, short)
    }
    assert shown[good].status == pb.ORDER_STATUS_REVIEWED
    assert [(e.actor, e.event) for e in shown[good].timeline if e.event == "reviewed"] == [
        ("service:auto-review", "reviewed")
    ]
    assert (shown[note].status, shown[note].hold_category) == (pb.ORDER_STATUS_ON_HOLD, "review_failed")
    assert (shown[short].status, shown[short].hold_category) == (pb.ORDER_STATUS_ON_HOLD, "short_stock")
    assert shown[unpaid].status == pb.ORDER_STATUS_PENDING_PAYMENT
    assert await reserved_units(inventory_stub, "AR-TEA") == (2, 3)


async def test_a_supervisor_still_reviews_by_hand_and_is_named_ord_2(
    orders_stub, orders_service, inventory, inventory_stub, monkeypatch
):
    await stock(inventory_stub, "HAND-TEA", quantity=5)
    monkeypatch.setenv("SHOP_ORDERS_AUTO_REVIEW_BATCH", "0")
    async with reviewers(orders_service.database, inventory.target):  # off: returns at once
        (order_id,) = await page(orders_stub, [order_request("HAND-1", sku="HAND-TEA", quantity=1)])
        await asyncio.sleep(0.5)
        waiting = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=CS)).order
        assert waiting.status == pb.ORDER_STATUS_PAID
    await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=[order_id]), metadata=LEAD)
    reviewed = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=CS)).order
    assert [e.actor for e in reviewed.timeline if e.event == "reviewed"] == ["lead-1"]


async def test_three_replicas_review_every_order_once_in_batches_of_at_most_200_ord_3(
    orders_stub, orders_service, inventory, inventory_stub
):
    await stock(inventory_stub, "REP-TEA", quantity=1000)
    async with reviewers(orders_service.database, inventory.target, replicas=3):
        for n in range(3):
            await page(
                orders_stub, [order_request(f"REP-{n}-{i}", sku="REP-TEA", quantity=1) for i in range(250)]
            )
        await settled(orders_service.database)
    async with orders_service.database.connection() as conn:
        reviewed = (
            await conn.execute(
                sa.select(order_timeline.c.order_id, sa.func.count())
                .where(order_timeline.c.event == "reviewed")
                .group_by(order_timeline.c.order_id)
            )
        ).all()
        batches = (
            await conn.execute(
                sa.select(order_timeline.c.at, sa.func.count())
                .where(order_timeline.c.event == "stock reservation requested")
                .group_by(order_timeline.c.at)
            )
        ).all()
    assert len(reviewed) == 750 and {n for _, n in reviewed} == {1}
    assert max(n for _, n in batches) <= 200  # one intent time per batch
    assert await reserved_units(inventory_stub, "REP-TEA") == (750, 250)


@pytest.mark.parametrize("size", ["-1", "201"])
def test_the_batch_setting_is_0_to_200(monkeypatch, size):
    from libs import config
    from libs.errors import InvalidArgument

    monkeypatch.setenv("SHOP_ORDERS_AUTO_REVIEW_BATCH", size)
    with pytest.raises(InvalidArgument, match="SHOP_ORDERS_AUTO_REVIEW_BATCH"):
        config.auto_review_batch()
