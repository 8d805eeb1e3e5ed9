"""DomainError <-> gRPC status with google.rpc details (ErrorInfo, BadRequest field violations)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from shop.common.v1 import problem_pb2

from libs.errors import DomainError, FieldViolation, Violations, error_for_code

ERROR_DOMAIN = "shop-backoffice"
_DETAILS_KEY = "grpc-status-details-bin"


# Errors often quote the caller's input; keep them well inside gRPC's metadata limits.
MAX_MESSAGE = 1000
MAX_DESCRIPTION = 300


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_status_proto(error: DomainError) -> status_pb2.Status:
    """The google.rpc.Status of ``error``: code, message, ErrorInfo and (if any) BadRequest details."""
    try:
        code_value = code_pb2.Code.Value(error.code)
    except ValueError:
        code_value = code_pb2.INTERNAL
    status = status_pb2.Status(code=code_value, message=_clip(error.message, MAX_MESSAGE))
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    status.details.append(detail)
    if error.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=_clip(v.field, MAX_DESCRIPTION), description=_clip(v.description, MAX_DESCRIPTION)
                )
                for v in error.violations[:50]
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad)
        status.details.append(detail)
    return status


def status_message(error: DomainError) -> str:
    return _clip(error.message, MAX_MESSAGE)


def grpc_code(error: DomainError) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, error.code, grpc.StatusCode.INTERNAL)  # type: ignore[no-any-return]


def trailing_metadata(error: DomainError) -> tuple[tuple[str, bytes], ...]:
    return ((_DETAILS_KEY, to_status_proto(error).SerializeToString()),)


def from_rpc_error(err: grpc.RpcError) -> DomainError:
    """Rebuilds the DomainError a downstream service returned, details included."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    code_name = code.name if code is not None else "UNKNOWN"
    violations: list[FieldViolation] = []
    reason = ""
    metadata: dict[str, str] = {}
    for key, value in (err.trailing_metadata() or ()) if hasattr(err, "trailing_metadata") else ():
        if key != _DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
                metadata = dict(info.metadata)
    return error_for_code(
        code_name, details or code_name, violations=violations, reason=reason, metadata=metadata
    )


def required(items: Sequence[Message], path: str, *fields: str) -> None:
    """Refuses repeated request items whose ``fields`` are unset, naming each ``path[i].field``: for
    ``optional`` numbers where 0 is a real value, so that leaving one out is not read as 0."""
    violations = Violations()
    for i, item in enumerate(items):
        for name in fields:
            violations.require(item.HasField(name), f"{path}[{i}].{name}", "is required")
    violations.raise_if_any()


def to_problem(error: DomainError) -> problem_pb2.Problem:
    """One batch item's refusal, carrying what a single call's status would (code, reason, fields)."""
    return problem_pb2.Problem(
        code=error.code,
        reason=error.reason,
        message=_clip(error.message, MAX_MESSAGE),
        violations=[
            problem_pb2.FieldViolation(
                field=_clip(v.field, MAX_DESCRIPTION), description=_clip(v.description, MAX_DESCRIPTION)
            )
            for v in error.violations[:50]
        ],
    )


def from_problem(problem: problem_pb2.Problem) -> DomainError:
    """The DomainError a batch item's ``problem`` stands for: the error a single call would have raised."""
    return error_for_code(
        problem.code,
        problem.message,
        violations=[FieldViolation(v.field, v.description) for v in problem.violations],
        reason=problem.reason,
    )
