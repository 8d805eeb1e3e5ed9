"""The stock change feed (INV-10): integrators follow available stock for sale with a cursor, so each
platform's listing equals the books; no change is skipped, also when its transaction commits late."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from shop.inventory.v1 import inventory_pb2 as pb

from services.inventory.domain.stock import Movement, MovementKind
from services.inventory.store import ledger
from tests.integration.test_inventory_rpc import field_violations
from tests.integration.test_inventory_stock_flow import KEEPER, SHOP, stock

Listing = dict[str, int]


async def follow(stub, cursor: str = "", **kwargs: int) -> tuple[Listing, str]:
    reply = await stub.ListStockChanges(pb.ListStockChangesRequest(cursor=cursor, **kwargs), metadata=SHOP)
    return {c.sku_code: c.available for c in reply.changes}, reply.next_cursor


async def test_a_listing_follows_available_stock_for_sale_inv_10(inventory_stub):
    await stock(inventory_stub, "FEED-A", quantity=10)
    await stock(inventory_stub, "FEED-B", quantity=5)
    listing, cursor = await follow(inventory_stub)
    assert listing == {"FEED-A": 10, "FEED-B": 5}

    await inventory_stub.ReserveStock(
        pb.ReserveStockRequest(order_id="feed-1", lines=[pb.StockLine(sku_code="FEED-A", quantity=3)]),
        metadata=SHOP,
    )
    changed, cursor = await follow(inventory_stub, cursor)
    assert changed == {"FEED-A": 7}  # only what changed, at what it is now

    unchanged, same = await follow(inventory_stub, cursor)
    assert (unchanged, same) == ({}, cursor)

    # Paging: one change per page, each SKU in turn, then nothing.
    await stock(inventory_stub, "FEED-B", quantity=1, request_id="feed-b-more")
    await stock(inventory_stub, "FEED-A", quantity=1, request_id="feed-a-more")
    first, cursor = await follow(inventory_stub, cursor, page_size=1)
    second, cursor = await follow(inventory_stub, cursor, page_size=1)
    assert [first, second] == [{"FEED-B": 6}, {"FEED-A": 8}]
    assert (await follow(inventory_stub, cursor))[0] == {}


async def test_a_change_whose_transaction_commits_late_is_not_skipped_inv_10(inventory_stub, inventory):
    await stock(inventory_stub, "LATE-X", quantity=4)
    await stock(inventory_stub, "LATE-Y", quantity=4)
    _, cursor = await follow(inventory_stub)
    hold = Movement(kind=MovementKind.HOLD, sku_code="LATE-X", warehouse_code="MAIN", held_delta=1)
    async with inventory.database.transaction() as slow:
        await ledger.post(slow, [hold], actor="test")  # begins first, commits last
        await stock(inventory_stub, "LATE-Y", quantity=1, request_id="late-y-more")  # commits at once
        # Y committed, but behind a transaction still running: not yet given, so the cursor cannot pass X.
        assert (await follow(inventory_stub, cursor))[0] == {}
    changed, cursor = await follow(inventory_stub, cursor)
    assert changed == {"LATE-X": 3, "LATE-Y": 5}


async def test_a_reader_waiting_on_the_feed_hears_of_a_change_at_once_inv_10(inventory_stub):
    await stock(inventory_stub, "WAIT-A", quantity=2)
    _, cursor = await follow(inventory_stub)
    waiting = asyncio.create_task(follow(inventory_stub, cursor, wait_seconds=10))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    started = asyncio.get_running_loop().time()
    await stock(inventory_stub, "WAIT-A", quantity=3, request_id="wait-a-more")
    changed, _ = await asyncio.wait_for(waiting, 5)
    assert changed == {"WAIT-A": 5}
    assert asyncio.get_running_loop().time() - started < 5


async def test_stock_in_a_defective_goods_warehouse_never_reaches_a_listing_inv_2(inventory_stub):
    _, cursor = await follow(inventory_stub)
    await inventory_stub.RegisterSku(
        pb.RegisterSkuRequest(
            request_id="reg-DEF", sku_code="DEF-1", style_number="DEF", colour="red", size="S", name="Dented tin",
            category="tea", barcode="BC-DEF-1",
        ),
        metadata=KEEPER,
    )  # fmt: skip
    await inventory_stub.ReceiveStock(
        pb.ReceiveStockRequest(request_id="in-def", sku_code="DEF-1", warehouse_code="DEFECTIVE", quantity=3),
        metadata=KEEPER,
    )
    assert (await follow(inventory_stub, cursor))[0] == {}


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListStockChangesRequest(page_size=5001), "page_size"),
        (pb.ListStockChangesRequest(page_size=-1), "page_size"),
        (pb.ListStockChangesRequest(wait_seconds=31), "wait_seconds"),
        (pb.ListStockChangesRequest(cursor="not a cursor!"), "cursor"),
    ],
)
async def test_bad_feed_requests_name_the_field(inventory_stub, request_, field):
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ListStockChanges(request_, metadata=SHOP)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(exc.value)


async def test_a_long_transaction_of_another_database_does_not_hold_the_feed_back_inv_10(
    inventory_stub, inventory
):
    # Every service's database may live in one PostgreSQL; a transaction there of orders or logistics
    # cannot write inventory's feed, so the feed does not wait for it.
    import psycopg
    from sqlalchemy.engine import make_url

    await stock(inventory_stub, "ELSEWHERE-A", quantity=2)
    _, cursor = await follow(inventory_stub)
    url = make_url(inventory.database.url).set(drivername="postgresql", database="postgres")
    async with await psycopg.AsyncConnection.connect(url.render_as_string(hide_password=False)) as other:
        await other.execute("CREATE TEMP TABLE busy (n int)")
        await other.execute("INSERT INTO busy VALUES (1)")  # holds a transaction id, uncommitted
        await stock(inventory_stub, "ELSEWHERE-A", quantity=3, request_id="elsewhere-a-more")
        changed, cursor = await follow(inventory_stub, cursor)
        assert changed == {"ELSEWHERE-A": 5}
        await other.rollback()
