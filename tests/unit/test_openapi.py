"""The OpenAPI 3.1 document and the role table, from the same annotations the router serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from shop.common.v1 import money_pb2
from shop.testing.v1 import echo_pb2

from libs import json_profile as profile
from libs.errors import HTTP_STATUS, HTTP_STATUS_BY_REASON
from libs.openapi import Comments, error_responses, markdown_role_table, openapi_document

REPO = Path(__file__).resolve().parents[2]
SERVICE = echo_pb2.DESCRIPTOR.services_by_name["EchoService"]
ECHO_PROTO = "tests/protos/shop/testing/v1/echo.proto"


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The echo contract compiled with its comments, as ``make proto`` writes gen/descriptors.binpb."""
    out = tmp_path_factory.mktemp("descriptors") / "descriptors.binpb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            "protos",
            "-I",
            "tests/protos",
            "-I",
            "third_party/googleapis",
            "--include_source_info",
            "--include_imports",
            f"--descriptor_set_out={out}",
            ECHO_PROTO,
        ],
        cwd=REPO,
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def comments(descriptor_set: Path) -> Comments:
    return Comments.from_file(descriptor_set)


@pytest.fixture(scope="module")
def document(comments: Comments) -> dict[str, Any]:
    return openapi_document(
        [SERVICE], comments=comments, title="Echo", version="1", servers=["http://localhost:8080"]
    )


def operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]
    return found


def parameters(op: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in op.get("parameters", []) if p["in"] == where}


# ------------------------------------------------------------------------------------------ comments


def test_comments_attach_to_every_kind_of_element(comments: Comments) -> None:
    everything = echo_pb2.ABitOfEverything.DESCRIPTOR
    assert (comments.of(SERVICE) or "").startswith("A contract only the tests use")
    assert comments.of(SERVICE.methods_by_name["GetOrder"]) == "Returns one order; NOT_FOUND when unknown."
    assert comments.of(echo_pb2.Order.DESCRIPTOR) == "An order as the shop sees it."
    assert comments.of(echo_pb2.Order.DESCRIPTOR.fields_by_name["total"]) == "What the buyer pays."
    assert comments.of(everything.nested_types_by_name["Nested"]) == "A message inside a message."
    kind = everything.nested_types_by_name["Nested"].enum_types_by_name["Kind"]
    assert comments.of(kind) == "How big it is."
    assert (
        comments.of(echo_pb2.OrderStatus.DESCRIPTOR.values_by_name["ORDER_STATUS_PAID"])
        == "Paid, not yet reviewed."
    )
    assert comments.of(echo_pb2.Page.DESCRIPTOR.fields_by_name["page_token"]) is None


def test_comments_keep_paragraphs_and_drop_the_comment_indent() -> None:
    from google.protobuf import descriptor_pb2

    files = descriptor_pb2.FileDescriptorSet()
    file = files.file.add(name="x.proto", package="p")
    file.message_type.add(name="M")
    location = file.source_code_info.location.add(path=[4, 0])
    location.leading_comments = " First line.\n   indented\n\n Second paragraph.\n"
    assert Comments.from_descriptor_set(files.SerializeToString()).by_name == {
        "p.M": "First line.\n  indented\n\nSecond paragraph."
    }


def test_no_comments_without_a_descriptor_set() -> None:
    assert Comments().of(SERVICE) is None
    assert isinstance(Comments.beside_generated_code(), Comments)


# ------------------------------------------------------------------------------------------ document


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "http://localhost:8080"}]


def test_the_document_is_valid_without_comments() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(openapi_document([SERVICE]))


