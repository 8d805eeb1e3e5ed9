"""API fuzzing: every operation of the gateway's ``/openapi.json``, driven by schemathesis against the suite
as `make run` starts it.

Each documented operation gets ``EXAMPLES`` generated requests that fit its schema and ``EXAMPLES`` that do
not, sent with a token holding every role the operation names (``x-roles``). Every answer must be one the
document describes: no server error (5xx), a documented status, the documented content type, a body of the
documented schema, and every error in the one error format with its trace id in the body and in the
``X-Trace-Id`` header. Generation is derandomized, so a run sends the same requests every time; a failure
prints each distinct problem of the operation once, with a request that reproduces it.

Below the fuzzing, plain requests pin the findings of an earlier fuzzing run (integers out of range, months
and dates that do not exist or lie decades away, bodies too large, malformed or too deep, and the edge's
own refusals): each must be answered in the documented error format with the right status.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as default
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case as AnyCase
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from libs.identity import INTEGRATOR, mint_token
from libs.transcoding import STREAM_MEDIA_TYPE
from tests.e2e.running import SuiteProcess, start_suite

pytestmark = pytest.mark.e2e

Operation = APIOperation[Any, Any, Any, Any]
Case = AnyCase[Operation]

#: Generated requests per operation and generation mode (positive, negative): enough to reach every
#: parameter and field of an operation a few times while the whole module stays within about two minutes.
EXAMPLES = 12
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
FUZZING = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
#: Contracts whose service registers no servicer yet: their RPCs answer 501 UNIMPLEMENTED until the
#: service's first business slice lands (see its ``__main__``); any other 5xx of theirs is still a failure.
NOT_YET_SERVED = frozenset(
    {"shop.logistics.v1.LogisticsService", "shop.returns.v1.ReturnsService", "shop.payroll.v1.PayrollService"}
)
#: The hand-written operational routes name their role in prose ("needs sre"), not in x-roles; the health
#: checks need no token, and one does them no harm.
HAND_WRITTEN_ROLES = ["sre"]
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def documented_operations() -> list[str]:
    """``METHOD /path`` of every operation the gateway documents, from the same code that serves
    ``/openapi.json`` (the suite is not running yet when pytest collects the tests)."""
    from services.gateway.app import create_app

    paths = create_app().openapi()["paths"]
    return [
        f"{method.upper()} {path}"
        for path, item in paths.items()
        for method in item
        if method in HTTP_METHODS
    ]


OPERATIONS = documented_operations()


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteProcess]:
    running = start_suite(tmp_path_factory.mktemp("fuzz-var"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def document(suite: SuiteProcess) -> dict[str, Any]:
    reply = httpx.get(suite.gateway + "/openapi.json", timeout=30)
    assert reply.status_code == 200, reply.text
    served: dict[str, Any] = reply.json()
    return served


def schemathesis_path(path: str) -> str:
    """The path with each ``{a.b}`` parameter named ``{a__b}``: the document may name a parameter after a
    nested field (OpenAPI and RFC 6570 allow the dot), but schemathesis fills templates with ``str.format``,
    which reads ``{a.b}`` as attribute ``b`` of ``a``. The requests it sends are the same."""
    return re.sub(r"\{([^}]*)\}", lambda m: "{" + m.group(1).replace(".", "__") + "}", path)


def for_schemathesis(document: dict[str, Any]) -> dict[str, Any]:
    fixed = copy.deepcopy(document)
    paths: dict[str, Any] = {}
    for path, item in fixed["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    parameter["name"] = parameter["name"].replace(".", "__")
        paths[schemathesis_path(path)] = item
    fixed["paths"] = paths
    return fixed


@pytest.fixture(scope="module")
def api(document: dict[str, Any]) -> dict[str, Operation]:
    """Every documented operation as schemathesis loaded it, by ``METHOD /path`` as documented."""
    # The token is sent by the test, with the operation's roles: no Authorization header is generated, so
    # that a negative example does not spend itself on a missing token (the 401 is pinned below).
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    schema: BaseSchema = schemathesis.openapi.from_dict(for_schemathesis(document), config=config)
    by_path = {schemathesis_path(path): path for path in document["paths"]}
    loaded: dict[str, Operation] = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            error = result.err()
            raise AssertionError(f"schemathesis cannot read {error.method} {error.path}: {error}")
        operation = result.ok()
        loaded[f"{operation.method.upper()} {by_path[operation.path]}"] = operation
    return loaded


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def token_with(roles: list[str], user: str = "fuzzer") -> str:
    """A token holding every one of ``roles``; with integrator among them it acts for every shop."""
    return mint_token(user, roles, shops=["*"] if INTEGRATOR in roles else ())


def bearer(*roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_with(list(roles))}"}


# ------------------------------------------------------------------------------------------------- checks


def _error_of(response: Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def errors_name_their_trace(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """An error answer names its trace, in the ``X-Trace-Id`` header and as ``error.trace_id``."""
    if response.status_code < 400:
        return None
    # Plain raises: pytest's assertion rewriting would add its introspection to the report.
    header = (response.headers.get("x-trace-id") or [""])[0]
    if not re.fullmatch("[0-9a-f]{32}", header):
        raise AssertionError(f"no X-Trace-Id header on a {response.status_code}")
    body = _error_of(response).get("trace_id")
    if body != header:
        raise AssertionError(f"error.trace_id is {body!r}, the X-Trace-Id header {header!r}")
    return None


def unimplemented_or_not_a_server_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """For a contract whose service serves nothing yet: its documented 501 UNIMPLEMENTED, no other 5xx."""
    if response.status_code == 501 and _error_of(response).get("code") == "UNIMPLEMENTED":
        return None
    return not_a_server_error(ctx, response, case)


def streams(operation: Operation) -> bool:
    """The operation answers with a stream of newline-delimited JSON (a server-streaming RPC)."""
    ok = operation.definition.raw.get("responses", {}).get("200", {})
    return STREAM_MEDIA_TYPE in ok.get("content", {})


CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def checks_for(operation: Operation) -> list[Callable[[CheckContext, Response, Case], bool | None]]:
    grpc_method = str(operation.definition.raw.get("x-grpc-method", ""))
    served = grpc_method.strip("/").split("/")[0] not in NOT_YET_SERVED
    server_errors = not_a_server_error if served else unimplemented_or_not_a_server_error
    return [server_errors, *CONFORMANCE, errors_name_their_trace]


# ------------------------------------------------------------------------------------------------ fuzzing


def _request_text(request: requests.PreparedRequest) -> str:
    body = request.body
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return f"{request.method} {request.url}" + (f"\n    body: {text[:600]}" if text else "")


def _problem(failure: Failure, response: Response, mode: GenerationMode) -> tuple[str, str]:
    """One failure as (what makes it distinct, how to reproduce and read it)."""
    # Schemathesis follows a schema violation with the whole schema and value; the answer is shown above it.
    message = failure.message.split("\n\nSchema:")[0].strip()
    detail = message.splitlines()[0] if message else ""
    key = f"{failure.title} [{response.status_code}] {detail if failure.code == 'ST108' else ''}".strip()
    text = (
        f"- {failure.title} ({failure.code}, {mode.value} example)\n"
        f"    {_request_text(response.request)}\n"
        f"    -> {response.status_code} {response.content[:600].decode('utf-8', 'replace')}\n"
        + "".join(f"    {line}\n" for line in message[:900].splitlines())
    )
    return key, text.rstrip()


@dataclass
class Fuzzing:
    """What one operation's fuzzing sent and found."""

    gateway: str
    session: requests.Session
    headers: dict[str, str]
    checks: list[Callable[[CheckContext, Response, Case], bool | None]]
    #: The operation answers with a stream (newline-delimited JSON) that ends after ``max_seconds``.
    streams: bool = False
    sent: int = 0
    #: Each distinct problem once: (check, status, schema detail) -> a request that shows it.
    problems: dict[str, str] = default(default_factory=dict)

    def run(self, operation: Operation, mode: GenerationMode) -> None:
        @FUZZING
        @given(case=operation.as_strategy(generation_mode=mode))
        def send(case: Case) -> None:
            self.send(case, mode)

        try:
            send()
        except Unsatisfiable:
            # Nothing of the operation can be wrong (no parameters, or only strings any text may fill):
            # there is no negative example to send.
            if mode is not GenerationMode.NEGATIVE:
                raise

    def send(self, case: Case, mode: GenerationMode) -> None:
        self.sent += 1
        if self.streams:
            # A stream is read to its end; its own bound keeps each example to a second.
            case.query = {**(case.query or {}), "max_seconds": 1}
        try:
            response = case.call(
                base_url=self.gateway, session=self.session, headers=self.headers, timeout=30
            )
        except requests.RequestException as err:
            self.problems.setdefault(
                f"no answer: {type(err).__name__}", f"- no answer ({mode.value}): {err!r}"
            )
            return
        try:
            case.validate_response(response, checks=self.checks, headers=self.headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                if isinstance(failure, Failure):
                    key, text = _problem(failure, response, mode)
                    self.problems.setdefault(key, text)


@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzz_every_documented_operation(
    label: str,
    suite: SuiteProcess,
    api: dict[str, Operation],
    session: requests.Session,
) -> None:
    operation = api[label]
    roles = list(operation.definition.raw.get("x-roles") or HAND_WRITTEN_ROLES)
    fuzzing = Fuzzing(suite.gateway, session, bearer(*roles), checks_for(operation), streams(operation))
    for mode in MODES:
        fuzzing.run(operation, mode)
    print(f"{label}: {fuzzing.sent} examples")  # shown with -rP or -s
    # An operation without parameters has exactly one request to send, and no negative one.
    assert fuzzing.sent >= 1, f"{label}: no example was generated"
    if fuzzing.problems:
        pytest.fail(
            f"{label}: {len(fuzzing.problems)} distinct problem(s) in {fuzzing.sent} examples, sent with a "
            f"token of {', '.join(roles)}:\n\n" + "\n\n".join(fuzzing.problems.values()),
            pytrace=False,
        )


def test_the_served_document_lists_every_operation(document: dict[str, Any], api: dict[str, Any]) -> None:
    served = [f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item if m in HTTP_METHODS]
    assert sorted(served) == sorted(OPERATIONS)
    assert sorted(api) == sorted(OPERATIONS)


# ------------------------------------------------------------------------- findings of the earlier run


def problem(response: httpx.Response, status: int | tuple[int, ...], *fields: str) -> dict[str, Any]:
    """Asserts the documented error format: the status, ``{"error": {code, message, reason, fields,
    trace_id}}`` with the trace id of the ``X-Trace-Id`` header, and a violation naming each of ``fields``
    (a field path, or its last part)."""
    statuses = (status,) if isinstance(status, int) else status
    where = f"{response.request.method} {response.request.url}"
    assert response.status_code in statuses, f"{where}: {response.status_code} {response.text[:800]}"
    assert response.headers.get("content-type", "").startswith("application/json"), (
        f"{where}: {response.text}"
    )
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{where}: not JSON: {response.text[:800]}") from None
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"{where}: not the error format: {response.text[:800]}"
    assert {"code", "message", "reason", "fields"} <= set(error), f"{where}: {error}"
    trace_id = response.headers.get("x-trace-id", "")
    assert re.fullmatch("[0-9a-f]{32}", trace_id), f"{where}: no X-Trace-Id header"
    assert error.get("trace_id") == trace_id, f"{where}: {error}"
    named = [v["field"] for v in error["fields"]]
    for path in fields:
        assert any(n == path or n.endswith("." + path) for n in named), f"{where}: {path} not in {named}"
    return error


@pytest.fixture(scope="module")
def http(suite: SuiteProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=suite.gateway, timeout=30) as client:
        yield client


def promotion(**fields: Any) -> dict[str, Any]:
    body = {
        "promotion_id": "fuzz-promo", "name": "Fuzz", "kind": "percentage", "rate_bp": 9000,
        "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z",
    }  # fmt: skip
    return {**body, **fields}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate_bp", 2**32),
        ("rate_bp", 2**31),
        ("priority", -(2**31) - 1),
        ("per_buyer_limit", 10**30),
        ("amount_off_fen", 2**63),
        ("budget_fen", -(2**63) - 1),
    ],
)
def test_an_integer_beyond_its_range_is_a_400_naming_the_field(
    http: httpx.Client, field: str, value: int
) -> None:
    # Was a plain-text 500 without a trace id.
    response = http.post("/v1/promotions", json=promotion(**{field: value}), headers=bearer("promoter"))
    problem(response, 400, field)


def test_an_integer_beyond_its_range_in_the_query_string_is_a_400_naming_it(http: httpx.Client) -> None:
    for value in (2**31, 10**50):
        response = http.get(f"/v1/order-exceptions?limit={value}", headers=bearer("supervisor"))
        problem(response, 400, "limit")


def _years_from_today(years: int) -> date:
    today = date.today()
    return today.replace(year=today.year + years, day=min(today.day, 28))


def _friday_on_or_after(day: date) -> date:
    return day + timedelta(days=(4 - day.weekday()) % 7)


#: Business dates no business day can be: a year 0 (no such date), the first and the last a date can be,
#: and half a century either way.
FAR_DATES = [
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    _years_from_today(-50).isoformat(),
    _years_from_today(50).isoformat(),
]
FAR_MONTHS = [
    "0000-02",
    "0001-01",
    "9999-12",
    _years_from_today(-50).isoformat()[:7],
    _years_from_today(50).isoformat()[:7],
]


@pytest.mark.parametrize("month", [*FAR_MONTHS, "2026-13", "2026-00", "12026-01", "2026-1"])
@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/v1/inventory/day-closes", "warehouse_supervisor"),
        ("/v1/inventory/defective-stock/month-end", "purchasing"),
    ],
)
def test_a_month_out_of_range_is_a_400_naming_month(
    http: httpx.Client, path: str, role: str, month: str
) -> None:
    # GET /v1/inventory/day-closes?month=0000-02 was a 500.
    problem(http.get(path, params={"month": month}, headers=bearer(role)), 400, "month")


@pytest.mark.parametrize("value", FAR_DATES)
@pytest.mark.parametrize(
    "target",
    ["close day", "replenishment plan", "full count", "same-day review", "net sales"],
)
def test_a_business_date_decades_away_is_a_400_naming_the_field(
    http: httpx.Client, target: str, value: str
) -> None:
    if target == "close day":
        response = http.post(
            "/v1/inventory/day-closes", json={"business_date": value}, headers=bearer("warehouse_supervisor")
        )
        field = "business_date"
    elif target == "replenishment plan":
        response = http.post(
            "/v1/inventory/replenishment-plans", json={"business_date": value}, headers=bearer("purchasing")
        )
        field = "business_date"
    elif target == "full count":
        # A full count falls on a Friday: plan it on one, so that the date's range is all that is wrong.
        planned = _friday_on_or_after(date.fromisoformat(value)).isoformat() if value[:4] != "0000" else value
        response = http.post(
            "/v1/inventory/counts",
            json={"kind": "full", "planned_for": planned, "request_id": f"fuzz-count-{planned}"},
            headers=bearer("warehouse_supervisor"),
        )
        field = "planned_for"
    elif target == "same-day review":
        response = http.get(
            "/v1/reports/same-day-review", params={"business_date": value}, headers=bearer("supervisor")
        )
        field = "business_date"
    else:
        response = http.get(
            "/v1/reports/net-sales",
            params={"from_date": value, "to_date": value},
            headers=bearer("supervisor"),
        )
        named = {v["field"] for v in problem(response, 400)["fields"]}
        assert named & {"from_date", "to_date"}, named
        return
    problem(response, 400, field)


@pytest.mark.parametrize(
    "value",
    ["0000-12-31T23:59:59Z", "0001-01-01T00:30:00+01:00", "-0001-01-01T00:00:00Z", "10000-01-01T00:00:00Z"],
)
def test_a_timestamp_before_year_1_or_after_9999_is_a_400_naming_the_field(
    http: httpx.Client, value: str
) -> None:
    response = http.post("/v1/promotions", json=promotion(starts_at=value), headers=bearer("promoter"))
    problem(response, 400, "starts_at")
    order = {
        "channel": "tmall",
        "channel_order_id": "fuzz-1",
        "shop_code": "s",
        "payment": {"paid_at": value},
    }
    response = http.post("/v1/orders", json=order, headers=bearer(INTEGRATOR))
    problem(response, 400, "payment.paid_at")


def test_a_body_over_the_limit_is_a_413(http: httpx.Client) -> None:
    # Was a 429, which invites a retry that can only fail again.
    megabytes = 10
    body = b'{"name": "' + b"x" * (megabytes * 1024 * 1024) + b'"}'
    headers = {"content-type": "application/json", **bearer("stock_keeper")}
    response = http.post("/v1/inventory/skus", content=body, headers=headers)  # with its Content-Length
    assert problem(response, 413)["reason"] == "PAYLOAD_TOO_LARGE"

    def chunks() -> Iterator[bytes]:  # chunked, without a Content-Length: refused once it is too long
        yield b'{"name": "'
        for _ in range(megabytes):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    response = http.post("/v1/inventory/skus", content=chunks(), headers=headers)
    assert problem(response, 413)["reason"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    "body",
    [
        b'{"sku_code": ',
        b"{'sku_code': 'a'}",
        b'{"sku_code": "a", "sku_code": "b"}',
        b'{"sku_code": NaN}',
        b'{"sku_code": "\xff\xfe"}',
        b"[" * 1000 + b"]" * 1000,
        b'{"a": ' * 1000 + b"1" + b"}" * 1000,
        b"[" * 100_000,
    ],
    ids=[
        "truncated",
        "single-quotes",
        "duplicate-key",
        "nan",
        "not-utf8",
        "deep-arrays",
        "deep-objects",
        "unclosed",
    ],
)
@pytest.mark.parametrize(
    ("path", "role"),
    [("/v1/inventory/skus", "stock_keeper"), ("/v1/promotions", "promoter")],
    ids=["body-star", "body-field"],
)
def test_malformed_or_deep_json_is_a_400_naming_body(
    http: httpx.Client, path: str, role: str, body: bytes
) -> None:
    # Was {"detail": ...}, outside the error format.
    response = http.post(path, content=body, headers={"content-type": "application/json", **bearer(role)})
    problem(response, 400, "body")


