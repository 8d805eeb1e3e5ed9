"""Error responses: every failure is JSON naming its code, a message and the offending fields.

``{"error": {"code": "INVALID_ARGUMENT", "message": "...", "reason": "...",
             "fields": [{"field": "quantity", "description": "..."}], "trace_id": "..."}}``

with the trace id in the ``X-Trace-Id`` header too. Besides the domain errors and request validation, the
web framework's own refusals (no route for a path, a method no route takes) and any unexpected exception
answer in this format, never with ``{"detail": ...}`` or a plain-text 500.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import trace
from starlette.exceptions import HTTPException as StarletteHTTPException

from libs.errors import HTTP_STATUS, HTTP_STATUS_BY_REASON, DomainError, FieldViolation, http_status

TRACE_HEADER = "X-Trace-Id"


def current_trace_id() -> str | None:
    """The id of the trace being recorded, as 32 hex digits; None outside a trace."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def error_body(
    code: str, message: str, *, reason: str = "", violations: tuple[FieldViolation, ...] = ()
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "reason": reason or code,
        "fields": [{"field": v.field, "description": v.description} for v in violations],
    }
    trace_id = current_trace_id()
    if trace_id is not None:
        body["trace_id"] = trace_id
    return {"error": body}


def error_response(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error body as a response, with the ``X-Trace-Id`` header of its trace id (the gateway's
    middleware adds it too, but an unexpected exception leaves the middleware before it can)."""
    trace_id = body["error"].get("trace_id")
    extra = {TRACE_HEADER: trace_id} if trace_id else {}
    return JSONResponse(body, status_code=status, headers={**(headers or {}), **extra})


def internal_error_response() -> JSONResponse:
    # Internal details stay in the logs and the trace.
    return error_response(error_body("INTERNAL", "internal error"), 500)


def domain_error_response(err: DomainError) -> JSONResponse:
    status = http_status(err)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 405:
        headers = {"Allow": err.metadata.get("allow", "")}
    if status == 500:
        return internal_error_response()
    return error_response(
        error_body(err.code, err.message, reason=err.reason, violations=err.violations), status, headers
    )


#: The gRPC code each status the gateway answers stands for (the first in HTTP_STATUS), for the web
#: framework's own refusals, which come with a status only.
_CODE_OF_STATUS: dict[int, str] = {}
for _code, _status in HTTP_STATUS.items():
    _CODE_OF_STATUS.setdefault(_status, _code)
_REASON_OF_STATUS = {status: reason for reason, status in HTTP_STATUS_BY_REASON.items()}
_CODE_OF_STATUS.update({405: "UNIMPLEMENTED", 413: "RESOURCE_EXHAUSTED"})


def http_exception_response(exc: StarletteHTTPException, method: str = "", path: str = "") -> JSONResponse:
    """A refusal of the web framework itself (Starlette's HTTPException), in the one error format and with
    the reasons the transcoder gives: 404 ROUTE_NOT_FOUND when no route matches the path, 405
    METHOD_NOT_ALLOWED with ``Allow`` for a method no route takes."""
    status = exc.status_code
    if status >= 500:
        return internal_error_response()
    headers = dict(exc.headers or {})
    code = _CODE_OF_STATUS.get(status, "INVALID_ARGUMENT")
    reason = _REASON_OF_STATUS.get(status, code)
    if status == 404:
        message, reason = f"{path or 'the path'}: no such route", "ROUTE_NOT_FOUND"
    elif status == 405 and method and path:
        allow = headers.get("allow") or headers.get("Allow") or ""
        message = f"{method} is not allowed on {path}" + (f"; use {allow}" if allow else "")
    else:
        message = exc.detail if isinstance(exc.detail, str) and exc.detail else _phrase(status)
    return error_response(error_body(code, message, reason=reason), status, headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _field_path(loc: tuple[Any, ...]) -> str:
    # ("body", "lines", 2, "quantity") -> "lines[2].quantity"; a body that is not JSON at all -> "body".
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    if not parts or isinstance(parts[0], int):
        return "body" if loc and loc[0] == "body" else str(loc[0] if loc else "body")
    path = str(parts[0])
    for part in parts[1:]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    violations = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            violations.append(
                FieldViolation(
                    "body", f"is not valid JSON: {error.get('ctx', {}).get('error', '')}".rstrip(": ")
                )
            )
        else:
            violations.append(FieldViolation(_field_path(loc), str(error.get("msg", "is invalid"))))
    first = violations[0] if violations else FieldViolation("body", "is invalid")
    return error_response(
        error_body(
            "INVALID_ARGUMENT",
            f"{first.field}: {first.description}",
            reason="INVALID_REQUEST",
            violations=tuple(violations),
        ),
        400,
    )


async def handle_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return domain_error_response(exc)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    """For ``app.add_exception_handler(StarletteHTTPException, ...)``."""
    assert isinstance(exc, StarletteHTTPException)
    return http_exception_response(exc, request.method, request.url.path)


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """For ``app.add_exception_handler(Exception, ...)``: a bug answers a 500 in the error format, with
    its trace id, instead of Starlette's plain-text one. Starlette re-raises the exception afterwards, so
    that the server logs it; the trace records it too."""
    return internal_error_response()
