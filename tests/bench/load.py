"""The per-call load of `make bench`, run as a process of its own so that its CPU is its own and measured
rather than taken from the suite unnoticed (started by tests/bench/__main__.py).

    python -m tests.bench.load intake --gateway http://127.0.0.1:8080 --mode closed --load 16 --seconds 6
    python -m tests.bench.load baseline --target 127.0.0.1:50100 --mode closed --load 16 --seconds 6

``intake`` posts one paid order per call to the gateway (`POST /v1/orders`) over keep-alive HTTP/1.1
connections written by hand: a request is a few bytes formatted into a template and a reply is a status
line and a body read by its length, so the load costs a small part of what an HTTP library would.
``baseline`` makes the single-hop baseline's gRPC call. ``--mode closed`` keeps ``--load`` calls in flight;
``--mode open`` starts ``--load`` calls a second whatever the replies (latency then counts from each
call's scheduled start, so a slow suite is not excused by the load sending less). It prints one JSON
object: each successful call's latency in seconds, the errors, the measured seconds and the CPU seconds
the process used while measuring.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import grpc

from libs.identity import mint_token
from tests.bench.baseline_server import METHOD

WARMUP_SECONDS = 1.5

Call = Callable[[], Awaitable[bool]]


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that sends ready-made requests and reads the replies."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, request: bytes) -> int:
        """Sends ``request`` and returns the reply's status. A kept-alive connection that the server closed
        while it was idle (uvicorn closes one after 5 s) answers nothing: it is opened again once and the
        request sent again, as HTTP clients do, since the server never read it."""
        reused = self._streams is not None
        try:
            return await self._send(request)
        except (ConnectionError, asyncio.IncompleteReadError) as err:
            if not reused or (isinstance(err, asyncio.IncompleteReadError) and err.partial):
                raise
            return await self._send(request)

    async def _send(self, request: bytes) -> int:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            self._streams = None
            writer.close()
            raise
        status = int(head[9:12])
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")
        elif length:
            await reader.readexactly(length)
        return status


def intake_calls(gateway: str) -> Callable[[], Call]:
    """A factory of callers, one per connection, each posting a new paid order per call."""
    url = urlsplit(gateway)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    token = mint_token("bench-shop", ["integrator"], shops=["bench"])

    def caller() -> Call:
        connection = HttpConnection(host, port)

        async def call() -> bool:
            key = uuid.uuid4().hex
            order = {
                "channel": "tmall", "channel_order_id": key, "shop_code": "bench", "buyer_id": "bench-buyer",
                "address": {
                    "recipient": "Wang", "phone": "13812345678", "province": "Zhejiang", "city": "Hangzhou",
                    "district": "Xihu", "street": "18 Longjing Road",
                },
                "lines": [{"sku_code": "BENCH-TEA", "quantity": 1, "unit_price_fen": 8800}],
                "payment": {"amount_fen": 8800, "paid_at": "2026-11-23T08:00:00Z", "reference": key},
            }  # fmt: skip
            body = json.dumps(order).encode()
            request = (
                f"POST /v1/orders HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            return await connection.send(request) == 201

        return call

    return caller


def baseline_calls(target: str) -> Callable[[], Call]:
    """A factory of callers of the baseline's one-row write, over one shared channel."""
    channel = grpc.aio.insecure_channel(target)
    write = channel.unary_unary(METHOD)
    metadata = (("authorization", f"Bearer {mint_token('bench', ['integrator'], shops=['bench'])}"),)

    def caller() -> Call:
        async def call() -> bool:
            return bool(await write(b"x" * 64, metadata=metadata, timeout=10) == b"ok")

        return call

    return caller


async def closed_loop(caller: Callable[[], Call], concurrency: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    warm_until = time.perf_counter() + WARMUP_SECONDS
    end = warm_until + seconds
    cpu_at_start = 0.0

    async def worker() -> None:
        nonlocal errors
        call = caller()
        while (now := time.perf_counter()) < end:
            try:
                ok = await call()
            except Exception:
                ok = False
            if now >= warm_until:
                if ok:
                    latencies.append(time.perf_counter() - now)
                else:
                    errors += 1

    async def mark_warm() -> None:
        nonlocal cpu_at_start
        await asyncio.sleep(max(0.0, warm_until - time.perf_counter()))
        cpu_at_start = time.process_time()

    await asyncio.gather(mark_warm(), *(worker() for _ in range(concurrency)))
    return {
        "latencies": latencies,
        "errors": errors,
        "seconds": seconds,
        "cpu_s": time.process_time() - cpu_at_start,
    }


async def open_loop(caller: Callable[[], Call], rate: float, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    idle: list[Call] = []  # callers with no call in flight; a new one (connection) when none is free
    interval = 1.0 / rate
    start = time.perf_counter() + 0.2
    cpu_at_start = time.process_time()

    async def one(scheduled: float) -> None:
        nonlocal errors
        call = idle.pop() if idle else caller()
        try:
            ok = await call()
        except Exception:
            ok = False
        idle.append(call)
        if ok:
            latencies.append(time.perf_counter() - scheduled)
        else:
            errors += 1

    tasks = []
    for i in range(int(rate * seconds)):
        scheduled = start + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return {
        "latencies": latencies,
        "errors": errors,
        "seconds": seconds,
        "cpu_s": time.process_time() - cpu_at_start,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    caller = intake_calls(args.gateway) if args.what == "intake" else baseline_calls(args.target)
    if args.mode == "closed":
        return await closed_loop(caller, int(args.load), args.seconds)
    return await open_loop(caller, args.load, args.seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["intake", "baseline"])
    parser.add_argument("--gateway", default="")
    parser.add_argument("--target", default="")
    parser.add_argument("--mode", choices=["closed", "open"], required=True)
    parser.add_argument("--load", type=float, required=True, help="calls in flight, or calls a second")
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    json.dump(asyncio.run(run(args)), sys.stdout)


if __name__ == "__main__":
    main()
