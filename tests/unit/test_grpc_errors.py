"""DomainError <-> rich gRPC status (google.rpc ErrorInfo and BadRequest details)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from libs.errors import (
    DomainError,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from libs.grpc_errors import ERROR_DOMAIN, from_rpc_error, grpc_code, to_status_proto, trailing_metadata

DETAILS_KEY = "grpc-status-details-bin"


class FakeRpcError(grpc.RpcError):  # type: ignore[misc]
    """Behaves like the grpc.aio.AioRpcError a client stub raises."""

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str | None,
        metadata: Sequence[tuple[str, str | bytes]] | None = (),
    ) -> None:
        super().__init__(details)
        self._code = code
        self._details = details
        self._metadata = metadata

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str | None:
        return self._details

    def trailing_metadata(self) -> Sequence[tuple[str, str | bytes]] | None:
        return self._metadata


def _status_bytes(
    code: int,
    message: str,
    *,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
    violations: Sequence[tuple[str, str]] = (),
) -> bytes:
    status = status_pb2.Status(code=code, message=message)
    if reason is not None:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata or {}))
        status.details.append(detail)
    if violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad)
        status.details.append(detail)
    data: bytes = status.SerializeToString()
    return data


def _unpack(
    status: status_pb2.Status,
) -> tuple[list[error_details_pb2.ErrorInfo], list[error_details_pb2.BadRequest]]:
    infos, bads = [], []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            bads.append(bad)
    return infos, bads


# --- DomainError -> status ---------------------------------------------------------------------------


def test_to_status_proto_carries_error_info_and_bad_request() -> None:
    err = InvalidArgument(
        "quantity: must be at least 1 (and 1 more)",
        violations=[
            FieldViolation("quantity", "must be at least 1"),
            FieldViolation("lines[2].sku_code", "is required"),
        ],
        reason="BAD_RECEIPT",
        metadata={"warehouse": "MAIN"},
    )
    status = to_status_proto(err)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert status.message == "quantity: must be at least 1 (and 1 more)"
    infos, bads = _unpack(status)
    assert len(infos) == 1
    assert infos[0].reason == "BAD_RECEIPT"
    assert infos[0].domain == ERROR_DOMAIN
    assert dict(infos[0].metadata) == {"warehouse": "MAIN"}
    assert len(bads) == 1
    assert [(v.field, v.description) for v in bads[0].field_violations] == [
        ("quantity", "must be at least 1"),
        ("lines[2].sku_code", "is required"),
    ]


def test_to_status_proto_without_violations_has_no_bad_request() -> None:
    status = to_status_proto(NotFound("sku_code: no such SKU", reason="SKU_NOT_FOUND"))
    assert status.code == code_pb2.NOT_FOUND
    infos, bads = _unpack(status)
    assert [i.reason for i in infos] == ["SKU_NOT_FOUND"]
    assert bads == []


def test_trailing_metadata_round_trips_through_from_rpc_error() -> None:
    sent = FailedPrecondition(
        "quantity: not enough stock",
        violations=[FieldViolation("quantity", "not enough stock")],
        reason="INSUFFICIENT_STOCK",
        metadata={"available": "3"},
    )
    metadata = trailing_metadata(sent)
    assert [key for key, _ in metadata] == [DETAILS_KEY]
    received = from_rpc_error(FakeRpcError(grpc_code(sent), sent.message, metadata))
    assert type(received) is FailedPrecondition
    assert received.message == sent.message
    assert received.reason == "INSUFFICIENT_STOCK"
    assert received.metadata == {"available": "3"}
    assert received.violations == sent.violations


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (InvalidArgument("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotFound("x"), grpc.StatusCode.NOT_FOUND),
        (Unauthenticated("x"), grpc.StatusCode.UNAUTHENTICATED),
        (Internal("x"), grpc.StatusCode.INTERNAL),
    ],
)
def test_grpc_code_of_domain_errors(err: DomainError, expected: grpc.StatusCode) -> None:
    assert grpc_code(err) is expected


def test_grpc_code_of_an_unknown_code_is_internal() -> None:
    err = Internal("x")
    err.code = "NOT_A_GRPC_CODE"
    assert grpc_code(err) is grpc.StatusCode.INTERNAL


# --- status -> DomainError ---------------------------------------------------------------------------


def test_from_rpc_error_rebuilds_type_message_reason_metadata_and_violations() -> None:
    details = _status_bytes(
        code_pb2.FAILED_PRECONDITION,
        "lines[0].quantity: only 3 available",
        reason="INSUFFICIENT_STOCK",
        metadata={"sku": "TEA-1", "available": "3"},
        violations=[("lines[0].quantity", "only 3 available"), ("lines[1].sku_code", "is discontinued")],
    )
    rpc_error = FakeRpcError(
        grpc.StatusCode.FAILED_PRECONDITION,
        "lines[0].quantity: only 3 available",
        [("content-type", "application/grpc"), (DETAILS_KEY, details)],
    )
    err = from_rpc_error(rpc_error)
    assert type(err) is FailedPrecondition
    assert err.code == "FAILED_PRECONDITION"
    assert err.message == "lines[0].quantity: only 3 available"
    assert err.reason == "INSUFFICIENT_STOCK"
    assert err.metadata == {"sku": "TEA-1", "available": "3"}
    assert err.violations == (
        FieldViolation("lines[0].quantity", "only 3 available"),
        FieldViolation("lines[1].sku_code", "is discontinued"),
    )


def test_from_rpc_error_without_details_uses_the_code() -> None:
    err = from_rpc_error(FakeRpcError(grpc.StatusCode.NOT_FOUND, "sku_code: no such SKU", None))
    assert type(err) is NotFound
    assert err.message == "sku_code: no such SKU"
    assert err.reason == "NOT_FOUND"
    assert err.metadata == {}
    assert err.violations == ()


def test_from_rpc_error_ignores_other_keys_and_text_values() -> None:
    details = _status_bytes(code_pb2.INVALID_ARGUMENT, "m", reason="R", violations=[("f", "d")])
    err = from_rpc_error(
        FakeRpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "m",
            [("x-other-bin", details), (DETAILS_KEY, "not bytes")],
        )
    )
    assert type(err) is InvalidArgument
    assert err.reason == "INVALID_ARGUMENT"
    assert err.violations == ()


def test_from_rpc_error_with_empty_details_names_the_code() -> None:
    err = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "", ()))
    assert err.code == "UNAVAILABLE"
    assert err.message == "UNAVAILABLE"


def test_from_rpc_error_with_a_code_without_a_type_keeps_the_code() -> None:
    err = from_rpc_error(FakeRpcError(grpc.StatusCode.DATA_LOSS, "the disk ate it", ()))
    assert type(err) is Internal
    assert err.code == "DATA_LOSS"
    assert err.message == "the disk ate it"


def test_from_rpc_error_of_a_bare_rpc_error_is_unknown() -> None:
    err = from_rpc_error(grpc.RpcError("connection reset"))
    assert type(err) is Internal
    assert err.code == "UNKNOWN"
    assert err.message == "connection reset"
