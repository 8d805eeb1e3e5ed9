"""Gateway error responses: JSON naming the code, a message and every offending field."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider
from starlette.exceptions import HTTPException as StarletteHTTPException

from libs.errors import (
    DomainError,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    error_for_code,
)
from services.gateway.problems import (
    _field_path,
    domain_error_response,
    error_body,
    handle_domain_error,
    handle_http_exception,
    handle_unexpected_error,
    http_exception_response,
    validation_error_response,
)


def _json(response: JSONResponse) -> Any:
    return json.loads(bytes(response.body))


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("body", "quantity"), "quantity"),
        (("body", "lines", 2, "quantity"), "lines[2].quantity"),
        (("body", "lines", 0), "lines[0]"),
        (("body", "a", "b", 1, 2, "c"), "a.b[1][2].c"),
        (("body",), "body"),
        (("body", 5), "body"),
        (("query", "limit"), "limit"),
        (("path", "sku_code"), "sku_code"),
        (("header", "authorization"), "authorization"),
        (("quantity",), "quantity"),
        ((), "body"),
    ],
)
def test_field_path(loc: tuple[Any, ...], path: str) -> None:
    assert _field_path(loc) == path


def test_validation_error_response_names_every_field() -> None:
    exc = RequestValidationError(
        [
            {"type": "missing", "loc": ("body", "sku_code"), "msg": "Field required", "input": {}},
            {
                "type": "greater_than",
                "loc": ("body", "lines", 2, "quantity"),
                "msg": "Input should be greater than 0",
                "input": 0,
            },
        ]
    )
    response = validation_error_response(exc)
    assert response.status_code == 400
    error = _json(response)["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert error["reason"] == "INVALID_REQUEST"
    assert error["message"] == "sku_code: Field required"
    assert error["fields"] == [
        {"field": "sku_code", "description": "Field required"},
        {"field": "lines[2].quantity", "description": "Input should be greater than 0"},
    ]
    assert "trace_id" not in error


def test_invalid_json_body_is_named_body() -> None:
    exc = RequestValidationError(
        [
            {
                "type": "json_invalid",
                "loc": ("body", 14),
                "msg": "JSON decode error",
                "ctx": {"error": "Expecting value"},
            }
        ]
    )
    error = _json(validation_error_response(exc))["error"]
    assert error["fields"] == [{"field": "body", "description": "is not valid JSON: Expecting value"}]
    assert error["message"] == "body: is not valid JSON: Expecting value"


def test_invalid_json_without_detail() -> None:
    exc = RequestValidationError([{"type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error"}])
    error = _json(validation_error_response(exc))["error"]
    assert error["fields"] == [{"field": "body", "description": "is not valid JSON"}]


def test_validation_error_without_errors_is_still_a_400() -> None:
    response = validation_error_response(RequestValidationError([]))
    assert response.status_code == 400
    assert _json(response)["error"]["message"] == "body: is invalid"


def test_domain_error_response_carries_code_reason_and_fields() -> None:
    err = InvalidArgument(
        "quantity: must be at least 1",
        violations=[FieldViolation("quantity", "must be at least 1")],
        reason="BAD_RECEIPT",
    )
    response = domain_error_response(err)
    assert response.status_code == 400
    assert _json(response) == {
        "error": {
            "code": "INVALID_ARGUMENT",
            "message": "quantity: must be at least 1",
            "reason": "BAD_RECEIPT",
            "fields": [{"field": "quantity", "description": "must be at least 1"}],
        }
    }


@pytest.mark.parametrize(
    ("err", "status"),
    [
        (NotFound("sku_code: no such SKU"), 404),
        (FailedPrecondition("quantity: not enough stock"), 422),
        (error_for_code("UNIMPLEMENTED", "no such method"), 501),
    ],
)
def test_domain_error_status(err: DomainError, status: int) -> None:
    response = domain_error_response(err)
    assert response.status_code == status
    assert _json(response)["error"]["message"] == str(err)


def test_unauthenticated_asks_for_a_bearer_token() -> None:
    response = domain_error_response(Unauthenticated("authorization: missing bearer token"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_internal_error_hides_its_message() -> None:
    response = domain_error_response(Internal("password=hunter2 in connection string"))
    assert response.status_code == 500
    body = _json(response)
    assert body["error"]["code"] == "INTERNAL"
    assert body["error"]["message"] == "internal error"
    assert "hunter2" not in json.dumps(body)


def test_error_body_carries_the_trace_id_inside_a_span() -> None:
    provider = TracerProvider()
    try:
        with provider.get_tracer("unit-test").start_as_current_span("request") as span:
            body = error_body("NOT_FOUND", "x")
    finally:
        provider.shutdown()
    assert body["error"]["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert body["error"]["reason"] == "NOT_FOUND"


def test_error_responses_name_their_trace_in_the_header_too() -> None:
    provider = TracerProvider()
    try:
        with provider.get_tracer("unit-test").start_as_current_span("request") as span:
            responses = [
                domain_error_response(NotFound("sku_code: no such SKU")),
                domain_error_response(Internal("boom")),
                validation_error_response(RequestValidationError([])),
                http_exception_response(StarletteHTTPException(404)),
            ]
    finally:
        provider.shutdown()
    trace_id = format(span.get_span_context().trace_id, "032x")
    for response in responses:
        assert response.headers["x-trace-id"] == trace_id
        assert _json(response)["error"]["trace_id"] == trace_id
    # Outside a trace there is no id to name.
    assert "x-trace-id" not in domain_error_response(NotFound("x")).headers


def test_no_route_for_the_path_is_a_404_in_the_error_format() -> None:
    response = http_exception_response(StarletteHTTPException(404), "GET", "/v1/a\nb")
    assert response.status_code == 404
    error = _json(response)["error"]
    assert (error["code"], error["reason"], error["fields"]) == ("NOT_FOUND", "ROUTE_NOT_FOUND", [])
    assert error["message"] == "/v1/a\nb: no such route"


def test_a_method_no_route_takes_is_a_405_with_allow() -> None:
    exc = StarletteHTTPException(405, headers={"Allow": "GET, POST"})
    response = http_exception_response(exc, "OPTIONS", "/v1/things")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    error = _json(response)["error"]
    assert (error["code"], error["reason"]) == ("UNIMPLEMENTED", "METHOD_NOT_ALLOWED")
    assert error["message"] == "OPTIONS is not allowed on /v1/things; use GET, POST"


@pytest.mark.parametrize(
    ("status", "code"), [(400, "INVALID_ARGUMENT"), (413, "RESOURCE_EXHAUSTED"), (418, "INVALID_ARGUMENT")]
)
def test_other_framework_refusals_keep_their_status(status: int, code: str) -> None:
    response = http_exception_response(StarletteHTTPException(status, detail="nope"))
    assert response.status_code == status
    assert _json(response)["error"]["code"] == code
    assert _json(response)["error"]["message"] == "nope"


def test_a_framework_5xx_hides_its_detail() -> None:
    response = http_exception_response(StarletteHTTPException(502, detail="upstream at 10.0.0.7"))
    assert response.status_code == 500
    assert _json(response)["error"]["message"] == "internal error"


async def test_an_app_with_the_handlers_answers_every_failure_in_the_error_format() -> None:
    """How the gateway registers the handlers, so that Starlette's own refusals and a bug answer like
    every other failure, never ``{"detail": ...}`` or a plain-text 500."""
    app = FastAPI()
    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(Exception, handle_unexpected_error)

    @app.get("/things/{name}")
    async def thing(name: str) -> dict[str, str]:
        if name == "missing":
            raise NotFound("name: no such thing")
        raise RuntimeError("a bug with a secret=hunter2")

    @app.get("/{path:path}")  # the transcoder's catch-all: its ".*" stops at a newline
    async def anything(path: str) -> dict[str, str]:
        return {"path": path}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        answers = {
            "GET /things/missing": (await client.get("/things/missing"), 404, "NOT_FOUND"),
            "GET /a%0Ab/c": (await client.get("/a%0Ab/c"), 404, "ROUTE_NOT_FOUND"),
            "OPTIONS /things/x": (await client.options("/things/x"), 405, "METHOD_NOT_ALLOWED"),
            "GET /things/bug": (await client.get("/things/bug"), 500, "INTERNAL"),
        }
    for name, (response, status, reason) in answers.items():
        assert response.status_code == status, name
        assert response.headers["content-type"] == "application/json", name
        assert response.json()["error"]["reason"] == reason, name
    assert "hunter2" not in answers["GET /things/bug"][0].text
    assert answers["OPTIONS /things/x"][0].headers["allow"] == "GET"