@pytest.mark.parametrize(
    ("method", "path", "roles", "status"),
    [
        ("GET", "/v1/no-such-route", ("stock_keeper",), 404),
        # A newline inside the path: Starlette's catch-all route ("/{path:path}", ".*") does not match it.
        ("GET", "/v1/inventory/skus/a%0Ab/stock", ("stock_keeper",), (400, 404)),
        ("GET", "/v1/inventory/skus/a%2Fb", ("stock_keeper",), 400),
        ("DELETE", "/v1/inventory/warehouses", ("stock_keeper",), 405),
        ("OPTIONS", "/v1/inventory/warehouses", ("stock_keeper",), 405),
        ("TRACE", "/v1/inventory/warehouses", ("stock_keeper",), 405),
        ("GET", "/v1/inventory/warehouses", (), 401),
        ("GET", "/v1/inventory/warehouses", ("hr_manager",), 403),
        ("GET", "/v1/ops/dead-letters?page_size=501", ("sre",), 400),
        ("POST", "/v1/ops/dead-letters/returns/-1/replay", ("sre",), 400),
    ],
)
def test_the_edge_answers_its_own_refusals_in_the_error_format(
    http: httpx.Client, method: str, path: str, roles: tuple[str, ...], status: int | tuple[int, ...]
) -> None:
    headers = bearer(*roles) if roles else {}
    response = http.request(method, path, headers=headers)
    problem(response, status)
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if response.status_code == 405:
        assert response.headers.get("allow"), response.headers


def test_a_forged_token_is_a_401_in_the_error_format(http: httpx.Client) -> None:
    forged = mint_token("fuzzer", ["stock_keeper"], secret="not-the-suite-secret-" + "x" * 32)
    response = http.get("/v1/inventory/warehouses", headers={"Authorization": f"Bearer {forged}"})
    assert problem(response, 401)["reason"] == "TOKEN_INVALID"
