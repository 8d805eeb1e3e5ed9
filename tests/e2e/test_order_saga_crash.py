"""The orders service killed (SIGKILL) in the middle of review sagas and started again: every order ends
consistent with the inventory service, checked in both databases (ORD-2, ORD-5)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid

import httpx
import psycopg
import pytest

from libs.config import SERVICE_PORTS
from libs.suite import Suite
from tests.conftest import token_for
from tests.e2e.test_suite_end_to_end import free_port

pytestmark = pytest.mark.e2e

ADDRESS = {
    "recipient": "Wang Fang", "phone": "13812345678", "province": "Zhejiang", "city": "Hangzhou",
    "district": "Xihu", "street": "18 Longjing Road",
}  # fmt: skip


@pytest.fixture
def running_suite(tmp_path):
    os.chmod(tmp_path, 0o755)
    env = {
        **os.environ,
        "SHOP_VAR_DIR": str(tmp_path),
        "SHOP_GATEWAY_PORT": str(free_port()),
        "SHOP_GRACE_SECONDS": "1",
        "SHOP_LOG_LEVEL": "WARNING",
        **{f"SHOP_{name.upper()}_PORT": str(free_port()) for name in SERVICE_PORTS},
    }
    for name in SERVICE_PORTS:
        env.pop(f"SHOP_{name.upper()}_DATABASE_URL", None)
        env.pop(f"SHOP_{name.upper()}_TARGET", None)
    suite = Suite(env=env, var=tmp_path, log=lambda _: None)
    try:
        suite.start()
        suite.wait_ready()
        yield suite
    finally:
        suite.stop()


def consistency(suite: Suite) -> list[str]:
    """Orders whose state disagrees with the inventory's reservation, or whose saga step is still open."""
    with psycopg.connect(suite.env["SHOP_ORDERS_DATABASE_URL"]) as conn:
        orders = conn.execute("SELECT order_id::text, status, reservation_state FROM orders").fetchall()
    with psycopg.connect(suite.env["SHOP_INVENTORY_DATABASE_URL"]) as conn:
        active = {
            r[0] for r in conn.execute("SELECT order_id FROM reservations WHERE status = 'active'").fetchall()
        }
    problems = []
    for order_id, status, saga in orders:
        if saga in ("reserving", "releasing"):
            problems.append(f"{order_id}: step {saga} still open")
        elif (status == "reviewed") != (order_id in active):
            problems.append(
                f"{order_id}: {status}/{saga} but reservation {'active' if order_id in active else 'absent'}"
            )
    return problems


def test_orders_killed_mid_saga_end_consistent_after_restart(running_suite):
    suite = running_suite
    keeper = {"Authorization": f"Bearer {token_for('stock_keeper')}"}
    shop = {"Authorization": f"Bearer {token_for('integrator')}"}
    lead = {"Authorization": f"Bearer {token_for('supervisor')}"}
    base = suite.gateway_url
    sku = {
        "request_id": "sku", "sku_code": "CRASH-1", "style_number": "CRASH", "colour": "red", "size": "M",
        "name": "Crash tee", "category": "apparel", "barcode": "CRASH-0001",
    }  # fmt: skip
    assert httpx.post(base + "/v1/inventory/skus", json=sku, headers=keeper).status_code == 201
    assert (
        httpx.post(
            base + "/v1/inventory/stock-receipts",
            json={"request_id": "in", "sku_code": "CRASH-1", "quantity": 1000},
            headers=keeper,
        ).status_code
        == 201
    )
    order_ids = []
    for _ in range(60):
        key = uuid.uuid4().hex
        body = {
            "channel": "tmall", "channel_order_id": key, "shop_code": "s", "buyer_id": "b", "address": ADDRESS,
            "lines": [{"sku_code": "CRASH-1", "quantity": 1, "unit_price_fen": 100}],
            "payment": {"amount_fen": 100, "paid_at": "2026-11-23T08:00:00Z", "reference": key},
        }  # fmt: skip
        order_ids.append(httpx.post(base + "/v1/orders", json=body, headers=shop).json()["order_id"])

    async def review_all() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:

            async def one(order_id: str) -> None:
                with contextlib.suppress(httpx.HTTPError):  # the service may die under us
                    await http.post("/v1/order-reviews", json={"order_ids": [order_id]}, headers=lead)

            async def kill_soon() -> None:
                await asyncio.sleep(0.3)
                suite.processes["orders"].send_signal(signal.SIGKILL)

            await asyncio.gather(kill_soon(), *(one(o) for o in order_ids))

    asyncio.run(review_all())
    suite.processes["orders"].wait(timeout=10)
    suite.processes["orders"] = suite._spawn("orders", ["-m", "services.orders", "serve"])
    # The recovery worker finishes open steps once they are older than its grace period.
    deadline = time.monotonic() + 60
    problems = consistency(suite)
    while problems and time.monotonic() < deadline:
        time.sleep(1)
        problems = consistency(suite)
    assert problems == []
    with psycopg.connect(suite.env["SHOP_ORDERS_DATABASE_URL"]) as conn:
        statuses: dict[str, int] = dict(
            conn.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall()
        )
    assert sum(statuses.values()) == 60
    assert statuses.get("reviewed", 0) >= 1
