"""Receiving rules as pure functions: sampling plans and verdicts (INV-4), signatures (INV-5),
business days and photo deadlines (INV-7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.errors import FailedPrecondition, InvalidArgument
from services.inventory.domain.receiving import (
    InspectionStage,
    ReceiptLine,
    Verdict,
    check_signature,
    delivery_rejected,
    is_overdue,
    new_lines,
    photos_overdue,
    ready_to_post,
    record_count,
    record_inspection,
    sample_size,
)


@pytest.mark.parametrize(
    ("received", "sample"), [(1, 1), (5, 1), (10, 1), (11, 2), (95, 10), (100, 10), (101, 11)]
)
def test_inv_4_round_sample_is_ten_percent_rounded_up_at_least_one(received, sample):
    assert sample_size(received) == sample


def counted(received: int) -> ReceiptLine:
    return record_count(ReceiptLine(1, "SKU", expected=received), received, field="received")


def test_inv_4_all_sampled_units_pass_accepts_the_line():
    line = record_inspection(counted(100), InspectionStage.ROUND_1, 10, 0, prefix="r")
    assert line.verdict is Verdict.ACCEPTED
    assert (line.accepted_units, line.defective_units) == (100, 0)


def test_inv_4_a_failure_calls_for_a_second_round_of_ten_percent():
    line = record_inspection(counted(100), InspectionStage.ROUND_1, 10, 1, prefix="r")
    assert line.verdict is Verdict.AWAITING_ROUND_2
    assert line.round2_plan == 10


def two_rounds(failed1: int, failed2: int, received: int = 100) -> ReceiptLine:
    line = record_inspection(
        counted(received), InspectionStage.ROUND_1, sample_size(received), failed1, prefix="r"
    )
    return record_inspection(line, InspectionStage.ROUND_2, line.round2_plan, failed2, prefix="r")


def test_inv_4_below_70_percent_rejects_the_whole_delivery():
    line = two_rounds(4, 3)  # 13 of 20 pass = 65%
    assert line.verdict is Verdict.REJECT_DELIVERY
    assert delivery_rejected([line, counted(5)])
    assert line.accepted_units == 0


def test_inv_4_exactly_70_percent_means_inspect_every_unit():
    line = two_rounds(3, 3)  # 14 of 20 pass = exactly 70%
    assert line.verdict is Verdict.AWAITING_FULL_INSPECTION
    full = record_inspection(line, InspectionStage.FULL, 100, 12, prefix="r")
    assert full.verdict is Verdict.PARTLY_ACCEPTED
    assert (full.accepted_units, full.defective_units) == (88, 12)


def test_inv_4_just_under_70_percent_rejects():
    # 30 sampled (round 1 of 15 + round 2 of 15), 20 pass = 66.7%
    line = two_rounds(5, 5, received=150)
    assert line.verdict is Verdict.REJECT_DELIVERY


def test_inv_4_rounds_must_follow_the_plan():
    with pytest.raises(InvalidArgument) as exc:
        record_inspection(counted(100), InspectionStage.ROUND_1, 9, 0, prefix="results[0]")
    assert exc.value.violations[0].field == "results[0].inspected_units"
    with pytest.raises(FailedPrecondition):
        record_inspection(counted(100), InspectionStage.ROUND_2, 10, 0, prefix="r")
    accepted = record_inspection(counted(100), InspectionStage.ROUND_1, 10, 0, prefix="r")
    with pytest.raises(FailedPrecondition):
        record_inspection(accepted, InspectionStage.FULL, 100, 0, prefix="r")
    with pytest.raises(InvalidArgument):
        record_inspection(counted(100), InspectionStage.ROUND_1, 10, 11, prefix="r")


def test_inv_4_a_single_unit_failing_rejects_without_a_second_round():
    line = record_inspection(counted(1), InspectionStage.ROUND_1, 1, 1, prefix="r")
    assert line.round2_plan == 0
    assert line.verdict is Verdict.REJECT_DELIVERY


def test_inv_3_shortage_and_overage_are_recorded():
    short = record_count(ReceiptLine(1, "A", expected=10), 8, field="f")
    over = record_count(ReceiptLine(2, "B", expected=10), 12, field="f")
    assert (short.variance, over.variance) == (-2, 2)


def test_inv_3_count_is_frozen_once_inspection_starts():
    line = record_inspection(counted(10), InspectionStage.ROUND_1, 1, 0, prefix="r")
    with pytest.raises(FailedPrecondition):
        record_count(line, 9, field="counts[0].received_quantity")


def test_inv_3_delivery_note_lines_are_validated():
    with pytest.raises(InvalidArgument) as exc:
        new_lines([("A", 1), ("A", 2), ("", 1), ("B", -1)])
    fields = {v.field for v in exc.value.violations}
    assert fields == {"lines[1].sku_code", "lines[2].sku_code", "lines[3].expected_quantity"}


def test_posting_waits_for_every_line_to_be_decided():
    assert ready_to_post([counted(10), ReceiptLine(2, "B", expected=5)]) == [
        "lines[0]: awaiting_round_1",
        "lines[1]: awaiting_count",
    ]


def test_inv_5_two_different_people_sign():
    check_signature({}, "stock_keeper", "alice")
    with pytest.raises(FailedPrecondition) as exc:
        check_signature({"stock_keeper": "alice"}, "warehouse_supervisor", "alice")
    assert exc.value.reason == "SAME_SIGNER"
    with pytest.raises(FailedPrecondition):
        check_signature({"stock_keeper": "alice"}, "stock_keeper", "bob")


def test_inv_5_overdue_after_the_business_day_in_shanghai():
    created = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    assert not is_overdue(created, created + timedelta(minutes=30))  # 23:30, same day
    assert is_overdue(created, created + timedelta(hours=1, minutes=1))  # 00:01 next day


def test_inv_7_photos_due_within_three_days():
    posted = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert not photos_overdue(posted, None, posted + timedelta(days=3))
    assert photos_overdue(posted, None, posted + timedelta(days=3, seconds=1))
    assert not photos_overdue(posted, posted + timedelta(days=1), posted + timedelta(days=5))
