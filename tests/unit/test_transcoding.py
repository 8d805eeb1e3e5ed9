"""AIP-127 transcoding: templates, route matching and priorities, request building, answers, the call."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import pytest
from google.api import http_pb2, httpbody_pb2
from shop.common.v1 import money_pb2
from shop.testing.v1 import echo_pb2

from libs import identity
from libs.errors import Internal, InvalidArgument, NotFound
from libs.transcoding import MethodNotAllowed, PathTemplate, Route, Router, routes_of

SERVICE = echo_pb2.DESCRIPTOR.services_by_name["EchoService"]
ROUTER = Router.from_services([SERVICE])


def method(name: str) -> Any:
    return SERVICE.methods_by_name[name]


def match(http_method: str, path: str) -> tuple[str, dict[str, str]]:
    found = ROUTER.match(http_method, path)
    return found.route.operation_id, found.variables


def build(
    http_method: str,
    path: str,
    query: Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    found = ROUTER.match(http_method, path)
    return found.route.request_from_http(found.variables, list(query), body, headers or {}, **kwargs)


def refusals(*args: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        build(*args, **kwargs)
    return {v.field: v.description for v in caught.value.violations}


def route(operation_id: str) -> Route:
    return next(r for r in ROUTER.routes if r.operation_id == operation_id)


# ------------------------------------------------------------------------------------------ templates


def test_a_template_parses_into_segments_variables_and_verb() -> None:
    template = PathTemplate.parse("/v1/{name=shelves/*/books/*}/{x.y}/**:cancel")
    kinds = [(s.kind, s.text) for s in template.segments]
    assert kinds == [
        ("literal", "v1"),
        ("literal", "shelves"),
        ("star", ""),
        ("literal", "books"),
        ("star", ""),
        ("star", ""),
        ("double_star", ""),
    ]
    assert [(v.field_path, v.start, v.end) for v in template.variables] == [("name", 1, 5), ("x.y", 5, 6)]
    assert template.verb == "cancel"
    assert template.variable_pattern(template.variables[0]) == "^shelves/[^/]+/books/[^/]+$"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("v1/items", "must start with /"),
        ("/v1/{id", "expected }"),
        ("/v1/{a={b}}", "variables cannot nest"),
        ("/v1/**/x/**", "** may appear only once"),
        ("/v1//items", "expected a segment"),
        ("/v1/{id}/{id}", "a field is bound twice"),
        ("/v1/items:", "expected a custom verb"),
        ("/v1/{1x}", "expected a field path"),
        ("/v1/items:a:b", "unexpected character"),
    ],
)
def test_malformed_templates_are_refused(source: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        PathTemplate.parse(source)


def test_templates_that_match_the_same_paths_share_a_key() -> None:
    assert PathTemplate.parse("/v1/{a}").key == PathTemplate.parse("/v1/*").key
    assert PathTemplate.parse("/v1/{a}").key != PathTemplate.parse("/v1/{a}:x").key
    assert PathTemplate.parse("/v1/{a=**}").key != PathTemplate.parse("/v1/{a}").key


# ------------------------------------------------------------------------------------------ matching


def test_routes_of_every_binding_and_none_for_rpcs_without_one() -> None:
    ids = {r.operation_id for r in ROUTER.routes}
    assert {"EchoService_Echo", "EchoService_Echo_2", "EchoService_Echo_3"} <= ids
    assert not any(r.method.name == "Reindex" for r in ROUTER.routes)


def test_a_path_variable() -> None:
    assert match("GET", "/v1/orders/o-1") == ("EchoService_GetOrder", {"order_id": "o-1"})


def test_a_literal_segment_wins_over_a_variable() -> None:
    assert match("GET", "/v1/orders/summary") == ("EchoService_GetOrderSummary", {})


def test_the_method_is_chosen_before_the_priority() -> None:
    # No PUT route has the literal: PUT /v1/orders/summary replaces the order named "summary".
    assert match("PUT", "/v1/orders/summary") == ("EchoService_ReplaceOrder", {"order_id": "summary"})


def test_a_custom_verb() -> None:
    assert match("POST", "/v1/orders/o-1:cancel") == ("EchoService_CancelOrder", {"order_id": "o-1"})
    # Without a route of that method and verb, the colon is part of the segment.
    assert match("GET", "/v1/orders/o-1:cancel") == ("EchoService_GetOrder", {"order_id": "o-1:cancel"})


def test_a_multi_segment_variable() -> None:
    assert match("GET", "/v1/shelves/s1/books/b2") == ("EchoService_GetBook", {"name": "shelves/s1/books/b2"})
    with pytest.raises(NotFound):
        ROUTER.match("GET", "/v1/shelves/s1/books")


def test_a_double_star_variable_takes_any_number_of_segments() -> None:
    assert match("GET", "/v1/files/a/b/c.txt") == ("EchoService_GetFile", {"path": "a/b/c.txt"})
    assert match("GET", "/v1/files/a") == ("EchoService_GetFile", {"path": "a"})
    assert match("GET", "/v1/files") == ("EchoService_GetFile", {"path": ""})


def test_an_anonymous_wildcard_matches_one_segment() -> None:
    assert match("GET", "/v1/ping/anything") == ("EchoService_Ping", {})
    with pytest.raises(NotFound):
        ROUTER.match("GET", "/v1/ping/a/b")


def test_nested_field_variable() -> None:
    assert match("PATCH", "/v1/shipments/s-9") == ("EchoService_UpdateShipment", {"shipment.id": "s-9"})


def test_additional_bindings() -> None:
    assert match("GET", "/v1/echo/a/5") == ("EchoService_Echo_2", {"id": "a", "num": "5"})
    assert match("POST", "/v1/echo") == ("EchoService_Echo_3", {})


@pytest.mark.parametrize(
    "path", ["/v1/nothing", "/v1/orders/o-1/lines/x", "/v1/orders/", "/v1//orders", "", "v1"]
)
def test_unknown_paths_are_not_found(path: str) -> None:
    with pytest.raises(NotFound) as caught:
        ROUTER.match("GET", path)
    assert caught.value.reason == "ROUTE_NOT_FOUND"


def test_a_known_path_with_another_method_is_405_with_allow() -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        ROUTER.match("PATCH", "/v1/orders/o-1")
    assert caught.value.allow == ("DELETE", "GET", "PUT")
    assert caught.value.metadata == {"allow": "DELETE, GET, PUT"}
    assert caught.value.reason == "METHOD_NOT_ALLOWED"
    with pytest.raises(MethodNotAllowed) as verb:
        ROUTER.match("GET", "/v1/everything")
    assert verb.value.allow == ("POST",)


def test_the_method_is_case_insensitive() -> None:
    assert match("get", "/v1/orders/o-1")[0] == "EchoService_GetOrder"


def test_path_variables_are_percent_decoded() -> None:
    assert match("GET", "/v1/orders/a%20b%E4%B8%AD")[1] == {"order_id": "a b中"}
    assert match("GET", "/v1/orders/a+b")[1] == {"order_id": "a+b"}  # + is not a space in a path
    # A literal segment matches its percent-encoded form too.
    assert match("GET", "/v1/orders/%73ummary")[0] == "EchoService_GetOrderSummary"
    # An encoded colon is no verb separator.
    assert match("POST", "/v1/orders/a%3Acancel:cancel")[1] == {"order_id": "a:cancel"}


def test_a_single_segment_variable_refuses_an_encoded_slash() -> None:
    with pytest.raises(InvalidArgument) as caught:
        ROUTER.match("GET", "/v1/orders/a%2Fb")
    assert caught.value.violations[0].field == "order_id"
    assert "must not contain" in caught.value.violations[0].description


def test_a_multi_segment_variable_keeps_an_encoded_slash() -> None:
    assert match("GET", "/v1/files/a%2fb/c%20d")[1] == {"path": "a%2fb/c d"}
    assert match("GET", "/v1/shelves/s%2F1/books/b")[1] == {"name": "shelves/s%2F1/books/b"}


def test_invalid_utf8_in_a_variable_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        ROUTER.match("GET", "/v1/orders/%FF")
    assert caught.value.violations[0].field == "order_id"


def test_priority_order_is_deterministic() -> None:
    a = PathTemplate.parse("/v1/{a}/x")
    b = PathTemplate.parse("/v1/x/{b}")
    c = PathTemplate.parse("/v1/{c=**}")
    verb = PathTemplate.parse("/v1/{c=**}:go")
    assert sorted([c, a, b, verb], key=lambda t: t.priority) == [verb, b, a, c]


# ------------------------------------------------------------------------------------------ build-time refusals


def rule(**kwargs: Any) -> http_pb2.HttpRule:
    return http_pb2.HttpRule(**kwargs)


@pytest.mark.parametrize(
    ("rpc", "bad", "problem"),
    [
        ("GetOrder", rule(get="/v1/x/{nope}"), "path variable 'nope' is not a field"),
        ("ReplaceOrder", rule(put="/v1/x/{address}"), "must be a single scalar, string or enum"),
        ("ListOrders", rule(get="/v1/x/{sku}"), "must be a single scalar, string or enum"),
        ("GetOrder", rule(get="/v1/x/{order_id.x}"), "order_id is not a message field"),
        ("Echo", rule(get="/v1/x/{num=**}"), "spans segments, so it must be a string"),
        ("CreateOrder", rule(post="/v1/x", body="nope"), "body 'nope' is not a field"),
        ("ReplaceOrder", rule(put="/v1/x/{order_id}", body="order_id"), "also bound by the path"),
        ("GetOrder", rule(get="/v1/x", response_body="nope"), "response_body 'nope' is not a field"),
        ("GetDocument", rule(get="/v1/x", response_body="data"), "HttpBody answer is sent whole"),
        ("GetOrder", rule(get="/v1/x/{order_id}", body="*"), "a GET binding cannot have a body"),
        ("GetOrder", rule(), "needs get, put, post, delete, patch or custom"),
        ("GetOrder", rule(get="/v1/x/{order_id"), "expected }"),
        (
            "GetOrder",
            rule(
                get="/v1/x", additional_bindings=[rule(get="/v1/y", additional_bindings=[rule(get="/v1/z")])]
            ),
            "additional_bindings cannot nest",
        ),
    ],
)
def test_contradictory_bindings_are_refused_at_build_time(
    rpc: str, bad: http_pb2.HttpRule, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Router.from_rules([(method(rpc), bad)])


def test_two_bindings_matching_the_same_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="match the same requests"):
        Router.from_rules(
            [
                (method("GetOrder"), rule(get="/v1/orders/{order_id}")),
                (method("DeleteOrder"), rule(get="/v1/orders/*")),
            ]
        )
    # The same template with another method is fine.
    Router.from_rules(
        [
            (method("GetOrder"), rule(get="/v1/orders/{order_id}")),
            (method("DeleteOrder"), rule(delete="/v1/orders/{order_id}")),
        ]
    )


def test_a_custom_method_kind() -> None:
    router = Router.from_rules(
        [(method("GetOrder"), rule(custom=http_pb2.CustomHttpPattern(kind="HEAD", path="/o/{order_id}")))]
    )
    assert router.match("HEAD", "/o/1").variables == {"order_id": "1"}


# ------------------------------------------------------------------------------------------ requests


def test_path_and_query_fill_the_request() -> None:
    request = build(
        "GET",
        "/v1/echo/abc",
        [
            ("num", "-5"),
            ("note", "hi there"),
            ("page.page_size", "10"),
            ("sku", "a"),
            ("sku", "b"),
            ("status", "paid"),
        ],
    )
    assert request == echo_pb2.SimpleMessage(
        id="abc",
        num=-5,
        note="hi there",
        page=echo_pb2.Page(page_size=10),
        sku=["a", "b"],
        status=echo_pb2.ORDER_STATUS_PAID,
    )


def test_query_values_are_converted_by_the_field_type() -> None:
    request = build(
        "GET",
        "/v1/orders",
        [
            ("status", "paid"),
            ("status", "cancelled"),
            ("min_total_fen", "1999"),
            ("created_after", "2024-01-01T08:00:00+08:00"),
            ("include_cancelled", "true"),
        ],
    )
    assert list(request.status) == [echo_pb2.ORDER_STATUS_PAID, echo_pb2.ORDER_STATUS_CANCELLED]
    assert request.min_total == money_pb2.Money(currency_code="CNY", amount_minor=1999)
    assert request.created_after.ToJsonString() == "2024-01-01T00:00:00Z"
    assert request.include_cancelled is True


def test_typed_path_variables() -> None:
    request = build("GET", "/v1/everything/-7/paid/18446744073709551615", [("nested.kind", "large_box")])
    assert request.int32_value == -7
    assert request.status == echo_pb2.ORDER_STATUS_PAID
    assert request.uint64_value == 2**64 - 1
    assert request.nested.kind == echo_pb2.ABitOfEverything.Nested.KIND_LARGE_BOX


@pytest.mark.parametrize(
    ("path", "field", "description"),
    [
        ("/v1/everything/2147483648/paid/1", "int32_value", "must fit a signed 32-bit integer"),
        ("/v1/everything/1.0/paid/1", "int32_value", "must be an integer"),
        ("/v1/everything/1/unspecified/1", "status", "must be one of: pending_payment, paid, cancelled"),
        ("/v1/everything/1/paid/-1", "uint64_value", "must fit an unsigned 64-bit integer"),
        ("/v1/echo/a/" + "9" * 60, "num", "is out of range"),
        ("/v1/echo/a%00b", "id", "must not contain the NUL character (\\u0000)"),
    ],
)
def test_path_variables_are_checked_like_their_field(path: str, field: str, description: str) -> None:
    assert refusals("GET", path) == {field: description}


@pytest.mark.parametrize(
    ("query", "field", "description"),
    [
        ([("colour", "red")], "colour", "is not a field of this request"),
        ([("page.colour", "1")], "page.colour", "is not a field of this request"),
        ([("id.x", "1")], "id.x", "is not a field of this request"),
        ([("page", "1")], "page", "is a message: set its fields one by one, e.g. page.page_size"),
        ([("id", "x")], "id", "is set by the URL path, not by the query string"),
        ([("note", "a"), ("note", "b")], "note", "is given more than once"),
        ([("num", "5.0")], "num", "must be an integer"),
        ([("num", "")], "num", "must be an integer"),
        ([("page.page_size", "2147483648")], "page.page_size", "must fit a signed 32-bit integer"),
        ([("status", "PAID")], "status", "must be one of: pending_payment, paid, cancelled"),
        ([("sku", "a"), ("sku", "\x00")], "sku[1]", "must not contain the NUL character (\\u0000)"),
    ],
)
def test_query_parameters_are_refused_by_name(
    query: list[tuple[str, str]], field: str, description: str
) -> None:
    assert refusals("GET", "/v1/echo/abc", query) == {field: description}


@pytest.mark.parametrize(
    ("query", "field", "description"),
    [
        ([("include_cancelled", "yes")], "include_cancelled", "must be true or false"),
        ([("min_total_fen", "1.5")], "min_total_fen", "must be an integer"),
        ([("min_total", "1")], "min_total", "is not a field of this request"),
        ([("created_after", "2024-01-01")], "created_after", "must be an RFC 3339 date-time"),
        ([("status", "paid"), ("status", "x")], "status[1]", "must be one of"),
    ],
)
def test_query_values_are_checked_like_their_field(
    query: list[tuple[str, str]], field: str, description: str
) -> None:
    found = refusals("GET", "/v1/orders", query)
    assert list(found) == [field]
    assert found[field].startswith(description)


def test_maps_and_repeated_messages_cannot_be_query_parameters() -> None:
    found = refusals("GET", "/v1/everything/1/paid/1", [("price_by_sku", "1"), ("nested_list.name", "x")])
    assert found == {
        "price_by_sku": "cannot be set in the query string",
        "nested_list.name": "cannot be set in the query string",
    }


def test_more_query_parameter_types() -> None:
    request = build(
        "GET",
        "/v1/everything/1/paid/1",
        [
            ("double_value", "-1.5e3"),
            ("bool_value", "false"),
            ("bytes_value", "aGk="),
            ("price_fen", "5"),
            ("instalments_fen", "1"),
            ("instalments_fen", "2"),
            ("limit", "7"),
            ("nickname", "n"),
            ("timeout", "2s"),
            ("courier.name", "c"),
            ("statuses", "paid"),
        ],
    )
    assert request.double_value == -1500.0
    assert request.bytes_value == b"hi"
    assert request.price.amount_minor == 5 and [m.amount_minor for m in request.instalments] == [1, 2]
    assert request.limit.value == 7 and request.nickname.value == "n"
    assert request.timeout.seconds == 2
    assert request.WhichOneof("contact") == "courier"
    found = refusals("GET", "/v1/everything/1/paid/1", [("double_value", "1_000"), ("float_value", "inf")])
    assert found == {"double_value": "must be a number", "float_value": "must be a number"}


def test_a_body_star_is_the_whole_request() -> None:
    body = {
        "channel": "own_site",
        "lines": [{"sku": "a", "quantity": 2, "unit_price_fen": 1999}],
        "address": {"city": "Hangzhou", "phone": "1"},
    }
    request = build("POST", "/v1/orders", body=json.dumps(body).encode())
    assert request.channel == echo_pb2.CHANNEL_OWN_SITE
    assert request.lines[0].unit_price.amount_minor == 1999
    assert request.address.city == "Hangzhou"


def test_an_empty_body_is_an_empty_request() -> None:
    assert build("POST", "/v1/orders", body=b"") == echo_pb2.CreateOrderRequest()
    assert build("POST", "/v1/orders", body=None) == echo_pb2.CreateOrderRequest()


def test_body_refusals_name_the_field_path() -> None:
    body = {"lines": [{}, {}, {"quantity": "2"}], "address": {"phone": 5}, "colour_code": "x"}
    assert refusals("POST", "/v1/orders", body=json.dumps(body).encode()) == {
        "lines[2].quantity": "must be an integer",
        "address.phone": "must be a string",
        "colour_code": "is not a field of this request",
    }


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (b"{bad", "is not valid JSON: Expecting property name enclosed in double quotes"),
        (b'{"a": 1} x', "is not valid JSON: Extra data"),
        (b"\xff\xfe", "is not valid JSON: it is not UTF-8 text"),
        (b'{"double_value": NaN}', "is not valid JSON: NaN is not a JSON value"),
        (b'{"note": 1, "note": 2}', 'has the key "note" more than once'),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"[" * 40 + b"]" * 40, "is nested more than 32 levels deep"),
        (b"[" * 100_000 + b"]" * 100_000, "is nested more than 32 levels deep"),
        (b'{"a":' * 33 + b"1" + b"}" * 33, "is nested more than 32 levels deep"),
    ],
)
def test_malformed_bodies_are_refused_as_body(body: bytes, description: str) -> None:
    found = refusals("POST", "/v1/orders", body=body)
    assert list(found) == ["body"]
    assert found["body"].startswith(description)


def test_a_body_larger_than_the_limit_is_refused() -> None:
    assert refusals("POST", "/v1/orders", body=b'{"note": "' + b"x" * 100 + b'"}', max_body_bytes=50) == {
        "body": "is larger than 50 bytes"
    }


def test_a_body_on_a_route_without_one_is_refused() -> None:
    assert refusals("GET", "/v1/orders/o-1", body=b'{"order_id": "x"}') == {
        "body": "must be empty: this route takes its fields from the URL"
    }
    assert build("GET", "/v1/orders/o-1", body=b"  ") == echo_pb2.GetOrderRequest(order_id="o-1")


def test_a_path_field_in_a_body_star_must_agree() -> None:
    same = build("PUT", "/v1/orders/o-1", body=b'{"order_id": "o-1", "note": "n"}')
    assert same == echo_pb2.ReplaceOrderRequest(order_id="o-1", note="n")
    assert refusals("PUT", "/v1/orders/o-1", body=b'{"order_id": "o-2"}') == {
        "order_id": 'is "o-1" in the URL path but "o-2" in the body'
    }


def test_a_body_star_takes_no_query_parameters() -> None:
    assert refusals("PUT", "/v1/orders/o-1", [("note", "x")], body=b"{}") == {
        "note": "is not a query parameter of this route: its body carries the whole request"
    }


def test_a_body_field_is_that_field() -> None:
    request = build(
        "PATCH",
        "/v1/shipments/s-1",
        [("request_id", "r-1")],
        body=b'{"carrier": "sf", "address": {"city": "x"}}',
    )
    assert request == echo_pb2.UpdateShipmentRequest(
        shipment=echo_pb2.Shipment(id="s-1", carrier="sf", address=echo_pb2.Address(city="x")),
        request_id="r-1",
    )


def test_a_body_field_refusals() -> None:
    assert refusals("PATCH", "/v1/shipments/s-1", body=b"[]") == {"body": "must be a JSON object"}
    assert refusals("PATCH", "/v1/shipments/s-1", body=b'{"id": "s-2"}') == {
        "shipment.id": 'is "s-1" in the URL path but "s-2" in the body'
    }
    assert refusals("PATCH", "/v1/shipments/s-1", body=b'{"carrier": 1}') == {
        "shipment.carrier": "must be a string"
    }
    assert refusals("PATCH", "/v1/shipments/s-1", [("shipment.carrier", "x")], body=b"{}") == {
        "shipment.carrier": "is sent in the body, not in the query string"
    }


def test_the_idempotency_key_header_fills_request_id() -> None:
    request = build("POST", "/v1/orders", body=b"{}", headers={"Idempotency-Key": "k-1"})
    assert request.request_id == "k-1"
    lower = build("POST", "/v1/orders/o-1:cancel", body=b"{}", headers={"idempotency-key": "k-2"})
    assert lower.request_id == "k-2"
    same = build("POST", "/v1/orders", body=b'{"request_id": "k-1"}', headers={"Idempotency-Key": "k-1"})
    assert same.request_id == "k-1"
    # A request without request_id ignores it.
    assert build("GET", "/v1/orders/o-1", headers={"Idempotency-Key": "k"}) == echo_pb2.GetOrderRequest(
        order_id="o-1"
    )


def test_a_request_id_that_differs_from_the_header_is_refused() -> None:
    assert refusals("POST", "/v1/orders", body=b'{"request_id": "a"}', headers={"Idempotency-Key": "b"}) == {
        "request_id": "differs from the Idempotency-Key header; send one of them"
    }
    assert refusals("DELETE", "/v1/orders/o-1", [("request_id", "a")], headers={"Idempotency-Key": "b"}) == {
        "request_id": "differs from the Idempotency-Key header; send one of them"
    }


def test_violations_from_every_part_of_the_request_come_together() -> None:
    with pytest.raises(InvalidArgument) as caught:
        build("GET", "/v1/everything/99999999999/paid/1", [("colour", "x"), ("bool_value", "1")])
    assert [v.field for v in caught.value.violations] == ["colour", "bool_value", "int32_value"]
    assert caught.value.message == "colour: is not a field of this request (and 2 more)"


# ------------------------------------------------------------------------------------------ answers


def test_the_answer_is_the_profiles_json() -> None:
    order = echo_pb2.Order(order_id="o-1", status=echo_pb2.ORDER_STATUS_PAID)
    order.total.CopyFrom(money_pb2.Money(currency_code="CNY", amount_minor=500))
    status, body = route("EchoService_GetOrder").http_answer(order)
    assert status == 200
    assert body["status"] == "paid" and body["total_fen"] == 500 and body["channel"] is None
    assert body["lines"] == [] and body["created_at"] is None


def test_a_response_body_field_is_the_answer() -> None:
    response = echo_pb2.ListOrderLinesResponse(order_id="o-1")
    response.lines.add(sku="a", quantity=2).unit_price.amount_minor = 3
    assert route("EchoService_ListOrderLines").http_answer(response) == (
        200,
        [{"sku": "a", "quantity": 2, "unit_price_fen": 3}],
    )


def test_creates_answers_201_unless_created_is_false() -> None:
    create = route("EchoService_CreateOrder")
    assert create.http_answer(echo_pb2.CreateOrderResponse(created=True))[0] == 201
    assert create.http_answer(echo_pb2.CreateOrderResponse(created=False))[0] == 200
    # Without a `created` field, a creating RPC always answers 201.
    assert route("EchoService_RegisterTracking").http_answer(echo_pb2.Tracking())[0] == 201
    assert route("EchoService_CancelOrder").http_answer(echo_pb2.Order())[0] == 200


def test_an_http_body_answer_is_its_bytes_and_content_type() -> None:
    document = route("EchoService_GetDocument")
    assert document.returns_http_body and not route("EchoService_GetOrder").returns_http_body
    data = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    answer = httpbody_pb2.HttpBody(content_type="application/pdf", data=data)
    assert document.http_body_answer(answer) == (200, "application/pdf", data)
    csv = httpbody_pb2.HttpBody(content_type="text/csv ; charset=GB18030", data=b"id\r\n")
    assert document.http_body_answer(csv)[1] == "text/csv ; charset=GB18030"
    # RFC 9110: a body of no declared type may be taken as application/octet-stream.
    assert document.http_body_answer(httpbody_pb2.HttpBody(data=b"x")) == (
        200,
        "application/octet-stream",
        b"x",
    )
    assert document.success_status() == 200
    with pytest.raises(TypeError, match="use http_answer"):
        route("EchoService_GetOrder").http_body_answer(echo_pb2.Order())


@pytest.mark.parametrize("content_type", ["text/csv\r\nSet-Cookie: a=b", "pdf", "text/csv;\x00", "文本/csv"])
def test_a_content_type_that_is_no_media_type_is_the_services_fault(content_type: str) -> None:
    with pytest.raises(Internal, match="is not a media type"):
        route("EchoService_GetDocument").http_body_answer(httpbody_pb2.HttpBody(content_type=content_type))


def test_route_descriptions() -> None:
    cancel = route("EchoService_CancelOrder")
    assert cancel.grpc_path == "/shop.testing.v1.EchoService/CancelOrder"
    assert cancel.path_fields == ("order_id",)
    assert cancel.policy is not None and list(cancel.policy.roles) == ["customer_service", "supervisor"]


# ------------------------------------------------------------------------------------------ the call


class FakeChannel:
    """Records the generic multicallable the route asks for and answers with ``answer``."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def unary_unary(self, path: str, *, request_serializer: Any, response_deserializer: Any) -> Any:
        # Like grpc.aio, calling the multicallable returns an awaitable call.
        def invoke(request: Any, *, timeout: float, metadata: Any) -> Any:
            wire = request_serializer(request)
            self.calls.append({"path": path, "wire": wire, "timeout": timeout, "metadata": metadata})
            return self.respond(response_deserializer)

        return invoke

    async def respond(self, deserializer: Any) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return deserializer(self.answer.SerializeToString())