def test_one_operation_per_binding(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert {"EchoService_Echo", "EchoService_Echo_2", "EchoService_Echo_3"} <= set(ids)
    assert "EchoService_Reindex" not in ids
    assert set(document["paths"]) == {
        "/v1/echo/{id}",
        "/v1/echo/{id}/{num}",
        "/v1/echo/{id}/document",
        "/v1/echo",
        "/v1/orders",
        "/v1/orders/{order_id}",
        "/v1/orders/summary",
        "/v1/orders/{order_id}:cancel",
        "/v1/orders/{order_id}/lines",
        "/v1/orders:watch",
        "/v1/shipments/{shipment.id}",
        "/v1/trackings",
        "/v1/{name}",
        "/v1/files/{path}",
        "/v1/ping/{wildcard_1}",
        "/v1/everything",
        "/v1/everything/{int32_value}/{status}/{uint64_value}",
    }
    assert set(document["paths"]["/v1/orders/{order_id}"]) == {"get", "put", "delete"}


def test_an_http_body_rpc_answers_each_media_type_it_produces_as_bytes(document: dict[str, Any]) -> None:
    op = operation(document, "/v1/echo/{id}/document", "get")
    binary = {"schema": {"type": "string", "format": "binary"}}
    assert op["responses"]["200"]["content"] == {"text/csv": binary, "application/pdf": binary}
    assert "Answers the document itself, not JSON: text/csv, application/pdf." in op["description"]
    assert op["responses"]["400"] == {"$ref": "#/components/responses/Error400"}
    assert {p["name"] for p in op["parameters"]} == {"id", "sku", "format"}


def test_summary_description_tags_and_policy_notes(document: dict[str, Any]) -> None:
    op = operation(document, "/v1/echo/{id}", "get")
    assert op["tags"] == ["EchoService"]
    assert op["summary"] == "Returns the message it is given."
    assert "Roles: integrator, supervisor" in op["description"]
    assert op["x-roles"] == ["integrator", "supervisor"]
    assert op["x-idempotency"] == "read_only"
    assert op["security"] == [{"bearerAuth": []}]
    assert op["x-grpc-method"] == "/shop.testing.v1.EchoService/Echo"
    cancel = operation(document, "/v1/orders/{order_id}:cancel", "post")
    assert cancel["x-idempotency"] == "resumable"
    assert "Idempotency: resumable" in cancel["description"]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert document["tags"][0]["name"] == "EchoService"
    assert document["tags"][0]["description"].startswith("A contract only the tests use")


def test_the_idempotency_key_header_on_every_operation_that_changes_something(
    document: dict[str, Any],
) -> None:
    for item in document["paths"].values():
        for op in item.values():
            header = parameters(op, "header").get("Idempotency-Key")
            assert (header is not None) == (op["x-idempotency"] != "read_only"), op["operationId"]


def test_path_parameters(document: dict[str, Any]) -> None:
    lookup = parameters(
        operation(document, "/v1/everything/{int32_value}/{status}/{uint64_value}", "get"), "path"
    )
    assert lookup["int32_value"]["schema"]["format"] == "int32"
    assert lookup["status"]["schema"] == {"$ref": "#/components/schemas/shop.testing.v1.OrderStatus"}
    assert all(p["required"] for p in lookup.values())
    book = parameters(operation(document, "/v1/{name}", "get"), "path")["name"]
    assert book["schema"]["pattern"] == "^shelves/[^/]+/books/[^/]+$"
    assert book["description"].startswith("shelves/{shelf}/books/{book}")
    assert (
        parameters(operation(document, "/v1/files/{path}", "get"), "path")["path"]["schema"]["pattern"]
        == "^.*$"
    )
    assert "wildcard_1" in parameters(operation(document, "/v1/ping/{wildcard_1}", "get"), "path")
    assert "shipment.id" in parameters(operation(document, "/v1/shipments/{shipment.id}", "patch"), "path")


def test_query_parameters_are_every_field_not_in_the_path_or_body(document: dict[str, Any]) -> None:
    listing = parameters(operation(document, "/v1/orders", "get"), "query")
    assert set(listing) == {
        "page.page_size",
        "page.page_token",
        "status",
        "sku",
        "min_total_fen",
        "created_after",
        "include_cancelled",
    }
    assert listing["status"]["schema"]["type"] == "array"
    assert listing["status"]["description"] == "Only orders in one of these states."
    assert listing["min_total_fen"]["schema"]["type"] == "integer"
    assert listing["page.page_size"]["description"] == "At most this many items."
    lookup = parameters(
        operation(document, "/v1/everything/{int32_value}/{status}/{uint64_value}", "get"), "query"
    )
    assert "int32_value" not in lookup and "courier.name" in lookup and "nested.kind" in lookup
    assert not {"price_by_sku", "nested_list", "child.string_value"} & set(lookup)
    # body "*" leaves nothing for the query string; body "shipment" leaves request_id.
    assert parameters(operation(document, "/v1/orders", "post"), "query") == {}
    assert set(parameters(operation(document, "/v1/shipments/{shipment.id}", "patch"), "query")) == {
        "request_id"
    }


def test_request_bodies_leave_out_path_bound_fields(document: dict[str, Any]) -> None:
    def body(path: str, method: str) -> dict[str, Any]:
        schema: dict[str, Any] = operation(document, path, method)["requestBody"]["content"][
            "application/json"
        ]["schema"]
        return schema

    assert body("/v1/orders", "post") == {"$ref": "#/components/schemas/shop.testing.v1.CreateOrderRequest"}
    replace = body("/v1/orders/{order_id}", "put")
    assert "order_id" not in replace["properties"] and "note" in replace["properties"]
    shipment = body("/v1/shipments/{shipment.id}", "patch")
    assert set(shipment["properties"]) == {"carrier", "tracking_number", "address"}
    assert "requestBody" not in operation(document, "/v1/orders", "get")


def test_success_statuses_follow_the_policy(document: dict[str, Any]) -> None:
    def statuses(path: str, method: str) -> set[str]:
        return {s for s in operation(document, path, method)["responses"] if s < "300"}

    assert statuses("/v1/orders", "post") == {"201", "200"}
    assert statuses("/v1/trackings", "post") == {"201"}
    assert statuses("/v1/orders/{order_id}", "get") == {"200"}
    lines = operation(document, "/v1/orders/{order_id}/lines", "get")["responses"]["200"]
    assert lines["content"]["application/json"]["schema"]["type"] == "array"


def test_every_error_status_is_documented_with_the_error_body(document: dict[str, Any]) -> None:
    expected = {str(s) for c, s in HTTP_STATUS.items() if c != "CANCELLED"} | {"500"}
    expected |= {str(s) for s in HTTP_STATUS_BY_REASON.values()}  # 405 and 413, the edge's own
    assert {"400", "401", "403", "404", "409", "422", "429", "500", "503", "504"} <= expected
    for item in document["paths"].values():
        for op in item.values():
            errors = {s for s in op["responses"] if s >= "400"}
            assert errors == expected, op["operationId"]
    responses = document["components"]["responses"]
    assert responses["Error400"]["description"] == "The error body; code INVALID_ARGUMENT or OUT_OF_RANGE."
    assert responses["Error401"]["headers"]["WWW-Authenticate"]
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "reason", "fields"]
    jsonschema.Draft202012Validator(error).validate(
        {
            "error": {
                "code": "INVALID_ARGUMENT",
                "message": "quantity: must be positive",
                "reason": "INVALID_ARGUMENT",
                "fields": [{"field": "quantity", "description": "must be positive"}],
                "trace_id": "0" * 32,
            }
        }
    )


