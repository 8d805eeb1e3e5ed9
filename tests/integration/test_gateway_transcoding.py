"""The gateway serves any annotated contract with no code of its own: a test contract (echo.proto, in the
manner of grpc-gateway's echo service) served by a real gRPC server through the kit, reached over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import pytest
from google.api import httpbody_pb2
from shop.common.v1 import money_pb2
from shop.testing.v1 import echo_pb2 as pb
from shop.testing.v1 import echo_pb2_grpc

from libs import config
from libs.errors import NotFound
from libs.grpc_client import open_channel
from libs.grpc_server import GrpcServer, Servicers
from libs.policy import Claims
from services.gateway.app import create_app
from services.gateway.upstreams import Upstreams
from services.inventory.store.tables import kit
from tests.conftest import token_for

ECHO = pb.DESCRIPTOR.services_by_name["EchoService"]
#: A PDF's first bytes: its binary marker line is not UTF-8, so only raw bytes survive the trip.
PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


class Echo(echo_pb2_grpc.EchoServiceServicer):  # type: ignore[misc]
    """Answers from the request alone, so every field the gateway sent comes back to be checked."""

    def __init__(self) -> None:
        self.orders_created = 0

    async def Echo(self, request: pb.SimpleMessage, context: Any) -> pb.SimpleMessage:
        return request

    async def CreateOrder(self, request: pb.CreateOrderRequest, context: Any) -> pb.CreateOrderResponse:
        self.orders_created += 1
        order = pb.Order(
            order_id=f"o-{self.orders_created}",
            status=pb.ORDER_STATUS_PAID,
            channel=request.channel,
            lines=request.lines,
            address=request.address,
            total=money_pb2.Money(
                currency_code="CNY",
                amount_minor=sum(x.quantity * x.unit_price.amount_minor for x in request.lines),
            ),
        )
        order.created_at.FromDatetime(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
        return pb.CreateOrderResponse(order=order, created=True)

    async def GetDocument(self, request: pb.GetDocumentRequest, context: Any) -> httpbody_pb2.HttpBody:
        if request.id == "missing":
            raise NotFound.for_field("id", "no document has this id")
        if request.id == "broken":
            return httpbody_pb2.HttpBody(content_type="text/csv\r\nX-Injected: 1", data=b"id\r\n")
        if request.format == pb.DOCUMENT_FORMAT_PDF:
            return httpbody_pb2.HttpBody(content_type="application/pdf", data=pdf(request.id))
        return httpbody_pb2.HttpBody(content_type="text/csv", data=csv(request.id, request.sku))

    async def WatchOrders(self, request: pb.WatchOrdersRequest, context: Any) -> AsyncIterator[pb.Order]:
        for n in range(1, request.count + 1):
            if request.fail_after and n > request.fail_after:
                raise NotFound.for_field("count", f"there is no order o-{n}")
            yield pb.Order(order_id=f"o-{n}", status=pb.ORDER_STATUS_PAID)


def csv(document_id: str, skus: Any) -> bytes:
    return ("id,sku\r\n" + "".join(f"{document_id},{sku}\r\n" for sku in skus)).encode()


def pdf(document_id: str) -> bytes:
    return PDF_HEAD + f"% pick list {document_id}\n".encode() + b"\x00\xff%%EOF\n"


@pytest.fixture
async def gateway(inventory_db) -> AsyncIterator[tuple[httpx.AsyncClient, Echo]]:
    echo = Echo()  # type: ignore[abstract]  # the RPCs it leaves out answer UNIMPLEMENTED

    def add(server: grpc.aio.Server) -> list[str]:
        echo_pb2_grpc.add_EchoServiceServicer_to_server(echo, server)
        return [ECHO.full_name]

    server = GrpcServer(
        config.service_config("inventory"), Servicers(add, Claims(inventory_db, kit.idempotency))
    )
    port = await server.start("127.0.0.1:0")
    channel = open_channel(f"127.0.0.1:{port}")
    app = create_app(contracts=[ECHO])
    app.state.upstreams = Upstreams(channels={"testing": channel}, health_channels={})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            yield http, echo
    finally:
        await channel.close()
        await server.stop(0)


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(role)}"}


async def test_a_get_binding_fills_path_and_query_and_answers_the_profile(gateway):
    http, _ = gateway
    reply = await http.get(
        "/v1/echo/abc", params=[("num", "7"), ("sku", "A"), ("sku", "B"), ("status", "paid")],
        headers=bearer("integrator"),
    )  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "id": "abc", "num": 7, "note": "", "page": None, "sku": ["A", "B"], "status": "paid",
    }  # fmt: skip
    assert len(reply.headers["X-Trace-Id"]) == 32


async def test_a_creating_post_answers_201_and_replays_by_idempotency_key(gateway):
    http, echo = gateway
    body = {
        "channel": "tmall",
        "lines": [{"sku": "TEA", "quantity": 2, "unit_price_fen": 1250}],
        "address": {"city": "Hangzhou", "phone": "13800000000"},
    }
    headers = {**bearer("integrator"), "Idempotency-Key": "k-1"}
    first = await http.post("/v1/orders", json=body, headers=headers)
    again = await http.post("/v1/orders", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["order"]["total_fen"] == 2500
    assert first.json()["order"]["created_at"] == "2026-12-01T08:00:00Z"
    assert again.json() == first.json()
    assert echo.orders_created == 1  # the service's interceptor answered the retry
    other = await http.post("/v1/orders", json={**body, "note": "x"}, headers=headers)
    assert other.status_code == 409, other.text
    assert other.json()["error"]["fields"][0]["field"] == "request_id"


async def test_bad_input_names_the_field_before_any_call(gateway):
    http, echo = gateway
    reply = await http.post(
        "/v1/orders",
        json={"channel": "mars", "lines": [{"sku": "TEA", "quantity": 2**31}], "colour": "red"},
        headers=bearer("integrator"),
    )
    assert reply.status_code == 400, reply.text
    fields = {f["field"] for f in reply.json()["error"]["fields"]}
    assert fields == {"channel", "lines[0].quantity", "colour"}
    assert echo.orders_created == 0


async def test_the_contract_policy_refuses_other_roles_and_anonymous_callers(gateway):
    http, _ = gateway
    assert (await http.get("/v1/echo/abc", headers=bearer("stock_keeper"))).status_code == 403
    anonymous = await http.get("/v1/echo/abc")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"


async def test_unknown_paths_and_methods_answer_in_the_error_format(gateway):
    http, _ = gateway
    missing = await http.get("/v1/nowhere", headers=bearer("integrator"))
    assert missing.status_code == 404
    assert missing.json()["error"]["reason"] == "ROUTE_NOT_FOUND"
    wrong = await http.delete("/v1/echo", headers=bearer("integrator"))
    assert wrong.status_code == 405
    assert "POST" in wrong.headers["Allow"]


async def test_a_body_over_the_limit_is_413_not_an_invitation_to_retry(gateway):
    http, _ = gateway
    big = b'{"note": "' + b"x" * (config.max_message_bytes() + 1) + b'"}'
    reply = await http.post(
        "/v1/echo", content=big, headers={**bearer("integrator"), "Content-Type": "application/json"}
    )
    assert reply.status_code == 413
    assert reply.json()["error"]["reason"] == "PAYLOAD_TOO_LARGE"


async def test_the_new_contract_is_in_the_openapi_document_with_its_roles(gateway):
    http, _ = gateway
    document = (await http.get("/openapi.json")).json()
    operation = document["paths"]["/v1/orders"]["post"]
    assert operation["x-roles"] == ["integrator"]
    assert {"201", "200", "400", "403", "409", "413"} <= set(operation["responses"])
    assert "/v1/echo/{id}" in document["paths"]


async def test_an_http_body_rpc_answers_the_documents_bytes_with_its_content_type(gateway):
    http, _ = gateway
    reply = await http.get(
        "/v1/echo/W-7/document", params=[("sku", "TEA"), ("sku", "CUP")], headers=bearer("integrator")
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == "text/csv"  # no charset the service did not declare
    assert reply.content == b"id,sku\r\nW-7,TEA\r\nW-7,CUP\r\n"
    assert reply.headers["Content-Length"] == str(len(reply.content))
    assert len(reply.headers["X-Trace-Id"]) == 32

    binary = await http.get("/v1/echo/W-7/document", params={"format": "pdf"}, headers=bearer("supervisor"))
    assert binary.status_code == 200, binary.text
    assert binary.headers["Content-Type"] == "application/pdf"
    assert binary.content == pdf("W-7")


async def test_an_http_body_rpcs_errors_are_the_json_error_body(gateway):
    http, _ = gateway
    missing = await http.get("/v1/echo/missing/document", headers=bearer("integrator"))
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/json"
    assert missing.json()["error"]["fields"] == [{"field": "id", "description": "no document has this id"}]
    refused = await http.get("/v1/echo/W-7/document", params={"format": "mars"}, headers=bearer("integrator"))
    assert refused.status_code == 400
    assert [f["field"] for f in refused.json()["error"]["fields"]] == ["format"]
    forbidden = await http.get("/v1/echo/W-7/document", headers=bearer("stock_keeper"))
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "PERMISSION_DENIED"


async def test_a_content_type_that_is_no_media_type_is_never_sent_as_a_header(gateway):
    http, _ = gateway
    reply = await http.get("/v1/echo/broken/document", headers=bearer("integrator"))
    assert reply.status_code == 500
    assert "X-Injected" not in reply.headers
    assert reply.json()["error"]["code"] == "INTERNAL"


async def test_the_openapi_document_gives_an_http_body_rpc_its_media_types(gateway):
    http, _ = gateway
    document = (await http.get("/openapi.json")).json()
    responses = document["paths"]["/v1/echo/{id}/document"]["get"]["responses"]
    binary = {"schema": {"type": "string", "format": "binary"}}
    assert responses["200"]["content"] == {"text/csv": binary, "application/pdf": binary}
    assert responses["404"] == {"$ref": "#/components/responses/Error404"}  # errors stay the JSON body


# ------------------------------------------------------------------------------------------------ streams


async def test_a_server_stream_answers_newline_delimited_json_as_grpc_gateway_does(gateway):
    http, _ = gateway
    reply = await http.get("/v1/orders:watch", params={"count": 3}, headers=bearer("integrator"))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/x-ndjson"
    assert len(reply.headers["X-Trace-Id"]) == 32
    assert reply.text.endswith("\n")
    lines = [json.loads(line) for line in reply.text.splitlines()]
    assert [line["result"]["order_id"] for line in lines] == ["o-1", "o-2", "o-3"]
    assert lines[0]["result"]["status"] == "paid"


async def test_a_stream_that_fails_midway_ends_with_an_error_line(gateway):
    http, _ = gateway
    reply = await http.get(
        "/v1/orders:watch", params={"count": 5, "fail_after": 2}, headers=bearer("integrator")
    )
    assert reply.status_code == 200  # the status went out with the first line
    *results, last = [json.loads(line) for line in reply.text.splitlines()]
    assert [r["result"]["order_id"] for r in results] == ["o-1", "o-2"]
    error = last["error"]
    assert (error["code"], error["reason"]) == ("NOT_FOUND", "NOT_FOUND")
    assert error["fields"] == [{"field": "count", "description": "there is no order o-3"}]
    assert error["trace_id"] == reply.headers["X-Trace-Id"]


async def test_a_stream_refused_before_its_first_message_answers_with_its_status(gateway):
    http, _ = gateway
    failed = await http.get(
        "/v1/orders:watch", params={"count": 2, "fail_after": -1}, headers=bearer("integrator")
    )
    assert failed.status_code == 404, failed.text  # failed before its first order
    assert failed.headers["content-type"] == "application/json"
    assert failed.json()["error"]["fields"] == [{"field": "count", "description": "there is no order o-1"}]
    refused = await http.get("/v1/orders:watch", params={"count": 2}, headers=bearer("supervisor"))
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"]["reason"] == "ROLE_REQUIRED"
    invalid = await http.get("/v1/orders:watch", params={"count": "many"}, headers=bearer("integrator"))
    assert invalid.status_code == 400
    assert [f["field"] for f in invalid.json()["error"]["fields"]] == ["count"]
