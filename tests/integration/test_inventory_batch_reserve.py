"""BatchReserveStock answers every order as ReserveStock would alone, in a few statements (INV-10)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from shop.inventory.v1 import inventory_pb2 as pb

from libs.grpc_errors import from_rpc_error
from libs.identity import mint_token
from tests.integration.test_inventory_rpc import field_violations
from tests.integration.test_inventory_stock_flow import SHOP, assert_books_agree, level, stock

ONE_SHOP = [("authorization", f"Bearer {mint_token('tmall-bot', ['integrator'], shops=['tea-house'])}")]


def order(
    order_id: str, *lines: tuple[str, int], warehouse: str = "", shop: str = "tea-house"
) -> pb.ReserveStockRequest:
    return pb.ReserveStockRequest(
        order_id=order_id,
        warehouse_code=warehouse,
        shop_code=shop,
        lines=[pb.StockLine(sku_code=s, quantity=q) for s, q in lines],
    )


def scenario(p: str) -> list[list[pb.ReserveStockRequest]]:
    """Two rounds of orders for SKUs ``{p}-A`` (10 units) and ``{p}-B`` (3 units) that meet every kind
    of answer; the second sends orders of the first again."""
    a, b = f"{p}-A", f"{p}-B"
    first = [
        order(f"{p}-1", (a, 4), (b, 1)),  # fits
        order(f"{p}-2", (a, 4), (b, 3)),  # b is short after order 1: refused whole, a untouched
        order(f"{p}-3", (b, 2), (a, 1), (b, 0)),  # a bad line: refused before any stock is looked at
        order(f"{p}-4", (a, 2), (b, 2)),  # fits: order 2 took nothing
        order(f"{p}-5", (a, 1), (f"{p}-NOPE", 1)),  # unknown SKU, named by its line
        order(f"{p}-6", (a, 1), warehouse="DEFECTIVE"),  # never for sale (INV-2)
        order(f"{p}-7", (a, 1), warehouse="NOWHERE"),
        order(f"{p}-8", (a, 1)),  # the scoped token acts for its shop ...
        order(f"{p}-9", (a, 1), shop="other-shop"),  # ... and for no other
        order(f"{p}-10", (a, 4)),  # 3 units left after orders 1, 4 and 8: short
        order(f"{p}-11", (a, 1)),  # fits: order 10 took nothing
    ]
    again = [
        order(f"{p}-1", (a, 4), (b, 1)),  # order 1 again with the same lines: its first reservation
        order(f"{p}-4", (a, 3)),  # order 4 again with other lines: refused
    ]
    return [first, again]


Answer = tuple[str, str, list[str], list[tuple[str, int]], bool]


def answer(
    p: str, code: str, reason: str, fields: list[str], reservation: pb.Reservation | None, created: bool
) -> Answer:
    """An outcome with the scenario's prefix taken out, so two runs compare."""
    lines = [(x.sku_code.replace(p, "P"), x.quantity) for x in reservation.lines] if reservation else []
    return code, reason, sorted(fields), lines, created


async def singles(stub, p: str) -> list[Answer]:
    outcomes = []
    for request in [r for rounds in scenario(p) for r in rounds]:
        try:
            reply = await stub.ReserveStock(request, metadata=ONE_SHOP)
        except grpc.aio.AioRpcError as err:
            reason = from_rpc_error(err).reason
            outcomes.append(answer(p, err.code().name, reason, list(field_violations(err)), None, False))
            continue
        outcomes.append(answer(p, "OK", "", [], reply.reservation, reply.created))
    return outcomes


async def batch(stub, p: str) -> list[Answer]:
    outcomes = []
    for requests in scenario(p):
        reply = await stub.BatchReserveStock(pb.BatchReserveStockRequest(orders=requests), metadata=ONE_SHOP)
        outcomes += [(request, outcome) for request, outcome in zip(requests, reply.outcomes, strict=True)]
    answers = []
    for request, outcome in outcomes:
        assert outcome.order_id == request.order_id
        if outcome.HasField("problem"):
            fields = [v.field for v in outcome.problem.violations]
            answers.append(answer(p, outcome.problem.code, outcome.problem.reason, fields, None, False))
        else:
            answers.append(answer(p, "OK", "", [], outcome.reservation, outcome.created))
    return answers


