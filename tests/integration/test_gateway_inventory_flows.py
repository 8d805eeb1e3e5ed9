"""The gateway's routes for receiving, transfers and loans, counts and the daily close, replenishment,
packing materials and supplier returns, over a real inventory server: the warehouse's flows end to end
over HTTP, bad input naming the field, and the roles each operation needs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from libs.business_time import business_day
from libs.config import SERVICE_PORTS
from services.gateway.app import create_app
from services.gateway.upstreams import open_upstreams
from services.inventory.consumers import subscriptions
from services.inventory.store.tables import (
    counts,
    day_closes,
    kit,
    loans,
    receipts,
    stock_movements,
    styles,
    supplier_returns,
    suppliers,
    transfers,
)
from tests.conftest import apply_event, token_for
from tests.integration.test_gateway_http import check_request_id_is_optional, schema_at
from tests.integration.test_inventory_planning import large_promotion

V1 = "/v1/inventory"
# Who does what (services/inventory/api/{receiving,transfers,counts,planning}.py).
KEEPER = "stock_keeper"  # counts deliveries, signs, posts, ships and receives transfers, lends samples
SUPERVISOR = "warehouse_supervisor"  # signs, approves counts, closes the day
QC = "qc_inspector"  # inspection rounds
BUYER = "purchasing"  # suppliers, replenishment plans
INTEGRATOR = "integrator"  # reservations, as the order flow
PROMOTER = "promoter"  # publishes new styles' photos
PACKER = "logistics_clerk"  # packing materials at the bench
# The two people who sign a receipt (INV-5) and the two keepers of a transfer (INV-12).
KEEPER_1 = "keeper-1"
KEEPER_2 = "keeper-2"
BOSS = "boss-1"

TODAY = business_day(datetime.now(UTC))
TOMORROW = (TODAY + timedelta(days=1)).isoformat()
THIS_MONTH = TODAY.strftime("%Y-%m")
NEXT_FRIDAY = (date.today() + timedelta(days=(4 - date.today().weekday()) % 7)).isoformat()
A_MONDAY = (date.today() + timedelta(days=(0 - date.today().weekday()) % 7)).isoformat()
MISSING = object()  # a body field left out
BLANK_ID = {"request_id": " "}  # a request_id may be left out, not sent blank
# Proto3 cannot tell a quantity left out from 0, so the services take it as 0 and accept it.


def bearer(role: str, user: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(role, user)}"}


def keeper(user: str = KEEPER_1) -> dict[str, str]:
    return bearer(KEEPER, user)


def boss() -> dict[str, str]:
    return bearer(SUPERVISOR, BOSS)


def fields_of(response: httpx.Response) -> list[str]:
    return [f["field"] for f in response.json()["error"]["fields"]]


def assert_error(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert field in fields_of(response), response.text


def assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def is_utc(value: str) -> bool:
    return value.endswith(("Z", "+00:00"))


def with_overrides(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = {**body, **overrides}
    return {k: v for k, v in merged.items() if v is not MISSING}


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


async def rows(inventory, table: sa.Table) -> int:
    async with inventory.database.connection() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def movements(inventory) -> int:
    return await rows(inventory, stock_movements)


# --- building blocks, all over HTTP --------------------------------------------------------------


async def register(
    client: httpx.AsyncClient,
    sku_code: str,
    style_number: str | None = None,
    *,
    category: str = "apparel",
    kind: str = "sellable",
) -> None:
    body = {
        "request_id": f"reg-{sku_code}",
        "sku_code": sku_code,
        "style_number": style_number or sku_code,
        # A sellable item has a colour and a size (INV-1); packing materials have neither.
        "colour": sku_code[-1] if kind == "sellable" else "",
        "size": "M" if kind == "sellable" else "",
        "name": f"Item {sku_code}",
        "category": category,
        "barcode": f"BC-{sku_code}",
        "kind": kind,
    }
    ok(await client.post(f"{V1}/skus", json=body, headers=keeper()), 201)


async def receive(client: httpx.AsyncClient, sku_code: str, quantity: int, key: str) -> str:
    """Books units straight into MAIN's receiving area; the new lot's id."""
    body = ok(
        await client.post(
            f"{V1}/stock-receipts",
            json={"request_id": key, "sku_code": sku_code, "quantity": quantity},
            headers=keeper(),
        ),
        201,
    )
    lot_id: str = body["lot"]["lot_id"]
    return lot_id


async def levels(client: httpx.AsyncClient, sku_code: str) -> dict[str, tuple[int, int, int]]:
    """(on_hand, reserved, available) of a SKU per warehouse."""
    body = ok(await client.get(f"{V1}/skus/{sku_code}/stock", headers=bearer(INTEGRATOR)))
    return {lv["warehouse_code"]: (lv["on_hand"], lv["reserved"], lv["available"]) for lv in body["levels"]}


async def create_receipt(
    client: httpx.AsyncClient, note: str, lines: list[tuple[str, int]], *, supplier: str = "SUP-1"
) -> dict[str, Any]:
    return ok(
        await client.post(
            f"{V1}/receipts",
            json={
                "request_id": f"rc-{note}",
                "supplier_code": supplier,
                "delivery_note_number": note,
                "lines": [{"sku_code": s, "expected_quantity": q} for s, q in lines],
            },
            headers=keeper(),
        ),
        201,
    )


async def count_received(client: httpx.AsyncClient, receipt_id: str, *quantities: int) -> dict[str, Any]:
    return ok(
        await client.post(
            f"{V1}/receipts/{receipt_id}/counts",
            json={"counts": [{"line_no": i + 1, "received_quantity": q} for i, q in enumerate(quantities)]},
            headers=keeper(),
        )
    )


async def inspect(
    client: httpx.AsyncClient, receipt_id: str, key: str, *results: tuple[int, str, int, int]
) -> dict[str, Any]:
    return ok(
        await client.post(
            f"{V1}/receipts/{receipt_id}/inspections",
            json={
                "results": [
                    {"line_no": n, "round": r, "inspected_units": i, "failed_units": f}
                    for n, r, i, f in results
                ]
            },
            headers={**bearer(QC, "qc-1"), "Idempotency-Key": key},
        )
    )


async def sign_both(client: httpx.AsyncClient, receipt_id: str) -> dict[str, Any]:
    ok(
        await client.post(
            f"{V1}/receipts/{receipt_id}/signatures", json={"role": KEEPER}, headers=keeper(KEEPER_1)
        )
    )
    return ok(
        await client.post(f"{V1}/receipts/{receipt_id}/signatures", json={"role": SUPERVISOR}, headers=boss())
    )


async def post_receipt(client: httpx.AsyncClient, receipt_id: str, key: str) -> dict[str, Any]:
    return ok(
        await client.post(f"{V1}/receipts/{receipt_id}/post", headers={**keeper(), "Idempotency-Key": key})
    )


async def reserve_and_issue(client: httpx.AsyncClient, sku_code: str, quantity: int, order_id: str) -> None:
    ok(
        await client.post(
            f"{V1}/reservations",
            json={"order_id": order_id, "lines": [{"sku_code": sku_code, "quantity": quantity}]},
            headers=bearer(INTEGRATOR),
        ),
        201,
    )
    ok(
        await client.post(
            f"{V1}/reservations/{order_id}/issue",
            json={"request_id": f"iss-{order_id}", "shipment_id": f"P-{order_id}"},
            headers=keeper(),
        )
    )


async def create_bin(client: httpx.AsyncClient, bin_code: str) -> None:
    ok(
        await client.post(
            f"{V1}/warehouses/MAIN/bins",
            json={"request_id": f"bin-{bin_code}", "bin_code": bin_code},
            headers=boss(),
        ),
        201,
    )


async def receive_with_defects(client: httpx.AsyncClient, defective: int = 3) -> None:
    """20 units of TEE-R delivered by SUP-1 and posted: ``defective`` of them, found in a full inspection,
    into DEFECTIVE, the rest into MAIN."""
    await register(client, "TEE-R", "TEE")
    rid = (await create_receipt(client, "DN-1", [("TEE-R", 20)]))["receipt_id"]
    await count_received(client, rid, 20)
    await inspect(client, rid, "qc-1", (1, "round_1", 2, 1))
    await inspect(client, rid, "qc-2", (1, "round_2", 2, 0))  # 3 of 4 pass: inspect every unit
    await inspect(client, rid, "qc-3", (1, "full", 20, defective))
    await sign_both(client, rid)
    await post_receipt(client, rid, "p-1")


async def create_warehouse(client: httpx.AsyncClient, code: str) -> None:
    ok(
        await client.post(
            f"{V1}/warehouses",
            json={"request_id": f"wh-{code}", "warehouse_code": code, "name": f"Warehouse {code}"},
            headers=boss(),
        ),
        201,
    )


# --- the whole warehouse flow ------------------------------------------------------------------


async def test_warehouse_flow_from_delivery_note_to_dispatch(client, inventory):
    """The warehouse flow over HTTP, with the stock checked at each step: a delivery note whose shortage is
    kept (INV-3), QC sampling round by round (INV-4), two signatures by two people (INV-5), posting into
    lots in the receiving area and put-away into a bin (INV-6), the new style's photo deadline (INV-7), a
    reservation (INV-10) and the issue at dispatch (INV-11)."""
    await register(client, "TEE-R", "TEE")
    await register(client, "TEE-B", "TEE")
    await create_bin(client, "A-01")

    receipt = await create_receipt(client, "DN-1", [("TEE-R", 100), ("TEE-B", 20)])
    rid = receipt["receipt_id"]
    uuid.UUID(rid)
    assert (receipt["supplier_code"], receipt["delivery_note_number"], receipt["warehouse_code"]) == (
        "SUP-1",
        "DN-1",
        "MAIN",
    )
    assert (receipt["status"], receipt["signatures"], receipt["posted_at"]) == ("open", [], None)
    assert (receipt["overdue"], receipt["delivery_rejected"]) == (False, False)
    assert is_utc(receipt["created_at"])
    assert receipt["lines"][0] == {
        "line_no": 1,
        "sku_code": "TEE-R",
        "expected_quantity": 100,
        "received_quantity": None,
        "variance": 0,
        "round1_plan": 0,
        "round2_plan": 0,
        "round1_inspected": 0,
        "round1_failed": 0,
        "round2_inspected": 0,
        "round2_failed": 0,
        "full_good": None,
        "full_defective": None,
        "verdict": "awaiting_count",
        "accepted_units": 0,
        "defective_units": 0,
    }
    assert ok(await client.get(f"{V1}/receipts/{rid}", headers=bearer(INTEGRATOR))) == receipt
    assert await levels(client, "TEE-R") == {}  # a delivery note stocks nothing

    # Counted: 2 short on line 1, kept as a variance; each line now shows its sampling plan.
    receipt = await count_received(client, rid, 98, 20)
    assert [
        (x["received_quantity"], x["variance"], x["round1_plan"], x["round2_plan"], x["verdict"])
        for x in receipt["lines"]
    ] == [(98, -2, 10, 10, "awaiting_round_1"), (20, 0, 2, 2, "awaiting_round_1")]

    # QC: line 1 fails one unit in round 1, two in round 2 (17 of 20 pass, 85%): every unit is inspected.
    receipt = await inspect(client, rid, "qc-1", (1, "round_1", 10, 1), (2, "round_1", 2, 0))
    assert [x["verdict"] for x in receipt["lines"]] == ["awaiting_round_2", "accepted"]
    receipt = await inspect(client, rid, "qc-2", (1, "round_2", 10, 2))
    assert receipt["lines"][0]["verdict"] == "awaiting_full_inspection"
    receipt = await inspect(client, rid, "qc-3", (1, "full", 98, 6))
    assert await inspect(client, rid, "qc-3", (1, "full", 98, 6)) == receipt  # a replay records nothing more
    line_1, line_2 = receipt["lines"]
    assert (line_1["full_good"], line_1["full_defective"], line_1["verdict"]) == (92, 6, "partly_accepted")
    assert (line_1["accepted_units"], line_1["defective_units"]) == (92, 6)
    assert (line_2["full_good"], line_2["accepted_units"], line_2["defective_units"]) == (None, 20, 0)

    # Posting needs both signatures, from two different people.
    unsigned = await client.post(f"{V1}/receipts/{rid}/post", json={"request_id": "p-0"}, headers=keeper())
    assert_error(unsigned, 422, "signatures")
    assert unsigned.json()["error"]["reason"] == "SIGNATURE_MISSING"
    signed = ok(
        await client.post(f"{V1}/receipts/{rid}/signatures", json={"role": KEEPER}, headers=keeper(KEEPER_1))
    )
    assert signed["signatures"] == [{"role": KEEPER, "user_id": KEEPER_1}]
    same_person = await client.post(
        f"{V1}/receipts/{rid}/signatures", json={"role": SUPERVISOR}, headers=bearer(SUPERVISOR, KEEPER_1)
    )
    assert_error(same_person, 422, "signature")
    signed = ok(
        await client.post(f"{V1}/receipts/{rid}/signatures", json={"role": SUPERVISOR}, headers=boss())
    )
    assert signed["signatures"] == [
        {"role": KEEPER, "user_id": KEEPER_1},
        {"role": SUPERVISOR, "user_id": BOSS},
    ]
    assert await levels(client, "TEE-R") == {}

    posted = await post_receipt(client, rid, "p-1")
    assert posted["status"] == "posted" and is_utc(posted["posted_at"])
    before = await movements(inventory)
    assert await post_receipt(client, rid, "p-1") == posted
    assert await movements(inventory) == before
    assert await levels(client, "TEE-R") == {"MAIN": (92, 0, 92), "DEFECTIVE": (6, 0, 0)}
    assert (await levels(client, "TEE-B"))["MAIN"] == (20, 0, 20)
    # A posted receipt is immutable.
    recount = await client.post(
        f"{V1}/receipts/{rid}/counts",
        json={"counts": [{"line_no": 1, "received_quantity": 97}]},
        headers=keeper(),
    )
    assert_error(recount, 422, "receipt_id")

    # INV-7: the style is new; its photos are due 3 days after posting.
    [style] = ok(await client.get(f"{V1}/new-styles", headers=bearer(PROMOTER)))["styles"]
    assert (style["style_number"], style["receipt_id"], style["published_at"], style["overdue"]) == (
        "TEE",
        rid,
        None,
        False,
    )
    due = datetime.fromisoformat(style["photos_due_at"]) - datetime.fromisoformat(style["received_at"])
    assert due == timedelta(days=3)
    overdue = ok(
        await client.get(f"{V1}/new-styles", params={"overdue_only": "true"}, headers=bearer(PROMOTER))
    )
    assert overdue == {"styles": []}

    # INV-6: the accepted units wait in the receiving area until put away into a bin.
    [lot] = ok(
        await client.get(f"{V1}/skus/TEE-R/lots", params={"warehouse_code": "MAIN"}, headers=keeper())
    )["lots"]
    assert (lot["bin_code"], lot["on_hand"]) == ("", 92)
    moved = ok(
        await client.post(
            f"{V1}/put-aways",
            json={"request_id": "pa-1", "lot_id": lot["lot_id"], "to_bin_code": "A-01", "quantity": 92},
            headers=keeper(),
        ),
        201,
    )
    assert [(x["lot_id"], x["bin_code"], x["on_hand"]) for x in moved["lots"]] == [
        (lot["lot_id"], "A-01", 92)
    ]
    assert await levels(client, "TEE-R") == {"MAIN": (92, 0, 92), "DEFECTIVE": (6, 0, 0)}

    # INV-10: the order flow reserves; INV-11: the stock keeper issues at dispatch.
    reserved = ok(
        await client.post(
            f"{V1}/reservations",
            json={
                "order_id": "SO-1",
                "lines": [{"sku_code": "TEE-R", "quantity": 30}, {"sku_code": "TEE-B", "quantity": 5}],
            },
            headers=bearer(INTEGRATOR),
        ),
        201,
    )
    assert reserved["reservation"]["status"] == "active"
    assert await levels(client, "TEE-R") == {"MAIN": (92, 30, 62), "DEFECTIVE": (6, 0, 0)}
    assert (await levels(client, "TEE-B"))["MAIN"] == (20, 5, 15)
    issued = ok(
        await client.post(
            f"{V1}/reservations/SO-1/issue",
            json={"request_id": "iss-1", "shipment_id": "SHP-1"},
            headers=keeper(),
        )
    )
    assert issued["reservation"]["status"] == "issued"
    assert {(i["sku_code"], i["bin_code"], i["quantity"]) for i in issued["issued"]} == {
        ("TEE-R", "A-01", 30),
        ("TEE-B", "", 5),
    }
    assert await levels(client, "TEE-R") == {"MAIN": (62, 0, 62), "DEFECTIVE": (6, 0, 0)}
    assert (await levels(client, "TEE-B"))["MAIN"] == (15, 0, 15)

    # INV-7: the promoter publishes the photos; publishing again changes nothing.
    published = ok(await client.post(f"{V1}/new-styles/TEE/published", headers=bearer(PROMOTER, "photo-1")))
    assert is_utc(published["published_at"]) and published["overdue"] is False
    again = ok(await client.post(f"{V1}/new-styles/TEE/published", headers=bearer("supervisor")))
    assert again == published


async def test_a_delivery_failing_sampling_is_rejected_whole_inv_4(client, inventory):
    """INV-4: below 70% passing over both rounds, the whole delivery goes back; nothing is stocked."""
    await register(client, "TEE-R", "TEE")
    await register(client, "CAP-G", "CAP")
    receipt = await create_receipt(client, "DN-1", [("TEE-R", 100), ("CAP-G", 10)])
    rid = receipt["receipt_id"]
    await count_received(client, rid, 100, 10)
    await inspect(client, rid, "qc-1", (1, "round_1", 10, 4), (2, "round_1", 1, 0))
    receipt = await inspect(client, rid, "qc-2", (1, "round_2", 10, 3))  # 13 of 20 pass: 65%
    assert receipt["delivery_rejected"] is True
    assert [x["verdict"] for x in receipt["lines"]] == ["reject_delivery", "accepted"]
    await sign_both(client, rid)
    posted = await post_receipt(client, rid, "p-1")
    assert posted["status"] == "rejected"
    assert await movements(inventory) == 0
    assert await levels(client, "CAP-G") == {}
    assert ok(await client.get(f"{V1}/new-styles", headers=bearer(PROMOTER))) == {"styles": []}


async def test_unposted_receipts_of_an_earlier_day_are_listed_overdue_inv_5(client, inventory):
    """INV-5: a receipt is posted on its business day; left open after it, it is listed as overdue."""
    await register(client, "TEE-R", "TEE")
    old = await create_receipt(client, "DN-OLD", [("TEE-R", 1)])
    await create_receipt(client, "DN-NEW", [("TEE-R", 1)])
    assert ok(await client.get(f"{V1}/receipts/overdue", headers=boss())) == {"receipts": []}
    async with inventory.database.transaction() as conn:
        await conn.execute(
            receipts.update()
            .where(receipts.c.delivery_note_number == "DN-OLD")
            .values(created_at=datetime.now(UTC) - timedelta(days=1, hours=1))
        )
    listed = ok(await client.get(f"{V1}/receipts/overdue", headers=boss()))
    assert [(r["receipt_id"], r["overdue"]) for r in listed["receipts"]] == [(old["receipt_id"], True)]
    got = ok(await client.get(f"{V1}/receipts/{old['receipt_id']}", headers=boss()))
    assert got["overdue"] is True


async def test_photos_past_their_deadline_are_flagged_inv_7(client, inventory):
    """INV-7: a new style's photos are due within 3 days; past that, overdue_only lists it for promoters."""
    await register(client, "TEE-R", "TEE")
    rid = (await create_receipt(client, "DN-1", [("TEE-R", 5)]))["receipt_id"]
    await count_received(client, rid, 5)
    await inspect(client, rid, "qc-1", (1, "round_1", 1, 0))
    await sign_both(client, rid)
    await post_receipt(client, rid, "p-1")
    async with inventory.database.transaction() as conn:
        await conn.execute(styles.update().values(received_at=styles.c.received_at - timedelta(days=4)))
    [late] = ok(
        await client.get(f"{V1}/new-styles", params={"overdue_only": True}, headers=bearer(PROMOTER))
    )["styles"]
    assert (late["style_number"], late["overdue"]) == ("TEE", True)
    ok(await client.post(f"{V1}/new-styles/TEE/published", headers=bearer(PROMOTER)))
    listed = ok(await client.get(f"{V1}/new-styles", params={"overdue_only": True}, headers=bearer(PROMOTER)))
    assert listed == {"styles": []}


