"""google.protobuf.Timestamp <-> timezone-aware UTC datetime, the one conversion every service uses."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def to_timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


#: The seconds of 9999-12-31T23:59:59Z, the last second a datetime holds.
_LAST_SECOND = 253_402_300_799


def from_timestamp(value: Timestamp) -> datetime:
    seconds, nanos = value.seconds, value.nanos
    if 0 <= seconds <= _LAST_SECOND and 0 <= nanos < 1_000_000_000:
        # By hand: ToDatetime builds a timedelta and checks the range, some 3 us, for every event a batch
        # reads. Nanoseconds are cut to microseconds toward zero, as ToDatetime does.
        return datetime.fromtimestamp(seconds, UTC).replace(microsecond=nanos // 1000)
    return value.ToDatetime(tzinfo=UTC)  # before 1970, or invalid: its own checks and errors
