"""The wave figures of `make bench` (LOG-1, LOG-2), against the running suite:

  placing: 10,000 OrderReleased events written into the orders outbox (as a release writes them) are
      relayed through JetStream to the logistics consumer, which creates each shipment in its wave. Two
      figures: end to end, from the first outbox transaction to the last shipment's commit (both on
      PostgreSQL's clock), which includes the relay, JetStream and the consumer's waits for messages; and
      the consumer's service time, the time it was busy applying them: the union of its spans
      ("process shop.orders.v1.order_released", one per event, from the suite's span store);
  closing: the logistics clerk closes that 10,000-order wave — parcels fixed (merged where one buyer has
      several orders), every shipment's lots kept at the inventory service first in first out, picks
      recorded — timed as the CloseWave call, with the server's own span and the inventory service's part
      (its AllocatePicks server spans); then the aggregated pick list, timed as the GetPickList call;
  release to dispatch-ready: orders per second from release to a printed, picked-from wave.

The orders' stock is reserved first through the inventory API (ReserveStock per order), as reviews do.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg
from shop.inventory.v1 import inventory_pb2 as inv
from shop.inventory.v1 import inventory_pb2_grpc
from shop.logistics.v1 import logistics_pb2 as lg
from shop.logistics.v1 import logistics_pb2_grpc
from shop.orders.v1 import events_pb2 as orders_events
from shop.orders.v1 import orders_pb2

from libs.business_time import BUSINESS_ZONE
from libs.events import catalogue
from libs.identity import mint_token
from libs.money import money
from libs.spanstore import StoredSpan, read_spans
from libs.timestamps import to_timestamp
from tests.bench.events import INSERT

SPEC = catalogue().of(orders_events.OrderReleased)
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


def _busy(spans: Iterable[StoredSpan]) -> tuple[float, int]:
    """The time at least one of ``spans`` was running, the union of their intervals (a batch's events share
    one transaction, so their spans overlap and must not be added up), and how many separate stretches of
    work that union is (for a consumer: about its number of batches)."""
    busy = 0
    stretches = 0
    end: int | None = None
    for start_ns, end_ns in sorted((s.start_ns, s.end_ns) for s in spans):
        if end is None or start_ns > end:
            stretches += 1
            end = start_ns
        if end_ns > end:
            busy += end_ns - max(start_ns, end)
            end = end_ns
    return busy / 1e9, stretches


def _service_times(
    span_dir: Path, event_ids: set[str], close: tuple[int, int], pick_list: tuple[int, int]
) -> dict[str, float | int | None]:
    """What the services spent, read from the suite's span store (None without local spans, e.g. when an
    OTLP collector takes them): the logistics consumer's busy time on these events, and the server spans of
    CloseWave, of the inventory's AllocatePicks within it, and of GetPickList."""
    placed: list[StoredSpan] = []
    server: dict[str, list[StoredSpan]] = {"CloseWave": [], "AllocatePicks": [], "GetPickList": []}
    for span in read_spans(span_dir):
        if span.kind == "CONSUMER" and span.name == f"process {SPEC.subject}":
            if span.attributes.get("messaging.message.id") in event_ids:
                placed.append(span)
        elif span.kind == "SERVER":
            method = span.name.rsplit("/", 1)[-1]
            window = pick_list if method == "GetPickList" else close
            if method in server and window[0] <= span.start_ns and span.end_ns <= window[1]:
                server[method].append(span)

    def busy(spans: list[StoredSpan]) -> float | None:
        return round(_busy(spans)[0], 3) if spans else None

    return {
        "placing_service_s": busy(placed),
        "placing_spans": len(placed),
        "placing_batches": _busy(placed)[1],
        "close_server_s": busy(server["CloseWave"]),
        "close_inventory_s": busy(server["AllocatePicks"]),
        "pick_list_server_s": busy(server["GetPickList"]),
    }


async def _count(url: str, sql: str, *args: object) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute(sql, args)).fetchone()
        return int(row[0]) if row else 0


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
        rows = [
            (uuid.uuid4(), SPEC.subject, f"bench-wave-{n:05d}", SPEC.full_name, _release(n, released_at).SerializeToString())
            for n in range(orders)
        ]  # fmt: skip
        ids = [r[0] for r in rows]
        async with await psycopg.AsyncConnection.connect(orders_url) as conn:
            for start in range(0, len(rows), 500):
                batch = rows[start : start + 500]
                await conn.execute(INSERT, [list(column) for column in zip(*batch, strict=True)])
                await conn.commit()
        deadline = time.monotonic() + 300
        while (
            await _count(logistics_url, "SELECT count(*) FROM shipments WHERE order_id LIKE 'bench-wave-%%'")
            < orders
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("released orders not placed in waves within 300 s")
            await asyncio.sleep(0.05)
        async with await psycopg.AsyncConnection.connect(orders_url) as conn:
            first = await (
                await conn.execute("SELECT min(created_at) FROM outbox WHERE event_id = ANY(%s)", (ids,))
            ).fetchone()
        async with await psycopg.AsyncConnection.connect(logistics_url) as conn:
            last, wave_id = (
                await (
                    await conn.execute(
                        "SELECT max(pg_xact_commit_timestamp(xmin)), min(wave_id) FROM shipments "
                        "WHERE order_id LIKE 'bench-wave-%%'"
                    )
                ).fetchone()
            ) or (None, None)
        assert first is not None and first[0] is not None and last is not None
        placing = (last - first[0]).total_seconds()

        # Wall-clock windows as well, to find the calls' server spans in the span store.
        close_from = time.time_ns()
        started = time.perf_counter()
        closed = await logistics.CloseWave(lg.CloseWaveRequest(wave_id=wave_id), metadata=clerk, timeout=300)
        closing = time.perf_counter() - started
        close_window = (close_from, time.time_ns())
        started = time.perf_counter()
        picks = await logistics.GetPickList(
            lg.GetPickListRequest(wave_id=wave_id), metadata=clerk, timeout=300
        )
        pick_list = time.perf_counter() - started
        pick_list_window = (close_window[1], time.time_ns())
    held = await _count(
        logistics_url,
        "SELECT count(*) FROM shipments WHERE status = 'on_hold' AND order_id LIKE 'bench-wave-%%'",
    )
    await asyncio.sleep(1.0)  # the services export their finished spans every 250 ms
    span_dir = Path(env.get("SHOP_SPAN_DIR") or Path(env["SHOP_VAR_DIR"]) / "spans")
    served = _service_times(span_dir, {str(i) for i in ids}, close_window, pick_list_window)
    return {
        "orders": orders,
        "placing_s": round(placing, 3),
        "placing_per_s": round(orders / placing, 1),
        **served,
        "close_s": round(closing, 3),
        "pick_list_s": round(pick_list, 3),
        "close_with_pick_list_s": round(closing + pick_list, 3),
        "parcels": closed.wave.parcels,
        "pick_rows": len(picks.lines),
        "on_hold": held,
        "release_to_ready_per_s": round(orders / (placing + closing + pick_list), 1),
    }