# --- transfers and loans ------------------------------------------------------------------------


async def test_transfer_is_shipped_by_one_keeper_and_received_by_another_inv_12(client, inventory):
    """INV-12: the receiving warehouse requests, one keeper ships and signs, another confirms arrival and
    signs; in transit the units are neither warehouse's stock, and the oldest lot travels first."""
    await register(client, "TEA-1", category="tea")
    old_lot = await receive(client, "TEA-1", 6, "in-old")
    new_lot = await receive(client, "TEA-1", 10, "in-new")
    await create_warehouse(client, "SH-2")

    requested = ok(
        await client.post(
            f"{V1}/transfers",
            json={
                "request_id": "t-1",
                "from_warehouse_code": "MAIN",
                "to_warehouse_code": "SH-2",
                "lines": [{"sku_code": "TEA-1", "quantity": 8}],
            },
            headers=keeper(KEEPER_2),
        ),
        201,
    )
    tid = requested["transfer_id"]
    assert (requested["status"], requested["requested_by"], requested["shipped_by"]) == (
        "requested",
        KEEPER_2,
        "",
    )
    assert requested["lines"] == [{"sku_code": "TEA-1", "quantity": 8}]
    assert (requested["shipped_at"], requested["received_at"]) == (None, None)
    assert is_utc(requested["requested_at"])
    assert (await levels(client, "TEA-1"))["MAIN"] == (16, 0, 16)  # a request moves nothing

    shipped = ok(
        await client.post(
            f"{V1}/transfers/{tid}/ship", headers={**keeper(KEEPER_1), "Idempotency-Key": "s-1"}
        )
    )
    assert (shipped["status"], shipped["shipped_by"]) == ("in_transit", KEEPER_1)
    assert is_utc(shipped["shipped_at"])
    # In transit: gone from MAIN, not yet on hand or available in SH-2.
    assert await levels(client, "TEA-1") == {"MAIN": (8, 0, 8), "SH-2": (0, 0, 0)}
    before = await movements(inventory)
    replay = await client.post(
        f"{V1}/transfers/{tid}/ship", headers={**keeper(KEEPER_1), "Idempotency-Key": "s-1"}
    )
    assert ok(replay) == shipped
    assert await movements(inventory) == before

    same_keeper = await client.post(
        f"{V1}/transfers/{tid}/receive", json={"request_id": "r-0"}, headers=keeper(KEEPER_1)
    )
    assert_error(same_keeper, 422, "signature")
    received = ok(
        await client.post(
            f"{V1}/transfers/{tid}/receive", json={"request_id": "r-1"}, headers=keeper(KEEPER_2)
        )
    )
    assert (received["status"], received["shipped_by"], received["received_by"]) == (
        "received",
        KEEPER_1,
        KEEPER_2,
    )
    assert is_utc(received["received_at"])
    assert await levels(client, "TEA-1") == {"MAIN": (8, 0, 8), "SH-2": (8, 0, 8)}
    arrived = ok(
        await client.get(f"{V1}/skus/TEA-1/lots", params={"warehouse_code": "SH-2"}, headers=keeper())
    )
    assert [(x["lot_id"], x["on_hand"]) for x in arrived["lots"]] == [(old_lot, 6), (new_lot, 2)]
    assert ok(await client.get(f"{V1}/transfers/{tid}", headers=bearer(INTEGRATOR))) == received
    assert_error(await client.post(f"{V1}/transfers/{tid}/cancel", headers=keeper()), 422, "transfer_id")


