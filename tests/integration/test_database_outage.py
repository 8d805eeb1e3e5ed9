"""A service whose database goes away answers UNAVAILABLE (HTTP 503 at the gateway), turns its gRPC health
NOT_SERVING so probes route around it, and recovers by itself when the database is back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc

from libs import config
from libs.db import Database, migrate
from libs.embedded_pg import PostgresCluster
from libs.event_bus import EventBus
from libs.grpc_client import open_channel
from libs.service_main import ServiceParts, ServiceRuntime
from services.inventory.__main__ import build
from services.inventory.store.tables import kit
from tests.conftest import REPO
from tests.integration.test_inventory_stock_flow import KEEPER, stock


@dataclass
class Server:
    cluster: PostgresCluster
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import pwd

        entry = pwd.getpwnam(self.cluster.user) if self.cluster.user and os.geteuid() == 0 else None
        self.process = subprocess.Popen(
            self.cluster.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=entry.pw_uid if entry else None,
            group=entry.pw_gid if entry else None,
            extra_groups=[] if entry else None,
        )
        deadline = time.monotonic() + 30
        while not self.cluster.answers():
            assert time.monotonic() < deadline, "PostgreSQL did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            self.process.wait(timeout=30)
        self.process = None


@pytest.fixture
def database_server(tmp_path: Path) -> Iterator[Server]:
    os.chmod(tmp_path, 0o755)
    cluster = PostgresCluster(tmp_path / "pgdata")
    cluster.init()
    server = Server(cluster)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def inventory_on_it(database_server: Server, nats_server) -> AsyncIterator[tuple[ServiceRuntime, str]]:
    url = database_server.cluster.create_database("shop_inventory")
    await asyncio.to_thread(migrate, url, REPO / "services" / "inventory" / "store" / "migrations")
    runtime = ServiceRuntime(
        config.service_config("inventory"),
        ServiceParts(build=build, kit=kit),
        database=Database(url),
        bus=EventBus("inventory", nats_server.url),
    )
    port = await runtime.start("127.0.0.1:0")
    try:
        yield runtime, f"127.0.0.1:{port}"
    finally:
        await runtime.stop(0)


async def health(target: str) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=2
        )
        return int(reply.status)


async def until(check, value, within: float = 15.0):
    deadline = time.monotonic() + within
    while (got := await check()) != value:
        assert time.monotonic() < deadline, f"still {got}, wanted {value}"
        await asyncio.sleep(0.2)


async def test_database_down_answers_unavailable_and_not_serving_then_recovers(
    database_server, inventory_on_it
):
    _, target = inventory_on_it
    channel = open_channel(target, traced=False)
    stub = inventory_pb2_grpc.InventoryServiceStub(channel)
    request = pb.GetStockLevelsRequest(sku_code="LJ-250-GRN")
    try:
        await stock(stub)
        await stub.GetStockLevels(request, metadata=KEEPER)
        assert await health(target) == health_pb2.HealthCheckResponse.SERVING

        await asyncio.to_thread(database_server.stop)
        with pytest.raises(grpc.aio.AioRpcError) as down:
            await stub.GetStockLevels(request, metadata=KEEPER)
        assert down.value.code() == grpc.StatusCode.UNAVAILABLE  # not INTERNAL: the caller may retry
        assert "database" in (down.value.details() or "")
        await until(lambda: health(target), health_pb2.HealthCheckResponse.NOT_SERVING)

        await asyncio.to_thread(database_server.start)
        await until(lambda: health(target), health_pb2.HealthCheckResponse.SERVING)
        await stub.GetStockLevels(request, metadata=KEEPER)  # served again, by itself
    finally:
        await channel.close()
