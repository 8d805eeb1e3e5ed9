"""The wave figures of `make bench` (LOG-1, LOG-2), against the running suite:

  placing: 10,000 OrderReleased events are written into the orders outbox, as a release writes them (each
      with the trace context of its flow, one in ten sampled as deployed), and relayed to JetStream while
      the logistics consumer is held paused; then it resumes and places them from that backlog, each
      shipment in its wave. The service time is from the first batch's transaction start to the last
      one's commit (both PostgreSQL's clock, recorded on the shipments), so the relay's work (the orders
      service's) is not counted in it; the seconds the relay took are reported beside it, and the time
      inside the batches' transactions;
  closing: the logistics clerk closes that 10,000-order wave — parcels fixed (merged where one buyer has
      several orders), every shipment's lots kept at the inventory service first in first out, picks
      recorded — timed as the CloseWave call, with the server's own span and the inventory service's part
      (its AllocatePicks server spans; the calls carry a sampled trace context so that their spans are
      kept); then the aggregated pick list, timed as the GetPickList call;
  release to dispatch-ready: orders per second from release to a printed, picked-from wave.

The orders' stock is reserved first through the inventory API (ReserveStock per order), as reviews do.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import nats
import psycopg
from shop.inventory.v1 import inventory_pb2 as inv
from shop.inventory.v1 import inventory_pb2_grpc
from shop.logistics.v1 import logistics_pb2 as lg
from shop.logistics.v1 import logistics_pb2_grpc
from shop.orders.v1 import events_pb2 as orders_events
from shop.orders.v1 import orders_pb2

from libs.business_time import BUSINESS_ZONE
from libs.config import trace_sample_ratio
from libs.events import catalogue, stream_name
from libs.identity import mint_token
from libs.money import money
from libs.spanstore import read_spans
from libs.timestamps import to_timestamp

SPEC = catalogue().of(orders_events.OrderReleased)
_INSERT = (
    "INSERT INTO outbox (event_id, topic, aggregate_id, payload_type, payload, traceparent) "
    "SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::bytea[], %s::text[])"
)
SKUS = [f"BENCH-WAVE-{i}" for i in range(20)]
BUYERS = 8_000  # some buyers have two orders in the wave: merged parcels (合单)


def _meta(subject: str, role: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {mint_token(subject, [role])}"),)


def _release(n: int, at: datetime) -> orders_events.OrderReleased:
    address = orders_pb2.Address(
        recipient=f"Buyer {n % BUYERS}", phone="13812345678", province="Zhejiang", city="Hangzhou",
        district="Xihu", street=f"{n % BUYERS} Longjing Road",
    )  # fmt: skip
    lines = [orders_events.OrderReleased.Line(sku_code=SKUS[n % len(SKUS)], quantity=1 + n % 2)]
    return orders_events.OrderReleased(
        order_id=f"bench-wave-{n:05d}", channel="tmall", channel_order_id=f"BW-{n}", shop_code="bench",
        buyer_id=f"buyer-{n % BUYERS}", shipments=[orders_events.OrderReleased.Shipment(address=address, lines=lines)],
        released_at=to_timestamp(at),
    )  # fmt: skip


async def _prepare(inventory: inventory_pb2_grpc.InventoryServiceStub, orders: int) -> None:
    keeper = _meta("bench-keeper", "stock_keeper")
    for sku in SKUS:
        await inventory.RegisterSku(
            inv.RegisterSkuRequest(
                request_id=f"reg-{sku}", sku_code=sku, style_number=sku, colour="green", size="250g",
                name="Benchmark tea", category="tea", barcode=f"BC-{sku}",
            ),
            metadata=keeper,
        )  # fmt: skip
        for lot in range(3):  # three lots each: first in, first out has a choice to make
            await inventory.ReceiveStock(
                inv.ReceiveStockRequest(
                    request_id=f"in-{sku}-{lot}", sku_code=sku, quantity=orders // 10 + 100
                ),
                metadata=keeper,
            )
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(orders):
        queue.put_nowait(n)

    async def reserver() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            await inventory.ReserveStock(
                inv.ReserveStockRequest(
                    order_id=f"bench-wave-{n:05d}", shop_code="bench",
                    lines=[inv.StockLine(sku_code=SKUS[n % len(SKUS)], quantity=1 + n % 2)],
                ),
                metadata=keeper,
            )  # fmt: skip

    await asyncio.gather(*(reserver() for _ in range(16)))


def _busy(intervals: Iterable[tuple[int, int]]) -> tuple[float, int]:
    """The time at least one of ``intervals`` (start and end in ns) was running, the union of them (spans
    of one call or transactions of one consumer may overlap and must not be added up), and how many
    separate stretches of work that union is."""
    busy = 0
    stretches = 0
    end: int | None = None
    for start_ns, end_ns in sorted(intervals):
        if end is None or start_ns > end:
            stretches += 1
            end = start_ns
        if end_ns > end:
            busy += end_ns - max(start_ns, end)
            end = end_ns
    return busy / 1e9, stretches


def _service_times(
    span_dir: Path, close: tuple[int, int], pick_list: tuple[int, int]
) -> dict[str, float | None]:
    """What the services spent on the close, read from the suite's span store (None without local spans,
    e.g. when an OTLP collector takes them): the server spans of CloseWave, of the inventory's
    AllocatePicks within it, and of GetPickList."""
    server: dict[str, list[tuple[int, int]]] = {"CloseWave": [], "AllocatePicks": [], "GetPickList": []}
    for span in read_spans(span_dir):
        if span.kind == "SERVER":
            method = span.name.rsplit("/", 1)[-1]
            window = pick_list if method == "GetPickList" else close
            if method in server and window[0] <= span.start_ns and span.end_ns <= window[1]:
                server[method].append((span.start_ns, span.end_ns))

    def busy(spans: list[tuple[int, int]]) -> float | None:
        return round(_busy(spans)[0], 3) if spans else None

    return {
        "close_server_s": busy(server["CloseWave"]),
        "close_inventory_s": busy(server["AllocatePicks"]),
        "pick_list_server_s": busy(server["GetPickList"]),
    }


async def _placing_times(url: str) -> dict[str, float | int]:
    """The consumer's service time for the bench's releases, from the shipments' transactions: each
    shipment records its transaction's start (``created_at``) and commit (``track_commit_timestamp``)."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        rows = await (
            await conn.execute(
                "SELECT min(created_at), pg_xact_commit_timestamp(xmin) FROM shipments "
                "WHERE order_id LIKE 'bench-wave-%%' GROUP BY xmin::text, pg_xact_commit_timestamp(xmin)"
            )
        ).fetchall()
    intervals = [(int(a.timestamp() * 1e9), int(b.timestamp() * 1e9)) for a, b in rows]
    inside, _ = _busy(intervals)
    service = (max(b for _, b in intervals) - min(a for a, _ in intervals)) / 1e9
    return {
        "placing_s": round(service, 3),
        "placing_in_transactions_s": round(inside, 3),
        "placing_batches": len(rows),
    }