async def test_a_requested_transfer_can_be_cancelled_and_moves_nothing_inv_12(client, inventory):
    await register(client, "TEA-1", category="tea")
    await receive(client, "TEA-1", 5, "in-1")
    await create_warehouse(client, "SH-2")
    requested = ok(
        await client.post(
            f"{V1}/transfers",
            json={
                "from_warehouse_code": "MAIN",
                "to_warehouse_code": "SH-2",
                "lines": [{"sku_code": "TEA-1", "quantity": 3}],
            },
            headers={**keeper(), "Idempotency-Key": "t-1"},
        ),
        201,
    )
    cancelled = ok(await client.post(f"{V1}/transfers/{requested['transfer_id']}/cancel", headers=keeper()))
    assert cancelled["status"] == "cancelled"
    before = await movements(inventory)
    shipped = await client.post(
        f"{V1}/transfers/{requested['transfer_id']}/ship",
        json={"request_id": "s-1"},
        headers=keeper(KEEPER_2),
    )
    assert_error(shipped, 422, "transfer_id")
    assert shipped.json()["error"]["reason"] == "TRANSFER_STATE"
    assert await movements(inventory) == before
    assert await levels(client, "TEA-1") == {"MAIN": (5, 0, 5)}


async def test_sample_loan_is_extended_once_and_returned_inv_8(client, inventory):
    """INV-8: samples leave by a transfer document, due back in 7 days; one extension of 7 days; overdue
    loans are listed for recall; returned samples go back into their lot."""
    await register(client, "TEE-R", "TEE")
    lot_id = await receive(client, "TEE-R", 10, "in-1")
    lent = ok(
        await client.post(
            f"{V1}/loans",
            json={"request_id": "l-1", "sku_code": "TEE-R", "quantity": 2, "borrower": "photo studio"},
            headers=keeper(),
        ),
        201,
    )
    loan_id = lent["loan_id"]
    assert (lent["sku_code"], lent["style_number"], lent["colour"], lent["warehouse_code"]) == (
        "TEE-R",
        "TEE",
        "R",
        "MAIN",
    )
    assert (lent["quantity"], lent["borrower"], lent["returned"], lent["extended"], lent["overdue"]) == (
        2,
        "photo studio",
        False,
        False,
        False,
    )
    assert lent["returned_at"] is None and is_utc(lent["lent_at"]) and is_utc(lent["due_at"])
    assert datetime.fromisoformat(lent["due_at"]) - datetime.fromisoformat(lent["lent_at"]) == timedelta(
        days=7
    )
    assert await levels(client, "TEE-R") == {"MAIN": (8, 0, 8)}
    assert ok(await client.get(f"{V1}/loans", headers=bearer(INTEGRATOR))) == {"loans": [lent]}

    extended = ok(await client.post(f"{V1}/loans/{loan_id}/extend", headers=keeper()))
    assert extended["extended"] is True
    assert datetime.fromisoformat(extended["due_at"]) - datetime.fromisoformat(lent["due_at"]) == timedelta(
        days=7
    )
    twice = await client.post(f"{V1}/loans/{loan_id}/extend", headers=keeper())
    assert_error(twice, 422, "loan_id")
    assert twice.json()["error"]["reason"] == "ALREADY_EXTENDED"

    assert ok(await client.get(f"{V1}/loans", params={"overdue_only": "true"}, headers=keeper())) == {
        "loans": []
    }
    async with inventory.database.transaction() as conn:
        await conn.execute(loans.update().values(due_at=sa.func.now() - timedelta(hours=1)))
    overdue = ok(await client.get(f"{V1}/loans", params={"overdue_only": "true"}, headers=keeper()))
    assert [(x["loan_id"], x["overdue"]) for x in overdue["loans"]] == [(loan_id, True)]

    back = ok(await client.post(f"{V1}/loans/{loan_id}/return", headers=keeper()))
    assert (back["returned"], back["overdue"]) == (True, False)
    assert is_utc(back["returned_at"])
    assert await levels(client, "TEE-R") == {"MAIN": (10, 0, 10)}
    lots = ok(await client.get(f"{V1}/skus/TEE-R/lots", headers=keeper()))
    assert [(x["lot_id"], x["on_hand"]) for x in lots["lots"]] == [(lot_id, 10)]
    assert ok(await client.get(f"{V1}/loans", headers=keeper())) == {"loans": []}
    before = await movements(inventory)
    assert ok(await client.post(f"{V1}/loans/{loan_id}/return", headers=keeper())) == back
    assert await movements(inventory) == before


# --- counts and the daily close -----------------------------------------------------------------


async def test_cycle_count_variance_is_approved_by_the_warehouse_supervisor_inv_13(client, inventory):
    """INV-13: a count sheet holds the book quantity per lot; the variance is posted only with a reason, a
    responsible person and the warehouse supervisor's approval; damaged units go to the defective-goods
    warehouse."""
    await register(client, "TEA-1", category="tea")
    lot_a = await receive(client, "TEA-1", 10, "in-1")
    lot_b = await receive(client, "TEA-1", 5, "in-2")
    planned = ok(
        await client.post(
            f"{V1}/counts",
            json={"request_id": "c-1", "kind": "cycle", "planned_for": A_MONDAY, "sku_codes": ["TEA-1"]},
            headers=keeper(),
        ),
        201,
    )
    cid = planned["count_id"]
    assert (planned["warehouse_code"], planned["kind"], planned["planned_for"], planned["posted"]) == (
        "MAIN",
        "cycle",
        A_MONDAY,
        False,
    )
    assert (planned["approved_by"], planned["damaged_disposition"]) == ("", None)
    assert [
        (x["line_no"], x["lot_id"], x["bin_code"], x["book_quantity"], x["counted"], x["variance"])
        for x in planned["lines"]
    ] == [(1, lot_a, "", 10, None, 0), (2, lot_b, "", 5, None, 0)]
    assert ok(await client.get(f"{V1}/counts/{cid}", headers=bearer(INTEGRATOR))) == planned

    counted = ok(
        await client.post(
            f"{V1}/counts/{cid}/lines",
            json={"lines": [{"line_no": 1, "counted": 9}, {"line_no": 2, "counted": 5, "damaged": 2}]},
            headers=keeper(),
        )
    )
    assert [(x["counted"], x["damaged"], x["variance"]) for x in counted["lines"]] == [(9, 0, -1), (5, 2, 0)]

    approval = {
        "reason": "one unit missing on the shelf",
        "responsible_person": "Li Wei",
        "damaged_disposition": "defective_warehouse",
    }
    assert_forbidden(
        await client.post(
            f"{V1}/counts/{cid}/approve", json={"request_id": "a-0", **approval}, headers=keeper()
        )
    )
    for missing in ("reason", "responsible_person", "damaged_disposition"):
        body = {"request_id": f"a-{missing}", **approval}
        del body[missing]
        assert_error(await client.post(f"{V1}/counts/{cid}/approve", json=body, headers=boss()), 400, missing)
    assert await levels(client, "TEA-1") == {"MAIN": (15, 0, 15)}

    approved = ok(
        await client.post(
            f"{V1}/counts/{cid}/approve", json={"request_id": "a-1", **approval}, headers=boss()
        )
    )
    assert (approved["posted"], approved["approved_by"], approved["damaged_disposition"]) == (
        True,
        BOSS,
        "defective_warehouse",
    )
    assert (approved["reason"], approved["responsible_person"]) == ("one unit missing on the shelf", "Li Wei")
    assert await levels(client, "TEA-1") == {"MAIN": (12, 0, 12), "DEFECTIVE": (2, 0, 0)}
    assert ok(await client.get(f"{V1}/counts/{cid}", headers=keeper())) == approved
    recount = await client.post(
        f"{V1}/counts/{cid}/lines", json={"lines": [{"line_no": 1, "counted": 8}]}, headers=keeper()
    )
    assert_error(recount, 422, "count_id")


async def test_full_count_falls_on_a_friday_and_covers_the_warehouse_inv_13(client):
    """INV-13: the full count of a whole warehouse happens on a Friday; damaged units may be scrapped."""
    await register(client, "A-1")
    await register(client, "B-1")
    await receive(client, "A-1", 3, "in-a")
    await receive(client, "B-1", 4, "in-b")
    monday = await client.post(
        f"{V1}/counts", json={"request_id": "c-0", "kind": "full", "planned_for": A_MONDAY}, headers=boss()
    )
    assert_error(monday, 400, "planned_for")
    full = ok(
        await client.post(
            f"{V1}/counts",
            json={"kind": "full", "planned_for": NEXT_FRIDAY},
            headers={**boss(), "Idempotency-Key": "c-1"},
        ),
        201,
    )
    assert full["kind"] == "full"
    assert sorted((x["sku_code"], x["book_quantity"]) for x in full["lines"]) == [("A-1", 3), ("B-1", 4)]
    lines = [{"line_no": x["line_no"], "counted": x["book_quantity"], "damaged": 1} for x in full["lines"]]
    ok(await client.post(f"{V1}/counts/{full['count_id']}/lines", json={"lines": lines}, headers=keeper()))
    scrapped = ok(
        await client.post(
            f"{V1}/counts/{full['count_id']}/approve",
            json={"request_id": "a-1", "damaged_disposition": "scrap"},
            headers=boss(),
        )
    )
    assert scrapped["damaged_disposition"] == "scrap"
    assert await levels(client, "A-1") == {"MAIN": (2, 0, 2)}
    assert await levels(client, "B-1") == {"MAIN": (3, 0, 3)}


