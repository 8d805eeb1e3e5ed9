"""The error model: collected field violations, code -> error type, code -> HTTP status."""

from __future__ import annotations

import pytest

from libs.errors import (
    ERROR_TYPES,
    HTTP_STATUS,
    Aborted,
    AlreadyExists,
    DeadlineExceeded,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Violations,
    error_for_code,
)


def test_no_violations_raises_nothing() -> None:
    v = Violations()
    v.require(True, "quantity", "must be positive")
    v.raise_if_any()
    assert v.items == []


def test_single_violation_message_names_the_field() -> None:
    v = Violations()
    v.require(False, "quantity", "must be positive")
    with pytest.raises(InvalidArgument) as info:
        v.raise_if_any()
    err = info.value
    assert err.message == "quantity: must be positive"
    assert str(err) == "quantity: must be positive"
    assert err.violations == (FieldViolation("quantity", "must be positive"),)
    assert err.code == "INVALID_ARGUMENT"
    assert err.reason == "INVALID_ARGUMENT"


def test_all_violations_are_raised_and_the_message_names_the_first_field() -> None:
    v = Violations()
    v.add("sku_code", "is required")
    v.require(True, "name", "is fine")
    v.require(False, "lines[2].quantity", "must be at least 1")
    v.add("note", "is too long")
    with pytest.raises(InvalidArgument) as info:
        v.raise_if_any()
    err = info.value
    assert err.message == "sku_code: is required (and 2 more)"
    assert [x.field for x in err.violations] == ["sku_code", "lines[2].quantity", "note"]
    assert err.violations[1].description == "must be at least 1"


def test_for_field_builds_the_subclass_with_one_violation() -> None:
    err = NotFound.for_field("sku_code", "no such SKU", reason="SKU_NOT_FOUND")
    assert type(err) is NotFound
    assert err.message == "sku_code: no such SKU"
    assert err.violations == (FieldViolation("sku_code", "no such SKU"),)
    assert err.reason == "SKU_NOT_FOUND"


def test_reason_defaults_to_code_and_metadata_is_copied() -> None:
    source = {"sku": "TEA-1"}
    err = FailedPrecondition("out of stock", metadata=source)
    source["sku"] = "changed"
    assert err.reason == "FAILED_PRECONDITION"
    assert err.metadata == {"sku": "TEA-1"}
    assert repr(err) == "FailedPrecondition('out of stock', reason='FAILED_PRECONDITION')"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("INVALID_ARGUMENT", InvalidArgument),
        ("NOT_FOUND", NotFound),
        ("ALREADY_EXISTS", AlreadyExists),
        ("FAILED_PRECONDITION", FailedPrecondition),
        ("ABORTED", Aborted),
        ("PERMISSION_DENIED", PermissionDenied),
        ("UNAUTHENTICATED", Unauthenticated),
        ("RESOURCE_EXHAUSTED", ResourceExhausted),
        ("UNAVAILABLE", Unavailable),
        ("DEADLINE_EXCEEDED", DeadlineExceeded),
        ("INTERNAL", Internal),
    ],
)
def test_error_for_code_builds_the_matching_type(code: str, cls: type[DomainError]) -> None:
    violations = [FieldViolation("quantity", "must be positive")]
    err = error_for_code(code, "it failed", violations=violations, reason="WHY", metadata={"k": "v"})
    assert type(err) is cls
    assert err.code == code
    assert err.message == "it failed"
    assert err.violations == tuple(violations)
    assert err.reason == "WHY"
    assert err.metadata == {"k": "v"}


def test_error_types_cover_every_domain_error_class() -> None:
    assert set(ERROR_TYPES) == {
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "FAILED_PRECONDITION",
        "ABORTED",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "RESOURCE_EXHAUSTED",
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "UNIMPLEMENTED",
        "INTERNAL",
    }
    for code, cls in ERROR_TYPES.items():
        assert cls.code == code


def test_error_for_code_without_a_type_keeps_the_code_on_an_internal_error() -> None:
    err = error_for_code("DATA_LOSS", "the disk ate it")
    assert type(err) is Internal
    assert err.code == "DATA_LOSS"
    # The class itself is left alone.
    assert Internal.code == "INTERNAL"
    assert Internal("x").code == "INTERNAL"


def test_error_for_code_without_a_type_defaults_the_reason_to_that_code() -> None:
    err = error_for_code("UNIMPLEMENTED", "no such method")
    assert err.reason == "UNIMPLEMENTED"


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (InvalidArgument, 400),
        (Unauthenticated, 401),
        (PermissionDenied, 403),
        (NotFound, 404),
        (AlreadyExists, 409),
        (Aborted, 409),
        (FailedPrecondition, 422),
        (ResourceExhausted, 429),
        (Unavailable, 503),
        (DeadlineExceeded, 504),
    ],
)
def test_http_status_of_each_error_type(cls: type[DomainError], status: int) -> None:
    assert HTTP_STATUS[cls.code] == status


def test_internal_has_no_http_status_of_its_own() -> None:
    # The gateway falls back to 500 and hides the message.
    assert "INTERNAL" not in HTTP_STATUS
    assert HTTP_STATUS["OUT_OF_RANGE"] == 400
    assert HTTP_STATUS["UNIMPLEMENTED"] == 501
