"""The warehouse floor end to end through the gateway of the suite as `make run` runs it (LOG-1 .. LOG-6):
intake -> review -> release -> wave -> pick -> verify -> pack and weigh -> dispatch -> delivered. The
inventory ledger issues the picked lot, the order is shipped and then delivered with every step on its
timeline, and the dispatch's one trace spans gateway, logistics, inventory and orders across JetStream."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from libs.traces import service_edges
from tests.e2e.running import Shop, SuiteProcess, headers, start_suite
from tests.e2e.test_event_flows import wait_for_edges

pytestmark = pytest.mark.e2e

CLERK = headers("logistics_clerk", "clerk-1")
VERIFIER = headers("verifier", "verifier-1")
PACKER = headers("packer", "packer-1")
CARRIER_FEED = headers("integrator", "sf-tracking")


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Iterator[SuiteProcess]:
    running = start_suite(tmp_path_factory.mktemp("floor") / "var")
    try:
        yield running
    finally:
        running.stop()


def wait_for(fetch: Any, ready: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    value = fetch()
    while not ready(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = fetch()
    assert ready(value), value
    return value


def test_a_released_order_is_picked_verified_packed_dispatched_and_delivered_log_1_to_log_6(suite):
    shop = Shop(suite.gateway)
    http = shop.http
    sf = {
        "name": "顺丰速运",
        "zones": [{"zone": 1, "provinces": ["Zhejiang"], "promised_days": 1,
                   "first_weight_price_fen": 1200, "additional_kg_price_fen": 200}],
    }  # fmt: skip
    shop.ok(http.put("/v1/logistics/carriers/sf", json=sf, headers=CLERK))
    shop.sku("E2E-LJ")
    lot = shop.ok(shop.receive("E2E-LJ", 5, "e2e-floor-in"))["lot"]
    order_id = shop.order("E2E-FLOOR-1", "E2E-LJ", 2)
    assert shop.review(order_id)[0]["status"] == "reviewed"
    released = shop.ok(http.post("/v1/order-releases", json={"order_ids": [order_id]}, headers=shop.lead))
    assert released[0]["status"] == "released"

    # LOG-1: the release event reaches logistics, which puts the order's shipment in its wave.
    found = wait_for(
        lambda: shop.ok(http.get("/v1/logistics/shipments", params={"order_id": order_id}, headers=CLERK)),
        lambda reply: len(reply["shipments"]) == 1,
    )
    shipment = found["shipments"][0]
    assert (shipment["status"], shipment["carrier_code"]) == ("waiting", "sf")
    wave = shop.ok(http.post(f"/v1/logistics/waves/{shipment['wave_id']}:close", json={}, headers=CLERK))
    assert wave["wave"]["status"] == "closed"

    # LOG-2: the pick list names the lot the stock will be issued from.
    picks = shop.ok(http.get(f"/v1/logistics/waves/{shipment['wave_id']}/pick-list", headers=CLERK))
    assert [(line["lot_label"], line["quantity"]) for line in picks["lines"]] == [(lot["label_id"], 2)]
    parcel_id = picks["sort_list"][0]["parcel_id"]

    # LOG-3 and LOG-4: scanned, then packed and weighed into its zone.
    start = {"label_barcode": parcel_id, "packing_slip_barcode": parcel_id}
    shop.ok(http.post("/v1/logistics/verifications", json=start, headers=VERIFIER))
    for n in range(2):
        scan = {"barcode": lot["label_id"], "request_id": f"e2e-scan-{n}"}
        scanned = shop.ok(http.post(f"/v1/logistics/parcels/{parcel_id}/scans", json=scan, headers=VERIFIER))
    assert scanned["parcel"]["status"] == "verified"
    pack = {"weight_grams": 900}
    packed = shop.ok(http.post(f"/v1/logistics/parcels/{parcel_id}:pack", json=pack, headers=PACKER))[
        "parcel"
    ]
    assert (packed["status"], packed["zone"], packed["freight_fen"]) == ("packed", 1, 1200)

    # LOG-5: dispatch issues the picked lot at inventory and ships the order, in one trace.
    dispatch = http.post(
        f"/v1/logistics/parcels/{parcel_id}:dispatch", json={"tracking_number": "SF100200300"}, headers=CLERK
    )
    shop.ok(dispatch)
    trace_id = dispatch.headers["X-Trace-Id"]
    shipped = shop.wait_order(order_id, "shipped")
    assert ("service:logistics", "shipped") in [(e["actor"], e["event"]) for e in shipped["timeline"]]
    reservation = wait_for(
        lambda: shop.ok(http.get(f"/v1/inventory/reservations/{order_id}", headers=shop.boss)),
        lambda r: r["status"] == "issued",
    )
    assert reservation["lines"][0]["issued"] == 2
    lots = shop.ok(http.get("/v1/inventory/skus/E2E-LJ/lots", headers=shop.keeper))
    assert [(x["lot_id"], x["on_hand"]) for x in lots["lots"]] == [(lot["lot_id"], 3)]
    expected = {("gateway", "logistics"), ("logistics", "inventory"), ("logistics", "orders")}
    tree = wait_for_edges(suite, trace_id, expected)
    assert tree.orphans == [] and len(tree.roots) == 1
    assert expected <= service_edges(tree)

    # LOG-6: the carrier's feed reports delivery; the order is delivered.
    now = datetime.now(UTC).isoformat()
    feed = {"events": [
        {"event_id": "sf-ev-1", "tracking_number": "SF100200300", "state": "picked_up", "at": now, "location": "Hangzhou"},
        {"event_id": "sf-ev-2", "tracking_number": "SF100200300", "state": "delivered", "at": now, "location": "Xihu"},
    ]}  # fmt: skip
    recorded = shop.ok(http.post("/v1/logistics/tracking-events", json=feed, headers=CARRIER_FEED))
    assert recorded["delivered"] == ["SF100200300"]
    delivered = shop.wait_order(order_id, "delivered")
    assert [e["to_status"] for e in delivered["timeline"] if e["to_status"]][-3:] == [
        "released",
        "shipped",
        "delivered",
    ]