async def test_daily_close_and_the_monthly_archive_inv_14(client):
    """INV-14: a clean day closes once; closing again returns the first close; the month lists it."""
    await register(client, "TEA-1", category="tea")
    await receive(client, "TEA-1", 7, "in-1")
    closed = ok(
        await client.post(f"{V1}/day-closes", json={"business_date": TODAY.isoformat()}, headers=boss()), 201
    )
    assert (closed["business_date"], closed["closed_by"], closed["movements"], closed["receipts_posted"]) == (
        TODAY.isoformat(),
        BOSS,
        1,
        0,
    )
    assert is_utc(closed["closed_at"])
    again = await client.post(
        f"{V1}/day-closes", json={"business_date": TODAY.isoformat()}, headers=bearer(SUPERVISOR, "boss-2")
    )
    assert ok(again, 201) == closed
    archive = ok(await client.get(f"{V1}/day-closes", params={"month": THIS_MONTH}, headers=keeper()))
    assert archive == {"closes": [closed]}
    assert (
        ok(await client.get(f"{V1}/day-closes", params={"month": "2001-01"}, headers=keeper()))["closes"]
        == []
    )


async def test_a_day_with_an_unposted_receipt_does_not_close_inv_14(client):
    """INV-14: the close is refused, naming the receipt, while a receipt of the day is unposted."""
    await register(client, "TEE-R", "TEE")
    await create_receipt(client, "DN-OPEN", [("TEE-R", 1)])
    refused = await client.post(f"{V1}/day-closes", json={"business_date": TODAY.isoformat()}, headers=boss())
    assert_error(refused, 422, "business_date")
    assert "DN-OPEN" in refused.json()["error"]["fields"][0]["description"]
    assert refused.json()["error"]["reason"] == "DAY_NOT_CLEAN"
    archive = ok(await client.get(f"{V1}/day-closes", params={"month": THIS_MONTH}, headers=keeper()))
    assert archive["closes"] == []


# --- replenishment, packing materials and supplier returns ---------------------------------------


async def test_replenishment_plan_and_its_approval_inv_15(client):
    """INV-15: tea covering under 2 days of its last 14 days' sales orders 7 days of sales; the plan waits
    for purchasing's approval."""
    await register(client, "TEA-1", category="tea")
    await receive(client, "TEA-1", 10, "in-1")
    await reserve_and_issue(client, "TEA-1", 9, "SO-1")  # 9 sold today: 9/14 a day, 1 left covers 1.56 days
    await register(client, "TEA-OK", category="tea")
    await receive(client, "TEA-OK", 30, "in-2")
    await reserve_and_issue(client, "TEA-OK", 9, "SO-2")  # covers 32.67 days: no line

    plan = ok(
        await client.post(
            f"{V1}/replenishment-plans", json={"business_date": TOMORROW}, headers=bearer(BUYER)
        ),
        201,
    )
    uuid.UUID(plan["plan_id"])
    assert (plan["business_date"], plan["approved"], plan["approved_by"]) == (TOMORROW, False, "")
    assert plan["lines"] == [
        {
            "sku_code": "TEA-1",
            "category": "tea",
            "available": 1,
            "units_sold": 9,
            "window_days": 14,
            "cover_days": "1.56",
            "order_days": 7,
            "order_quantity": 5,
        }
    ]
    # Without a date: today's plan, over the 14 days before today, when nothing had sold yet.
    today = ok(await client.post(f"{V1}/replenishment-plans", headers=bearer(SUPERVISOR)), 201)
    assert (today["business_date"], today["lines"]) == (TODAY.isoformat(), [])

    assert_forbidden(await client.post(f"{V1}/replenishment-plans/{plan['plan_id']}/approve", headers=boss()))
    approved = ok(
        await client.post(
            f"{V1}/replenishment-plans/{plan['plan_id']}/approve", headers=bearer(BUYER, "buyer-1")
        )
    )
    assert (approved["approved"], approved["approved_by"]) == (True, "buyer-1")
    assert approved["lines"] == plan["lines"]
    twice = await client.post(f"{V1}/replenishment-plans/{plan['plan_id']}/approve", headers=bearer(BUYER))
    assert_error(twice, 422, "plan_id")


async def test_replenishment_policies_are_listed_and_set_inv_15(client):
    """INV-15: the policies are data: tea's and every other category's ("*"); purchasing changes them."""
    listed = ok(await client.get(f"{V1}/replenishment-policies", headers=bearer(INTEGRATOR)))
    assert sorted(listed["policies"], key=lambda p: p["category"]) == [
        {
            "category": "*",
            "low_cover_days": 5,
            "order_days": 15,
            "fast_daily_units": 0,  # both 0: no fast-seller rule
            "fast_order_days": 0,
        },
        {
            "category": "tea",
            "low_cover_days": 2,
            "order_days": 7,
            "fast_daily_units": 100,
            "fast_order_days": 3,
        },
    ]
    apparel = ok(
        await client.put(
            f"{V1}/replenishment-policies/apparel",
            json={"low_cover_days": 3, "order_days": 10},
            headers=bearer(BUYER),
        )
    )
    assert apparel == {
        "category": "apparel",
        "low_cover_days": 3,
        "order_days": 10,
        "fast_daily_units": 0,
        "fast_order_days": 0,
    }
    default = ok(
        await client.put(
            f"{V1}/replenishment-policies/*",
            json={"low_cover_days": 4, "order_days": 12, "fast_daily_units": 50, "fast_order_days": 2},
            headers=boss(),
        )
    )
    assert (default["category"], default["fast_daily_units"], default["fast_order_days"]) == ("*", 50, 2)
    listed = ok(await client.get(f"{V1}/replenishment-policies", headers=bearer(BUYER)))
    assert {p["category"]: p["order_days"] for p in listed["policies"]} == {"*": 12, "apparel": 10, "tea": 7}

    await register(client, "TEE-1", category="apparel")
    await receive(client, "TEE-1", 10, "in-1")
    await reserve_and_issue(client, "TEE-1", 9, "SO-1")
    plan = ok(
        await client.post(f"{V1}/replenishment-plans", json={"business_date": TOMORROW}, headers=boss()), 201
    )
    assert [(x["sku_code"], x["order_days"], x["order_quantity"]) for x in plan["lines"]] == [
        ("TEE-1", 10, 7)
    ]


async def test_packing_use_and_the_buying_alerts_inv_16(client, inventory):
    """INV-16: packing materials covering under 10 days of normal use alert the warehouse supervisor; when
    a large promotion is scheduled, every material does."""
    for sku, received in (("BOX-S", 200), ("TAPE", 500), ("BAG", 50)):
        await register(client, sku, category="packing", kind="packing_material")
        await receive(client, sku, received, f"in-{sku}")
    used = ok(
        await client.post(
            f"{V1}/packing-uses",
            json={"request_id": "use-1", "sku_code": "BOX-S", "quantity": 140},
            headers=bearer(PACKER),
        ),
        201,
    )
    assert used == {
        "level": {
            "sku_code": "BOX-S",
            "warehouse_code": "MAIN",
            "on_hand": 60,
            "reserved": 0,
            "held": 0,
            "available": 60,
            "sellable": True,
            "in_transit": 0,
        }
    }
    replay = await client.post(
        f"{V1}/packing-uses",
        json={"request_id": "use-1", "sku_code": "BOX-S", "quantity": 140},
        headers=bearer(PACKER),
    )
    assert ok(replay, 201) == used
    ok(
        await client.post(
            f"{V1}/packing-uses",
            json={"sku_code": "TAPE", "quantity": 14},
            headers={**keeper(), "Idempotency-Key": "use-2"},
        ),
        201,
    )
    assert await levels(client, "BOX-S") == {"MAIN": (60, 0, 60)}

    normal = ok(await client.get(f"{V1}/packing-alerts", headers=boss()))
    assert normal == {
        "alerts": [
            {
                "sku_code": "BOX-S",
                "on_hand": 60,
                "daily_use": "10.00",
                "cover_days": "6.00",
                "reason": "low_cover",
            }
        ],
        "promotions": [],
    }
    # The orders service announces a large promotion (LargePromotionScheduled): every material is alerted.
    await apply_event(
        inventory.database, kit.inbox, subscriptions, large_promotion("P-1111", days_from_now=2)
    )
    promo = ok(await client.get(f"{V1}/packing-alerts", headers=boss()))
    assert [p["promotion_id"] for p in promo["promotions"]] == ["P-1111"]
    assert [(a["sku_code"], a["reason"], a["daily_use"], a["cover_days"]) for a in promo["alerts"]] == [
        ("BOX-S", "low_cover", "10.00", "6.00"),
        ("TAPE", "promotion", "1.00", "486.00"),
        ("BAG", "promotion", "0.00", ""),  # never used: no cover to compute
    ]


async def test_supplier_is_registered_and_defective_units_go_back_to_it_inv_17(client, inventory):
    """INV-17: defective units found at receiving wait in the defective-goods warehouse, due back daily for
    a manufacturer; a return document sends them back; the month-end report lists what is left."""
    registered = ok(
        await client.post(
            f"{V1}/suppliers",
            json={"supplier_code": "SUP-1", "name": "Hangzhou Mill", "kind": "manufacturer"},
            headers=bearer(BUYER),
        ),
        201,
    )
    assert registered == {"supplier_code": "SUP-1"}
    await receive_with_defects(client)
    assert await levels(client, "TEE-R") == {"MAIN": (17, 0, 17), "DEFECTIVE": (3, 0, 0)}

    [stock] = ok(await client.get(f"{V1}/defective-stock", headers=bearer(BUYER)))["stock"]
    assert (stock["supplier_code"], stock["sku_code"], stock["quantity"], stock["return_due"]) == (
        "SUP-1",
        "TEE-R",
        3,
        False,
    )
    assert is_utc(stock["defective_since"])
    async with inventory.database.transaction() as conn:  # a day and a half later
        await conn.execute(
            stock_movements.update().values(created_at=stock_movements.c.created_at - timedelta(hours=36))
        )
    [stock] = ok(await client.get(f"{V1}/defective-stock", headers=bearer(BUYER)))["stock"]
    assert stock["return_due"] is True
    report = ok(
        await client.get(
            f"{V1}/defective-stock/month-end", params={"month": THIS_MONTH}, headers=bearer(BUYER)
        )
    )
    assert [(s["supplier_code"], s["lot_id"], s["quantity"]) for s in report["stock"]] == [
        ("SUP-1", stock["lot_id"], 3)
    ]

    too_many = await client.post(
        f"{V1}/supplier-returns",
        json={
            "request_id": "rt-0",
            "supplier_code": "SUP-1",
            "lines": [{"sku_code": "TEE-R", "quantity": 4}],
        },
        headers=keeper(),
    )
    assert_error(too_many, 422, "lines[0].quantity")
    returned = ok(
        await client.post(
            f"{V1}/supplier-returns",
            json={"supplier_code": "SUP-1", "lines": [{"sku_code": "TEE-R", "quantity": 3}]},
            headers={**keeper(), "Idempotency-Key": "rt-1"},
        ),
        201,
    )
    uuid.UUID(returned["return_id"])
    before = await movements(inventory)
    replay = await client.post(
        f"{V1}/supplier-returns",
        json={"supplier_code": "SUP-1", "lines": [{"sku_code": "TEE-R", "quantity": 3}]},
        headers={**keeper(), "Idempotency-Key": "rt-1"},
    )
    assert ok(replay, 201) == returned
    assert await movements(inventory) == before
    assert await levels(client, "TEE-R") == {"MAIN": (17, 0, 17), "DEFECTIVE": (0, 0, 0)}
    assert ok(await client.get(f"{V1}/defective-stock", headers=bearer(BUYER))) == {"stock": []}
    report = ok(
        await client.get(
            f"{V1}/defective-stock/month-end", params={"month": THIS_MONTH}, headers=bearer(BUYER)
        )
    )
    assert report["stock"] == []