async def test_the_call_goes_through_the_kits_client() -> None:
    answer = echo_pb2.Order(order_id="o-1")
    channel = FakeChannel(answer)
    caller = identity.Identity("alice", frozenset({"supervisor"}), token="t0ken")
    request = echo_pb2.GetOrderRequest(order_id="o-1")
    response = await route("EchoService_GetOrder").call(channel, request, caller=caller, max_seconds=2.0)
    assert response == answer
    (call,) = channel.calls
    assert call["path"] == "/shop.testing.v1.EchoService/GetOrder"
    assert call["wire"] == request.SerializeToString()
    assert call["metadata"] == [("authorization", "Bearer t0ken")]
    assert 0 < call["timeout"] <= 2.0


async def test_a_failed_call_raises_the_domain_error() -> None:
    failure = grpc.aio.AioRpcError(
        grpc.StatusCode.NOT_FOUND, grpc.aio.Metadata(), grpc.aio.Metadata(), "o-1: no such order"
    )
    with pytest.raises(NotFound, match="no such order"):
        await route("EchoService_GetOrder").call(FakeChannel(failure), echo_pb2.GetOrderRequest())


# ------------------------------------------------------------------------------------------------ streams


def _streaming_service() -> Any:
    """A contract of its own pool with the stream shapes a binding may or may not take."""
    from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(httpbody_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="streams.proto",
        package="streams.v1",
        dependency=["google/api/httpbody.proto"],
        message_type=[descriptor_pb2.DescriptorProto(name="Req")],
        service=[
            descriptor_pb2.ServiceDescriptorProto(
                name="Streams",
                method=[
                    descriptor_pb2.MethodDescriptorProto(
                        name="Upload", input_type=".streams.v1.Req", output_type=".streams.v1.Req",
                        client_streaming=True,
                    ),
                    descriptor_pb2.MethodDescriptorProto(
                        name="Documents", input_type=".streams.v1.Req", output_type=".google.api.HttpBody",
                        server_streaming=True,
                    ),
                    descriptor_pb2.MethodDescriptorProto(
                        name="Watch", input_type=".streams.v1.Req", output_type=".streams.v1.Req",
                        server_streaming=True,
                    ),
                ],
            )
        ],
    )  # fmt: skip
    pool.Add(file)
    return pool.FindServiceByName("streams.v1.Streams")


@pytest.mark.parametrize(
    ("rpc", "problem"),
    [
        ("Upload", "a client-streaming RPC cannot have an HTTP binding"),
        ("Documents", "a stream of google.api.HttpBody cannot be sent as one document"),
    ],
)
def test_a_binding_refuses_streams_it_cannot_send(rpc: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        routes_of(_streaming_service().methods_by_name[rpc], rule(get="/v1/x"))


def test_a_server_stream_has_a_route_that_streams() -> None:
    (watch,) = routes_of(_streaming_service().methods_by_name["Watch"], rule(get="/v1/x:watch"))
    assert watch.server_streaming
    assert not route("EchoService_GetOrder").server_streaming
    assert route("EchoService_WatchOrders").server_streaming


def test_a_stream_line_is_a_result_object_and_a_newline() -> None:
    line = route("EchoService_WatchOrders").stream_line(echo_pb2.Order(order_id="茶-1"))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["result"]["order_id"] == "茶-1"
    assert "茶".encode() in line  # UTF-8 as it is, like every JSON answer
