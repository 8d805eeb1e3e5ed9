"""The flash-sale figures of `make bench` (大促): 100,000 paid orders from three channels, end to end.

Three load processes (tests/bench/flash_intake.py), one per channel (Tmall, JD, Taobao), send their orders
through the gateway as pages of 200 while the orders service's automatic review reviews them in batches
with one reservation call each; each load process also plays the clerk who releases reviewed orders to the
warehouse, where the logistics service places every one in its wave. The run ends when the last order's
shipment is in a wave. Reported:
  - the time from the first intake call to the last shipment's commit, and orders per second;
  - the intake calls' p50/p99 (a page of 200 orders each);
  - CPU-seconds per order: the CPU time of every process of the suite (gateway, services, PostgreSQL with
    its backends, NATS) over the run, divided by the orders; and the load processes' share of all CPU used;
  - transactions per order in each service's database (PostgreSQL's statistics);
and it verifies every database afterwards: every order stored once and released, one active reservation
per order with the stock reserved equal to the orders' lines, one shipment per order, each in a wave.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from libs.config import REPO_ROOT
from libs.identity import mint_token
from libs.spanstore import read_spans
from tests.bench.flash_intake import SHOP, SKUS
from tests.bench.waves import _busy

CHANNELS = ("tmall", "jd", "taobao")
DATABASES = ("orders", "inventory", "logistics")


def suite_cpu_seconds(exclude: set[int]) -> dict[str, float]:
    """CPU time (user + system) of every process below this one except ``exclude`` (the load), by
    process (gateway, each service, postgres, nats), including what their exited children used
    (PostgreSQL's backends that came and went)."""
    used: dict[str, float] = {}
    for process in psutil.Process().children(recursive=True):
        if process.pid in exclude:
            continue
        try:
            t = process.cpu_times()
            argv = process.cmdline()
        except psutil.NoSuchProcess:
            continue
        name = next((a.removeprefix("services.") for a in argv if a.startswith("services.")), "")
        name = name or ("postgres" if "postgres" in argv[0] else Path(argv[0]).name)
        used[name] = used.get(name, 0.0) + t.user + t.system + t.children_user + t.children_system
    return used


async def scalar(url: str, sql: str, *args: object) -> Any:
    """The first column of the first row ``sql`` answers in the database at ``url`` (None for no row)."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute(sql, args)).fetchone()
        return row[0] if row else None


async def _transactions(env: dict[str, str]) -> dict[str, int]:
    counts = {}
    for name in DATABASES:
        url = env[f"SHOP_{name.upper()}_DATABASE_URL"]
        counts[name] = int(
            await scalar(
                url,
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()",
            )
        )
    return counts


async def _prepare(gateway: str, orders: int) -> None:
    keeper = {"Authorization": f"Bearer {mint_token('flash-keeper', ['stock_keeper'])}"}
    clerk = {"Authorization": f"Bearer {mint_token('flash-clerk', ['logistics_clerk'])}"}
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as http:
        for i in range(SKUS):
            sku = f"FLASH-{i:02d}"
            registered = await http.post(
                "/v1/inventory/skus",
                json={
                    "request_id": f"reg-{sku}", "sku_code": sku, "style_number": sku, "colour": "green",
                    "size": "250g", "name": "Flash-sale tea", "category": "tea", "barcode": f"BC-{sku}",
                },
                headers=keeper,
            )  # fmt: skip
            registered.raise_for_status()
            received = await http.post(
                "/v1/inventory/stock-receipts",
                json={"request_id": f"in-{sku}", "sku_code": sku, "quantity": orders},
                headers=keeper,
            )
            received.raise_for_status()
        carrier = await http.put(
            "/v1/logistics/carriers/zto",
            json={
                "name": "中通快递",
                "zones": [{"zone": 1, "provinces": ["Zhejiang"], "promised_days": 2,
                           "first_weight_price_fen": 500, "additional_kg_price_fen": 100}],
            },
            headers=clerk,
        )  # fmt: skip
        carrier.raise_for_status()


async def _verify(env: dict[str, str], orders: int) -> dict[str, Any]:
    """Counts in every database; raises AssertionError naming what does not add up."""
    orders_url = env["SHOP_ORDERS_DATABASE_URL"]
    inventory_url = env["SHOP_INVENTORY_DATABASE_URL"]
    logistics_url = env["SHOP_LOGISTICS_DATABASE_URL"]
    async with await psycopg.AsyncConnection.connect(orders_url) as conn:
        stored, distinct, released = await (
            await conn.execute(
                "SELECT count(*), count(DISTINCT (channel, channel_order_id)), "
                "count(*) FILTER (WHERE status = 'released' AND reservation_state = 'reserved') "
                "FROM orders WHERE shop_code = %s",
                (SHOP,),
            )
        ).fetchone() or (0, 0, 0)
        ordered_units: dict[str, int] = dict(
            await (
                await conn.execute(
                    "SELECT l.sku_code, sum(l.quantity) FROM order_lines l JOIN orders o USING (order_id) "
                    "WHERE o.shop_code = %s GROUP BY l.sku_code",
                    (SHOP,),
                )
            ).fetchall()
        )
    async with await psycopg.AsyncConnection.connect(inventory_url) as conn:
        reservations = await (
            await conn.execute(
                "SELECT count(*) FROM reservations WHERE shop_code = %s AND status = 'active'", (SHOP,)
            )
        ).fetchone()
        reserved: dict[str, int] = dict(
            await (
                await conn.execute(
                    "SELECT sku_code, reserved FROM stock_levels WHERE sku_code LIKE 'FLASH-%%'"
                )
            ).fetchall()
        )
    async with await psycopg.AsyncConnection.connect(logistics_url) as conn:
        shipments, shipped_orders, in_waves = await (
            await conn.execute(
                "SELECT count(*), count(DISTINCT order_id), count(*) FILTER (WHERE wave_id IS NOT NULL) "
                "FROM shipments WHERE shop_code = %s",
                (SHOP,),
            )
        ).fetchone() or (0, 0, 0)
    checks = {
        "orders_stored": stored,
        "orders_distinct": distinct,
        "orders_released_with_stock": released,
        "reservations_active": reservations[0] if reservations else 0,
        "reserved_equals_lines": {k: int(v) for k, v in ordered_units.items()}
        == {k: int(v) for k, v in reserved.items()},
        "shipments": shipments,
        "shipments_distinct_orders": shipped_orders,
        "shipments_in_waves": in_waves,
    }
    counts = [v for k, v in checks.items() if k != "reserved_equals_lines"]
    if counts != [orders] * len(counts) or not checks["reserved_equals_lines"]:
        raise AssertionError(f"the flash sale does not add up for {orders} orders: {checks}")
    return checks


async def _follow_feed(gateway: str, stop: asyncio.Event) -> dict[str, float | int]:
    """An integrator keeping its listings equal to available stock (INV-10) through the sale: it catches
    up page by page, then follows the feed's stream and notes, per message, how long after its latest
    change it heard of it."""
    reader = {"Authorization": f"Bearer {mint_token('flash-listing', ['integrator'], shops=[SHOP])}"}
    lags: list[float] = []
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as http:
        cursor = ""
        while True:  # catch up with the past first
            body = (
                await http.get("/v1/inventory/stock-changes", params={"cursor": cursor}, headers=reader)
            ).json()
            cursor = body["next_cursor"]
            if not body["changes"]:
                break

        async def follow() -> None:
            params = {"cursor": cursor, "max_seconds": 3600}
            async with http.stream(
                "GET", "/v1/inventory/stock-changes:watch", params=params, headers=reader
            ) as s:
                async for line in s.aiter_lines():
                    heard = time.time()
                    changes = json.loads(line)["result"]["changes"]
                    if changes:
                        latest = max(
                            datetime.fromisoformat(c["changed_at"].replace("Z", "+00:00")) for c in changes
                        )
                        lags.append(heard - latest.timestamp())

        following = asyncio.create_task(follow())
        await stop.wait()
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
    return {
        "feed_pages": len(lags),
        "feed_lag_p50_ms": _percentile(lags, 0.50),
        "feed_lag_p99_ms": _percentile(lags, 0.99),
        "feed_lag_max_ms": round(max(lags) * 1000, 1) if lags else 0.0,
    }


def _review_rate(span_dir: Path, since_ns: int) -> dict[str, float | int | None]:
    """The automatic review's own pace: orders reviewed per second of the time its batch spans ran (the
    union of "orders.review_batch" spans: intent, the reservation call and the booking), from the span
    store (None without local spans): those of the flows sampled, a fair share of all."""
    batches = [
        s
        for s in read_spans(span_dir)
        if s.name == "orders.review_batch"
        and s.service == "orders"
        and s.start_ns >= since_ns
        # The sampled ones only: a batch kept because it was slow would weigh the pace down.
        and "shop.trace.kept" not in s.attributes
    ]
    reviewed = sum(int(s.attributes.get("shop.batch_size", 0)) for s in batches)
    busy, _ = _busy((s.start_ns, s.end_ns) for s in batches)
    return {
        "review_batches": len(batches),
        "reviewed_in_batches": reviewed,
        "review_busy_s": round(busy, 2) if batches else None,
        "review_per_s": round(reviewed / busy, 1) if busy else None,
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 1) if ordered else 0.0


async def run(env: dict[str, str], gateway: str, *, orders: int = 100_000) -> dict[str, Any]:
    """Runs the flash sale with ``orders`` orders split over three channels; returns the figures."""
    await _prepare(gateway, orders)
    logistics_url = env["SHOP_LOGISTICS_DATABASE_URL"]
    shares = [
        orders // len(CHANNELS) + (1 if i < orders % len(CHANNELS) else 0) for i in range(len(CHANNELS))
    ]
    out = Path(tempfile.mkdtemp(prefix="flash-"))
    transactions_before = await _transactions(env)
    load: list[asyncio.subprocess.Process] = []
    stop_feed = asyncio.Event()
    feed = asyncio.create_task(_follow_feed(gateway, stop_feed))
    await asyncio.sleep(0.5)  # caught up with the stock just received
    cpu_before = suite_cpu_seconds(exclude=set())
    started = time.time()
    for channel, count in zip(CHANNELS, shares, strict=True):
        load.append(
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.bench.flash_intake", "--gateway", gateway, "--channel", channel,
                "--orders", str(count), "--out", str(out / f"{channel}.json"), cwd=REPO_ROOT, env=env,
            )
        )  # fmt: skip
    load_pids = {p.pid for p in load}
    while any(p.returncode is None for p in load):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in load)), 0.5)
    if any(p.returncode for p in load):
        raise RuntimeError(f"a load process failed: {[p.returncode for p in load]}")
    deadline = time.monotonic() + 600
    while (
        int(await scalar(logistics_url, "SELECT count(*) FROM shipments WHERE shop_code = %s", SHOP)) < orders
    ):
        if time.monotonic() > deadline:
            raise TimeoutError("the flash sale's orders were not all in waves within 10 minutes")
        await asyncio.sleep(0.2)
    cpu_after = suite_cpu_seconds(exclude=load_pids)
    cpu_by_process = {
        name: round(cpu_after[name] - cpu_before.get(name, 0.0), 1) for name in sorted(cpu_after)
    }
    suite_cpu = sum(cpu_by_process.values())
    stop_feed.set()
    listing = await feed
    last = await scalar(
        logistics_url, "SELECT max(pg_xact_commit_timestamp(xmin)) FROM shipments WHERE shop_code = %s", SHOP
    )
    seconds = last.timestamp() - started
    transactions_after = await _transactions(env)
    results = [json.loads((out / f"{channel}.json").read_text()) for channel in CHANNELS]
    load_cpu = sum(r["cpu_s"] for r in results)
    calls = [x for r in results for x in r["intake_calls"]]
    checks = await _verify(env, orders)
    await asyncio.sleep(1.0)  # the services export their finished spans every 250 ms
    span_dir = Path(env.get("SHOP_SPAN_DIR") or Path(env["SHOP_VAR_DIR"]) / "spans")
    review = _review_rate(span_dir, int(started * 1e9))
    return {
        "orders": orders,
        "channels": list(CHANNELS),
        "seconds": round(seconds, 1),
        "orders_per_s": round(orders / seconds, 1),
        "intake_calls": len(calls),
        "intake_page": 200,
        "intake_p50_ms": _percentile(calls, 0.50),
        "intake_p99_ms": _percentile(calls, 0.99),
        "load_errors": sum(r["errors"] for r in results),
        "refused": {k: v for r in results for k, v in r["refused"].items()},
        "suite_cpu_s": round(suite_cpu, 1),
        "cpu_s_per_order": round(suite_cpu / orders, 5),
        "cpu_s_by_process": cpu_by_process,
        "load_cpu_s": round(load_cpu, 1),
        "load_cpu_share": round(load_cpu / (load_cpu + suite_cpu), 3) if suite_cpu else None,
        "machine_cpu_s": round(seconds * (os.cpu_count() or 1), 1),
        "transactions_per_order": {
            name: round((transactions_after[name] - transactions_before[name]) / orders, 2)
            for name in DATABASES
        },
        **review,
        **listing,
        "verified": checks,
    }