# --- receiving: bad input and roles -------------------------------------------------------------

RECEIPT = {
    "request_id": "rc-x",
    "supplier_code": "SUP-1",
    "delivery_note_number": "DN-X",
    "lines": [{"sku_code": "TEE-R", "expected_quantity": 10}],
}
ROUND_1 = {"line_no": 1, "round": "round_1", "inspected_units": 10, "failed_units": 0}


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"lines": [{"sku_code": "TEE-R", "expected_quantity": "10"}]}, 400, "lines[0].expected_quantity"),
        ({"lines": [{"sku_code": "TEE-R", "expected_quantity": 2.5}]}, 400, "lines[0].expected_quantity"),
        pytest.param({"lines": [{"sku_code": "TEE-R"}]}, 400, "lines[0].expected_quantity"),
        ({"lines": [{"sku_code": "TEE-R", "expected_quantity": -1}]}, 400, "lines[0].expected_quantity"),
        (
            {
                "lines": [
                    {"sku_code": "TEE-R", "expected_quantity": 1},
                    {"sku_code": "TEE-R", "expected_quantity": 2},
                ]
            },
            400,
            "lines[1].sku_code",
        ),
        ({"lines": []}, 400, "lines"),
        ({"lines": MISSING}, 400, "lines"),
        ({"supplier_code": 7}, 400, "supplier_code"),
        ({"supplier_code": " "}, 400, "supplier_code"),
        ({"delivery_note_number": MISSING}, 400, "delivery_note_number"),
        ({"lines": [{"sku_code": "NOPE", "expected_quantity": 1}]}, 404, "lines[0].sku_code"),
        ({"warehouse_code": "NOWHERE"}, 404, "warehouse_code"),
        ({"warehouse_code": "DEFECTIVE"}, 422, "warehouse_code"),
        ({"delivery_note_number": "DN-1"}, 409, "delivery_note_number"),  # DN-1 of SUP-1 is registered
        (BLANK_ID, 400, "request_id"),
        ({"note": "x"}, 400, "note"),
    ],
)
async def test_bad_delivery_note_is_refused_naming_the_field_inv_3(
    client, inventory, overrides, status, field
):
    """INV-3: a delivery is registered from its note once, with known SKUs, into a sellable warehouse."""
    await register(client, "TEE-R", "TEE")
    await create_receipt(client, "DN-1", [("TEE-R", 1)])
    response = await client.post(f"{V1}/receipts", json=with_overrides(RECEIPT, overrides), headers=keeper())
    assert_error(response, status, field)
    assert await rows(inventory, receipts) == 1


@pytest.mark.parametrize(
    ("step", "body", "role", "status", "field"),
    [
        (
            "counts",
            {"counts": [{"line_no": 1, "received_quantity": "98"}]},
            KEEPER,
            400,
            "counts[0].received_quantity",
        ),
        (
            "counts",
            {"counts": [{"line_no": 1, "received_quantity": -1}]},
            KEEPER,
            400,
            "counts[0].received_quantity",
        ),
        pytest.param(
            "counts",
            {"counts": [{"line_no": 1}]},
            KEEPER,
            400,
            "counts[0].received_quantity",
        ),
        ("counts", {"counts": [{"line_no": 9, "received_quantity": 1}]}, KEEPER, 400, "counts[0].line_no"),
        (
            "counts",
            {"counts": [{"line_no": 2**31, "received_quantity": 1}]},
            KEEPER,
            400,
            "counts[0].line_no",
        ),
        ("counts", {"counts": []}, KEEPER, 400, "counts"),
        ("counts", {}, KEEPER, 400, "counts"),
        (
            "inspections",
            {"request_id": "q", "results": [{**ROUND_1, "round": "round_3"}]},
            QC,
            400,
            "results[0].round",
        ),
        (
            "inspections",
            {"request_id": "q", "results": [{**ROUND_1, "round": 1}]},
            QC,
            400,
            "results[0].round",
        ),
        pytest.param(
            "inspections",
            {"request_id": "q", "results": [{k: v for k, v in ROUND_1.items() if k != "failed_units"}]},
            QC,
            400,
            "results[0].failed_units",
        ),
        # Round 1 of 100 units inspects 10 (INV-4).
        (
            "inspections",
            {"request_id": "q", "results": [{**ROUND_1, "inspected_units": 5}]},
            QC,
            400,
            "results[0].inspected_units",
        ),
        (
            "inspections",
            {"request_id": "q", "results": [{**ROUND_1, "failed_units": 11}]},
            QC,
            400,
            "results[0].failed_units",
        ),
        (
            "inspections",
            {"request_id": "q", "results": [{**ROUND_1, "round": "round_2"}]},
            QC,
            422,
            "results[0].round",
        ),
        (
            "inspections",
            {"request_id": "q", "results": [{**ROUND_1, "line_no": 9}]},
            QC,
            400,
            "results[0].line_no",
        ),
        ("inspections", {"request_id": "q", "results": []}, QC, 400, "results"),
        ("inspections", {**BLANK_ID, "results": [ROUND_1]}, QC, 400, "request_id"),
        ("signatures", {"role": "boss"}, KEEPER, 400, "role"),
        ("signatures", {"role": 1}, KEEPER, 400, "role"),
        ("signatures", {}, KEEPER, 400, "role"),
        ("post", {"request_id": "p"}, KEEPER, 422, "signatures"),
        ("post", BLANK_ID, KEEPER, 400, "request_id"),
        ("post", {"request_id": 5}, KEEPER, 400, "request_id"),
    ],
)
async def test_bad_receipt_step_is_refused_naming_the_field_inv_4(
    client, inventory, step, body, role, status, field
):
    """INV-4: counts, inspections by the sampling plan, signatures and posting each refuse bad input and
    change nothing."""
    await register(client, "TEE-R", "TEE")
    rid = (await create_receipt(client, "DN-1", [("TEE-R", 100)]))["receipt_id"]
    counted = await count_received(client, rid, 100)
    response = await client.post(f"{V1}/receipts/{rid}/{step}", json=body, headers=bearer(role, "someone"))
    assert_error(response, status, field)
    assert ok(await client.get(f"{V1}/receipts/{rid}", headers=keeper())) == counted
    assert await movements(inventory) == 0


@pytest.mark.parametrize("receipt_id", [str(uuid.UUID(int=5)), "not-a-uuid"])
@pytest.mark.parametrize(
    ("method", "step", "body", "role"),
    [
        ("get", "", None, INTEGRATOR),
        ("post", "/counts", {"counts": [{"line_no": 1, "received_quantity": 1}]}, KEEPER),
        ("post", "/inspections", {"request_id": "q", "results": [ROUND_1]}, QC),
        ("post", "/signatures", {"role": KEEPER}, KEEPER),
        ("post", "/post", {"request_id": "p"}, KEEPER),
    ],
)
async def test_unknown_receipt_is_404(client, receipt_id, method, step, body, role):
    response = await client.request(
        method, f"{V1}/receipts/{receipt_id}{step}", json=body, headers=bearer(role)
    )
    assert_error(response, 404, "receipt_id")
    assert response.json()["error"]["reason"] == "RECEIPT_NOT_FOUND"


async def test_unknown_style_and_bad_query_are_refused_naming_the_field(client):
    response = await client.post(f"{V1}/new-styles/NOPE/published", headers=bearer(PROMOTER))
    assert_error(response, 404, "style_number")
    response = await client.get(
        f"{V1}/new-styles", params={"overdue_only": "maybe"}, headers=bearer(PROMOTER)
    )
    assert_error(response, 400, "overdue_only")


@pytest.mark.parametrize(
    ("step", "body", "role"),
    [
        ("", RECEIPT, INTEGRATOR),
        ("", RECEIPT, QC),
        ("/counts", {"counts": [{"line_no": 1, "received_quantity": 90}]}, QC),
        ("/counts", {"counts": [{"line_no": 1, "received_quantity": 90}]}, SUPERVISOR),
        ("/inspections", {"request_id": "q", "results": [ROUND_1]}, KEEPER),
        ("/inspections", {"request_id": "q", "results": [ROUND_1]}, SUPERVISOR),
        ("/signatures", {"role": SUPERVISOR}, KEEPER),  # the caller must hold the role signed in
        ("/signatures", {"role": KEEPER}, QC),
        ("/post", {"request_id": "p"}, QC),
        ("/post", {"request_id": "p"}, BUYER),
    ],
)
async def test_each_receiving_step_needs_its_role_inv_5(client, inventory, step, body, role):
    """INV-5: only stock keepers count, only QC inspects, each signer holds the role signed in."""
    await register(client, "TEE-R", "TEE")
    rid = (await create_receipt(client, "DN-1", [("TEE-R", 100)]))["receipt_id"]
    counted = await count_received(client, rid, 100)
    path = f"{V1}/receipts{f'/{rid}{step}' if step else ''}"
    assert_forbidden(await client.post(path, json=body, headers=bearer(role)))
    assert ok(await client.get(f"{V1}/receipts/{rid}", headers=keeper())) == counted
    assert await rows(inventory, receipts) == 1


async def test_publishing_photos_needs_a_promoter_or_supervisor_inv_7(client):
    assert_forbidden(await client.post(f"{V1}/new-styles/TEE/published", headers=keeper()))


# --- transfers and loans: bad input and roles ---------------------------------------------------

TRANSFER = {
    "request_id": "t-x",
    "from_warehouse_code": "MAIN",
    "to_warehouse_code": "SH-2",
    "lines": [{"sku_code": "TEA-1", "quantity": 2}],
}
LOAN = {"request_id": "l-x", "sku_code": "TEA-1", "quantity": 2, "borrower": "photo studio"}


