"""The warehouse floor under faults, in the suite as `make run` runs it (LOG-1, LOG-2, LOG-5): the logistics
process killed during a wave's close and during a dispatch, and the inventory service stopped while a
dispatch event waits for it. After the restarts every wave is closed once, every dispatched parcel's stock
is issued once and every order is shipped."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.running import Shop, SuiteProcess, start_suite
from tests.e2e.test_warehouse_floor import CLERK, PACKER, VERIFIER, wait_for

pytestmark = pytest.mark.e2e

ORDERS = 120
SKU = "E2E-CRASH-TEA"


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Iterator[SuiteProcess]:
    running = start_suite(tmp_path_factory.mktemp("floor-crash") / "var")
    try:
        yield running
    finally:
        running.stop()


def count(suite: SuiteProcess, service: str, sql: str, *args: object) -> int:
    with psycopg.connect(suite.db_url(service)) as conn:
        row = conn.execute(sql, args).fetchone()
        return int(row[0]) if row else 0


# (service, table, column, parent table with that column as its key)
ORPHAN_CHECKS = (
    ("logistics", "shipments", "wave_id", "waves"),
    ("logistics", "shipment_lines", "shipment_id", "shipments"),
    ("logistics", "shipment_picks", "shipment_id", "shipments"),
    ("logistics", "parcels", "wave_id", "waves"),
    ("inventory", "pick_allocations", "lot_id", "lots"),
    ("inventory", "pick_allocations", "order_id", "reservations"),
)


def in_background(call: Any) -> threading.Thread:
    """Runs ``call`` on a thread, swallowing the error the killed process causes."""

    def run() -> None:
        with contextlib.suppress(httpx.HTTPError):
            call()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def released_orders(shop: Shop, n: int) -> list[str]:
    """``n`` paid one-tin orders of different buyers, reviewed and released."""
    ids = []
    for i in range(n):
        body = {
            "channel": "tmall", "channel_order_id": f"E2E-CR-{i}", "shop_code": "tmall-flagship",
            "buyer_id": f"crash-buyer-{i}",
            "address": {"recipient": f"Buyer {i}", "phone": "13812345678", "province": "Zhejiang",
                        "city": "Hangzhou", "district": "Xihu", "street": f"{i} Longjing Road"},
            "lines": [{"sku_code": SKU, "quantity": 1, "unit_price_fen": 1000}],
            "payment": {"amount_fen": 1000, "paid_at": "2026-11-23T08:00:00Z", "reference": f"E2E-CR-{i}"},
        }  # fmt: skip
        ids.append(str(shop.ok(shop.http.post("/v1/orders", json=body, headers=shop.shop))["order_id"]))
    for start in range(0, n, 100):
        batch = ids[start : start + 100]
        assert {o["status"] for o in shop.review(*batch)} == {"reviewed"}
        released = shop.ok(shop.http.post("/v1/order-releases", json={"order_ids": batch}, headers=shop.lead))
        assert {o["status"] for o in released} == {"released"}
    return ids


def pack(shop: Shop, parcel_id: str) -> None:
    start = {"label_barcode": parcel_id, "packing_slip_barcode": parcel_id}
    shop.ok(shop.http.post("/v1/logistics/verifications", json=start, headers=VERIFIER))
    scan = {"barcode": SKU, "request_id": f"scan-{parcel_id}"}
    shop.ok(shop.http.post(f"/v1/logistics/parcels/{parcel_id}/scans", json=scan, headers=VERIFIER))
    shop.ok(
        shop.http.post(f"/v1/logistics/parcels/{parcel_id}:pack", json={"weight_grams": 500}, headers=PACKER)
    )


def test_killed_during_a_wave_close_and_a_dispatch_and_inventory_stopped_everything_happens_once(suite):
    shop = Shop(suite.gateway)
    sf = {"name": "顺丰速运", "zones": [{"zone": 1, "provinces": ["Zhejiang"], "promised_days": 1,
                                       "first_weight_price_fen": 1200, "additional_kg_price_fen": 200}]}  # fmt: skip
    shop.ok(shop.http.put("/v1/logistics/carriers/sf", json=sf, headers=CLERK))
    shop.sku(SKU)
    shop.receive(SKU, ORDERS + 10, "e2e-crash-in")
    order_ids = released_orders(shop, ORDERS)
    wait_for(lambda: count(suite, "logistics", "SELECT count(*) FROM shipments"), lambda n: n == ORDERS)
    wave_id = wait_for(
        lambda: shop.ok(
            shop.http.get("/v1/logistics/shipments", params={"order_id": order_ids[0]}, headers=CLERK)
        ),
        lambda r: len(r["shipments"]) == 1,
    )["shipments"][0]["wave_id"]

    # The logistics process dies while it closes the wave; the clerk closes it again after the restart.
    closing = in_background(
        lambda: shop.http.post(f"/v1/logistics/waves/{wave_id}:close", json={}, headers=CLERK)
    )
    time.sleep(0.05)
    suite.wait_restarted("logistics", suite.kill("logistics"))
    closing.join(timeout=30)
    suite.wait_healthy()
    wave = shop.ok(shop.http.post(f"/v1/logistics/waves/{wave_id}:close", json={}, headers=CLERK))["wave"]
    assert (wave["status"], wave["parcels"]) == ("closed", ORDERS)
    assert count(suite, "logistics", "SELECT count(*) FROM parcels") == ORDERS
    assert count(suite, "logistics", "SELECT count(*) FROM shipments WHERE parcel_id IS NULL") == 0
    assert count(suite, "logistics", "SELECT count(*) FROM shipment_picks") == ORDERS
    assert count(suite, "inventory", "SELECT count(*) FROM pick_allocations") == ORDERS

    parcels = shop.ok(shop.http.get(f"/v1/logistics/waves/{wave_id}", headers=CLERK))["parcels"]
    first, second = parcels[0]["parcel_id"], parcels[1]["parcel_id"]
    first_order, second_order = parcels[0]["shipments"][0]["order_id"], parcels[1]["shipments"][0]["order_id"]
    pack(shop, first)
    pack(shop, second)

    # Inventory is stopped while the first parcel leaves: the order ships, the stock waits for inventory.
    inventory = suite.kill("inventory", signal.SIGSTOP)
    try:
        shop.ok(shop.http.post(f"/v1/logistics/parcels/{first}:dispatch", json={"tracking_number": "SF900001"},
                               headers=CLERK))  # fmt: skip
        shop.wait_order(first_order, "shipped")
    finally:
        suite.kill("inventory", signal.SIGCONT)
    assert suite.pid("inventory") == inventory

    # The logistics process dies during the second dispatch; the clerk's retry dispatches it once.
    second_dispatch = f"/v1/logistics/parcels/{second}:dispatch"
    dispatching = in_background(
        lambda: shop.http.post(second_dispatch, json={"tracking_number": "SF900002"}, headers=CLERK)
    )
    time.sleep(0.02)
    suite.wait_restarted("logistics", suite.kill("logistics"))
    dispatching.join(timeout=30)
    suite.wait_healthy()
    again = shop.ok(shop.http.post(f"/v1/logistics/parcels/{second}:dispatch", json={"tracking_number": "SF900002"},
                                   headers=CLERK))  # fmt: skip
    assert (again["parcel"]["status"], again["parcel"]["tracking_number"]) == ("dispatched", "SF900002")
    shop.wait_order(second_order, "shipped")
    for order_id in (first_order, second_order):
        reservation = wait_for(
            lambda o=order_id: shop.ok(shop.http.get(f"/v1/inventory/reservations/{o}", headers=shop.boss)),
            lambda r: r["status"] == "issued",
        )
        assert reservation["lines"][0]["issued"] == 1
    assert count(suite, "logistics", "SELECT count(*) FROM outbox WHERE payload_type = %s",
                 "shop.logistics.v1.ParcelDispatched") == 2  # fmt: skip
    assert count(suite, "inventory", "SELECT count(*) FROM stock_movements WHERE kind = 'issue'") == 2
    for order_id in (first_order, second_order):
        timeline = shop.get_order(order_id)["timeline"]
        assert [e["to_status"] for e in timeline].count("shipped") == 1
    # The rows a release and a close write by the thousand carry no per-row key checks (they are written
    # under their parents' locks): after the crashes, none of them is without its parent.
    for service, table, column, parent in ORPHAN_CHECKS:
        assert count(suite, service, f"SELECT count(*) FROM {table} c WHERE NOT EXISTS "
                                     f"(SELECT FROM {parent} p WHERE p.{column} = c.{column})") == 0, (table, column)  # fmt: skip
