"""The services as gRPC servers in this process, each on a free port over its own migrated database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from shop.inventory.v1 import inventory_pb2_grpc

from libs import config
from libs.db import Database
from libs.grpc_client import open_channel
from libs.grpc_server import GrpcServer
from services.inventory.__main__ import build


@dataclass
class RunningService:
    server: GrpcServer
    channel: grpc.aio.Channel
    target: str
    database: Database


@pytest.fixture
async def inventory(inventory_db: Database) -> AsyncIterator[RunningService]:
    server = GrpcServer(config.service_config("inventory"), build(inventory_db))
    port = await server.start("127.0.0.1:0")
    target = f"127.0.0.1:{port}"
    channel = open_channel(target)
    await ready(channel)
    try:
        yield RunningService(server, channel, target, inventory_db)
    finally:
        await channel.close()
        await server.stop(0)


async def ready(channel: grpc.aio.Channel) -> None:
    """Connects before the test's first call: gRPC shares subchannels by address, and one left in back-off
    by an earlier test's server on the same (recycled) port would fail that call at once."""
    await asyncio.wait_for(channel.channel_ready(), 10)


@pytest.fixture
def inventory_stub(inventory: RunningService) -> inventory_pb2_grpc.InventoryServiceStub:
    return inventory_pb2_grpc.InventoryServiceStub(inventory.channel)


@pytest.fixture
async def logistics(fresh_database, inventory: RunningService) -> AsyncIterator[RunningService]:
    """A logistics gRPC server over its own database, calling the in-process inventory server."""
    from services.logistics.__main__ import build as build_logistics
    from services.logistics.clients.inventory import InventoryClient as LogisticsInventory

    database = Database(fresh_database("logistics"))
    client = LogisticsInventory(inventory.target)
    server = GrpcServer(config.service_config("logistics"), build_logistics(database, client))
    port = await server.start("127.0.0.1:0")
    target = f"127.0.0.1:{port}"
    channel = open_channel(target)
    await ready(channel)
    try:
        yield RunningService(server, channel, target, database)
    finally:
        await channel.close()
        await server.stop(0)
        await client.close()
        await database.dispose()


@pytest.fixture
async def orders_service(
    fresh_database, inventory: RunningService, logistics: RunningService
) -> AsyncIterator[RunningService]:
    """An orders gRPC server over its own database, calling the in-process inventory and logistics
    servers."""
    from services.orders.__main__ import build as build_orders
    from services.orders.clients.inventory import InventoryClient
    from services.orders.clients.logistics import LogisticsClient

    database = Database(fresh_database("orders"))
    client = InventoryClient(inventory.target)
    warehouse = LogisticsClient(logistics.target)
    server = GrpcServer(config.service_config("orders"), build_orders(database, client, warehouse))
    port = await server.start("127.0.0.1:0")
    target = f"127.0.0.1:{port}"
    channel = open_channel(target)
    await ready(channel)
    try:
        yield RunningService(server, channel, target, database)
    finally:
        await channel.close()
        await server.stop(0)
        await client.close()
        await warehouse.close()
        await database.dispose()


@pytest.fixture
def orders_stub(orders_service: RunningService):
    from shop.orders.v1 import orders_pb2_grpc

    return orders_pb2_grpc.OrdersServiceStub(orders_service.channel)


@pytest.fixture
def logistics_stub(logistics: RunningService):
    from shop.logistics.v1 import logistics_pb2_grpc

    return logistics_pb2_grpc.LogisticsServiceStub(logistics.channel)
