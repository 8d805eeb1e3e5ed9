"""The error model: domain errors with a meaning, mapped to gRPC codes and HTTP statuses in one table.

Domain code raises these and knows nothing of gRPC or HTTP; ``libs.grpc_errors`` turns them into rich gRPC
statuses (google.rpc details) and back, and the gateway into HTTP responses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    """One offending request field: a path such as ``lines[2].quantity`` and what is wrong with it."""

    field: str
    description: str


class DomainError(Exception):
    """Base of every error a service means to return. ``code`` is a gRPC status code name."""

    code = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        violations: Iterable[FieldViolation] = (),
        reason: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        # A stable, machine-readable cause in UPPER_SNAKE_CASE, e.g. "INSUFFICIENT_STOCK".
        self.reason = reason or self.code
        self.metadata: dict[str, str] = dict(metadata or {})

    @classmethod
    def for_field(cls, field_path: str, description: str, *, reason: str = "") -> DomainError:
        """An error about a single field, its message naming the field."""
        return cls(
            f"{field_path}: {description}",
            violations=[FieldViolation(field_path, description)],
            reason=reason,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r})"


class InvalidArgument(DomainError):
    """Bad input; ``violations`` names every offending field."""

    code = "INVALID_ARGUMENT"


class NotFound(DomainError):
    code = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    """The current state forbids the operation (out of stock, already posted...)."""

    code = "FAILED_PRECONDITION"


class Aborted(DomainError):
    """A concurrency conflict; the caller may retry."""

    code = "ABORTED"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class ResourceExhausted(DomainError):
    code = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    """A dependency is down; the caller may retry later."""

    code = "UNAVAILABLE"


class DeadlineExceeded(DomainError):
    code = "DEADLINE_EXCEEDED"


class Unimplemented(DomainError):
    """An RPC of the contract that its service does not serve yet."""

    code = "UNIMPLEMENTED"


class Internal(DomainError):
    code = "INTERNAL"


ERROR_TYPES: dict[str, type[DomainError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        Aborted,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        Unavailable,
        DeadlineExceeded,
        Unimplemented,
        Internal,
    )
}

#: gRPC code name -> HTTP status, used by the gateway.
HTTP_STATUS: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "FAILED_PRECONDITION": 422,
    "RESOURCE_EXHAUSTED": 429,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    "CANCELLED": 499,
}


#: Refusals only the HTTP edge makes, with a status more precise than their gRPC code's. Ours differ from
#: Envoy's transcoder on purpose: a body too large is 413, not 429 (RESOURCE_EXHAUSTED invites a retry
#: that can only fail again), and a known path with the wrong method is 405 with Allow, not 501.
HTTP_STATUS_BY_REASON: dict[str, int] = {
    "PAYLOAD_TOO_LARGE": 413,
    "METHOD_NOT_ALLOWED": 405,
}


def http_status(error: DomainError) -> int:
    """The HTTP status the gateway answers ``error`` with: by its reason where that is more precise, else
    by its code; 500 for anything unmapped."""
    return HTTP_STATUS_BY_REASON.get(error.reason) or HTTP_STATUS.get(error.code, 500)


def error_for_code(code: str, message: str, **kwargs: object) -> DomainError:
    """Builds the DomainError subclass for a gRPC code name (INTERNAL for codes without one)."""
    cls = ERROR_TYPES.get(code, Internal)
    err = cls(message, **kwargs)  # type: ignore[arg-type]
    if cls is Internal and code != "INTERNAL":
        # Keep the code the peer sent (UNIMPLEMENTED, CANCELLED...), and let the reason default to it too.
        err.code = code
        if not kwargs.get("reason"):
            err.reason = code
    return err


@dataclass
class Violations:
    """Collects field violations during validation, then raises them all at once."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str) -> None:
        self.items.append(FieldViolation(field_path, description))

    def require(self, condition: bool, field_path: str, description: str) -> None:
        if not condition:
            self.add(field_path, description)

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            more = f" (and {len(self.items) - 1} more)" if len(self.items) > 1 else ""
            raise InvalidArgument(f"{first.field}: {first.description}{more}", violations=self.items)
