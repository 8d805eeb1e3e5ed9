"""The orders service killed (SIGKILL) in the middle of review sagas and started again: every order ends
consistent with the inventory service, checked in both databases (ORD-2, ORD-5)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import httpx
import psycopg
import pytest

from tests.conftest import token_for
from tests.e2e.running import ADDRESS, SuiteProcess, start_suite

pytestmark = pytest.mark.e2e


@pytest.fixture
def running_suite(tmp_path):
    running = start_suite(
        tmp_path / "var", extra_env={"SHOP_GRACE_SECONDS": "1", "SHOP_LOG_LEVEL": "WARNING"}
    )
    try:
        yield running
    finally:
        running.stop()


def consistency(suite: SuiteProcess) -> list[str]:
    """Orders whose state disagrees with the inventory's reservation, or whose saga step is still open."""
    with psycopg.connect(suite.db_url("orders")) as conn:
        orders = conn.execute("SELECT order_id::text, status, reservation_state FROM orders").fetchall()
    with psycopg.connect(suite.db_url("inventory")) as conn:
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
    base = suite.gateway
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

    killed: list[int] = []

    async def review_all() -> None:
        answered = asyncio.Event()
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:

            async def one(order_id: str) -> None:
                with contextlib.suppress(httpx.HTTPError):  # the service may die under us
                    reply = await http.post("/v1/order-reviews", json={"order_ids": [order_id]}, headers=lead)
                    if reply.status_code == 200:
                        answered.set()

            async def kill_mid_batch() -> None:
                await answered.wait()  # some reviews are done, the rest are in flight
                killed.append(suite.kill("orders"))

            await asyncio.gather(kill_mid_batch(), *(one(o) for o in order_ids))

    asyncio.run(review_all())
    # The supervisor restarts the orders process by itself.
    suite.wait_restarted("orders", killed[0])
    assert suite.restarts("orders") == 1
    # The recovery worker finishes open steps once they are older than its grace period.
    deadline = time.monotonic() + 60
    problems = consistency(suite)
    while problems and time.monotonic() < deadline:
        time.sleep(1)
        problems = consistency(suite)
    assert problems == []
    with psycopg.connect(suite.db_url("orders")) as conn:
        statuses: dict[str, int] = dict(
            conn.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall()
        )
    assert sum(statuses.values()) == 60
    assert statuses.get("reviewed", 0) >= 1
