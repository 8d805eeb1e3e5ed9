"""Building blocks shared by the gateway's routes: strict bodies, field types, upstream stubs, request ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header, Request
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError

from libs.errors import InvalidArgument
from services.gateway.upstreams import Upstreams

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class StrictBody(BaseModel):
    # Wrong JSON types are refused, not coerced: "5" is not a quantity.
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _encodable(cls, value: object) -> object:
        # JSON may carry a lone surrogate ("\ud800"), which protobuf cannot encode as UTF-8.
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise PydanticCustomError(
                    "string_unicode", "must be valid Unicode text (it holds a lone surrogate)"
                ) from None
        return value


def _fits_int64(value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise PydanticCustomError("int64_range", "must fit a signed 64-bit integer")
    return value


Int64 = Annotated[int, AfterValidator(_fits_int64), WithJsonSchema({"type": "integer", "format": "int64"})]
"""A JSON integer that fits the protobuf int64 it is sent as; the service checks what it means."""


def _rfc3339(value: object) -> object:
    # FastAPI validates the decoded JSON as Python objects, so a strict datetime field would refuse every
    # string. Parse RFC 3339 here instead, and refuse numbers: seconds since 1970 are not a date-time.
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and "T" in value.upper():
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError(
        "datetime_type", "must be an RFC 3339 date-time with a UTC offset, e.g. 2030-01-31T18:00:00Z"
    )


UtcDateTime = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339), WithJsonSchema({"type": "string", "format": "date-time"})
]
"""A date-time in a request body: an RFC 3339 string with a UTC offset ("Z" or "+08:00")."""


def request_id_field() -> Any:
    """The optional ``request_id`` of a body whose RPC is idempotent by request id."""
    return Field(default=None, description="Idempotency key; or send an Idempotency-Key header.")


IdempotencyKey = Annotated[
    str | None, Header(description="Idempotency key, used when the body has no request_id.")
]


def upstreams(request: Request) -> Upstreams:
    found: Upstreams = request.app.state.upstreams
    return found


def request_id(body_value: str | None, header_value: str | None) -> str:
    value = body_value or header_value
    if not value:
        raise InvalidArgument.for_field(
            "request_id", "is required: send it in the body or an Idempotency-Key header"
        )
    return value


def utc(ts: Timestamp) -> datetime:
    """A protobuf timestamp as a timezone-aware UTC datetime."""
    return ts.ToDatetime(tzinfo=UTC)


def timestamp(value: datetime) -> Timestamp:
    """An aware datetime as a protobuf timestamp."""
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts
