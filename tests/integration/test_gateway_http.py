"""The gateway's HTTP routes over a real inventory gRPC server and database: statuses and error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from libs.config import SERVICE_PORTS
from services.gateway.app import create_app
from services.gateway.upstreams import open_upstreams
from services.inventory.store.tables import stock_levels, stock_movements
from tests.conftest import token_for

SKU = {
    "request_id": "reg-1",
    "sku_code": "LJ-250-GRN",
    "style_number": "LJ-250",
    "colour": "green",
    "size": "250g",
    "name": "West Lake Longjing 250 g",
    "category": "tea",
    "barcode": "6901234567890",
}


def bearer(role: str = "stock_keeper") -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(role)}"}


@pytest.fixture
async def client(inventory, monkeypatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("SHOP_INVENTORY_TARGET", inventory.target)
    for name in SERVICE_PORTS:
        if name != "inventory":
            monkeypatch.setenv(f"SHOP_{name.upper()}_TARGET", "127.0.0.1:1")  # not running
    app = create_app()
    app.state.upstreams = open_upstreams()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as http:
            yield http
    finally:
        await app.state.upstreams.close()


async def ledger_rows(inventory) -> tuple[int, int]:
    async with inventory.database.connection() as conn:
        movements = (await conn.execute(sa.select(sa.func.count()).select_from(stock_movements))).scalar_one()
        levels = (await conn.execute(sa.select(sa.func.count()).select_from(stock_levels))).scalar_one()
    return int(movements), int(levels)


def fields_of(response: httpx.Response) -> list[str]:
    return [f["field"] for f in response.json()["error"]["fields"]]


def answer(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def check_request_id_is_optional(
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    status: int,
    state: Callable[[], Awaitable[object]],
    other: dict[str, Any] | str,
    again: tuple[int, str] | None = None,
) -> None:
    """AIP-155 on one route, ``body`` being a valid request without its ``request_id``:

    - with a request_id, a retry gets the first answer and writes nothing more, and the same id with other
      content (``other``: body overrides, or another path) is 409 naming request_id and writes nothing;
    - without one (left out, empty or null), the same request is new each time: done again (a new answer,
      something more written), or, when ``again`` says so, refused as a repeat with ``(status, field)`` and
      nothing written.

    ``state`` reads whatever the route writes."""
    keyed = {**body, "request_id": "retry-1"}
    first = answer(await client.post(path, json=keyed, headers=headers), status)
    written = await state()
    assert answer(await client.post(path, json=keyed, headers=headers), status) == first
    assert await state() == written
    other_path, other_body = (other, keyed) if isinstance(other, str) else (path, {**keyed, **other})
    conflict = await client.post(other_path, json=other_body, headers=headers)
    assert conflict.status_code == 409, conflict.text
    assert fields_of(conflict) == ["request_id"]
    assert await state() == written

    answers = [first]
    for unkeyed in (body, {**body, "request_id": ""}, {**body, "request_id": None}):
        response = await client.post(path, json=unkeyed, headers=headers)
        if again is None:
            answers.append(answer(response, status))
            assert answers[-1] not in answers[:-1]
            assert await state() != written
            written = await state()
        else:
            assert response.status_code == again[0], response.text
            assert again[1] in fields_of(response)
            assert await state() == written


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$ref`` followed and its ``null`` alternative left out."""
    while True:
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in schema:
            [schema] = [s for s in schema["anyOf"] if s.get("type") != "null"]
        else:
            return schema


def schema_at(spec: dict[str, Any], method: str, path: str, *keys: str, status: str = "") -> dict[str, Any]:
    """The OpenAPI schema of a route's request body (or, given ``status``, its answer), walked down the
    property names ``keys`` ("[]" steps into an array's items)."""
    operation = spec["paths"][path][method]
    content = operation["responses"][status] if status else operation["requestBody"]
    schema = resolve(spec, content["content"]["application/json"]["schema"])
    for key in keys:
        schema = resolve(spec, schema["items"] if key == "[]" else schema["properties"][key])
    return schema


