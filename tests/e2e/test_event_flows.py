"""The event backbone's first consumers, through the gateway of the suite as `make run` runs it: real
processes, PostgreSQL and NATS JetStream. One trace follows an order across the asynchronous hop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from libs.spanstore import read_spans
from libs.traces import TraceTree, build_tree, service_edges
from tests.e2e.running import Shop, SuiteProcess, headers, start_suite, wait_outboxes_drained

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Iterator[SuiteProcess]:
    running = start_suite(tmp_path_factory.mktemp("events") / "var")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def shop(suite) -> Shop:
    return Shop(suite.gateway)


def wait_for_edges(
    suite: SuiteProcess, trace_id: str, edges: set[tuple[str, str]], timeout: float = 15
) -> TraceTree:
    deadline = time.monotonic() + timeout
    while True:
        tree = build_tree(trace_id, [s for s in read_spans(suite.var / "spans") if s.trace_id == trace_id])
        if (edges <= service_edges(tree) and not tree.orphans) or time.monotonic() > deadline:
            return tree
        time.sleep(0.2)


def test_an_order_held_for_short_stock_is_reviewed_after_a_receipt_in_one_trace_ord_2(suite, shop):
    """ORD-2 end to end: the order waits in the exception queue for short stock; a receipt is posted;
    inventory publishes StockAvailable through JetStream; orders reviews the order again by itself; and
    one trace covers gateway -> inventory -> (JetStream) -> orders -> inventory."""
    shop.sku("E2E-TEA")
    shop.receive("E2E-TEA", 1, "e2e-in-1")
    order_id = shop.order("E2E-HELD-1", "E2E-TEA", 2)
    [outcome] = shop.review(order_id)
    assert (outcome["status"], outcome["hold_category"]) == ("on_hold", "short_stock")

    receipt = shop.receive("E2E-TEA", 5, "e2e-in-2")
    trace_id = receipt.headers["X-Trace-Id"]
    reviewed = shop.wait_order(order_id, "reviewed")
    assert reviewed["reservation_state"] == "reserved"
    assert ("service:orders", "reviewed") in [(e["actor"], e["event"]) for e in reviewed["timeline"]]

    expected = {("gateway", "inventory"), ("inventory", "orders"), ("orders", "inventory")}
    tree = wait_for_edges(suite, trace_id, expected)
    assert tree.orphans == [] and len(tree.roots) == 1
    assert service_edges(tree) == expected
    spans = {s.span_id: s for _, s in tree.walk()}
    [consumer] = [s for s in spans.values() if s.kind == "CONSUMER"]
    producer = spans[consumer.parent_span_id or ""]
    assert (producer.service, producer.kind, consumer.service) == ("inventory", "PRODUCER", "orders")
    assert consumer.name == "process shop.inventory.v1.stock_available"
    assert any(s.attributes.get("shop.order_id") == order_id for s in spans.values() if s.service == "orders")


def test_a_large_promotion_alerts_the_warehouse_for_packing_materials_inv_16(suite, shop):
    promoter = headers("promoter", "promo-1")
    starts = datetime.now(UTC) + timedelta(days=9)
    body = {
        "promotion_id": "E2E-618", "name": "Mid-year sale", "kind": "percentage", "rate_bp": 8000,
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(days=2)).isoformat(), "large": True,
    }  # fmt: skip
    shop.ok(shop.http.post("/v1/promotions", json=body, headers=promoter))
    deadline = time.monotonic() + 15
    alerts = shop.ok(shop.http.get("/v1/inventory/packing-alerts", headers=shop.boss))
    while not alerts["promotions"] and time.monotonic() < deadline:
        time.sleep(0.2)
        alerts = shop.ok(shop.http.get("/v1/inventory/packing-alerts", headers=shop.boss))
    assert [p["promotion_id"] for p in alerts["promotions"]] == ["E2E-618"]
    moved = shop.ok(
        shop.http.post(
            "/v1/promotions/E2E-618/reschedule",
            json={"request_id": "mv", "starts_at": (starts + timedelta(days=1)).isoformat(),
                  "ends_at": (starts + timedelta(days=3)).isoformat()},
            headers=promoter,
        )
    )  # fmt: skip
    assert moved["revision"] == 2
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alerts = shop.ok(shop.http.get("/v1/inventory/packing-alerts", headers=shop.boss))
        if alerts["promotions"][0]["starts_at"] == moved["starts_at"]:
            break
        time.sleep(0.2)
    assert alerts["promotions"][0]["starts_at"] == moved["starts_at"]


def test_a_count_short_of_what_is_reserved_posts_and_the_order_waits_for_stock_inv_13(suite, shop):
    """INV-13: 10 on the books, 8 reserved for an order, 5 counted. The supervisor's approval posts the
    count and cuts the reservation; the order goes on hold for short stock with the reason, and is
    reviewed again by itself when stock arrives."""
    shop.sku("E2E-CUP")
    shop.receive("E2E-CUP", 10, "e2e-cup-in")
    order_id = shop.order("E2E-CUT-1", "E2E-CUP", 8)
    assert shop.review(order_id)[0]["status"] == "reviewed"
    today = datetime.now(UTC).date().isoformat()
    count = shop.ok(
        shop.http.post(
            "/v1/inventory/counts",
            json={"request_id": "e2e-cc", "kind": "cycle", "planned_for": today, "sku_codes": ["E2E-CUP"]},
            headers=shop.boss,
        )
    )
    [line] = count["lines"]
    shop.ok(
        shop.http.post(
            f"/v1/inventory/counts/{count['count_id']}/lines",
            json={"lines": [{"line_no": line["line_no"], "counted": 5}]},
            headers=shop.keeper,
        )
    )
    posted = shop.ok(
        shop.http.post(
            f"/v1/inventory/counts/{count['count_id']}/approve",
            json={"request_id": "e2e-cc-ok", "reason": "breakage", "responsible_person": "keeper-1"},
            headers=shop.boss,
        )
    )
    assert posted["posted"] and posted["cut_order_ids"] == [order_id]
    held = shop.wait_order(order_id, "on_hold")
    assert held["hold_category"] == "short_stock" and "E2E-CUP" in held["hold_reason"]
    shop.receive("E2E-CUP", 3, "e2e-cup-in-2")
    assert shop.wait_order(order_id, "reviewed")["reservation_state"] == "reserved"


def test_dead_letters_are_for_sres_and_the_outboxes_drain(suite, shop):
    sre = headers("sre", "sre-1")
    listing = shop.ok(shop.http.get("/v1/ops/dead-letters", headers=sre))
    assert listing == {"dead_letters": [], "next_page_tokens": {}, "unreachable": {}}
    assert shop.http.get("/v1/ops/dead-letters", headers=shop.boss).status_code == 403
    missing = shop.http.post("/v1/ops/dead-letters/orders/999/replay", headers=sre)
    assert missing.status_code == 404 and missing.json()["error"]["fields"][0]["field"] == "sequence"
    bad = shop.http.get("/v1/ops/dead-letters", params={"page_token": "5"}, headers=sre)
    assert bad.status_code == 400 and bad.json()["error"]["fields"][0]["field"] == "page_token"
    wait_outboxes_drained(suite)