def _sampled() -> tuple[tuple[str, str], ...]:
    """Metadata that starts a sampled flow: the call's spans are kept whatever the sampling ratio."""
    return (("traceparent", f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"),)


def _traceparent(ratio: float) -> str:
    """A release's trace context as the orders service writes it: sampled in a ``ratio`` share of flows."""
    flags = "01" if random.random() < ratio else "00"
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{flags}"


async def _count(url: str, sql: str, *args: object) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute(sql, args)).fetchone()
        return int(row[0]) if row else 0


@contextlib.asynccontextmanager
async def _paused(nats_url: str, durable: str) -> AsyncIterator[Callable[[int], Awaitable[float]]]:
    """Holds the logistics consumer of releases paused (JetStream's consumer pause) until the block ends.
    Yields a wait for ``n`` messages queued on it, which returns the seconds since the block began."""
    stream = stream_name(SPEC.publisher)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        began = time.monotonic()
        until = datetime.now(UTC) + timedelta(minutes=10)
        await js.pause_consumer(stream, durable, until.strftime("%Y-%m-%dT%H:%M:%SZ"))

        async def queued(n: int) -> float:
            deadline = time.monotonic() + 300
            while (await js.consumer_info(stream, durable)).num_pending < n:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{n} releases not relayed within 300 s")
                await asyncio.sleep(0.02)
            return time.monotonic() - began

        yield queued
    finally:
        await js.resume_consumer(stream, durable)
        await nc.close()


async def _drained(nats_url: str, durable: str) -> None:
    """Waits until the consumer has every message applied and acknowledged, asking the broker: polling
    the logistics database instead (a new connection and a count every few milliseconds) would take the
    cores the placing is measured on."""
    nc = await nats.connect(nats_url)
    try:
        deadline = time.monotonic() + 300
        while True:
            info = await nc.jetstream().consumer_info(stream_name(SPEC.publisher), durable)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("released orders not placed in waves within 300 s")
            await asyncio.sleep(0.05)
    finally:
        await nc.close()


async def run(env: dict[str, str], *, orders: int = 10_000) -> dict[str, float | int | None]:
    """Places ``orders`` released orders into one wave and closes it; returns the figures."""
    orders_url, logistics_url = env["SHOP_ORDERS_DATABASE_URL"], env["SHOP_LOGISTICS_DATABASE_URL"]
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{env['SHOP_INVENTORY_PORT']}") as inventory_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{env['SHOP_LOGISTICS_PORT']}") as logistics_channel,
    ):
        inventory = inventory_pb2_grpc.InventoryServiceStub(inventory_channel)
        logistics = logistics_pb2_grpc.LogisticsServiceStub(logistics_channel)
        clerk = _meta("bench-clerk", "logistics_clerk")
        await logistics.PutCarrier(
            lg.PutCarrierRequest(
                carrier=lg.Carrier(
                    carrier_code="zto", name="中通快递",
                    zones=[lg.CarrierZone(zone=1, provinces=["Zhejiang"], promised_days=2,
                                          first_weight_price=money(500), additional_kg_price=money(100))],
                )
            ),
            metadata=clerk,
        )  # fmt: skip
        await _prepare(inventory, orders)

        # Released two days ahead at 09:00: one open wave the scheduler will not close meanwhile.
        day = (datetime.now(BUSINESS_ZONE) + timedelta(days=2)).date()
        released_at = datetime(day.year, day.month, day.day, 9, 0, tzinfo=BUSINESS_ZONE).astimezone(UTC)
        ratio = trace_sample_ratio()
        rows = [
            (uuid.uuid4(), SPEC.subject, f"bench-wave-{n:05d}", SPEC.full_name,
             _release(n, released_at).SerializeToString(), _traceparent(ratio))
            for n in range(orders)
        ]  # fmt: skip
        # The releases are queued first, behind the logistics consumer held paused, so that placing is
        # measured on its own: the relay publishing them (orders' work) does not share the two cores with
        # it, and every batch the consumer takes is full, as after any backlog.
        async with _paused(env["SHOP_NATS_URL"], SPEC.durable_name("logistics")) as queued:
            async with await psycopg.AsyncConnection.connect(orders_url) as conn:
                for start in range(0, len(rows), 500):
                    batch = rows[start : start + 500]
                    await conn.execute(_INSERT, [list(column) for column in zip(*batch, strict=True)])
                    await conn.commit()
            relayed = await queued(orders)
        await _drained(env["SHOP_NATS_URL"], SPEC.durable_name("logistics"))
        deadline = time.monotonic() + 300
        while (
            await _count(logistics_url, "SELECT count(*) FROM shipments WHERE order_id LIKE 'bench-wave-%%'")
            < orders
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("released orders not placed in waves within 300 s")
            await asyncio.sleep(0.2)
        placing = await _placing_times(logistics_url)
        async with await psycopg.AsyncConnection.connect(logistics_url) as conn:
            row = await (
                await conn.execute("SELECT min(wave_id) FROM shipments WHERE order_id LIKE 'bench-wave-%%'")
            ).fetchone()
        assert row is not None
        wave_id = row[0]

        # Wall-clock windows as well, to find the calls' server spans in the span store.
        close_from = time.time_ns()
        started = time.perf_counter()
        closed = await logistics.CloseWave(
            lg.CloseWaveRequest(wave_id=wave_id), metadata=clerk + _sampled(), timeout=300
        )
        closing = time.perf_counter() - started
        close_window = (close_from, time.time_ns())
        started = time.perf_counter()
        picks = await logistics.GetPickList(
            lg.GetPickListRequest(wave_id=wave_id), metadata=clerk + _sampled(), timeout=300
        )
        pick_list = time.perf_counter() - started
        pick_list_window = (close_window[1], time.time_ns())
    held = await _count(
        logistics_url,
        "SELECT count(*) FROM shipments WHERE status = 'on_hold' AND order_id LIKE 'bench-wave-%%'",
    )
    await asyncio.sleep(1.0)  # the services export their finished spans every 250 ms
    span_dir = Path(env.get("SHOP_SPAN_DIR") or Path(env["SHOP_VAR_DIR"]) / "spans")
    served = _service_times(span_dir, close_window, pick_list_window)
    return {
        "orders": orders,
        "relay_s": round(relayed, 3),
        **placing,
        "placing_per_s": round(orders / placing["placing_s"], 1),
        **served,
        "close_s": round(closing, 3),
        "pick_list_s": round(pick_list, 3),
        "close_with_pick_list_s": round(closing + pick_list, 3),
        "parcels": closed.wave.parcels,
        "pick_rows": len(picks.lines),
        "on_hold": held,
        "release_to_ready_per_s": round(orders / (relayed + placing["placing_s"] + closing + pick_list), 1),
    }
