"""The gateway's routes for places, lots, put-away, reservations and holds, over a real inventory server:
success with real stock, bad input naming the field, and the roles each operation needs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from libs.config import SERVICE_PORTS
from services.gateway.app import create_app
from services.gateway.upstreams import open_upstreams
from services.inventory.store.tables import stock_movements
from tests.conftest import token_for
from tests.integration.test_gateway_http import check_request_id_is_optional, schema_at

SKU_CODE = "LJ-250-GRN"
SKU = {
    "request_id": "reg-1",
    "sku_code": SKU_CODE,
    "style_number": "LJ-250",
    "colour": "green",
    "size": "250g",
    "name": "West Lake Longjing 250 g",
    "category": "tea",
    "barcode": "6901234567890",
}
# Who does what (services/inventory/api/servicer.py).
SUPERVISOR = "warehouse_supervisor"  # warehouses and bins
KEEPER = "stock_keeper"  # receipts, put-away, issue (INV-18)
INTEGRATOR = "integrator"  # reservations, as the order flow
CUSTOMER_SERVICE = "customer_service"  # holds


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(role)}"}


def json_headers(role: str) -> dict[str, str]:
    return {**bearer(role), "Content-Type": "application/json"}


def fields_of(response: httpx.Response) -> list[str]:
    return [f["field"] for f in response.json()["error"]["fields"]]


def assert_error(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert field in fields_of(response), response.text


def is_utc(value: str) -> bool:
    return value.endswith(("Z", "+00:00"))


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


async def movements(inventory) -> int:
    async with inventory.database.connection() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(stock_movements))).scalar_one())


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def register_sku(client: httpx.AsyncClient) -> None:
    ok(await client.post("/v1/inventory/skus", json=SKU, headers=bearer(KEEPER)), 201)


async def create_bin(client: httpx.AsyncClient, bin_code: str, warehouse: str = "MAIN") -> None:
    ok(
        await client.post(
            f"/v1/inventory/warehouses/{warehouse}/bins",
            json={"request_id": f"bin-{warehouse}-{bin_code}", "bin_code": bin_code},
            headers=bearer(SUPERVISOR),
        ),
        201,
    )


async def receive(client: httpx.AsyncClient, quantity: int, key: str) -> str:
    """Books units into MAIN's receiving area; the new lot's id."""
    body = ok(
        await client.post(
            "/v1/inventory/stock-receipts",
            json={"request_id": key, "sku_code": SKU_CODE, "quantity": quantity},
            headers=bearer(KEEPER),
        ),
        201,
    )
    lot_id: str = body["lot"]["lot_id"]
    return lot_id


async def stocked(client: httpx.AsyncClient, quantity: int = 40) -> str:
    """A SKU with ``quantity`` units in MAIN's receiving area and an empty bin A-01; the lot's id."""
    await register_sku(client)
    await create_bin(client, "A-01")
    return await receive(client, quantity, "in-1")


async def available(client: httpx.AsyncClient) -> dict[str, int]:
    body = ok(await client.get(f"/v1/inventory/skus/{SKU_CODE}/stock", headers=bearer(INTEGRATOR)))
    [main] = [lv for lv in body["levels"] if lv["warehouse_code"] == "MAIN"]
    return {k: main[k] for k in ("on_hand", "reserved", "held", "available")}


async def reserve(client: httpx.AsyncClient, order_id: str, quantity: int) -> httpx.Response:
    return await client.post(
        "/v1/inventory/reservations",
        json={"order_id": order_id, "lines": [{"sku_code": SKU_CODE, "quantity": quantity}]},
        headers=bearer(INTEGRATOR),
    )


# --- warehouses ---------------------------------------------------------------------------------


async def test_create_and_list_warehouses(client):
    created = await client.post(
        "/v1/inventory/warehouses",
        json={"warehouse_code": "east-2", "name": "East returns", "sellable": False},
        headers={**bearer(SUPERVISOR), "Idempotency-Key": "wh-1"},
    )
    assert ok(created, 201) == {"warehouse_code": "east-2", "name": "East returns", "sellable": False}
    # A retry with the same key returns the first result instead of a conflict.
    again = await client.post(
        "/v1/inventory/warehouses",
        json={"warehouse_code": "east-2", "name": "East returns", "sellable": False},
        headers={**bearer(SUPERVISOR), "Idempotency-Key": "wh-1"},
    )
    assert ok(again, 201) == created.json()
    default_sellable = await client.post(
        "/v1/inventory/warehouses",
        json={"request_id": "wh-2", "warehouse_code": "WEST", "name": "West"},
        headers=bearer(SUPERVISOR),
    )
    assert (ok(default_sellable, 201))["sellable"] is True

    listed = ok(await client.get("/v1/inventory/warehouses", headers=bearer(INTEGRATOR)))
    assert {w["warehouse_code"] for w in listed["warehouses"]} == {"DEFECTIVE", "east-2", "MAIN", "WEST"}
    assert {w["warehouse_code"]: w["sellable"] for w in listed["warehouses"]}["DEFECTIVE"] is False


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (
            '{"request_id": "w", "warehouse_code": "NORTH", "name": "North", "sellable": "no"}',
            400,
            "sellable",
        ),
        ('{"request_id": "w", "warehouse_code": "NORTH", "name": 5}', 400, "name"),
        ('{"request_id": "w", "warehouse_code": ["NORTH"], "name": "North"}', 400, "warehouse_code"),
        ('{"request_id": "w", "name": "North"}', 400, "warehouse_code"),
        ('{"request_id": "w", "warehouse_code": "NORTH", "name": "North", "city": "X"}', 400, "city"),
        ('{"request_id": "w", "warehouse_code": "bad code!", "name": "North"}', 400, "warehouse_code"),
        ('{"request_id": "w", "warehouse_code": "NORTH", "name": "  "}', 400, "name"),
        ('{"request_id": " ", "warehouse_code": "NORTH", "name": "North"}', 400, "request_id"),
        ('{"request_id": "w", "warehouse_code": "MAIN", "name": "Again"}', 409, "warehouse_code"),
    ],
)
async def test_bad_warehouse_is_refused_naming_the_field(client, body, status, field):
    response = await client.post("/v1/inventory/warehouses", content=body, headers=json_headers(SUPERVISOR))
    assert_error(response, status, field)
    listed = ok(await client.get("/v1/inventory/warehouses", headers=bearer(SUPERVISOR)))
    assert [w["warehouse_code"] for w in listed["warehouses"]] == ["DEFECTIVE", "MAIN"]


@pytest.mark.parametrize("role", [KEEPER, INTEGRATOR, "supervisor"])
async def test_only_warehouse_supervisors_create_warehouses(client, role):
    response = await client.post(
        "/v1/inventory/warehouses",
        json={"request_id": "w", "warehouse_code": "NORTH", "name": "North"},
        headers=bearer(role),
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


async def test_listing_warehouses_needs_a_token(client):
    response = await client.get("/v1/inventory/warehouses")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"


# --- bins ---------------------------------------------------------------------------------------


async def test_create_and_list_bins(client):
    created = await client.post(
        "/v1/inventory/warehouses/MAIN/bins",
        json={"bin_code": "B-02", "description": "Shelf B, level 2"},
        headers={**bearer(SUPERVISOR), "Idempotency-Key": "bin-1"},
    )
    assert ok(created, 201) == {
        "warehouse_code": "MAIN",
        "bin_code": "B-02",
        "description": "Shelf B, level 2",
    }
    await create_bin(client, "A-01")
    await create_bin(client, "X-9", warehouse="DEFECTIVE")
    listed = ok(await client.get("/v1/inventory/warehouses/MAIN/bins", headers=bearer(KEEPER)))
    assert [(b["warehouse_code"], b["bin_code"], b["description"]) for b in listed["bins"]] == [
        ("MAIN", "A-01", ""),
        ("MAIN", "B-02", "Shelf B, level 2"),
    ]
    defective = ok(await client.get("/v1/inventory/warehouses/DEFECTIVE/bins", headers=bearer(KEEPER)))
    assert [(b["warehouse_code"], b["bin_code"]) for b in defective["bins"]] == [("DEFECTIVE", "X-9")]
    # null means "not set": no description.
    unset = await client.post(
        "/v1/inventory/warehouses/MAIN/bins",
        json={"request_id": "bin-2", "bin_code": "C-03", "description": None},
        headers=bearer(SUPERVISOR),
    )
    assert ok(unset, 201) == {"warehouse_code": "MAIN", "bin_code": "C-03", "description": ""}


@pytest.mark.parametrize(
    ("warehouse", "body", "status", "field"),
    [
        ("MAIN", '{"request_id": "b", "bin_code": 12}', 400, "bin_code"),
        ("MAIN", '{"request_id": "b", "bin_code": "C-1", "description": ["x"]}', 400, "description"),
        ("MAIN", '{"request_id": "b"}', 400, "bin_code"),
        # The body may repeat the path's warehouse, not name another.
        (
            "MAIN",
            '{"request_id": "b", "bin_code": "C-1", "warehouse_code": "DEFECTIVE"}',
            400,
            "warehouse_code",
        ),
        ("MAIN", '{"request_id": "b", "bin_code": "no spaces"}', 400, "bin_code"),
        (
            "MAIN",
            '{"request_id": "b", "bin_code": "C-1", "description": "' + "x" * 201 + '"}',
            400,
            "description",
        ),
        ("MAIN", '{"request_id": " ", "bin_code": "C-1"}', 400, "request_id"),
        ("MAIN", '{"request_id": "b", "bin_code": "A-01"}', 409, "bin_code"),
        ("NOWHERE", '{"request_id": "b", "bin_code": "C-1"}', 404, "warehouse_code"),
    ],
)
async def test_bad_bin_is_refused_naming_the_field(client, warehouse, body, status, field):
    await create_bin(client, "A-01")
    response = await client.post(
        f"/v1/inventory/warehouses/{warehouse}/bins", content=body, headers=json_headers(SUPERVISOR)
    )
    assert_error(response, status, field)
    listed = ok(await client.get("/v1/inventory/warehouses/MAIN/bins", headers=bearer(SUPERVISOR)))
    assert [b["bin_code"] for b in listed["bins"]] == ["A-01"]


async def test_bins_of_an_unknown_warehouse_are_404(client):
    response = await client.get("/v1/inventory/warehouses/NOWHERE/bins", headers=bearer(KEEPER))
    assert_error(response, 404, "warehouse_code")


async def test_only_warehouse_supervisors_create_bins(client):
    response = await client.post(
        "/v1/inventory/warehouses/MAIN/bins",
        json={"request_id": "b", "bin_code": "C-1"},
        headers=bearer(KEEPER),
    )
    assert response.status_code == 403, response.text


# --- lots and put-away ------------------------------------------------------------------------


async def test_lots_of_a_sku_per_warehouse(client):
    lot_id = await stocked(client)
    lots = ok(await client.get(f"/v1/inventory/skus/{SKU_CODE}/lots", headers=bearer(INTEGRATOR)))
    [lot] = lots["lots"]
    assert lot["sku_code"] == SKU_CODE
    assert lot["lot_id"] == lot_id
    assert (lot["warehouse_code"], lot["bin_code"], lot["on_hand"]) == ("MAIN", "", 40)
    assert lot["label_id"].startswith(f"{SKU_CODE}-")
    assert is_utc(lot["received_at"])
    main = ok(
        await client.get(
            f"/v1/inventory/skus/{SKU_CODE}/lots", params={"warehouse_code": "MAIN"}, headers=bearer(KEEPER)
        )
    )
    assert main["lots"] == lots["lots"]
    defective = ok(
        await client.get(
            f"/v1/inventory/skus/{SKU_CODE}/lots",
            params={"warehouse_code": "DEFECTIVE"},
            headers=bearer(KEEPER),
        )
    )
    assert defective["lots"] == []


async def test_lots_of_an_unknown_sku_are_404(client):
    response = await client.get("/v1/inventory/skus/NOPE/lots", headers=bearer(KEEPER))
    assert_error(response, 404, "sku_code")
    assert response.json()["error"]["reason"] == "SKU_NOT_FOUND"


async def test_put_away_moves_units_into_a_bin_inv_6(client, inventory):
    lot_id = await stocked(client)
    moved = await client.post(
        "/v1/inventory/put-aways",
        json={"lot_id": lot_id, "to_bin_code": "A-01", "quantity": 30},
        headers={**bearer(KEEPER), "Idempotency-Key": "pa-1"},
    )
    body = ok(moved, 201)
    assert {(x["bin_code"], x["on_hand"]) for x in body["lots"]} == {("", 10), ("A-01", 30)}
    assert all(x["lot_id"] == lot_id and is_utc(x["received_at"]) for x in body["lots"])
    before = await movements(inventory)
    # The same key again moves nothing more.
    replay = await client.post(
        "/v1/inventory/put-aways",
        json={"lot_id": lot_id, "to_bin_code": "A-01", "quantity": 30},
        headers={**bearer(KEEPER), "Idempotency-Key": "pa-1"},
    )
    assert ok(replay, 201) == body
    assert await movements(inventory) == before
    # And onwards from one bin to another.
    await create_bin(client, "B-02")
    onwards = await client.post(
        "/v1/inventory/put-aways",
        json={
            "request_id": "pa-2",
            "lot_id": lot_id,
            "warehouse_code": "MAIN",
            "from_bin_code": "A-01",
            "to_bin_code": "B-02",
            "quantity": 5,
        },
        headers=bearer(KEEPER),
    )
    ok(onwards, 201)
    lots = ok(await client.get(f"/v1/inventory/skus/{SKU_CODE}/lots", headers=bearer(KEEPER)))
    assert sorted((x["bin_code"], x["on_hand"]) for x in lots["lots"]) == [
        ("", 10),
        ("A-01", 25),
        ("B-02", 5),
    ]
    assert await available(client) == {"on_hand": 40, "reserved": 0, "held": 0, "available": 40}


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"quantity": "3"}, 400, "quantity"),
        ({"quantity": 2.5}, 400, "quantity"),
        ({"quantity": 2**70}, 400, "quantity"),
        ({"quantity": -3}, 400, "quantity"),
        ({"quantity": 0}, 400, "quantity"),
        ({"lot_id": 7}, 400, "lot_id"),
        ({"lot_id": "not-a-uuid"}, 400, "lot_id"),
        ({"lot_id": str(uuid.UUID(int=1))}, 404, "lot_id"),
        ({"to_bin_code": ""}, 400, "to_bin_code"),
        ({"to_bin_code": "Z-99"}, 404, "to_bin_code"),
        ({"from_bin_code": "A-01"}, 400, "to_bin_code"),  # from and to the same bin
        ({"warehouse_code": "NOWHERE"}, 404, "warehouse_code"),
        ({"quantity": 41}, 422, "quantity"),  # the lot holds 40
        ({"bin_code": "A-01"}, 400, "bin_code"),  # unknown field
        ({"request_id": " "}, 400, "request_id"),
    ],
)
async def test_bad_put_away_is_refused_naming_the_field_and_moves_nothing(
    client, inventory, overrides, status, field
):
    lot_id = await stocked(client)
    before = await movements(inventory)
    body = {"request_id": "pa-x", "lot_id": lot_id, "to_bin_code": "A-01", "quantity": 3, **overrides}
    response = await client.post("/v1/inventory/put-aways", json=body, headers=bearer(KEEPER))
    assert_error(response, status, field)
    assert await movements(inventory) == before


@pytest.mark.parametrize("role", [SUPERVISOR, INTEGRATOR, CUSTOMER_SERVICE])
async def test_only_stock_keepers_put_away_inv_18(client, inventory, role):
    lot_id = await stocked(client)
    before = await movements(inventory)
    response = await client.post(
        "/v1/inventory/put-aways",
        json={"request_id": "pa-r", "lot_id": lot_id, "to_bin_code": "A-01", "quantity": 3},
        headers=bearer(role),
    )
    assert response.status_code == 403, response.text
    assert await movements(inventory) == before


# --- reservations -------------------------------------------------------------------------------


async def test_reserve_then_same_order_again_returns_the_first_reservation(client):
    await stocked(client)
    created = await reserve(client, "SO-1", 5)
    body = ok(created, 201)
    assert body["created"] is True
    reservation = body["reservation"]
    assert reservation["order_id"] == "SO-1"
    assert reservation["warehouse_code"] == "MAIN"
    assert reservation["status"] == "active"
    assert reservation["lines"] == [{"sku_code": SKU_CODE, "quantity": 5, "issued": 0}]
    assert is_utc(reservation["created_at"])
    assert await available(client) == {"on_hand": 40, "reserved": 5, "held": 0, "available": 35}

    again = await reserve(client, "SO-1", 5)
    assert ok(again, 200) == {"reservation": reservation, "created": False}
    assert await available(client) == {"on_hand": 40, "reserved": 5, "held": 0, "available": 35}

    got = ok(await client.get("/v1/inventory/reservations/SO-1", headers=bearer(KEEPER)))
    assert got == reservation


async def test_other_lines_for_a_reserved_order_are_409(client):
    await stocked(client)
    ok(await reserve(client, "SO-1", 5), 201)
    response = await reserve(client, "SO-1", 6)
    assert_error(response, 409, "order_id")
    assert response.json()["error"]["reason"] == "RESERVATION_EXISTS"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"order_id": "SO-9", "lines": [{"sku_code": SKU_CODE, "quantity": "5"}]}, 400, "lines[0].quantity"),
        (
            {"order_id": "SO-9", "lines": [{"sku_code": SKU_CODE, "quantity": 1}, {"sku_code": SKU_CODE}]},
            400,
            "lines[1].quantity",
        ),
        (
            {"order_id": "SO-9", "lines": [{"sku_code": SKU_CODE, "quantity": 1, "colour": "red"}]},
            400,
            "lines[0].colour",
        ),
        (
            {
                "order_id": "SO-9",
                "lines": [{"sku_code": SKU_CODE, "quantity": 1}, {"sku_code": 5, "quantity": 1}],
            },
            400,
            "lines[1].sku_code",
        ),
        ({"order_id": "SO-9", "lines": {"sku_code": SKU_CODE, "quantity": 1}}, 400, "lines"),
        ({"order_id": 9, "lines": [{"sku_code": SKU_CODE, "quantity": 1}]}, 400, "order_id"),
        ({"order_id": "SO-9"}, 400, "lines"),
        ({"order_id": "SO-9", "lines": []}, 400, "lines"),
        ({"order_id": " ", "lines": [{"sku_code": SKU_CODE, "quantity": 1}]}, 400, "order_id"),
        (
            {
                "order_id": "SO-9",
                "lines": [{"sku_code": SKU_CODE, "quantity": 1}, {"sku_code": SKU_CODE, "quantity": -2}],
            },
            400,
            "lines[1].quantity",
        ),
        ({"order_id": "SO-9", "lines": [{"sku_code": "NOPE", "quantity": 1}]}, 404, "lines[0].sku_code"),
        ({"order_id": "SO-9", "lines": [{"sku_code": SKU_CODE, "quantity": 41}]}, 422, "lines[0].quantity"),
        (
            {
                "order_id": "SO-9",
                "warehouse_code": "DEFECTIVE",
                "lines": [{"sku_code": SKU_CODE, "quantity": 1}],
            },
            422,
            "warehouse_code",
        ),
    ],
)
async def test_bad_reservation_is_refused_naming_the_field_and_reserves_nothing(
    client, inventory, body, status, field
):
    await stocked(client)
    before = await movements(inventory)
    response = await client.post("/v1/inventory/reservations", json=body, headers=bearer(INTEGRATOR))
    assert_error(response, status, field)
    assert await movements(inventory) == before
    assert await available(client) == {"on_hand": 40, "reserved": 0, "held": 0, "available": 40}
    missing = await client.get("/v1/inventory/reservations/SO-9", headers=bearer(INTEGRATOR))
    assert_error(missing, 404, "order_id")


@pytest.mark.parametrize("role", ["promoter", SUPERVISOR, "purchasing"])
async def test_reserving_needs_a_reserver_role(client, inventory, role):
    await stocked(client)
    response = await client.post(
        "/v1/inventory/reservations",
        json={"order_id": "SO-1", "lines": [{"sku_code": SKU_CODE, "quantity": 1}]},
        headers=bearer(role),
    )
    assert response.status_code == 403, response.text
    assert await available(client) == {"on_hand": 40, "reserved": 0, "held": 0, "available": 40}


async def test_unknown_reservation_is_404(client):
    response = await client.get("/v1/inventory/reservations/SO-404", headers=bearer(INTEGRATOR))
    assert_error(response, 404, "order_id")
    assert response.json()["error"]["reason"] == "RESERVATION_NOT_FOUND"


async def test_release_returns_units_to_sale_and_again_is_harmless(client):
    await stocked(client)
    ok(await reserve(client, "SO-1", 5), 201)
    released = await client.post(
        "/v1/inventory/reservations/SO-1/release",
        json={"reason": "customer cancelled"},
        headers=bearer(CUSTOMER_SERVICE),
    )
    body = ok(released)
    assert body["status"] == "released"
    assert body["lines"] == [{"sku_code": SKU_CODE, "quantity": 5, "issued": 0}]
    assert await available(client) == {"on_hand": 40, "reserved": 0, "held": 0, "available": 40}
    # Again, and without a body at all.
    again = await client.post("/v1/inventory/reservations/SO-1/release", headers=bearer(INTEGRATOR))
    assert ok(again) == body
    assert await available(client) == {"on_hand": 40, "reserved": 0, "held": 0, "available": 40}


@pytest.mark.parametrize(
    ("order_id", "body", "role", "status", "field"),
    [
        ("SO-1", '{"reason": 5}', INTEGRATOR, 400, "reason"),
        ("SO-1", '{"reason": "x", "force": true}', INTEGRATOR, 400, "force"),
        ("SO-1", '["x"]', INTEGRATOR, 400, "body"),
        ("SO-404", '{"reason": "x"}', INTEGRATOR, 404, "order_id"),
    ],
)
async def test_bad_release_is_refused_naming_the_field(client, order_id, body, role, status, field):
    await stocked(client)
    ok(await reserve(client, "SO-1", 5), 201)
    response = await client.post(
        f"/v1/inventory/reservations/{order_id}/release", content=body, headers=json_headers(role)
    )
    assert_error(response, status, field)
    assert await available(client) == {"on_hand": 40, "reserved": 5, "held": 0, "available": 35}


@pytest.mark.parametrize("role", ["promoter", SUPERVISOR])
async def test_releasing_needs_a_reserver_role(client, role):
    await stocked(client)
    ok(await reserve(client, "SO-1", 5), 201)
    response = await client.post(
        "/v1/inventory/reservations/SO-1/release", json={"reason": "x"}, headers=bearer(role)
    )
    assert response.status_code == 403, response.text
    assert await available(client) == {"on_hand": 40, "reserved": 5, "held": 0, "available": 35}


async def test_issue_takes_the_oldest_lot_first_inv_11(client, inventory):
    first_lot = await stocked(client, 10)
    ok(
        await client.post(
            "/v1/inventory/put-aways",
            json={"request_id": "pa-1", "lot_id": first_lot, "to_bin_code": "A-01", "quantity": 6},
            headers=bearer(KEEPER),
        ),
        201,
    )
    second_lot = await receive(client, 20, "in-2")
    ok(await reserve(client, "SO-1", 15), 201)

    partial = await client.post(
        "/v1/inventory/reservations/SO-1/issue",
        json={"shipment_id": "SHP-1", "lines": [{"sku_code": SKU_CODE, "quantity": 12}]},
        headers={**bearer(KEEPER), "Idempotency-Key": "iss-1"},
    )
    body = ok(partial)
    assert body["reservation"]["status"] == "active"
    assert body["reservation"]["lines"] == [{"sku_code": SKU_CODE, "quantity": 15, "issued": 12}]
    assert [(i["lot_id"], i["bin_code"], i["quantity"]) for i in body["issued"]] == [
        (first_lot, "", 4),
        (first_lot, "A-01", 6),
        (second_lot, "", 2),
    ]
    assert await available(client) == {"on_hand": 18, "reserved": 3, "held": 0, "available": 15}

    before = await movements(inventory)
    replay = await client.post(
        "/v1/inventory/reservations/SO-1/issue",
        json={"shipment_id": "SHP-1", "lines": [{"sku_code": SKU_CODE, "quantity": 12}]},
        headers={**bearer(KEEPER), "Idempotency-Key": "iss-1"},
    )
    assert ok(replay) == body
    assert await movements(inventory) == before

    rest = await client.post(
        "/v1/inventory/reservations/SO-1/issue",
        json={"request_id": "iss-2", "shipment_id": "SHP-2"},
        headers=bearer(KEEPER),
    )
    body = ok(rest)
    assert body["reservation"]["status"] == "issued"
    assert [(i["lot_id"], i["quantity"]) for i in body["issued"]] == [(second_lot, 3)]
    assert await available(client) == {"on_hand": 15, "reserved": 0, "held": 0, "available": 15}
    closed = await client.post(
        "/v1/inventory/reservations/SO-1/issue",
        json={"request_id": "iss-3", "shipment_id": "SHP-3"},
        headers=bearer(KEEPER),
    )
    assert_error(closed, 422, "order_id")


@pytest.mark.parametrize(
    ("order_id", "body", "status", "field"),
    [
        ("SO-1", {"request_id": "i", "shipment_id": 7}, 400, "shipment_id"),
        ("SO-1", {"request_id": "i"}, 400, "shipment_id"),
        ("SO-1", {"request_id": "i", "shipment_id": " "}, 400, "shipment_id"),
        ("SO-1", {"request_id": " ", "shipment_id": "SHP-1"}, 400, "request_id"),
        (
            "SO-1",
            {"request_id": "i", "shipment_id": "S", "lines": [{"sku_code": SKU_CODE}]},
            400,
            "lines[0].quantity",
        ),
        (
            "SO-1",
            {"request_id": "i", "shipment_id": "S", "lines": [{"sku_code": SKU_CODE, "quantity": True}]},
            400,
            "lines[0].quantity",
        ),
        (
            "SO-1",
            {"request_id": "i", "shipment_id": "S", "lines": [{"sku_code": SKU_CODE, "quantity": -1}]},
            400,
            "lines[0].quantity",
        ),
        (
            "SO-1",
            {"request_id": "i", "shipment_id": "S", "lines": [{"sku_code": "OTHER", "quantity": 1}]},
            400,
            "lines[0].sku_code",
        ),
        (
            "SO-1",
            {
                "request_id": "i",
                "shipment_id": "S",
                "lines": [{"sku_code": SKU_CODE, "quantity": 3}, {"sku_code": SKU_CODE, "quantity": 3}],
            },
            422,
            "lines[1].quantity",
        ),
        ("SO-404", {"request_id": "i", "shipment_id": "S"}, 404, "order_id"),
    ],
)
async def test_bad_issue_is_refused_naming_the_field_and_issues_nothing(
    client, inventory, order_id, body, status, field
):
    await stocked(client)
    ok(await reserve(client, "SO-1", 5), 201)
    before = await movements(inventory)
    response = await client.post(
        f"/v1/inventory/reservations/{order_id}/issue", json=body, headers=bearer(KEEPER)
    )
    assert_error(response, status, field)
    assert await movements(inventory) == before
    assert await available(client) == {"on_hand": 40, "reserved": 5, "held": 0, "available": 35}


async def test_a_released_reservation_cannot_be_issued(client):
    await stocked(client)
    ok(await reserve(client, "SO-1", 5), 201)
    ok(await client.post("/v1/inventory/reservations/SO-1/release", json={}, headers=bearer(INTEGRATOR)))
    response = await client.post(
        "/v1/inventory/reservations/SO-1/issue",
        json={"request_id": "i", "shipment_id": "S"},
        headers=bearer(KEEPER),
    )
    assert_error(response, 422, "order_id")
    assert response.json()["error"]["reason"] == "RESERVATION_CLOSED"


@pytest.mark.parametrize("role", [INTEGRATOR, CUSTOMER_SERVICE, SUPERVISOR])
async def test_only_stock_keepers_issue_inv_18(client, inventory, role):
    await stocked(client)
    ok(await reserve(client, "SO-1", 5), 201)
    before = await movements(inventory)
    response = await client.post(
        "/v1/inventory/reservations/SO-1/issue",
        json={"request_id": "i", "shipment_id": "S"},
        headers=bearer(role),
    )
    assert response.status_code == 403, response.text
    assert await movements(inventory) == before


# --- holds --------------------------------------------------------------------------------------


async def place_hold(client: httpx.AsyncClient, **overrides: Any) -> httpx.Response:
    body = {"request_id": "h-1", "sku_code": SKU_CODE, "quantity": 4, "customer_ref": "VIP-17", **overrides}
    return await client.post("/v1/inventory/holds", json=body, headers=bearer(CUSTOMER_SERVICE))


async def test_hold_list_and_release_inv_9(client):
    await stocked(client)
    placed = await place_hold(client, expires_at="2099-01-01T08:00:00+08:00")
    # More than 90 days ahead is refused; a time within them is kept, in UTC.
    assert_error(placed, 400, "expires_at")
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    placed = await place_hold(client, expires_at=expires.astimezone(timezone(timedelta(hours=8))).isoformat())
    hold = ok(placed, 201)
    assert (hold["sku_code"], hold["warehouse_code"], hold["quantity"]) == (SKU_CODE, "MAIN", 4)
    assert (hold["customer_ref"], hold["status"]) == ("VIP-17", "active")
    assert is_utc(hold["expires_at"]) and is_utc(hold["created_at"])
    assert datetime.fromisoformat(hold["expires_at"]) == expires
    uuid.UUID(hold["hold_id"])
    assert await available(client) == {"on_hand": 40, "reserved": 0, "held": 4, "available": 36}

    # Without expires_at the hold lasts 7 days; another request id is another hold.
    second = ok(await place_hold(client, request_id="h-2", quantity=1), 201)
    lasts = datetime.fromisoformat(second["expires_at"]) - datetime.fromisoformat(second["created_at"])
    assert timedelta(days=7) - timedelta(minutes=1) < lasts < timedelta(days=7) + timedelta(minutes=1)

    listed = ok(await client.get(f"/v1/inventory/skus/{SKU_CODE}/holds", headers=bearer(KEEPER)))
    assert {h["sku_code"] for h in listed["holds"]} == {SKU_CODE}
    # Soonest to expire first.
    assert [h["hold_id"] for h in listed["holds"]] == [second["hold_id"], hold["hold_id"]]

    released = await client.post(f"/v1/inventory/holds/{hold['hold_id']}/release", headers=bearer("promoter"))
    body = ok(released)
    assert body["status"] == "released"
    assert {k: v for k, v in body.items() if k != "status"} == {
        k: v for k, v in hold.items() if k != "status"
    }
    assert await available(client) == {"on_hand": 40, "reserved": 0, "held": 1, "available": 39}
    again = await client.post(f"/v1/inventory/holds/{hold['hold_id']}/release", headers=bearer("supervisor"))
    assert ok(again) == body
    listed = ok(await client.get(f"/v1/inventory/skus/{SKU_CODE}/holds", headers=bearer(KEEPER)))
    assert [h["hold_id"] for h in listed["holds"]] == [second["hold_id"]]


async def test_hold_replay_holds_once(client):
    await stocked(client)
    first = ok(await place_hold(client), 201)
    assert ok(await place_hold(client), 201) == first
    assert await available(client) == {"on_hand": 40, "reserved": 0, "held": 4, "available": 36}
    assert_error(await place_hold(client, quantity=5), 409, "request_id")


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"quantity": "4"}, 400, "quantity"),
        ({"quantity": -1}, 400, "quantity"),
        ({"quantity": 0}, 400, "quantity"),
        ({"quantity": 41}, 422, "quantity"),
        ({"quantity": 2**64}, 400, "quantity"),
        ({"customer_ref": None}, 400, "customer_ref"),
        ({"customer_ref": " "}, 400, "customer_ref"),
        ({"expires_at": 1_900_000_000}, 400, "expires_at"),
        ({"expires_at": "1900000000"}, 400, "expires_at"),
        ({"expires_at": "2030-01-01T00:00:00"}, 400, "expires_at"),  # no UTC offset
        ({"expires_at": "next week"}, 400, "expires_at"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, 400, "expires_at"),  # past
        ({"sku_code": "NOPE"}, 404, "sku_code"),
        ({"warehouse_code": "NOWHERE"}, 404, "warehouse_code"),
        ({"warehouse_code": "DEFECTIVE"}, 422, "warehouse_code"),
        ({"request_id": " "}, 400, "request_id"),
        ({"note": "x"}, 400, "note"),
    ],
)
async def test_bad_hold_is_refused_naming_the_field_and_holds_nothing(
    client, inventory, overrides, status, field
):
    await stocked(client)
    before = await movements(inventory)
    assert_error(await place_hold(client, **overrides), status, field)
    assert await movements(inventory) == before
    listed = ok(await client.get(f"/v1/inventory/skus/{SKU_CODE}/holds", headers=bearer(KEEPER)))
    assert listed["holds"] == []


@pytest.mark.parametrize("role", [KEEPER, INTEGRATOR, SUPERVISOR])
async def test_holding_needs_a_holder_role(client, inventory, role):
    await stocked(client)
    before = await movements(inventory)
    response = await client.post(
        "/v1/inventory/holds",
        json={"request_id": "h", "sku_code": SKU_CODE, "quantity": 1, "customer_ref": "VIP-17"},
        headers=bearer(role),
    )
    assert response.status_code == 403, response.text
    assert await movements(inventory) == before


@pytest.mark.parametrize(
    ("hold_id", "role", "status", "field"),
    [
        ("not-a-uuid", CUSTOMER_SERVICE, 400, "hold_id"),
        (str(uuid.UUID(int=7)), CUSTOMER_SERVICE, 404, "hold_id"),
    ],
)
async def test_bad_hold_release_names_the_hold(client, hold_id, role, status, field):
    response = await client.post(f"/v1/inventory/holds/{hold_id}/release", headers=bearer(role))
    assert_error(response, status, field)


async def test_releasing_a_hold_needs_a_holder_role(client):
    await stocked(client)
    hold = ok(await place_hold(client), 201)
    response = await client.post(f"/v1/inventory/holds/{hold['hold_id']}/release", headers=bearer(KEEPER))
    assert response.status_code == 403, response.text
    assert await available(client) == {"on_hand": 40, "reserved": 0, "held": 4, "available": 36}


async def test_holds_of_an_unknown_sku_are_404(client):
    response = await client.get("/v1/inventory/skus/NOPE/holds", headers=bearer(KEEPER))
    assert_error(response, 404, "sku_code")


# --- all routes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "role", "status", "other", "again", "stock"),
    [
        pytest.param(
            "/v1/inventory/warehouses",
            {"warehouse_code": "NORTH", "name": "North"},
            SUPERVISOR,
            201,
            {"name": "Norte"},
            (409, "warehouse_code"),
            {"on_hand": 40, "reserved": 5, "held": 0, "available": 35},
            id="warehouse",
        ),
        pytest.param(
            "/v1/inventory/warehouses/MAIN/bins",
            {"bin_code": "C-1"},
            SUPERVISOR,
            201,
            {"description": "Shelf C"},
            (409, "bin_code"),
            {"on_hand": 40, "reserved": 5, "held": 0, "available": 35},
            id="bin",
        ),
        pytest.param(
            "/v1/inventory/put-aways",
            {"lot_id": "{lot_id}", "to_bin_code": "A-01", "quantity": 3},
            KEEPER,
            201,
            {"quantity": 4},
            None,
            {"on_hand": 40, "reserved": 5, "held": 0, "available": 35},
            id="put-away",
        ),
        pytest.param(
            "/v1/inventory/reservations/SO-1/issue",
            {"shipment_id": "SHP-1", "lines": [{"sku_code": SKU_CODE, "quantity": 1}]},
            KEEPER,
            200,
            {"shipment_id": "SHP-2"},
            None,
            {"on_hand": 36, "reserved": 1, "held": 0, "available": 35},  # issued four times
            id="issue",
        ),
        pytest.param(
            "/v1/inventory/holds",
            {"sku_code": SKU_CODE, "quantity": 4, "customer_ref": "VIP-17"},
            CUSTOMER_SERVICE,
            201,
            {"quantity": 5},
            None,
            {"on_hand": 40, "reserved": 5, "held": 16, "available": 19},  # four holds
            id="hold",
        ),
    ],
)
async def test_request_id_is_optional_aip_155(
    client, inventory, path, body, role, status, other, again, stock
):
    """Without a request_id a request is new each time; with one, a retry gets the first answer, and the
    same id with other content is 409 naming request_id. Nothing more is written by a retry or a refusal."""
    lot_id = await stocked(client)
    ok(await reserve(client, "SO-1", 5), 201)
    body = {k: v.format(lot_id=lot_id) if isinstance(v, str) else v for k, v in body.items()}

    async def state() -> tuple[object, ...]:
        warehouses = ok(await client.get("/v1/inventory/warehouses", headers=bearer(SUPERVISOR)))
        bins = ok(await client.get("/v1/inventory/warehouses/MAIN/bins", headers=bearer(SUPERVISOR)))
        holds = ok(await client.get(f"/v1/inventory/skus/{SKU_CODE}/holds", headers=bearer(KEEPER)))
        return await movements(inventory), await available(client), warehouses, bins, holds

    await check_request_id_is_optional(
        client, path, body, bearer(role), status=status, state=state, other=other, again=again
    )
    assert await available(client) == stock


async def test_text_protobuf_cannot_encode_is_refused_naming_each_field(client, inventory):
    await stocked(client)
    before = await movements(inventory)
    response = await client.post(
        "/v1/inventory/reservations",
        content='{"order_id": "SO-\\ud800", "lines": [{"sku_code": "LJ-\\udc00", "quantity": 1}]}',
        headers=json_headers(INTEGRATOR),
    )
    assert_error(response, 400, "order_id")
    assert fields_of(response) == ["order_id", "lines[0].sku_code"]
    assert await movements(inventory) == before


@pytest.mark.parametrize("quantity", [2**63, -(2**63) - 1])
async def test_a_quantity_beyond_int64_is_400_not_500(client, inventory, quantity):
    await stocked(client)
    before = await movements(inventory)
    response = await client.post(
        "/v1/inventory/stock-receipts",
        json={"request_id": "in-big", "sku_code": SKU_CODE, "quantity": quantity},
        headers=bearer(KEEPER),
    )
    assert_error(response, 400, "quantity")
    assert await movements(inventory) == before


NEW_ROUTES = [
    ("post", "/v1/inventory/warehouses"),
    ("get", "/v1/inventory/warehouses"),
    ("post", "/v1/inventory/warehouses/MAIN/bins"),
    ("get", "/v1/inventory/warehouses/MAIN/bins"),
    ("get", f"/v1/inventory/skus/{SKU_CODE}/lots"),
    ("post", "/v1/inventory/put-aways"),
    ("post", "/v1/inventory/reservations"),
    ("get", "/v1/inventory/reservations/SO-1"),
    ("post", "/v1/inventory/reservations/SO-1/release"),
    ("post", "/v1/inventory/reservations/SO-1/issue"),
    ("post", "/v1/inventory/holds"),
    ("post", f"/v1/inventory/holds/{uuid.UUID(int=7)}/release"),
    ("get", f"/v1/inventory/skus/{SKU_CODE}/holds"),
]


@pytest.mark.parametrize(("method", "path"), NEW_ROUTES)
async def test_every_route_needs_a_token(client, method, path):
    response = await client.request(method, path, json={} if method == "post" else None)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_openapi_documents_the_routes_and_their_responses(client):
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for method, path in NEW_ROUTES:
        template = (
            path.replace("/MAIN/", "/{warehouse_code}/")
            .replace(f"/skus/{SKU_CODE}/", "/skus/{sku_code}/")
            .replace("/SO-1", "/{order_id}")
            .replace(str(uuid.UUID(int=7)), "{hold_id}")
        )
        assert method in paths[template], template
    reserve_responses = paths["/v1/inventory/reservations"]["post"]["responses"]
    assert {"200", "201"} <= set(reserve_responses)
    hold_status = schema_at(spec, "post", "/v1/inventory/holds", "status", status="201")
    assert hold_status["enum"] == ["active", "released", "expired"]
    reservation_status = schema_at(
        spec, "get", "/v1/inventory/reservations/{order_id}", "status", status="200"
    )
    assert reservation_status["enum"] == ["active", "released", "issued", "cut"]
    assert schema_at(spec, "post", "/v1/inventory/holds", "expires_at")["format"] == "date-time"
    assert schema_at(spec, "post", "/v1/inventory/holds")["additionalProperties"] is False