async def stocked_tea(client: httpx.AsyncClient, quantity: int = 10) -> None:
    """TEA-1 with ``quantity`` units in MAIN, and a second sellable warehouse SH-2."""
    await register(client, "TEA-1", category="tea")
    await receive(client, "TEA-1", quantity, "in-1")
    await create_warehouse(client, "SH-2")


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"to_warehouse_code": "MAIN"}, 400, "to_warehouse_code"),
        ({"to_warehouse_code": MISSING}, 400, "to_warehouse_code"),
        ({"from_warehouse_code": 1}, 400, "from_warehouse_code"),
        ({"lines": [{"sku_code": "TEA-1", "quantity": 0}]}, 400, "lines[0].quantity"),
        ({"lines": [{"sku_code": "TEA-1", "quantity": "2"}]}, 400, "lines[0].quantity"),
        ({"lines": [{"sku_code": "TEA-1", "quantity": 2**63}]}, 400, "lines[0].quantity"),
        ({"lines": []}, 400, "lines"),
        ({"lines": [{"sku_code": "NOPE", "quantity": 1}]}, 404, "lines[0].sku_code"),
        ({"to_warehouse_code": "NOWHERE"}, 404, "warehouse_code"),
        (BLANK_ID, 400, "request_id"),
        ({"priority": "high"}, 400, "priority"),
    ],
)
async def test_bad_transfer_request_is_refused_naming_the_field_inv_12(
    client, inventory, overrides, status, field
):
    await stocked_tea(client)
    response = await client.post(
        f"{V1}/transfers", json=with_overrides(TRANSFER, overrides), headers=keeper()
    )
    assert_error(response, status, field)
    assert await rows(inventory, transfers) == 0


@pytest.mark.parametrize("transfer_id", [str(uuid.UUID(int=9)), "T-404"])
@pytest.mark.parametrize(
    ("method", "step"), [("get", ""), ("post", "/ship"), ("post", "/receive"), ("post", "/cancel")]
)
async def test_unknown_transfer_is_404(client, transfer_id, method, step):
    body = {"request_id": "x"} if step in ("/ship", "/receive") else None
    response = await client.request(
        method, f"{V1}/transfers/{transfer_id}{step}", json=body, headers=keeper()
    )
    assert_error(response, 404, "transfer_id")


async def test_a_transfer_cannot_ship_reserved_units_inv_12(client, inventory):
    """INV-10, INV-12: reserved units stay for their order, whether the shipping has a request id or not."""
    await stocked_tea(client)
    ok(
        await client.post(
            f"{V1}/reservations",
            json={"order_id": "SO-1", "lines": [{"sku_code": "TEA-1", "quantity": 7}]},
            headers=bearer(INTEGRATOR),
        ),
        201,
    )
    tid = ok(
        await client.post(
            f"{V1}/transfers",
            json={**TRANSFER, "lines": [{"sku_code": "TEA-1", "quantity": 5}]},
            headers=keeper(),
        ),
        201,
    )["transfer_id"]
    before = await movements(inventory)
    for body in (None, {"request_id": "s-1"}):
        short = await client.post(f"{V1}/transfers/{tid}/ship", json=body, headers=keeper(KEEPER_2))
        assert_error(short, 422, "lines[0].quantity")  # the short line
        assert short.json()["error"]["reason"] == "INSUFFICIENT_STOCK"
    assert await movements(inventory) == before
    assert await levels(client, "TEA-1") == {"MAIN": (10, 7, 3)}
    assert ok(await client.get(f"{V1}/transfers/{tid}", headers=keeper()))["status"] == "requested"


@pytest.mark.parametrize(
    ("step", "role"),
    [
        ("", INTEGRATOR),
        ("", SUPERVISOR),
        ("/ship", SUPERVISOR),
        ("/ship", INTEGRATOR),
        ("/receive", SUPERVISOR),
        ("/cancel", INTEGRATOR),
    ],
)
async def test_only_stock_keepers_move_transfers_inv_12(client, inventory, step, role):
    await stocked_tea(client)
    tid = ok(await client.post(f"{V1}/transfers", json=TRANSFER, headers=keeper()), 201)["transfer_id"]
    before = await movements(inventory)
    path = f"{V1}/transfers{f'/{tid}{step}' if step else ''}"
    body = TRANSFER if not step else {"request_id": "x"} if step != "/cancel" else None
    assert_forbidden(await client.post(path, json=body, headers=bearer(role)))
    assert await movements(inventory) == before
    assert await rows(inventory, transfers) == 1
    assert ok(await client.get(f"{V1}/transfers/{tid}", headers=keeper()))["status"] == "requested"


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"borrower": MISSING}, 400, "borrower"),
        ({"borrower": " "}, 400, "borrower"),
        ({"borrower": 5}, 400, "borrower"),
        ({"quantity": 0}, 400, "quantity"),
        ({"quantity": "2"}, 400, "quantity"),
        ({"quantity": 11}, 422, "quantity"),  # 10 in stock
        ({"sku_code": "NOPE"}, 404, "sku_code"),
        ({"warehouse_code": "NOWHERE"}, 404, "warehouse_code"),
        (BLANK_ID, 400, "request_id"),
        ({"due_at": "2030-01-01T00:00:00Z"}, 400, "due_at"),
    ],
)
async def test_bad_loan_is_refused_naming_the_field_inv_8(client, inventory, overrides, status, field):
    await stocked_tea(client)
    before = await movements(inventory)
    response = await client.post(f"{V1}/loans", json=with_overrides(LOAN, overrides), headers=keeper())
    assert_error(response, status, field)
    assert await movements(inventory) == before
    assert await rows(inventory, loans) == 0


@pytest.mark.parametrize("loan_id", [str(uuid.UUID(int=3)), "L-404"])
@pytest.mark.parametrize("step", ["extend", "return"])
async def test_unknown_loan_is_404(client, loan_id, step):
    assert_error(await client.post(f"{V1}/loans/{loan_id}/{step}", headers=keeper()), 404, "loan_id")


async def test_listing_loans_refuses_a_bad_flag(client):
    response = await client.get(f"{V1}/loans", params={"overdue_only": "maybe"}, headers=keeper())
    assert_error(response, 400, "overdue_only")


@pytest.mark.parametrize(
    ("step", "role"), [("", INTEGRATOR), ("", PROMOTER), ("/extend", PROMOTER), ("/return", INTEGRATOR)]
)
async def test_only_stock_keepers_lend_samples_inv_8(client, inventory, step, role):
    await stocked_tea(client)
    loan = ok(await client.post(f"{V1}/loans", json=LOAN, headers=keeper()), 201)
    before = await movements(inventory)
    path = f"{V1}/loans/{loan['loan_id']}{step}" if step else f"{V1}/loans"
    assert_forbidden(await client.post(path, json=LOAN if not step else None, headers=bearer(role)))
    assert await movements(inventory) == before
    assert ok(await client.get(f"{V1}/loans", headers=keeper())) == {"loans": [loan]}


# --- counts and the daily close: bad input and roles --------------------------------------------

PLAN = {"request_id": "c-x", "kind": "cycle", "planned_for": A_MONDAY, "sku_codes": ["TEA-1"]}


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"kind": "weekly"}, 400, "kind"),
        ({"kind": MISSING}, 400, "kind"),
        ({"kind": 1}, 400, "kind"),
        ({"planned_for": "next monday"}, 400, "planned_for"),
        ({"planned_for": 20300107}, 400, "planned_for"),
        ({"planned_for": "2030-02-30"}, 400, "planned_for"),
        ({"planned_for": MISSING}, 400, "planned_for"),
        ({"sku_codes": "TEA-1"}, 400, "sku_codes"),
        ({"sku_codes": [1]}, 400, "sku_codes[0]"),
        ({"sku_codes": []}, 400, "sku_codes"),  # a cycle count names its SKUs
        ({"sku_codes": ["NOPE"]}, 404, "sku_codes[0]"),
        ({"kind": "full", "sku_codes": []}, 400, "planned_for"),  # a full count falls on a Friday
        ({"kind": "full", "planned_for": NEXT_FRIDAY}, 400, "sku_codes"),  # and covers everything
        ({"warehouse_code": "NOWHERE"}, 404, "warehouse_code"),
        (BLANK_ID, 400, "request_id"),
    ],
)
async def test_bad_count_plan_is_refused_naming_the_field_inv_13(client, inventory, overrides, status, field):
    await register(client, "TEA-1", category="tea")
    await receive(client, "TEA-1", 10, "in-1")
    response = await client.post(f"{V1}/counts", json=with_overrides(PLAN, overrides), headers=boss())
    assert_error(response, status, field)
    assert await rows(inventory, counts) == 0


@pytest.mark.parametrize(
    ("step", "body", "status", "field"),
    [
        ("lines", {"lines": [{"line_no": 1, "counted": "9"}]}, 400, "lines[0].counted"),
        pytest.param("lines", {"lines": [{"line_no": 1}]}, 400, "lines[0].counted"),
        ("lines", {"lines": [{"line_no": 1, "counted": -1}]}, 400, "lines[0].counted"),
        ("lines", {"lines": [{"line_no": 1, "counted": 9, "damaged": 10}]}, 400, "lines[0].damaged"),
        ("lines", {"lines": [{"line_no": 99, "counted": 9}]}, 400, "lines[0].line_no"),
        ("lines", {"lines": [{"line_no": "1", "counted": 9}]}, 400, "lines[0].line_no"),
        ("lines", {"lines": []}, 400, "lines"),
        ("lines", {"lines": [{"line_no": 1, "counted": 9, "lot_id": "x"}]}, 400, "lines[0].lot_id"),
        ("approve", {"request_id": "a", "damaged_disposition": "burn"}, 400, "damaged_disposition"),
        ("approve", {"request_id": "a", "reason": 5}, 400, "reason"),
        (
            "approve",
            {"request_id": "a", "reason": "x", "responsible_person": "Li"},
            422,
            "lines",
        ),  # uncounted
        ("approve", BLANK_ID, 400, "request_id"),
    ],
)
async def test_bad_count_step_is_refused_naming_the_field_inv_13(
    client, inventory, step, body, status, field
):
    await register(client, "TEA-1", category="tea")
    await receive(client, "TEA-1", 10, "in-1")
    planned = ok(await client.post(f"{V1}/counts", json=PLAN, headers=boss()), 201)
    before = await movements(inventory)
    role = KEEPER if step == "lines" else SUPERVISOR
    response = await client.post(f"{V1}/counts/{planned['count_id']}/{step}", json=body, headers=bearer(role))
    assert_error(response, status, field)
    assert ok(await client.get(f"{V1}/counts/{planned['count_id']}", headers=keeper())) == planned
    assert await movements(inventory) == before


@pytest.mark.parametrize("count_id", [str(uuid.UUID(int=4)), "C-404"])
@pytest.mark.parametrize(
    ("method", "step", "body", "role"),
    [
        ("get", "", None, INTEGRATOR),
        ("post", "/lines", {"lines": [{"line_no": 1, "counted": 1}]}, KEEPER),
        ("post", "/approve", {"request_id": "a"}, SUPERVISOR),
    ],
)
async def test_unknown_count_is_404(client, count_id, method, step, body, role):
    response = await client.request(method, f"{V1}/counts/{count_id}{step}", json=body, headers=bearer(role))
    assert_error(response, 404, "count_id")


