"""Review batches (ORD-2, ORD-3): one reservation call per batch, the same outcomes as reviews one by one,
and a crash between the steps leaves every order consistent with inventory."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from shop.inventory.v1 import inventory_pb2 as inv
from shop.orders.v1 import orders_pb2 as pb

from libs.errors import DomainError
from libs.identity import Identity, service_identity
from services.orders.clients.inventory import InventoryClient
from services.orders.domain.order import Order
from services.orders.saga.reservation import ReservationSaga
from services.orders.workers.saga_recovery import recover_once
from tests.integration.test_inventory_stock_flow import KEEPER, stock
from tests.integration.test_orders_flow import CS, LEAD, SHOP, order_request

SUPERVISOR = service_identity("orders-test", ["supervisor"])


async def submit(orders_stub, channel_order_id: str, **kwargs: object) -> str:
    reply = await orders_stub.SubmitOrder(order_request(channel_order_id, **kwargs), metadata=SHOP)
    return reply.order.order_id


async def orders_of_every_kind(orders_stub, p: str) -> list[str]:
    """Orders for SKU ``{p}-TEA`` (5 units) that meet every outcome of a review."""
    tea = f"{p}-TEA"
    bad_address = pb.Address(
        recipient="Li", phone="123", province="Zhejiang", city="Hangzhou", street="1 Road"
    )
    ids = [
        await submit(orders_stub, f"{p}-1", sku=tea, quantity=2),  # reviewed
        await submit(orders_stub, f"{p}-2", sku=tea, quantity=4),  # short: 3 left
        await submit(orders_stub, f"{p}-3", sku=tea, quantity=1, address=bad_address),  # review failed
        await submit(
            orders_stub, f"{p}-4", sku=tea, quantity=1, message="gift wrap please"
        ),  # note to honour
        await submit(orders_stub, f"{p}-5", sku=f"{p}-NOPE", quantity=1),  # unknown SKU: a person decides
        await submit(orders_stub, f"{p}-6", sku=tea, quantity=3),  # reviewed: the last 3
        await submit(orders_stub, f"{p}-7", sku=tea, quantity=1, paid=False),  # not paid
        "00000000-0000-0000-0000-000000000000",  # no such order
    ]
    cancelled = await submit(orders_stub, f"{p}-8", sku=tea, quantity=1)
    await orders_stub.CancelOrder(
        pb.CancelOrderRequest(order_id=cancelled, reason="buyer changed mind"), metadata=CS
    )
    return [*ids, cancelled, ids[0]]  # the first order again: reviewing a reviewed order changes nothing


def seen(p: str, answer: Order | DomainError) -> tuple[str, str, str]:
    """An outcome with the scenario's prefix taken out, so two runs compare."""
    if isinstance(answer, DomainError):
        return "error", answer.code, answer.message.replace(f"{p}-", "P-")
    category = answer.hold_category.value if answer.hold_category else ""
    return answer.status.value, category, answer.hold_reason.replace(f"{p}-", "P-")


async def reserved_units(inventory_stub, sku: str) -> tuple[int, int]:
    levels = await inventory_stub.GetStockLevels(inv.GetStockLevelsRequest(sku_code=sku), metadata=KEEPER)
    return levels.levels[0].reserved, levels.levels[0].available


async def test_a_batch_review_ends_each_order_as_reviews_one_by_one_do_ord_2_ord_3(
    orders_stub, orders_service, inventory, inventory_stub
):
    for p in ("S", "B"):
        await stock(inventory_stub, f"{p}-TEA", quantity=5)
    singles, batch = (
        await orders_of_every_kind(orders_stub, "S"),
        await orders_of_every_kind(orders_stub, "B"),
    )
    client = InventoryClient(inventory.target)
    saga = ReservationSaga(orders_service.database, client)
    try:
        one_by_one = []
        for order_id in singles:
            try:
                one_by_one.append(seen("S", await saga.review(order_id, caller=SUPERVISOR)))
            except DomainError as err:
                one_by_one.append(seen("S", err))
        ended = await saga.review_batch(list(dict.fromkeys(batch)), caller=SUPERVISOR)
        together = [seen("B", ended[order_id]) for order_id in batch]
    finally:
        await client.close()
    assert together == one_by_one
    assert [o[0] for o in together] == [
        "reviewed", "on_hold", "on_hold", "on_hold", "on_hold", "reviewed", "error", "error", "error", "reviewed"
    ]  # fmt: skip
    assert [o[1] for o in together[1:5]] == ["short_stock", "review_failed", "review_failed", "review_failed"]
    assert (
        await reserved_units(inventory_stub, "S-TEA")
        == await reserved_units(inventory_stub, "B-TEA")
        == (5, 0)
    )


