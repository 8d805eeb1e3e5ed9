"""The event figure of `make bench`: events per second from outbox insert to committed consumer effect
across two services, and the delay's percentiles at half that rate.

Events are StockAvailable rows written straight into the inventory service's outbox (as its ledger writes
them), for SKUs no order waits for; the inventory relay publishes them to JetStream and the orders
service's consumer applies them (its inbox row and its query for held orders, in one transaction). The
delay of each event runs from its outbox transaction to the commit of the consumer transaction that
applied it, both read from PostgreSQL's clock (commit timestamps are on in the embedded run).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import datetime

import psycopg
from shop.inventory.v1 import events_pb2

from libs.db import libpq_url
from libs.events import catalogue

SPEC = catalogue().of(events_pb2.StockAvailable)


PAYLOADS = [
    events_pb2.StockAvailable(
        warehouse_code="MAIN",
        lines=[events_pb2.StockAvailable.Line(sku_code=f"BENCH-EVT-{i}", added=1, available=1)],
        document_type="bench",
        document_id="bench",
    ).SerializeToString()
    for i in range(100)
]


def _rows(count: int) -> list[tuple[uuid.UUID, str, str, str, bytes]]:
    return [(uuid.uuid4(), SPEC.subject, "bench", SPEC.full_name, PAYLOADS[i % 100]) for i in range(count)]


# One statement per batch, the rows as arrays: the load generator spends little of the CPU it shares.
INSERT = (
    "INSERT INTO outbox (event_id, topic, aggregate_id, payload_type, payload) "
    "SELECT unnest(%s::uuid[]), unnest(%s::text[]), unnest(%s::text[]), unnest(%s::text[]), unnest(%s::bytea[])"
)


async def _write(
    conn: psycopg.AsyncConnection[tuple[object, ...]], rows: list[tuple[uuid.UUID, str, str, str, bytes]]
) -> None:
    await conn.execute(INSERT, [list(column) for column in zip(*rows, strict=True)])
    await conn.commit()


async def _insert(url: str, batches: Sequence[list[tuple[uuid.UUID, str, str, str, bytes]]]) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=False) as conn:
        for batch in batches:
            await _write(conn, batch)


async def _applied(orders_url: str, event_ids: list[uuid.UUID]) -> int:
    async with await psycopg.AsyncConnection.connect(orders_url) as conn:
        row = await (
            await conn.execute("SELECT count(*) FROM inbox WHERE event_id = ANY(%s)", (event_ids,))
        ).fetchone()
        return int(row[0]) if row else 0


async def _delays(inventory_url: str, orders_url: str, event_ids: list[uuid.UUID]) -> list[float]:
    """Seconds from each event's outbox transaction to the commit of the consumer's transaction."""
    async with await psycopg.AsyncConnection.connect(inventory_url) as conn:
        created: dict[uuid.UUID, datetime] = dict(
            await (
                await conn.execute(
                    "SELECT event_id, created_at FROM outbox WHERE event_id = ANY(%s)", (event_ids,)
                )
            ).fetchall()
        )
    async with await psycopg.AsyncConnection.connect(orders_url) as conn:
        applied: dict[uuid.UUID, datetime | None] = dict(
            await (
                await conn.execute(
                    "SELECT event_id, pg_xact_commit_timestamp(xmin) FROM inbox WHERE event_id = ANY(%s)",
                    (event_ids,),
                )
            ).fetchall()
        )
    delays = []
    for event_id in event_ids:
        committed = applied.get(event_id)
        if committed is not None:
            delays.append((committed - created[event_id]).total_seconds())
    return sorted(delays)


async def _wait_applied(orders_url: str, event_ids: list[uuid.UUID], within: float) -> float:
    """Waits until every event is applied; returns the monotonic time it was seen."""
    deadline = time.monotonic() + within
    while await _applied(orders_url, event_ids) < len(event_ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"events not applied within {within} s")
        await asyncio.sleep(0.02)
    return time.monotonic()


async def peak(
    inventory_url: str, orders_url: str, *, count: int, writers: int = 4, batch: int = 100
) -> dict[str, float]:
    """A burst of ``count`` events written by ``writers`` connections as fast as they go."""
    inventory_url, orders_url = libpq_url(inventory_url), libpq_url(orders_url)
    rows = _rows(count)
    batches = [rows[i : i + batch] for i in range(0, count, batch)]
    started = time.monotonic()
    await asyncio.gather(*(_insert(inventory_url, batches[w::writers]) for w in range(writers)))
    written = time.monotonic()
    done = await _wait_applied(orders_url, [r[0] for r in rows], within=300)
    delays = await _delays(inventory_url, orders_url, [r[0] for r in rows])
    return {
        "events": count,
        "seconds": round(done - started, 2),
        "write_seconds": round(written - started, 2),
        "per_s": round(count / (done - started), 1),
        **_percentiles(delays),
    }


async def steady(inventory_url: str, orders_url: str, *, rate: float, seconds: float) -> dict[str, float]:
    """Events at a fixed rate (a small transaction every 10 ms), then the delay of each."""
    inventory_url, orders_url = libpq_url(inventory_url), libpq_url(orders_url)
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    ticks = int(seconds / tick)
    ids: list[uuid.UUID] = []
    async with await psycopg.AsyncConnection.connect(inventory_url) as conn:
        start = time.monotonic()
        for n in range(ticks):
            delay = start + n * tick - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            rows = _rows(per_tick)
            await _write(conn, rows)
            ids += [r[0] for r in rows]
        elapsed = time.monotonic() - start
    await _wait_applied(orders_url, ids, within=120)
    delays = await _delays(inventory_url, orders_url, ids)
    return {
        "events": len(ids),
        "seconds": round(elapsed, 2),
        "per_s": round(len(ids) / elapsed, 1),
        **_percentiles(delays),
    }


def _percentiles(delays: list[float]) -> dict[str, float]:
    def at(q: float) -> float:
        if not delays:
            return float("nan")
        return round(delays[min(len(delays) - 1, round(q * (len(delays) - 1)))] * 1000, 2)

    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "p999_ms": at(0.999), "max_ms": at(1.0)}
