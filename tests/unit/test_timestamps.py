"""google.protobuf.Timestamp -> aware UTC datetime: the hand-written fast path agrees with protobuf's own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from libs.timestamps import from_timestamp, to_timestamp


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 2, 9, 30, 0, 123456, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC),  # before the epoch: protobuf's own conversion
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_a_timestamp_reads_back_as_the_moment_it_was_made_from(moment):
    ts = to_timestamp(moment)
    assert from_timestamp(ts) == moment == ts.ToDatetime(tzinfo=UTC)
    assert from_timestamp(ts).tzinfo is UTC


def test_nanoseconds_are_cut_to_microseconds_toward_zero():
    ts = Timestamp(seconds=1_764_633_600, nanos=1_999)
    assert from_timestamp(ts) == ts.ToDatetime(tzinfo=UTC)
    assert from_timestamp(ts).microsecond == 1


@pytest.mark.parametrize(
    "ts",
    [Timestamp(seconds=5, nanos=-1), Timestamp(seconds=5, nanos=10**9), Timestamp(seconds=253_402_300_800)],
)
def test_an_invalid_timestamp_is_refused_as_protobuf_refuses_it(ts):
    with pytest.raises(ValueError):
        from_timestamp(ts)
