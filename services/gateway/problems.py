"""Error responses: every failure is JSON naming its code, a message and the offending fields.

``{"error": {"code": "INVALID_ARGUMENT", "message": "...", "reason": "...",
             "fields": [{"field": "quantity", "description": "..."}], "trace_id": "..."}}``
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import trace

from libs.errors import HTTP_STATUS, DomainError, FieldViolation


def error_body(
    code: str, message: str, *, reason: str = "", violations: tuple[FieldViolation, ...] = ()
) -> dict[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "reason": reason or code,
        "fields": [{"field": v.field, "description": v.description} for v in violations],
    }
    if ctx.is_valid:
        body["trace_id"] = format(ctx.trace_id, "032x")
    return {"error": body}


def domain_error_response(err: DomainError) -> JSONResponse:
    status = HTTP_STATUS.get(err.code, 500)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 500:
        # Internal details stay in the logs and the trace.
        return JSONResponse(error_body("INTERNAL", "internal error"), status_code=500)
    return JSONResponse(
        error_body(err.code, err.message, reason=err.reason, violations=err.violations),
        status_code=status,
        headers=headers,
    )


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
    return JSONResponse(
        error_body(
            "INVALID_ARGUMENT",
            f"{first.field}: {first.description}",
            reason="INVALID_REQUEST",
            violations=tuple(violations),
        ),
        status_code=400,
    )


async def handle_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return domain_error_response(exc)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error_response(exc)