@pytest.mark.parametrize(
    ("step", "body", "role"),
    [
        ("", PLAN, INTEGRATOR),
        ("", PLAN, QC),
        ("/lines", {"lines": [{"line_no": 1, "counted": 9}]}, SUPERVISOR),
        ("/lines", {"lines": [{"line_no": 1, "counted": 9}]}, INTEGRATOR),
        ("/approve", {"request_id": "a", "reason": "x", "responsible_person": "Li"}, KEEPER),
        ("/approve", {"request_id": "a", "reason": "x", "responsible_person": "Li"}, "supervisor"),
    ],
)
async def test_each_count_step_needs_its_role_inv_13(client, inventory, step, body, role):
    """INV-13: stock keepers count; only the warehouse supervisor approves the adjustment."""
    await register(client, "TEA-1", category="tea")
    await receive(client, "TEA-1", 10, "in-1")
    planned = ok(await client.post(f"{V1}/counts", json={**PLAN, "request_id": "c-1"}, headers=boss()), 201)
    ok(
        await client.post(
            f"{V1}/counts/{planned['count_id']}/lines",
            json={"lines": [{"line_no": 1, "counted": 8}]},
            headers=keeper(),
        )
    )
    counted = ok(await client.get(f"{V1}/counts/{planned['count_id']}", headers=keeper()))
    before = await movements(inventory)
    path = f"{V1}/counts/{planned['count_id']}{step}" if step else f"{V1}/counts"
    assert_forbidden(await client.post(path, json=body, headers=bearer(role)))
    assert await movements(inventory) == before
    assert ok(await client.get(f"{V1}/counts/{planned['count_id']}", headers=keeper())) == counted
    assert await rows(inventory, counts) == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "business_date"),
        ({"business_date": "yesterday"}, 400, "business_date"),
        ({"business_date": 20300101}, 400, "business_date"),
        ({"business_date": None}, 400, "business_date"),
        ({"business_date": "2030-02-30"}, 400, "business_date"),
        ({"business_date": TODAY.isoformat(), "force": True}, 400, "force"),
    ],
)
async def test_bad_day_close_is_refused_naming_the_field_inv_14(client, inventory, body, status, field):
    assert_error(await client.post(f"{V1}/day-closes", json=body, headers=boss()), status, field)
    assert await rows(inventory, day_closes) == 0


@pytest.mark.parametrize("month", ["2030-13", "2030-1", "2030-00", "", "May", None])
async def test_bad_month_of_the_archive_is_refused_inv_14(client, month):
    params = {"month": month} if month is not None else {}
    response = await client.get(f"{V1}/day-closes", params=params, headers=keeper())
    assert_error(response, 400, "month")


@pytest.mark.parametrize("role", [KEEPER, BUYER, "supervisor"])
async def test_only_the_warehouse_supervisor_closes_the_day_inv_14(client, inventory, role):
    response = await client.post(
        f"{V1}/day-closes", json={"business_date": TODAY.isoformat()}, headers=bearer(role)
    )
    assert_forbidden(response)
    assert await rows(inventory, day_closes) == 0


# --- replenishment, packing materials and suppliers: bad input and roles ------------------------

POLICY = {"low_cover_days": 3, "order_days": 10}
USE = {"request_id": "u-x", "sku_code": "BOX-S", "quantity": 5}
SUPPLIER = {"supplier_code": "SUP-9", "name": "Ningbo Knit", "kind": "sporadic"}
RETURN = {"request_id": "rt-x", "supplier_code": "SUP-1", "lines": [{"sku_code": "TEE-R", "quantity": 1}]}


async def policies(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = ok(
        await client.get(f"{V1}/replenishment-policies", headers=bearer(BUYER))
    )["policies"]
    return listed


@pytest.mark.parametrize(
    ("category", "overrides", "status", "field"),
    [
        ("apparel", {"low_cover_days": 0}, 400, "policy.low_cover_days"),
        ("apparel", {"low_cover_days": 366}, 400, "policy.low_cover_days"),
        ("apparel", {"low_cover_days": "3"}, 400, "policy.low_cover_days"),
        ("apparel", {"low_cover_days": 2**31}, 400, "policy.low_cover_days"),
        ("apparel", {"order_days": MISSING}, 400, "policy.order_days"),
        ("apparel", {"order_days": 1.5}, 400, "policy.order_days"),
        ("apparel", {"fast_daily_units": 50}, 400, "policy.fast_order_days"),
        ("apparel", {"fast_order_days": 2}, 400, "policy.fast_daily_units"),
        ("apparel", {"category": "shoes"}, 400, "policy.category"),  # the category is the path's
        ("x" * 101, {}, 400, "policy.category"),
    ],
)
async def test_bad_replenishment_policy_is_refused_naming_the_field_inv_15(
    client, category, overrides, status, field
):
    before = await policies(client)
    response = await client.put(
        f"{V1}/replenishment-policies/{category}",
        json=with_overrides(POLICY, overrides),
        headers=bearer(BUYER),
    )
    assert_error(response, status, field)
    assert response.json()["error"]["message"].startswith(f"{field}: ")  # the field's path in the request
    assert await policies(client) == before


@pytest.mark.parametrize("role", [KEEPER, INTEGRATOR, "supervisor"])
async def test_setting_a_policy_needs_purchasing_or_the_warehouse_supervisor_inv_15(client, role):
    before = await policies(client)
    assert_forbidden(
        await client.put(f"{V1}/replenishment-policies/apparel", json=POLICY, headers=bearer(role))
    )
    assert await policies(client) == before


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"business_date": "tomorrow"}, 400, "business_date"),
        ({"business_date": 20300101}, 400, "business_date"),
        ({"business_date": "2030-02-30"}, 400, "business_date"),
        ({"date": TOMORROW}, 400, "date"),
    ],
)
async def test_bad_replenishment_plan_is_refused_naming_the_field_inv_15(client, body, status, field):
    response = await client.post(f"{V1}/replenishment-plans", json=body, headers=bearer(BUYER))
    assert_error(response, status, field)


@pytest.mark.parametrize("plan_id", [str(uuid.UUID(int=6)), "P-404"])
async def test_unknown_replenishment_plan_is_404(client, plan_id):
    response = await client.post(f"{V1}/replenishment-plans/{plan_id}/approve", headers=bearer(BUYER))
    assert_error(response, 404, "plan_id")


@pytest.mark.parametrize("role", [KEEPER, INTEGRATOR])
async def test_planning_needs_purchasing_or_the_warehouse_supervisor_inv_15(client, role):
    assert_forbidden(await client.post(f"{V1}/replenishment-plans", json={}, headers=bearer(role)))


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"sku_code": "TEE-R"}, 400, "sku_code"),  # sellable, not a packing material
        ({"sku_code": "NOPE"}, 404, "sku_code"),
        ({"quantity": 0}, 400, "quantity"),
        ({"quantity": "5"}, 400, "quantity"),
        ({"quantity": 61}, 422, "quantity"),  # 60 on hand
        ({"warehouse_code": "NOWHERE"}, 404, "warehouse_code"),
        (BLANK_ID, 400, "request_id"),
        ({"bin_code": "A-01"}, 400, "bin_code"),
    ],
)
async def test_bad_packing_use_is_refused_naming_the_field_inv_16(
    client, inventory, overrides, status, field
):
    await register(client, "BOX-S", category="packing", kind="packing_material")
    await receive(client, "BOX-S", 60, "in-1")
    await register(client, "TEE-R", "TEE")
    await receive(client, "TEE-R", 5, "in-2")
    before = await movements(inventory)
    response = await client.post(f"{V1}/packing-uses", json=with_overrides(USE, overrides), headers=keeper())
    assert_error(response, status, field)
    assert await movements(inventory) == before


@pytest.mark.parametrize("role", [INTEGRATOR, SUPERVISOR, BUYER])
async def test_packing_use_needs_a_keeper_or_logistics_clerk_inv_16(client, inventory, role):
    await register(client, "BOX-S", category="packing", kind="packing_material")
    await receive(client, "BOX-S", 60, "in-1")
    before = await movements(inventory)
    assert_forbidden(await client.post(f"{V1}/packing-uses", json=USE, headers=bearer(role)))
    assert await movements(inventory) == before


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"kind": "wholesaler"}, 400, "kind"),
        ({"kind": MISSING}, 400, "kind"),
        ({"name": MISSING}, 400, "name"),
        ({"name": " "}, 400, "name"),
        ({"supplier_code": " "}, 400, "supplier_code"),
        ({"supplier_code": "S" * 65}, 400, "supplier_code"),
        ({"supplier_code": ["SUP-9"]}, 400, "supplier_code"),
        ({"supplier_code": "SUP-1"}, 409, "supplier_code"),  # registered
        (BLANK_ID, 400, "request_id"),
    ],
)
async def test_bad_supplier_is_refused_naming_the_field_inv_17(client, inventory, overrides, status, field):
    ok(
        await client.post(
            f"{V1}/suppliers", json={**SUPPLIER, "supplier_code": "SUP-1"}, headers=bearer(BUYER)
        ),
        201,
    )
    response = await client.post(
        f"{V1}/suppliers", json=with_overrides(SUPPLIER, overrides), headers=bearer(BUYER)
    )
    assert_error(response, status, field)
    assert await rows(inventory, suppliers) == 1


@pytest.mark.parametrize("role", [KEEPER, SUPERVISOR])
async def test_only_purchasing_registers_suppliers_inv_17(client, inventory, role):
    assert_forbidden(await client.post(f"{V1}/suppliers", json=SUPPLIER, headers=bearer(role)))
    assert await rows(inventory, suppliers) == 0


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"supplier_code": "NOPE"}, 404, "supplier_code"),
        ({"supplier_code": " "}, 400, "supplier_code"),
        ({"supplier_code": MISSING}, 400, "supplier_code"),
        ({"lines": [{"sku_code": "TEE-R", "quantity": 0}]}, 400, "lines[0].quantity"),
        ({"lines": [{"sku_code": "TEE-R", "quantity": "1"}]}, 400, "lines[0].quantity"),
        ({"lines": []}, 400, "lines"),
        ({"lines": [{"sku_code": "NOPE", "quantity": 1}]}, 404, "lines[0].sku_code"),
        ({}, 422, "lines[0].quantity"),  # nothing defective from SUP-1
        (BLANK_ID, 400, "request_id"),
    ],
)
async def test_bad_supplier_return_is_refused_naming_the_field_inv_17(
    client, inventory, overrides, status, field
):
    ok(
        await client.post(
            f"{V1}/suppliers", json={**SUPPLIER, "supplier_code": "SUP-1"}, headers=bearer(BUYER)
        ),
        201,
    )
    await register(client, "TEE-R", "TEE")
    await receive(client, "TEE-R", 5, "in-1")
    before = await movements(inventory)
    response = await client.post(
        f"{V1}/supplier-returns", json=with_overrides(RETURN, overrides), headers=keeper()
    )
    assert_error(response, status, field)
    assert await movements(inventory) == before
    assert await rows(inventory, supplier_returns) == 0


@pytest.mark.parametrize("role", [BUYER, SUPERVISOR])
async def test_only_stock_keepers_return_to_suppliers_inv_17(client, inventory, role):
    ok(
        await client.post(
            f"{V1}/suppliers", json={**SUPPLIER, "supplier_code": "SUP-1"}, headers=bearer(BUYER)
        ),
        201,
    )
    assert_forbidden(await client.post(f"{V1}/supplier-returns", json=RETURN, headers=bearer(role)))
    assert await rows(inventory, supplier_returns) == 0