async def test_review_orders_reserves_the_batch_in_the_listed_order_and_records_who_reviewed(
    orders_stub, inventory_stub
):
    await stock(inventory_stub, "L-TEA", quantity=3)
    first, second, third = [await submit(orders_stub, f"L-{i}", sku="L-TEA", quantity=2) for i in range(3)]
    reply = await orders_stub.ReviewOrders(
        pb.ReviewOrdersRequest(order_ids=[third, first, second]), metadata=LEAD
    )
    assert [(o.order_id, o.status) for o in reply.outcomes] == [
        (third, pb.ORDER_STATUS_REVIEWED),
        (first, pb.ORDER_STATUS_ON_HOLD),
        (second, pb.ORDER_STATUS_ON_HOLD),
    ]
    order = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=third), metadata=CS)).order
    assert [(e.event, e.actor) for e in order.timeline if e.event == "reviewed"] == [("reviewed", "lead-1")]


class DiesAfterInventoryAnswers(InventoryClient):
    """The orders process dies after inventory reserved a batch and before the answers are booked."""

    async def reserve_many(
        self, orders: Sequence[Order], *, caller: Identity
    ) -> dict[str, DomainError | None]:
        await super().reserve_many(orders, caller=caller)
        raise SystemExit("orders process killed")


class DiesBeforeAsking(InventoryClient):
    """The orders process dies after committing the batch's intent and before asking inventory."""

    async def reserve_many(
        self, orders: Sequence[Order], *, caller: Identity
    ) -> dict[str, DomainError | None]:
        raise SystemExit("orders process killed")


async def test_a_crash_in_the_middle_of_a_batch_leaves_every_order_consistent_with_inventory_ord_2(
    orders_stub, orders_service, inventory, inventory_stub
):
    await stock(inventory_stub, "C-TEA", quantity=10)
    ids = [await submit(orders_stub, f"C-{i}", sku="C-TEA", quantity=3) for i in range(6)]
    dying: list[tuple[type[InventoryClient], list[str]]] = [
        (DiesAfterInventoryAnswers, ids[:3]),
        (DiesBeforeAsking, ids[3:]),
    ]
    for client_type, batch in dying:
        dead = client_type(inventory.target)
        try:
            await ReservationSaga(orders_service.database, dead).review_batch(batch, caller=SUPERVISOR)
        except SystemExit:
            pass
        finally:
            await dead.close()
    for order_id in ids:
        order = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=CS)).order
        assert (order.status, order.reservation_state) == (pb.ORDER_STATUS_PAID, "reserving")

    client = InventoryClient(inventory.target)
    try:
        assert (
            await recover_once(
                orders_service.database, ReservationSaga(orders_service.database, client), grace=0
            )
            == 6
        )
    finally:
        await client.close()
    reviewed = 0
    for order_id in ids:
        order = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=CS)).order
        try:
            reservation = (
                await inventory_stub.GetReservation(
                    inv.GetReservationRequest(order_id=order_id), metadata=KEEPER
                )
            ).reservation
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.NOT_FOUND
            reservation = None
        if order.status == pb.ORDER_STATUS_REVIEWED:
            reviewed += 1
            assert order.reservation_state == "reserved"
            assert reservation is not None and reservation.status == inv.RESERVATION_STATUS_ACTIVE
        else:
            assert (order.status, order.hold_category, order.reservation_state) == (
                pb.ORDER_STATUS_ON_HOLD, "short_stock", "none"
            )  # fmt: skip
            assert reservation is None
    # The three the dead batch reserved kept their stock; of the others, none fits in the 1 unit left.
    assert reviewed == 3
    assert await reserved_units(inventory_stub, "C-TEA") == (9, 1)


async def test_an_order_cancelled_while_its_batch_reserves_gives_its_stock_back_ord_5(
    orders_stub, orders_service, inventory, inventory_stub
):
    """Between the batch's intent and its booking customer service cancels one order, whose cancellation
    releases what inventory had just reserved: the booking sees the change (it relocks the orders and
    reloads the one that changed) and books nothing over it; the other order is reviewed."""
    await stock(inventory_stub, "X-TEA", quantity=10)
    kept, cancelled = [await submit(orders_stub, f"X-{i}", sku="X-TEA", quantity=2) for i in range(2)]

    class CancelledMeanwhile(InventoryClient):
        async def reserve_many(
            self, orders: Sequence[Order], *, caller: Identity
        ) -> dict[str, DomainError | None]:
            answers = await super().reserve_many(orders, caller=caller)
            await orders_stub.CancelOrder(
                pb.CancelOrderRequest(order_id=cancelled, reason="buyer changed mind"), metadata=CS
            )
            return answers

    client = CancelledMeanwhile(inventory.target)
    try:
        ended = await ReservationSaga(orders_service.database, client).review_batch(
            [kept, cancelled], caller=SUPERVISOR
        )
        answer = ended[cancelled]
        assert not isinstance(answer, DomainError)
        assert (answer.status.value, answer.reservation.value) == ("cancelled", "released")
        # Nothing is left for the recovery worker.
        assert (
            await recover_once(
                orders_service.database, ReservationSaga(orders_service.database, client), grace=0
            )
            == 0
        )
    finally:
        await client.close()
    order = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=cancelled), metadata=CS)).order
    assert (order.status, order.reservation_state) == (pb.ORDER_STATUS_CANCELLED, "released")
    reviewed = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=kept), metadata=CS)).order
    assert reviewed.status == pb.ORDER_STATUS_REVIEWED
    assert await reserved_units(inventory_stub, "X-TEA") == (2, 8)