async def test_a_batch_answers_each_order_as_single_calls_would_inv_10(inventory_stub, inventory):
    for p in ("S", "M"):
        await stock(inventory_stub, f"{p}-A", quantity=10)
        await stock(inventory_stub, f"{p}-B", quantity=3)
    one_by_one = await singles(inventory_stub, "S")
    together = await batch(inventory_stub, "M")
    assert together == one_by_one
    assert [o[0] for o in together] == [
        "OK", "FAILED_PRECONDITION", "INVALID_ARGUMENT", "OK", "NOT_FOUND", "FAILED_PRECONDITION",
        "NOT_FOUND", "OK", "PERMISSION_DENIED", "FAILED_PRECONDITION", "OK", "OK", "ALREADY_EXISTS",
    ]  # fmt: skip
    assert together[1][2] == ["lines[1].quantity"] and together[4][2] == ["lines[1].sku_code"]
    assert [o[4] for o in together].count(True) == 4  # order 1's second answer is its first reservation
    assert together[11][3] == together[0][3]
    for p in ("S", "M"):
        a, b = await level(inventory_stub, f"{p}-A"), await level(inventory_stub, f"{p}-B")
        assert (a.reserved, a.available, b.reserved, b.available) == (8, 2, 3, 0)
    await assert_books_agree(inventory)


async def test_the_batch_problem_reads_like_the_single_error(inventory_stub):
    await stock(inventory_stub, "T-A", quantity=2)
    reply = await inventory_stub.BatchReserveStock(
        pb.BatchReserveStockRequest(orders=[order("t-1", ("T-A", 3))]), metadata=SHOP
    )
    problem = reply.outcomes[0].problem
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ReserveStock(order("t-2", ("T-A", 3)), metadata=SHOP)
    assert problem.message == exc.value.details()
    assert problem.message.startswith("lines[0].quantity: not enough stock of T-A in MAIN: available 2")


async def test_concurrent_batches_and_single_calls_never_oversell_inv_10(inventory_stub, inventory):
    await stock(inventory_stub, "HOT-1", quantity=25)

    async def one_batch(n: int) -> int:
        orders = [order(f"b{n}-{i}", ("HOT-1", 1)) for i in range(40)]
        reply = await inventory_stub.BatchReserveStock(
            pb.BatchReserveStockRequest(orders=orders), metadata=SHOP
        )
        return sum(not o.HasField("problem") for o in reply.outcomes)

    async def one_call(i: int) -> int:
        try:
            await inventory_stub.ReserveStock(order(f"s-{i}", ("HOT-1", 1)), metadata=SHOP)
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
            return 0
        return 1

    won = await asyncio.gather(*(one_batch(n) for n in range(4)), *(one_call(i) for i in range(20)))
    assert sum(won) == 25
    assert (await level(inventory_stub, "HOT-1")).available == 0
    await assert_books_agree(inventory)


async def test_the_same_batch_twice_reserves_once(inventory_stub):
    await stock(inventory_stub, "TWICE", quantity=5)
    request = pb.BatchReserveStockRequest(orders=[order(f"w-{i}", ("TWICE", 1)) for i in range(3)])
    first, second = await asyncio.gather(
        inventory_stub.BatchReserveStock(request, metadata=SHOP),
        inventory_stub.BatchReserveStock(request, metadata=SHOP),
    )
    created = [o.created for o in first.outcomes] + [o.created for o in second.outcomes]
    assert created.count(True) == 3
    assert (await level(inventory_stub, "TWICE")).reserved == 3


@pytest.mark.parametrize(
    ("orders", "field"),
    [
        ([], "orders"),
        ([order("x", ("A", 1)), order("x", ("A", 1))], "orders[1].order_id"),
        ([order(f"x{i}", ("A", 1)) for i in range(501)], "orders"),
    ],
)
async def test_a_malformed_batch_is_refused_whole_naming_the_field(inventory_stub, orders, field):
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.BatchReserveStock(pb.BatchReserveStockRequest(orders=orders), metadata=SHOP)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(exc.value)