@pytest.mark.parametrize("month", ["2030-13", "2030-1", "", None])
async def test_bad_month_of_the_defective_report_is_refused_inv_17(client, month):
    params = {"month": month} if month is not None else {}
    response = await client.get(f"{V1}/defective-stock/month-end", params=params, headers=bearer(BUYER))
    assert_error(response, 400, "month")


# --- all routes ---------------------------------------------------------------------------------

SOME_ID = str(uuid.UUID(int=1))
NEW_ROUTES = [
    ("post", "/receipts"),
    ("get", "/receipts/overdue"),
    ("get", f"/receipts/{SOME_ID}"),
    ("post", f"/receipts/{SOME_ID}/counts"),
    ("post", f"/receipts/{SOME_ID}/inspections"),
    ("post", f"/receipts/{SOME_ID}/signatures"),
    ("post", f"/receipts/{SOME_ID}/post"),
    ("get", "/new-styles"),
    ("post", "/new-styles/TEE/published"),
    ("post", "/transfers"),
    ("get", f"/transfers/{SOME_ID}"),
    ("post", f"/transfers/{SOME_ID}/ship"),
    ("post", f"/transfers/{SOME_ID}/receive"),
    ("post", f"/transfers/{SOME_ID}/cancel"),
    ("post", "/loans"),
    ("post", f"/loans/{SOME_ID}/extend"),
    ("post", f"/loans/{SOME_ID}/return"),
    ("get", "/loans"),
    ("post", "/counts"),
    ("get", f"/counts/{SOME_ID}"),
    ("post", f"/counts/{SOME_ID}/lines"),
    ("post", f"/counts/{SOME_ID}/approve"),
    ("post", "/day-closes"),
    ("get", "/day-closes"),
    ("get", "/replenishment-policies"),
    ("put", "/replenishment-policies/tea"),
    ("post", "/replenishment-plans"),
    ("post", f"/replenishment-plans/{SOME_ID}/approve"),
    ("post", "/packing-uses"),
    ("get", "/packing-alerts"),
    ("post", "/suppliers"),
    ("post", "/supplier-returns"),
    ("get", "/defective-stock"),
    ("get", "/defective-stock/month-end"),
]


@pytest.mark.parametrize(("method", "path"), NEW_ROUTES)
async def test_every_route_needs_a_token(client, method, path):
    response = await client.request(method, f"{V1}{path}", json={} if method != "get" else None)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_openapi_documents_the_routes_and_their_enums(client):
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for method, path in NEW_ROUTES:
        template = (
            f"{V1}{path}".replace(f"/receipts/{SOME_ID}", "/receipts/{receipt_id}")
            .replace(f"/transfers/{SOME_ID}", "/transfers/{transfer_id}")
            .replace(f"/loans/{SOME_ID}", "/loans/{loan_id}")
            .replace(f"/counts/{SOME_ID}", "/counts/{count_id}")
            .replace(f"/replenishment-plans/{SOME_ID}", "/replenishment-plans/{plan_id}")
            .replace("/new-styles/TEE/", "/new-styles/{style_number}/")
            .replace("/replenishment-policies/tea", "/replenishment-policies/{policy.category}")
        )
        assert method in paths[template], template

    def enum(method: str, path: str, *keys: str, status: str = "") -> list[str]:
        values: list[str] = schema_at(spec, method, f"{V1}{path}", *keys, status=status)["enum"]
        return values

    receipt = "/receipts/{receipt_id}"
    assert enum("get", receipt, "status", status="200") == ["open", "posted", "rejected"]
    assert "partly_accepted" in enum("get", receipt, "lines", "[]", "verdict", status="200")
    assert enum("post", f"{receipt}/inspections", "results", "[]", "round") == ["round_1", "round_2", "full"]
    role = schema_at(spec, "post", f"{V1}{receipt}/signatures", "role")
    assert role["type"] == "string" and KEEPER in role["description"] and SUPERVISOR in role["description"]
    assert enum("get", "/transfers/{transfer_id}", "status", status="200") == [
        "requested",
        "in_transit",
        "received",
        "cancelled",
    ]
    assert enum("post", "/counts", "kind") == ["cycle", "full"]
    assert enum("post", "/counts/{count_id}/approve", "damaged_disposition") == [
        "defective_warehouse",
        "scrap",
    ]
    assert enum("post", "/suppliers", "kind") == ["manufacturer", "sporadic"]
    reason = schema_at(spec, "get", f"{V1}/packing-alerts", "alerts", "[]", "reason", status="200")
    assert "low_cover" in reason["description"] and "promotion" in reason["description"]
    assert "YYYY-MM-DD" in schema_at(spec, "post", f"{V1}/counts", "planned_for")["description"]
    assert schema_at(spec, "post", f"{V1}{receipt}/counts", "counts", "[]", "line_no")["format"] == "int32"
    assert schema_at(spec, "post", f"{V1}/receipts")["additionalProperties"] is False


# --- request ids (AIP-155) ----------------------------------------------------------------------


def without_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "request_id"}


async def nothing(client: httpx.AsyncClient) -> str:
    return ""


async def tea_and_a_second_warehouse(client: httpx.AsyncClient) -> str:
    await stocked_tea(client)
    return ""


async def tea_in_stock(client: httpx.AsyncClient) -> str:
    await register(client, "TEA-1", category="tea")
    await receive(client, "TEA-1", 10, "in-1")
    return ""


async def packing_in_stock(client: httpx.AsyncClient) -> str:
    await register(client, "BOX-S", category="packing", kind="packing_material")
    await receive(client, "BOX-S", 60, "in-1")
    return ""


async def sku_registered(client: httpx.AsyncClient) -> str:
    await register(client, "TEE-R", "TEE")
    return ""


async def counted_receipt(client: httpx.AsyncClient) -> str:
    """A delivery of 100 units, counted; its receipt id."""
    await register(client, "TEE-R", "TEE")
    rid: str = (await create_receipt(client, "DN-1", [("TEE-R", 100)]))["receipt_id"]
    await count_received(client, rid, 100)
    return rid


async def signed_receipt(client: httpx.AsyncClient) -> str:
    """A delivery of 100 units, counted, passed round 1 and signed by both; its receipt id."""
    rid = await counted_receipt(client)
    await inspect(client, rid, "qc-1", (1, "round_1", 10, 0))
    await sign_both(client, rid)
    return rid


async def requested_transfer(client: httpx.AsyncClient) -> str:
    await stocked_tea(client)
    transfer_id: str = ok(await client.post(f"{V1}/transfers", json=TRANSFER, headers=keeper()), 201)[
        "transfer_id"
    ]
    return transfer_id


async def counted_count(client: httpx.AsyncClient) -> str:
    """A cycle count of TEA-1 (10 on the book), counted 9; its count id."""
    await tea_in_stock(client)
    count_id: str = ok(await client.post(f"{V1}/counts", json=PLAN, headers=boss()), 201)["count_id"]
    lines = {"lines": [{"line_no": 1, "counted": 9}]}
    ok(await client.post(f"{V1}/counts/{count_id}/lines", json=lines, headers=keeper()))
    return count_id


async def defective_from_sup_1(client: httpx.AsyncClient) -> str:
    ok(
        await client.post(
            f"{V1}/suppliers", json={**SUPPLIER, "supplier_code": "SUP-1"}, headers=bearer(BUYER)
        ),
        201,
    )
    await receive_with_defects(client, defective=4)
    return ""


Setup = Callable[[httpx.AsyncClient], Awaitable[str]]


@pytest.mark.parametrize(
    ("setup", "path", "body", "role", "status", "other", "again", "table"),
    [
        pytest.param(
            sku_registered,
            "/receipts",
            without_id(RECEIPT),
            KEEPER,
            201,
            {"delivery_note_number": "DN-Y"},
            (409, "delivery_note_number"),
            receipts,
            id="receipt",
        ),
        pytest.param(
            counted_receipt,
            "/receipts/{id}/inspections",
            {"results": [ROUND_1]},
            QC,
            200,
            {"results": [{**ROUND_1, "failed_units": 1}]},
            (422, "results[0].round"),  # round 1 is recorded: the line is accepted
            receipts,
            id="inspection",
        ),
        pytest.param(
            signed_receipt,
            "/receipts/{id}/post",
            {},
            KEEPER,
            200,
            f"/receipts/{uuid.UUID(int=5)}/post",
            (422, "receipt_id"),
            receipts,
            id="post",
        ),
        pytest.param(
            tea_and_a_second_warehouse,
            "/transfers",
            without_id(TRANSFER),
            KEEPER,
            201,
            {"lines": [{"sku_code": "TEA-1", "quantity": 3}]},
            None,
            transfers,
            id="transfer",
        ),
        pytest.param(
            requested_transfer,
            "/transfers/{id}/ship",
            {},
            KEEPER,
            200,
            f"/transfers/{uuid.UUID(int=9)}/ship",
            (422, "transfer_id"),
            transfers,
            id="ship",
        ),
        pytest.param(
            tea_and_a_second_warehouse,
            "/loans",
            without_id(LOAN),
            KEEPER,
            201,
            {"quantity": 3},
            None,
            loans,
            id="loan",
        ),
        pytest.param(
            tea_in_stock,
            "/counts",
            without_id(PLAN),
            SUPERVISOR,
            201,
            {"planned_for": NEXT_FRIDAY},
            None,
            counts,
            id="count",
        ),
        pytest.param(
            counted_count,
            "/counts/{id}/approve",
            {"reason": "one unit missing", "responsible_person": "Li Wei"},
            SUPERVISOR,
            200,
            {"reason": "two units missing"},
            (422, "count_id"),  # the count is posted
            counts,
            id="count approval",
        ),
        pytest.param(
            packing_in_stock,
            "/packing-uses",
            without_id(USE),
            KEEPER,
            201,
            {"quantity": 6},
            None,
            stock_movements,
            id="packing use",
        ),
        pytest.param(
            nothing,
            "/suppliers",
            SUPPLIER,
            BUYER,
            201,
            {"name": "Other Knit"},
            (409, "supplier_code"),
            suppliers,
            id="supplier",
        ),
        pytest.param(
            defective_from_sup_1,
            "/supplier-returns",
            without_id(RETURN),
            KEEPER,
            201,
            {"lines": [{"sku_code": "TEE-R", "quantity": 2}]},
            None,  # one unit each time, of 4 defective
            supplier_returns,
            id="supplier return",
        ),
    ],
)
async def test_request_id_is_optional_aip_155(
    client, inventory, setup: Setup, path, body, role, status, other, again, table
):
    """Without a request_id a request is new each time; with one, a retry gets the first answer, and the
    same id with other content is 409 naming request_id. Nothing more is written by a retry or a refusal."""
    subject = await setup(client)
    path = f"{V1}{path}".replace("{id}", subject)

    async def state() -> tuple[object, ...]:
        current = None
        if subject:
            current = ok(await client.get(path.split(subject)[0] + subject, headers=keeper()))
        return await movements(inventory), await rows(inventory, table), current

    await check_request_id_is_optional(
        client,
        path,
        body,
        bearer(role),
        status=status,
        state=state,
        other=other if isinstance(other, dict) else f"{V1}{other}",
        again=again,
    )
