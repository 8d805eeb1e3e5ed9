"""How cost grows with stored data, for `make bench`: the same work with a short and with a long history.

- **The per-order flow** through the gateway (one paid order per call, the automatic review running) with
  10,000 and then 1,000,000 orders already stored: history written straight into the orders database as a
  shop's past years would be (delivered orders with their lines and timelines), then the same closed-loop
  load as the per-order intake figures.
- **The daily jobs** of inventory with 10,000 and with 1,000,000 stock movements stored, each in a database
  of its own: the same 200 SKUs and the same recent activity (5,000 movements over the last 14 days and
  today) on top of a history older than a month. Timed: the ledger reconciliation (from the checkpoint the
  previous day's close left), the day's close (reconciliation, the day's counts, the checkpoint advanced)
  and the replenishment plan over its 14-day window, each the median of five runs rolled back.

Each figure is reported at both sizes with their ratio; the target is at most 1.5x.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.business_time import BUSINESS_ZONE, business_day
from libs.config import REPO_ROOT
from libs.db import Database, migrate
from services.inventory.domain.lots import label_id_for
from services.inventory.domain.skus import SkuKind, new_sku
from services.inventory.domain.stock import Movement, MovementKind
from services.inventory.store import catalogue, daily_close, ledger, planning, reconciliation
from tests.bench.flash_sale import scalar

SIZES = tuple(int(n) for n in os.environ.get("BENCH_GROWTH_SIZES", "10000,1000000").split(","))
SKUS = 200
RECENT = 5_000  # movements in the last 14 days and today, the same at every size
TODAY = 1_000  # of which today's
WAREHOUSE = "MAIN"

Measure = Callable[[], Awaitable[dict[str, Any]]]


async def _sql(url: str, *statements: tuple[str, tuple[object, ...] | None]) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for sql, args in statements:
            await conn.execute(sql, args)


# --- orders ------------------------------------------------------------------------------------------


async def stored_orders(url: str) -> int:
    return int(await scalar(url, "SELECT count(*) FROM orders"))


async def add_order_history(url: str, total: int) -> None:
    """Delivered orders of the past, with their line and timeline, straight into the orders database
    until it holds ``total`` orders; in one statement per 250,000."""
    start = await stored_orders(url)
    for first in range(start, total, 250_000):
        last = min(total, first + 250_000) - 1
        await _sql(
            url,
            (
                """
                WITH added AS (
                    INSERT INTO orders (order_id, channel, channel_order_id, shop_code, buyer_id, recipient,
                        phone, province, city, district, street, status, reservation_state, goods_fen,
                        discount_fen, shipping_fee_fen, total_fen, paid_fen, paid_at, payment_reference,
                        reviewed_at, created_at, updated_at)
                    SELECT gen_random_uuid(), 'tmall', 'HIST-' || g, 'history', 'buyer-' || (g %% 97331),
                        'Buyer', '13812345678', 'Zhejiang', 'Hangzhou', 'Xihu', g || ' Longjing Road',
                        'delivered', 'released', 8800, 0, 0, 8800, 8800, t, 'PAY-' || g, t, t, t
                    FROM generate_series(%s::bigint, %s::bigint) g,
                        LATERAL (SELECT now() - interval '400 days' + g * interval '20 seconds') AS at(t)
                    RETURNING order_id, channel_order_id, created_at
                ), lines AS (
                    INSERT INTO order_lines (order_id, line_no, sku_code, quantity, unit_price_fen)
                    SELECT order_id, 1, 'HIST-TEA-' || (abs(hashtext(channel_order_id)) %% 500), 1, 8800
                    FROM added
                )
                INSERT INTO order_timeline (order_id, at, actor, event, from_status, to_status)
                SELECT order_id, created_at, 'history', 'status_changed', s.from_status, s.to_status
                FROM added CROSS JOIN (VALUES (NULL, 'paid'), ('shipped', 'delivered')) AS s(from_status, to_status)
                """,
                (first, last),
            ),
        )
    await _sql(url, ("VACUUM ANALYZE orders, order_lines, order_timeline", None))


async def order_flow(url: str, measure: Measure) -> dict[str, Any]:
    """The per-order flow with 10,000 and with 1,000,000 orders stored."""
    by_size: dict[str, Any] = {}
    for size in SIZES:
        started = time.perf_counter()
        await add_order_history(url, size)
        seeded = time.perf_counter() - started
        by_size[str(size)] = {
            **await measure(),
            "stored_orders": await stored_orders(url),
            "seed_s": round(seeded, 1),
        }
    small, large = (by_size[str(s)] for s in SIZES)
    return {
        "sizes": by_size,
        "throughput_ratio": round(small["throughput"] / large["throughput"], 2)
        if large["throughput"]
        else None,
        "p99_ratio": round(large["p99_ms"] / small["p99_ms"], 2) if small["p99_ms"] else None,
    }


# --- inventory's daily jobs ------------------------------------------------------------------------------


async def _base(db: Database) -> None:
    """200 SKUs, each received as one lot of 100,000 units."""
    async with db.transaction() as conn:
        for i in range(SKUS):
            sku_code = f"GROW-{i:03d}"
            await catalogue.add_sku(
                conn,
                new_sku(
                    sku_code=sku_code, style_number=f"GROW-{i:03d}", colour="green", size="250g",
                    name="Growth tea", category="tea", barcode=f"GROW-BC-{i:03d}", kind=SkuKind.SELLABLE,
                ),
                actor="bench",
            )  # fmt: skip
            lot_id = uuid.uuid4()
            await ledger.new_lot(
                conn, lot_id=lot_id, label_id=label_id_for(sku_code, lot_id), sku_code=sku_code,
                quantity=100_000, document_type="stock_in", document_id=f"in-{sku_code}",
            )  # fmt: skip
            movement = Movement(
                kind=MovementKind.RECEIPT, sku_code=sku_code, warehouse_code=WAREHOUSE, lot_id=lot_id,
                on_hand_delta=100_000, document_type="stock_in", document_id=f"in-{sku_code}",
            )  # fmt: skip
            await ledger.post(conn, [movement], actor="bench")


def _pairs(count: int, oldest: datetime, newest: datetime, tag: str) -> tuple[str, tuple[object, ...]]:
    """``count`` movements as pairs that net to nothing on each lot (a unit received, a unit shipped), so
    the books stay equal to the ledger; spread evenly from ``oldest`` to ``newest``."""
    step = (newest - oldest) / max(1, count // 2)
    sql = """
        INSERT INTO stock_movements (kind, sku_code, warehouse_code, lot_id, bin_code, on_hand_delta,
            document_type, document_id, actor, created_at)
        SELECT CASE WHEN g %% 2 = 0 THEN 'receipt' ELSE 'issue' END, l.sku_code, 'MAIN', l.lot_id, '',
            CASE WHEN g %% 2 = 0 THEN 1 ELSE -1 END,
            CASE WHEN g %% 2 = 0 THEN 'stock_in' ELSE 'shipment' END,
            %s || (g / 2), 'bench', %s::timestamptz + (g / 2) * %s::interval
        FROM generate_series(0, %s::bigint - 1) g
        JOIN (SELECT row_number() OVER (ORDER BY sku_code) - 1 AS i, sku_code, lot_id FROM lots) l
            ON l.i = (g / 2) %% %s
    """
    return sql, (tag, oldest, step, count, SKUS)


async def _median_rolled_back(db: Database, job: Callable[[AsyncConnection], Awaitable[object]]) -> float:
    """The median of five runs of ``job``, each in a transaction rolled back afterwards."""
    times = []
    for _ in range(5):
        async with db.engine.connect() as conn:
            transaction = await conn.begin()
            started = time.perf_counter()
            await job(conn)
            times.append(time.perf_counter() - started)
            await transaction.rollback()
    return statistics.median(times)


async def daily_jobs_at(postgres_create: Callable[[str], str], size: int) -> dict[str, Any]:
    url = postgres_create(f"bench_growth_{size}")
    await asyncio.to_thread(migrate, url, REPO_ROOT / "services" / "inventory" / "store" / "migrations")
    db = Database(url, pool_size=2, max_overflow=0)
    try:
        await _base(db)
        now = datetime.now(BUSINESS_ZONE)
        today = business_day(now)
        history = size - RECENT - SKUS
        await _sql(
            url,
            _pairs(history, now - timedelta(days=400), now - timedelta(days=31), "hist-"),
            _pairs(RECENT - TODAY, now - timedelta(days=14), now - timedelta(days=1), "recent-"),
            ("VACUUM ANALYZE", None),
        )
        # Yesterday's close left its checkpoint; today's movements come after it.
        async with db.transaction() as conn:
            await reconciliation.hold_ledger(conn)
            await reconciliation.advance_checkpoint(conn)
        start_of_today = datetime.combine(today, datetime.min.time(), BUSINESS_ZONE)
        await _sql(url, _pairs(TODAY, start_of_today, now, "today-"), ("ANALYZE", None))
        async with db.connection() as conn:
            stored = (await conn.execute(sa.text("SELECT count(*) FROM stock_movements"))).scalar_one()

        async def reconcile(conn: AsyncConnection) -> None:
            assert await reconciliation.discrepancies(conn) == []

        async def close(conn: AsyncConnection) -> None:
            await daily_close.close_day(conn, today, actor="bench")

        async def plan(conn: AsyncConnection) -> None:
            await planning.generate_plan(conn, today, actor="bench")

        return {
            "stored_movements": int(stored),
            "reconciliation_s": round(await _median_rolled_back(db, reconcile), 4),
            "daily_close_s": round(await _median_rolled_back(db, close), 4),
            "replenishment_plan_s": round(await _median_rolled_back(db, plan), 4),
        }
    finally:
        await db.dispose()


async def daily_jobs(postgres_create: Callable[[str], str]) -> dict[str, Any]:
    """The daily close, the replenishment plan and the reconciliation at 10,000 and 1,000,000 movements."""
    by_size = {str(size): await daily_jobs_at(postgres_create, size) for size in SIZES}
    small, large = (by_size[str(s)] for s in SIZES)
    return {
        "sizes": by_size,
        "ratios": {
            job: round(large[job] / small[job], 2) if small[job] else None
            for job in ("reconciliation_s", "daily_close_s", "replenishment_plan_s")
        },
    }
