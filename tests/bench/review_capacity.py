"""The batch review's own capacity for `make bench` (ORD-2, ORD-3): how many orders per second a review
with reservation gets through when it has the machine to itself.

In the flash sale the automatic review can go no faster than orders arrive, so its pace there measures
intake as much as review. Here the suite runs with the automatic review off
(``SHOP_ORDERS_AUTO_REVIEW_BATCH=0``); the paid orders are taken in first, untimed; then two reviewers
(as the automatic review runs two) send batches of 200 through ``POST /v1/order-reviews``: the same saga,
one ``BatchReserveStock`` call to inventory per batch. Reported: orders reviewed per second of wall time,
the batch calls' p50/p99, and CPU-seconds per order of every process of the suite over the review. It
verifies afterwards that every order was reviewed and holds one active reservation.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from libs.identity import mint_token
from tests.bench.flash_intake import SHOP, order
from tests.bench.flash_sale import _percentile, _prepare, scalar, suite_cpu_seconds

BATCH = 200  # ORD-3
REVIEWERS = 2
INTAKE_SENDERS = 4


async def _take_in(http: httpx.AsyncClient, orders: int) -> list[str]:
    """Takes in ``orders`` paid orders in pages of 200; returns their ids."""
    shop = {"Authorization": f"Bearer {mint_token('review-bench-shop', ['integrator'], shops=[SHOP])}"}
    pages = list(range(0, orders, BATCH))
    ids: list[str] = []

    async def send() -> None:
        while pages:
            first = pages.pop()
            body = {"orders": [order("tmall", n) for n in range(first, min(first + BATCH, orders))]}
            reply = await http.post("/v1/orders:batchSubmit", json=body, headers=shop)
            reply.raise_for_status()
            for outcome in reply.json()["outcomes"]:
                if outcome.get("problem"):
                    raise AssertionError(f"an order was refused: {outcome['problem']}")
                ids.append(outcome["order_id"])

    await asyncio.gather(*(send() for _ in range(INTAKE_SENDERS)))
    return ids


async def run(env: dict[str, str], gateway: str, *, orders: int = 20_000) -> dict[str, Any]:
    """Takes in ``orders`` paid orders, then reviews them all in batches of 200; returns the figures."""
    await _prepare(gateway, orders)
    supervisor = {"Authorization": f"Bearer {mint_token('review-bench', ['supervisor'])}"}
    async with httpx.AsyncClient(base_url=gateway, timeout=120) as http:
        ids = await _take_in(http, orders)
        batches = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
        latencies: list[float] = []
        not_reviewed: list[str] = []

        async def reviewer() -> None:
            while batches:
                batch = batches.pop()
                started = time.perf_counter()
                reply = await http.post(
                    "/v1/order-reviews",
                    json={"order_ids": batch, "request_id": str(uuid.uuid4())},
                    headers=supervisor,
                )
                latencies.append(time.perf_counter() - started)
                reply.raise_for_status()
                not_reviewed.extend(o["order_id"] for o in reply.json() if o.get("status") != "reviewed")

        cpu_before = suite_cpu_seconds(exclude=set())
        started = time.perf_counter()
        await asyncio.gather(*(reviewer() for _ in range(REVIEWERS)))
        seconds = time.perf_counter() - started
        cpu_after = suite_cpu_seconds(exclude=set())
    if not_reviewed:
        raise AssertionError(f"{len(not_reviewed)} orders were not reviewed, e.g. {not_reviewed[:3]}")
    reserved = await scalar(
        env["SHOP_INVENTORY_DATABASE_URL"], "SELECT count(*) FROM reservations WHERE status = 'active'"
    )
    if int(reserved) != orders:
        raise AssertionError(f"{reserved} active reservations for {orders} reviewed orders")
    by_process = {name: round(cpu_after[name] - cpu_before.get(name, 0.0), 1) for name in sorted(cpu_after)}
    cpu = sum(by_process.values())
    return {
        "review_orders": orders,
        "review_batch": BATCH,
        "review_seconds": round(seconds, 2),
        "review_capacity_per_s": round(orders / seconds, 1),
        "review_call_p50_ms": _percentile(latencies, 0.50),
        "review_call_p99_ms": _percentile(latencies, 0.99),
        "review_cpu_s_per_order": round(cpu / orders, 5),
        "review_cpu_s_by_process": by_process,
    }