async def test_register_receive_and_read_stock(client):
    created = await client.post("/v1/inventory/skus", json=SKU, headers=bearer())
    assert created.status_code == 201, created.text
    assert created.json()["created_at"].endswith(("Z", "+00:00"))
    received = await client.post(
        "/v1/inventory/stock-receipts",
        json={"sku_code": "LJ-250-GRN", "quantity": 40},
        headers={**bearer(), "Idempotency-Key": "in-1"},
    )
    assert received.status_code == 201, received.text
    assert received.json()["level"]["on_hand"] == 40
    stock = await client.get("/v1/inventory/skus/LJ-250-GRN/stock", headers=bearer("integrator"))
    assert stock.status_code == 200
    assert stock.json()["available"] == 40
    sku = await client.get("/v1/inventory/skus/LJ-250-GRN", headers=bearer("integrator"))
    assert sku.json()["kind"] == "sellable"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ('{"sku_code": "LJ-250-GRN", "quantity": ', 400, "body"),  # malformed JSON
        ('{"request_id": "x", "sku_code": "LJ-250-GRN", "quantity": "4"}', 400, "quantity"),  # wrong type
        ('{"request_id": "x", "sku_code": "LJ-250-GRN", "quantity": 2.5}', 400, "quantity"),
        ('{"request_id": "x", "sku_code": 7, "quantity": 4}', 400, "sku_code"),
        ('{"request_id": "x", "quantity": 4}', 400, "sku_code"),  # missing
        ('{"request_id": "x", "sku_code": "LJ-250-GRN", "quantity": 4, "extra": 1}', 400, "extra"),
        ('{"request_id": "x", "sku_code": "LJ-250-GRN", "quantity": -4}', 400, "quantity"),
        ('{"request_id": "x", "sku_code": "LJ-250-GRN", "quantity": 0}', 400, "quantity"),
        ('{"request_id": "x", "sku_code": "NOPE", "quantity": 4}', 404, "sku_code"),
        (
            '{"request_id": "x", "sku_code": "LJ-250-GRN", "warehouse_code": "NOWHERE", "quantity": 4}',
            404,
            "warehouse_code",
        ),
        ('{"request_id": " ", "sku_code": "LJ-250-GRN", "quantity": 4}', 400, "request_id"),  # blank
        ("[1, 2]", 400, "body"),
    ],
)
async def test_bad_receipt_gets_an_error_naming_the_field_and_writes_nothing(
    client, inventory, body, status, field
):
    assert (await client.post("/v1/inventory/skus", json=SKU, headers=bearer())).status_code == 201
    response = await client.post(
        "/v1/inventory/stock-receipts",
        content=body,
        headers={**bearer(), "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert field in fields_of(response)
    assert field in error["message"]
    assert await ledger_rows(inventory) == (0, 0)


async def test_a_receipt_without_a_request_id_is_a_new_one_each_time_aip_155(client, inventory):
    """Without a request_id (or Idempotency-Key) every receipt books its units; with one, a retry books
    nothing more, and the same id with another quantity is 409 naming request_id."""
    assert (await client.post("/v1/inventory/skus", json=SKU, headers=bearer())).status_code == 201

    async def state() -> tuple[object, ...]:
        stock = await client.get("/v1/inventory/skus/LJ-250-GRN/stock", headers=bearer())
        return await ledger_rows(inventory), answer(stock, 200)["available"]

    await check_request_id_is_optional(
        client,
        "/v1/inventory/stock-receipts",
        {"sku_code": "LJ-250-GRN", "quantity": 4},
        bearer(),
        status=201,
        state=state,
        other={"quantity": 5},
    )
    assert (await state())[1] == 16  # the keyed receipt once, and each of the three without an id


async def test_unknown_sku_lookup_is_404(client):
    response = await client.get("/v1/inventory/skus/NOPE", headers=bearer())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_duplicate_sku_is_409(client):
    assert (await client.post("/v1/inventory/skus", json=SKU, headers=bearer())).status_code == 201
    again = await client.post("/v1/inventory/skus", json={**SKU, "request_id": "reg-2"}, headers=bearer())
    assert again.status_code == 409
    assert fields_of(again) == ["sku_code"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
async def test_requests_without_a_valid_token_are_401(client, headers):
    response = await client.get("/v1/inventory/skus/X", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"


async def test_wrong_role_is_403_inv_18(client, inventory):
    """INV-18: only stock keepers move stock, also through the gateway."""
    assert (await client.post("/v1/inventory/skus", json=SKU, headers=bearer())).status_code == 201
    response = await client.post(
        "/v1/inventory/stock-receipts",
        json={"request_id": "x", "sku_code": "LJ-250-GRN", "quantity": 4},
        headers=bearer("customer_service"),
    )
    assert response.status_code == 403
    assert await ledger_rows(inventory) == (0, 0)


async def test_healthz_needs_no_token_and_names_each_service(client):
    response = await client.get("/healthz")
    assert response.status_code == 503  # only inventory runs in this test
    services = response.json()["services"]
    assert services["inventory"] == "SERVING"
    assert services["orders"] == "UNREACHABLE"
    assert (await client.get("/livez")).status_code == 200


async def test_openapi_documents_the_routes(client):
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/inventory/stock-receipts" in spec["paths"]
    assert "/v1/inventory/skus/{sku_code}/stock" in spec["paths"]
