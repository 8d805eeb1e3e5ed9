"""The gRPC kit with real servers: health, reflection, graceful shutdown, deadlines, retries, errors, spans."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc

from libs import config, identity
from libs.deadlines import reset_deadline, set_deadline_in
from libs.errors import DeadlineExceeded, NotFound, Unavailable
from libs.grpc_client import call, open_channel
from libs.grpc_server import GrpcServer, Servicers
from tests.conftest import auth, token_for


async def test_health_reports_each_service_serving(inventory):
    stub = health_pb2_grpc.HealthStub(inventory.channel)
    for name in ("", "shop.inventory.v1.InventoryService"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=2)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await stub.Check(health_pb2.HealthCheckRequest(service="shop.nothing.v1.Nope"), timeout=2)
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_the_contract_without_a_token(inventory):
    stub = reflection_pb2_grpc.ServerReflectionStub(inventory.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    names = []
    async for reply in stub.ServerReflectionInfo(iter([request]), timeout=2):
        names = [s.name for s in reply.list_services_response.service]
    assert "shop.inventory.v1.InventoryService" in names
    assert "grpc.health.v1.Health" in names


async def test_contract_only_services_publish_their_contract_through_reflection():
    server = GrpcServer(
        config.service_config("orders"), Servicers(lambda s: []), contracts=["shop.orders.v1.OrdersService"]
    )
    port = await server.start("127.0.0.1:0")
    channel = open_channel(f"127.0.0.1:{port}")
    try:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        names = []
        async for reply in stub.ServerReflectionInfo(iter([request]), timeout=2):
            names = [s.name for s in reply.list_services_response.service]
        assert "shop.orders.v1.OrdersService" in names
    finally:
        await channel.close()
        await server.stop(0)


async def test_graceful_stop_turns_not_serving_before_draining(inventory):
    stub = health_pb2_grpc.HealthStub(inventory.channel)
    stream = stub.Watch(health_pb2.HealthCheckRequest(service="shop.inventory.v1.InventoryService"))
    first = await stream.read()
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    stopping = asyncio.create_task(inventory.server.stop(1.0))
    second = await asyncio.wait_for(stream.read(), 2)
    assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
    await stopping


async def test_call_maps_status_details_back_to_the_domain_error(inventory):
    stub = inventory_pb2_grpc.InventoryServiceStub(inventory.channel)
    caller = identity.verify_token(token_for("stock_keeper"))
    with pytest.raises(NotFound) as exc:
        await call(stub.GetSku, pb.GetSkuRequest(sku_code="NOPE"), caller=caller)
    assert exc.value.reason == "SKU_NOT_FOUND"
    assert [v.field for v in exc.value.violations] == ["sku_code"]


async def test_call_to_a_dead_service_is_unavailable_after_retries():
    channel = open_channel("127.0.0.1:1")  # nothing listens on port 1
    stub = inventory_pb2_grpc.InventoryServiceStub(channel)
    try:
        with pytest.raises(Unavailable):
            await call(stub.GetSku, pb.GetSkuRequest(sku_code="X"), max_seconds=3)
    finally:
        await channel.close()


class _DeadlineRecorder(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """A downstream that reports the deadline it was given."""

    def __init__(self) -> None:
        self.remaining: list[float] = []

    async def Check(self, request, context):
        self.remaining.append(context.time_remaining())
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


async def test_downstream_deadline_is_the_callers_remaining_time_minus_a_margin():
    recorder = _DeadlineRecorder()
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = open_channel(f"127.0.0.1:{port}")
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        await call(stub.Check, health_pb2.HealthCheckRequest(), max_seconds=5)
        token = set_deadline_in(0.8)  # as if serving a call with 0.8 s left
        try:
            await call(stub.Check, health_pb2.HealthCheckRequest(), max_seconds=5)
        finally:
            reset_deadline(token)
        token = set_deadline_in(0.01)
        try:
            with pytest.raises(DeadlineExceeded):
                await call(stub.Check, health_pb2.HealthCheckRequest(), max_seconds=5)
        finally:
            reset_deadline(token)
    finally:
        await channel.close()
        await server.stop(0)
    no_incoming, propagated = recorder.remaining
    assert 4.0 < no_incoming <= 5.1  # the two clocks differ by scheduling noise
    assert 0.5 < propagated < 0.8
    assert len(recorder.remaining) == 2  # a spent deadline never reaches the wire


async def test_server_span_has_database_spans_as_children(inventory, span_exporter):
    span_exporter.clear()
    stub = inventory_pb2_grpc.InventoryServiceStub(inventory.channel)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetSku(pb.GetSkuRequest(sku_code="NOPE"), metadata=auth("stock_keeper"))
    from opentelemetry import trace

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
        spans = span_exporter.get_finished_spans()
        servers = [s for s in spans if s.name.endswith("InventoryService/GetSku") and s.kind.name == "SERVER"]
        if servers:
            break
        await asyncio.sleep(0.05)
    server_span = servers[0]
    db_spans = [s for s in spans if s.attributes and s.attributes.get("db.system") == "postgresql"]
    children = [s for s in db_spans if s.parent and s.parent.span_id == server_span.context.span_id]
    assert children, [s.name for s in spans]
    assert all(s.context.trace_id == server_span.context.trace_id for s in children)
    assert server_span.attributes["shop.sku"] == "NOPE"
