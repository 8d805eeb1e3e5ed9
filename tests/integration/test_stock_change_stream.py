"""The stock change feed as a stream (INV-10): WatchStockChanges pushes each change as it becomes readable,
over gRPC and, through the gateway, as newline-delimited JSON; a stream refused at once answers with its
status, and every stream ends in time so that its reader reconnects from its cursor."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import httpx
import pytest
from shop.inventory.v1 import inventory_pb2 as pb

from services.inventory.api import servicer as inventory_servicer
from tests.conftest import auth
from tests.integration.test_gateway_inventory_routes import bearer, client  # noqa: F401 - the fixture
from tests.integration.test_inventory_rpc import field_violations
from tests.integration.test_inventory_stock_flow import SHOP, stock

Listing = dict[str, int]


def listing(reply: pb.WatchStockChangesResponse) -> Listing:
    return {c.sku_code: c.available for c in reply.changes}


async def test_a_stream_pushes_each_change_as_it_becomes_readable_inv_10(inventory_stub):
    await stock(inventory_stub, "WATCH-A", quantity=10)
    stream = inventory_stub.WatchStockChanges(pb.WatchStockChangesRequest(max_seconds=30), metadata=SHOP)
    try:
        first = await asyncio.wait_for(stream.read(), 5)  # at once, with what changed so far
        assert listing(first)["WATCH-A"] == 10
        if len(first.changes) < 500:  # caught up: the next message waits for a change
            pending = asyncio.create_task(stream.read())
            await asyncio.sleep(0.3)
            assert not pending.done()
            await stock(inventory_stub, "WATCH-A", quantity=5, request_id="watch-a-more")
            pushed = await asyncio.wait_for(pending, 5)
            assert listing(pushed) == {"WATCH-A": 15}
            assert pushed.cursor != first.cursor
    finally:
        stream.cancel()

    # The cursor of a message resumes exactly there, by a page or by a new stream.
    page = await inventory_stub.ListStockChanges(
        pb.ListStockChangesRequest(cursor=pushed.cursor), metadata=SHOP
    )
    assert (list(page.changes), page.next_cursor) == ([], pushed.cursor)


async def test_a_quiet_stream_says_it_is_alive_and_ends_in_time_inv_10(inventory_stub, monkeypatch):
    monkeypatch.setattr(inventory_servicer, "CHANGES_KEEP_ALIVE_SECONDS", 0.4)
    await stock(inventory_stub, "WATCH-Q", quantity=1)
    first = await inventory_stub.ListStockChanges(pb.ListStockChangesRequest(), metadata=SHOP)
    started = asyncio.get_running_loop().time()
    replies = [
        r
        async for r in inventory_stub.WatchStockChanges(
            pb.WatchStockChangesRequest(cursor=first.next_cursor, max_seconds=2), metadata=SHOP
        )
    ]
    elapsed = asyncio.get_running_loop().time() - started
    # The first message, then keep-alives with no changes and the same cursor, then the end after 2 s.
    assert len(replies) >= 3
    assert all(not r.changes and r.cursor == first.next_cursor for r in replies)
    assert 1.9 <= elapsed < 5


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"page_size": 5001}, "page_size"),
        ({"max_seconds": -1}, "max_seconds"),
        ({"max_seconds": 3601}, "max_seconds"),
    ],
)
async def test_a_bad_stream_request_is_refused_naming_the_field(inventory_stub, request_fields, field):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in inventory_stub.WatchStockChanges(
            pb.WatchStockChangesRequest(**request_fields), metadata=SHOP
        ):
            pass
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(refused.value)


async def test_a_stream_needs_a_role_of_its_policy(inventory_stub):
    for metadata, code in [
        ((), grpc.StatusCode.UNAUTHENTICATED),
        (auth("packer"), grpc.StatusCode.PERMISSION_DENIED),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in inventory_stub.WatchStockChanges(pb.WatchStockChangesRequest(), metadata=metadata):
                pass
        assert refused.value.code() == code


# --------------------------------------------------------------------------------------- through the gateway


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.text.splitlines()]


async def test_the_gateway_streams_the_feed_as_newline_delimited_json_inv_10(
    client,  # noqa: F811 - the fixture
    inventory_stub,
):
    await stock(inventory_stub, "WATCH-H", quantity=4)
    answered = lines(
        await client.get(
            "/v1/inventory/stock-changes:watch", params={"max_seconds": 1}, headers=bearer("integrator")
        )
    )
    first = answered[0]["result"]
    assert {"sku_code": "WATCH-H", "available": 4} in [
        {k: c[k] for k in ("sku_code", "available")} for c in first["changes"]
    ]
    assert all(set(line) == {"result"} for line in answered)
    # The last cursor given resumes where the stream ended: nothing changed since.
    cursor = answered[-1]["result"]["cursor"]
    again = lines(
        await client.get(
            "/v1/inventory/stock-changes:watch",
            params={"cursor": cursor, "max_seconds": 1},
            headers=bearer("integrator"),
        )
    )
    assert again[0]["result"] == {"changes": [], "cursor": cursor}


async def test_the_gateway_answers_a_refused_stream_with_its_status(client):  # noqa: F811 - the fixture
    bad = await client.get(
        "/v1/inventory/stock-changes:watch", params={"cursor": "nope"}, headers=bearer("integrator")
    )
    assert bad.status_code == 400, bad.text
    assert [f["field"] for f in bad.json()["error"]["fields"]] == ["cursor"]
    denied = await client.get("/v1/inventory/stock-changes:watch", headers=bearer("packer"))
    assert denied.status_code == 403, denied.text
    assert denied.json()["error"]["reason"] == "ROLE_REQUIRED"
