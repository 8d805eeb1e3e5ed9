"""The suite as `make run` starts it: real processes, real PostgreSQL, HTTP in, one trace across services.

Copies the idea of the OpenTelemetry demo's trace-edge test: drive a request, then assert the service
edges and parent links of the trace the processes exported, with no orphan spans.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from libs.config import SERVICE_PORTS
from libs.spanstore import StoredSpan, read_spans
from libs.traces import TraceTree, build_tree, service_edges, touches_order
from tests.conftest import REPO, token_for
from tests.e2e.running import SuiteProcess, start_suite

pytestmark = pytest.mark.e2e


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Iterator[SuiteProcess]:
    running = start_suite(tmp_path_factory.mktemp("suite-var"))
    try:
        yield running
    finally:
        running.stop()


def test_healthz_reports_every_service_serving(suite):
    body = httpx.get(suite.gateway + "/healthz", timeout=5).json()
    assert body["status"] == "SERVING"
    assert set(body["services"]) == {"gateway", *SERVICE_PORTS}
    assert set(body["services"].values()) == {"SERVING"}
    # The supervisor's view: every process of the embedded run, none restarted.
    assert set(body["processes"]) == {"postgres", "nats", "gateway", *SERVICE_PORTS}
    assert {p["restarts"] for p in body["processes"].values()} == {0}


def wait_for_trace(folder: Path, trace_id: str, *, timeout: float = 10.0) -> TraceTree:
    """The trace once it has spans of the gateway, inventory and the orders consumer, and SQL."""
    deadline = time.monotonic() + timeout
    tree = build_tree(trace_id, [])
    while time.monotonic() < deadline:
        spans = [s for s in read_spans(folder) if s.trace_id == trace_id]
        tree = build_tree(trace_id, spans)
        services = {s.service for s in spans}
        has_sql = any(s.attributes.get("db.system") == "postgresql" for s in spans)
        if {"gateway", "inventory", "orders"} <= services and has_sql and not tree.orphans:
            return tree
        time.sleep(0.2)
    return tree


def test_one_trace_covers_gateway_inventory_and_database(suite):
    keeper = {"Authorization": f"Bearer {token_for('stock_keeper', 'keeper-e2e')}"}
    sku = {
        "request_id": "e2e-sku",
        "sku_code": "E2E-1",
        "style_number": "E2E",
        "colour": "red",
        "size": "M",
        "name": "End-to-end tee",
        "category": "apparel",
        "barcode": "E2E-0000001",
    }
    assert httpx.post(suite.gateway + "/v1/inventory/skus", json=sku, headers=keeper).status_code == 201
    response = httpx.post(
        suite.gateway + "/v1/inventory/stock-receipts",
        json={"request_id": "e2e-in", "sku_code": "E2E-1", "quantity": 12},
        headers=keeper,
    )
    assert response.status_code == 201, response.text
    assert response.json()["level"]["on_hand"] == 12
    trace_id = response.headers["X-Trace-Id"]

    tree = wait_for_trace(suite.var / "spans", trace_id)
    assert tree.orphans == [], [n.span.name for n in tree.orphans]
    assert len(tree.roots) == 1
    root = tree.roots[0].span
    assert (root.service, root.kind) == ("gateway", "SERVER")
    # The receipt made stock available: its event crosses the broker to the orders service's consumer.
    assert service_edges(tree) == {("gateway", "inventory"), ("inventory", "orders")}

    [client] = [n for n in tree.roots[0].children if n.span.kind == "CLIENT"]
    assert client.span.service == "gateway"
    assert client.span.name.endswith("InventoryService/ReceiveStock")
    [server] = client.children
    assert (server.span.service, server.span.kind) == ("inventory", "SERVER")
    assert server.span.attributes.get("shop.sku") == "E2E-1"
    sql = [c.span for c in server.children if c.span.attributes.get("db.system") == "postgresql"]
    assert sql, [c.span.name for c in server.children]
    assert all(s.service == "inventory" for s in sql)

    shown = subprocess.run(
        [sys.executable, "-m", "libs.traces", trace_id, "--dir", str(suite.var / "spans")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert trace_id in shown
    assert "gateway" in shown
    assert "inventory" in shown
    assert "InventoryService/ReceiveStock" in shown


def test_error_responses_name_their_trace(suite):
    keeper = {"Authorization": f"Bearer {token_for('stock_keeper')}"}
    response = httpx.post(
        suite.gateway + "/v1/inventory/stock-receipts",
        json={"request_id": "e2e-bad", "sku_code": "NOPE", "quantity": 1},
        headers=keeper,
    )
    assert response.status_code == 404
    assert response.json()["error"]["trace_id"] == response.headers["X-Trace-Id"]


def test_an_orders_flow_is_found_by_its_id_over_gateway_orders_and_inventory(suite):
    """Intake through the gateway, then the automatic review with its reservation (ORD-2): the intake is
    one trace over gateway -> orders, the review batch one over orders -> inventory, and both are found
    by the order's id as `make trace ORDER=<id>` finds them."""
    keeper = {"Authorization": f"Bearer {token_for('stock_keeper', 'keeper-e2e')}"}
    shop = {"Authorization": f"Bearer {token_for('integrator', 'tmall')}"}
    lead = {"Authorization": f"Bearer {token_for('supervisor', 'lead')}"}
    sku = {
        "request_id": "e2e-sku-2", "sku_code": "E2E-2", "style_number": "E2E2", "colour": "blue", "size": "L",
        "name": "Order flow tee", "category": "apparel", "barcode": "E2E-0000002",
    }  # fmt: skip
    assert httpx.post(suite.gateway + "/v1/inventory/skus", json=sku, headers=keeper).status_code == 201
    received = httpx.post(
        suite.gateway + "/v1/inventory/stock-receipts",
        json={"request_id": "e2e-in-2", "sku_code": "E2E-2", "quantity": 5},
        headers=keeper,
    )
    assert received.status_code == 201
    order = {
        "channel": "tmall", "channel_order_id": "E2E-ORDER-1", "shop_code": "tmall-flagship", "buyer_id": "b1",
        "address": {
            "recipient": "Wang Fang", "phone": "13812345678", "province": "Zhejiang", "city": "Hangzhou",
            "district": "Xihu", "street": "18 Longjing Road",
        },
        "lines": [{"sku_code": "E2E-2", "quantity": 2, "unit_price_fen": 8800}],
        "payment": {"amount_fen": 17600, "paid_at": "2026-11-23T08:00:00Z", "reference": "ALI-E2E"},
    }  # fmt: skip
    created = httpx.post(suite.gateway + "/v1/orders", json=order, headers=shop)
    assert created.status_code == 201, created.text
    order_id = created.json()["order_id"]
    intake_trace = created.headers["X-Trace-Id"]

    deadline = time.monotonic() + 15
    while True:
        shown = httpx.get(suite.gateway + f"/v1/orders/{order_id}", headers=lead).json()
        traces: dict[str, list[StoredSpan]] = {}
        for span in read_spans(suite.var / "spans"):
            traces.setdefault(span.trace_id, []).append(span)
        touching = sorted(t for t, spans in traces.items() if any(touches_order(s, order_id) for s in spans))
        trees = {t: build_tree(t, traces[t]) for t in touching}
        review = [t for t in touching if any(r.span.name == "orders.review_batch" for r in trees[t].roots)]
        if (
            shown["status"] == "reviewed"
            and review
            and {("orders", "inventory")} <= service_edges(trees[review[0]])
            and not any(tree.orphans for tree in trees.values())
        ) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert shown["status"] == "reviewed"
    assert [e["actor"] for e in shown["timeline"] if e["event"] == "reviewed"] == ["service:auto-review"]
    # Besides these two, the test's own reads of the order are traces that touch it.
    assert intake_trace in touching and len(review) == 1
    intake, reviewed = trees[intake_trace], trees[review[0]]
    assert intake.orphans == [] and reviewed.orphans == []
    assert len(intake.roots) == 1 and intake.roots[0].span.service == "gateway"
    assert service_edges(intake) == {("gateway", "orders")}
    assert service_edges(reviewed) == {("orders", "inventory")}
    assert reviewed.roots[0].span.name == "orders.review_batch"
    reserve = [
        s
        for s in traces[review[0]]
        if s.service == "inventory" and s.name.endswith("InventoryService/BatchReserveStock")
    ]
    assert reserve and reserve[0].kind == "SERVER"
    # A supervisor reviewing it again changes nothing.
    again = httpx.post(suite.gateway + "/v1/order-reviews", json={"order_ids": [order_id]}, headers=lead)
    assert again.status_code == 200 and again.json()[0]["status"] == "reviewed", again.text
    # No personal data on spans.
    spans = [s for t in touching for s in traces[t]]
    assert not any("13812345678" in str(s.attributes) or "Longjing" in str(s.attributes) for s in spans)


def test_sigterm_stops_everything_and_frees_every_port_keeping_the_data(suite):
    """Runs last in this module: stopping the suite leaves no process and no listening port, and keeps
    the data for the next run."""
    postmaster_pid_file = suite.var / "pgdata" / "postmaster.pid"
    postmaster = int(postmaster_pid_file.read_text().split()[0])
    assert psutil.pid_exists(postmaster)
    suite.launcher.send_signal(signal.SIGTERM)
    assert suite.launcher.wait(timeout=60) == 0
    for child in suite.children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, child
    assert not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE
    assert [p for p in suite.ports.values() if listening(p)] == []
    assert (suite.var / "pgdata" / "PG_VERSION").exists()
    assert (suite.var / "nats" / "jetstream").is_dir()
