"""Gateway error responses: JSON naming the code, a message and every offending field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider

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