def test_error_responses_refer_to_the_documented_error_bodies(document: dict[str, Any]) -> None:
    refs = error_responses()
    assert refs["404"] == {"$ref": "#/components/responses/Error404"}
    assert "422" in refs and "413" in refs and "200" not in refs
    for ref in refs.values():
        assert ref["$ref"].rsplit("/", 1)[1] in document["components"]["responses"]
    op = operation(document, "/v1/orders", "get")
    assert {s: r for s, r in op["responses"].items() if s >= "400"} == refs


def test_schemas_carry_the_comments(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["shop.testing.v1.Order"]["description"] == "An order as the shop sees it."
    assert schemas["shop.testing.v1.Order"]["properties"]["total_fen"]["description"].startswith(
        "What the buyer pays."
    )
    assert "- `paid`: Paid, not yet reviewed." in schemas["shop.testing.v1.OrderStatus"]["description"]


def test_answers_match_the_documented_response_schemas(document: dict[str, Any]) -> None:
    registry: Registry[Any] = Registry().with_resource(
        "urn:doc", Resource.from_contents(document, DRAFT202012)
    )

    def check(name: str, value: Any) -> None:
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"urn:doc#/components/schemas/{name}"}, registry=registry
        )
        validator.validate(value)

    order = echo_pb2.Order(order_id="o-1", status=echo_pb2.ORDER_STATUS_PAID)
    order.lines.add(sku="a", quantity=1).unit_price.CopyFrom(
        money_pb2.Money(currency_code="CNY", amount_minor=5)
    )
    order.created_at.GetCurrentTime()
    check("shop.testing.v1.Order", profile.to_json(order))
    check("shop.testing.v1.Order", profile.to_json(echo_pb2.Order()))
    check("shop.testing.v1.CreateOrderResponse", profile.to_json(echo_pb2.CreateOrderResponse(order=order)))


# ------------------------------------------------------------------------------------------ role table


def test_the_role_table() -> None:
    table = markdown_role_table([SERVICE]).splitlines()
    assert table[0] == "| RPC | HTTP route | roles | idempotency |"
    assert (
        "| `EchoService.Echo` | `GET /v1/echo/{id}`<br>`GET /v1/echo/{id}/{num}`<br>`POST /v1/echo` "
        "| integrator, supervisor | read only |"
    ) in table
    assert "| `EchoService.CreateOrder` | `POST /v1/orders` | integrator | transactional, creates |" in table
    assert "| `EchoService.Reindex` | — (gRPC only) | sre | transactional |" in table
    assert len(table) == 2 + len(SERVICE.methods)


def test_a_server_stream_is_documented_as_newline_delimited_json(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/orders:watch"]["get"]
    ok = operation["responses"]["200"]
    assert "newline-delimited JSON" in ok["description"]
    (media_type,) = ok["content"]
    assert media_type == "application/x-ndjson"
    line = ok["content"][media_type]["schema"]
    assert line["properties"]["result"] == {"$ref": "#/components/schemas/shop.testing.v1.Order"}
    assert set(line["properties"]["error"]["required"]) == {"code", "message", "reason", "fields"}
    assert "403" in operation["responses"]  # refused before the first line: an ordinary error answer
