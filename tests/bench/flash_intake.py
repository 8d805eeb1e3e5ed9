"""One channel's load in the flash-sale benchmark, run as a process of its own so that its CPU is its own
and measured (`python -m tests.bench.flash_intake ...`; started by tests/bench/flash_sale.py).

It plays the channel's connector and the logistics clerk: it sends its orders through the gateway as
pages (`POST /v1/orders:batchSubmit`, a few pages in flight), and releases them to the warehouse in
batches of 200 (`POST /v1/order-releases`) as the automatic review passes them, until every one of its
orders is released. It writes what it saw as JSON: the intake calls' latencies, the outcomes, and the
CPU time it used.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from libs.identity import mint_token

PAGE = 200
SALE_OPENS = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)  # 00:00 on 11.11 in Asia/Shanghai
RELEASE_AFTER_S = 1.0
SKUS = 20
SHOP = "flash"


def _paid_at(n: int) -> str:
    """Midnight of 11.11, a few hundred orders paid each second: about as a flash sale opens."""
    return (SALE_OPENS + timedelta(milliseconds=3 * n)).isoformat().replace("+00:00", "Z")


def order(channel: str, n: int) -> dict[str, Any]:
    """Order ``n`` of the channel: one or two tins of one of 20 SKUs, paid."""
    quantity = 1 + n % 2
    return {
        "channel": channel, "channel_order_id": f"{channel.upper()}-FLASH-{n:06d}", "shop_code": SHOP,
        "buyer_id": f"{channel}-buyer-{n}",
        "address": {
            "recipient": f"Buyer {n}", "phone": "13812345678", "province": "Zhejiang", "city": "Hangzhou",
            "district": "Xihu", "street": f"{n} Longjing Road",
        },
        "lines": [{"sku_code": f"FLASH-{n % SKUS:02d}", "quantity": quantity, "unit_price_fen": 8800}],
        "payment": {"amount_fen": 8800 * quantity, "paid_at": _paid_at(n), "reference": f"PAY-{n}"},
    }  # fmt: skip


async def run(gateway: str, channel: str, orders: int, concurrency: int) -> dict[str, Any]:
    shop = {"Authorization": f"Bearer {mint_token(f'{channel}-connector', ['integrator'], shops=[SHOP])}"}
    clerk = {"Authorization": f"Bearer {mint_token(f'{channel}-clerk', ['supervisor'])}"}
    latencies: list[float] = []
    refused: dict[str, int] = {}
    errors = 0
    # Orders taken in, with the time to try releasing them and the wait before the next try: the clerk
    # releases what review has passed, so an order is tried a moment after intake and then less and less
    # often while it is not reviewed yet (the review may lag intake by seconds in a flash sale).
    pending: list[tuple[float, str, float]] = []  # a heap, the next due first
    released = 0
    pages = deque(range(0, orders, PAGE))
    intake_done = asyncio.Event()
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    async with httpx.AsyncClient(base_url=gateway, timeout=120, limits=limits) as http:

        async def submit() -> None:
            nonlocal errors
            while pages:
                first = pages.popleft()
                body = {"orders": [order(channel, n) for n in range(first, min(first + PAGE, orders))]}
                started = time.perf_counter()
                reply = await http.post("/v1/orders:batchSubmit", json=body, headers=shop)
                latencies.append(time.perf_counter() - started)
                if reply.status_code != 200:
                    errors += 1
                    pages.append(first)  # the page is idempotent: send it again
                    await asyncio.sleep(0.5)
                    continue
                for outcome in reply.json()["outcomes"]:
                    if outcome.get("problem"):
                        reason = outcome["problem"]["reason"]
                        refused[reason] = refused.get(reason, 0) + 1
                    else:
                        pending.append(
                            (time.monotonic() + RELEASE_AFTER_S, outcome["order_id"], RELEASE_AFTER_S)
                        )

        async def release() -> None:
            nonlocal released, errors
            while not (intake_done.is_set() and not pending):
                now = time.monotonic()
                batch: dict[str, float] = {}
                while pending and pending[0][0] <= now and len(batch) < PAGE:
                    _, order_id, wait = heapq.heappop(pending)
                    batch[order_id] = wait
                if not batch:
                    await asyncio.sleep(0.1)
                    continue
                reply = await http.post("/v1/order-releases", json={"order_ids": list(batch)}, headers=clerk)
                if reply.status_code != 200:
                    errors += 1
                    for order_id, wait in batch.items():
                        heapq.heappush(pending, (now + wait, order_id, wait))
                    continue
                waiting = [o["order_id"] for o in reply.json() if o.get("status") != "released"]
                released += len(batch) - len(waiting)
                # Not reviewed yet: tried again later, each time waiting twice as long (up to 8 s).
                later = time.monotonic()
                for order_id in waiting:
                    wait = min(8.0, batch[order_id] * 2)
                    heapq.heappush(pending, (later + wait, order_id, wait))

        releaser = asyncio.create_task(release())
        await asyncio.gather(*(submit() for _ in range(concurrency)))
        intake_done.set()
        await releaser
    return {
        "channel": channel,
        "orders": orders,
        "released": released,
        "refused": refused,
        "errors": errors,
        "intake_calls": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--orders", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    started = time.time()
    result = asyncio.run(run(args.gateway, args.channel, args.orders, args.concurrency))
    result["wall_s"] = time.time() - started
    result["cpu_s"] = time.process_time()
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
