"""BatchSubmitOrders (ORD-1): a channel's page of orders, each answered as SubmitOrder answers it alone."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import sqlalchemy as sa
from shop.orders.v1 import orders_pb2 as pb

from libs.grpc_errors import from_rpc_error
from libs.identity import mint_token
from services.orders.store.tables import kit, order_lines, orders
from tests.integration.test_inventory_rpc import field_violations
from tests.integration.test_orders_flow import order_request, yuan

FLAGSHIP = [
    (
        "authorization",
        f"Bearer {mint_token('tmall-bot', ['integrator'], shops=['tmall-flagship', 'own-shop'])}",
    )
]

Seen = tuple[str, str, list[str], bool, int]


def page(p: str) -> list[pb.SubmitOrderRequest]:
    """Orders that meet every answer intake gives; ``p`` keeps two runs' channel order ids apart."""
    unpaid = order_request(f"{p}-2", paid=False)
    unpaid.channel = pb.CHANNEL_JD
    no_lines = order_request(f"{p}-3")
    del no_lines.lines[:]
    zero = order_request(f"{p}-4", quantity=0)
    underpaid = order_request(f"{p}-5")
    underpaid.payment.amount.CopyFrom(yuan(1))
    elsewhere = order_request(f"{p}-6")
    elsewhere.shop_code = "another-shop"
    other_contents = order_request(f"{p}-1", quantity=5)
    own_site = order_request(f"{p}-7")
    own_site.channel, own_site.shop_code = pb.CHANNEL_OWN_SITE, "own-shop"
    no_channel = order_request(f"{p}-8")
    no_channel.channel = pb.CHANNEL_UNSPECIFIED
    return [
        order_request(f"{p}-1"),  # a paid Tmall order
        unpaid,  # taken in pending payment
        no_lines,
        zero,
        underpaid,  # the payment must cover a platform order's total
        elsewhere,  # the token does not act for this shop
        order_request(f"{p}-1"),  # the first order again: the same order back, not created
        other_contents,  # the first order's channel id with other goods: refused
        own_site,  # priced with our promotions in its own checkout
        no_channel,
        order_request(f"{p}-0"),  # sent before this page (below): the stored order
    ]


def seen_order(status: int, created: bool) -> Seen:
    return "OK", "", [], created, status


async def singles(stub, p: str) -> list[Seen]:
    answers: list[Seen] = []
    for request in page(p):
        try:
            reply = await stub.SubmitOrder(request, metadata=FLAGSHIP)
        except grpc.aio.AioRpcError as err:
            answers.append(
                (err.code().name, from_rpc_error(err).reason, sorted(field_violations(err)), False, 0)
            )
            continue
        answers.append(seen_order(reply.order.status, reply.created))
    return answers


async def batch(stub, p: str) -> list[Seen]:
    reply = await stub.BatchSubmitOrders(pb.BatchSubmitOrdersRequest(orders=page(p)), metadata=FLAGSHIP)
    # The first order sent again is answered with the first order's id.
    assert reply.outcomes[6].order_id == reply.outcomes[0].order_id != ""
    answers: list[Seen] = []
    for request, outcome in zip(page(p), reply.outcomes, strict=True):
        assert outcome.channel_order_id == request.channel_order_id
        if outcome.HasField("problem"):
            fields = sorted(v.field for v in outcome.problem.violations)
            assert outcome.order_id == "" and outcome.status == pb.ORDER_STATUS_UNSPECIFIED
            answers.append((outcome.problem.code, outcome.problem.reason, fields, False, 0))
        else:
            answers.append(seen_order(outcome.status, outcome.created))
    return answers


async def test_a_page_is_answered_order_by_order_as_single_submissions_are_ord_1(orders_stub, orders_service):
    for p in ("S", "B"):
        await orders_stub.SubmitOrder(order_request(f"{p}-0"), metadata=FLAGSHIP)
    one_by_one = await singles(orders_stub, "S")
    together = await batch(orders_stub, "B")
    assert together == one_by_one
    assert [a[0] for a in together] == [
        "OK", "OK", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "PERMISSION_DENIED", "OK",
        "ALREADY_EXISTS", "OK", "INVALID_ARGUMENT", "OK",
    ]  # fmt: skip
    assert [a[3] for a in together] == [
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        True,
        False,
        False,
    ]
    assert together[2][2] == ["lines"] and together[3][2] == ["lines[0].quantity"]
    assert together[7][1] == "CHANNEL_ORDER_REUSED"
    async with orders_service.database.connection() as conn:
        stored = (
            await conn.execute(
                sa.select(sa.func.left(orders.c.channel_order_id, 1), sa.func.count()).group_by(sa.text("1"))
            )
        ).all()
        lines = (await conn.execute(sa.select(sa.func.count()).select_from(order_lines))).scalar_one()
        events = (await conn.execute(sa.select(sa.func.count()).select_from(kit.outbox))).scalar_one()
    assert sorted(stored) == [("B", 4), ("S", 4)]  # orders 0, 1, 2 and 7 of each run
    assert lines == 8
    assert events == 8  # each new order's arrival, once


async def test_the_same_page_sent_twice_at_once_makes_each_order_once_ord_1(orders_stub, orders_service):
    request = pb.BatchSubmitOrdersRequest(orders=[order_request(f"TWICE-{i}") for i in range(50)])
    first, second = await asyncio.gather(
        orders_stub.BatchSubmitOrders(request, metadata=FLAGSHIP),
        orders_stub.BatchSubmitOrders(request, metadata=FLAGSHIP),
    )
    for a, b in zip(first.outcomes, second.outcomes, strict=True):
        assert a.order_id == b.order_id
        assert a.created != b.created
    async with orders_service.database.connection() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(orders))).scalar_one() == 50


@pytest.mark.parametrize("size", [0, 501])
async def test_a_page_holds_1_to_500_orders(orders_stub, size):
    request = pb.BatchSubmitOrdersRequest(orders=[order_request(f"N-{i}") for i in range(size)])
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.BatchSubmitOrders(request, metadata=FLAGSHIP)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "orders" in field_violations(exc.value)
