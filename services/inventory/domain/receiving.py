"""Receiving (入库): delivery notes, counts, quality sampling and two signatures (INV-3, INV-4, INV-5, INV-7).

Quality sampling (appendix 3), per SKU line of a delivery:
- round 1 inspects 10% of the received units, rounded up, at least 1; if every sampled unit passes, the
  line is accepted;
- otherwise round 2 inspects a further 10%; the pass rate over all sampled units then decides: below 70%
  the whole delivery is rejected and returned to the supplier; from 70% up to below 100% every unit of the
  line is inspected, good units are stocked and defective ones go to the defective-goods warehouse.
  Exactly 70% counts as "70% up to below 100%".

The receipt that these rules govern is the aggregate in ``receipts``.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from libs.business_time import business_day
from libs.errors import FailedPrecondition, InvalidArgument, Violations
from services.inventory.domain.stock import MAX_MOVEMENT_QUANTITY

SAMPLE_PERCENT = 10
REJECT_BELOW_PERCENT = 70
#: INV-7: photos of a new style must be published within 3 days of its receipt.
PHOTO_DEADLINE = timedelta(days=3)
MAX_LINES = 500


class Verdict(enum.Enum):
    """Where a line's quality check stands."""

    AWAITING_COUNT = "awaiting_count"
    AWAITING_ROUND_1 = "awaiting_round_1"
    AWAITING_ROUND_2 = "awaiting_round_2"
    AWAITING_FULL_INSPECTION = "awaiting_full_inspection"
    ACCEPTED = "accepted"
    PARTLY_ACCEPTED = "partly_accepted"  # every unit inspected; defective ones to the defective warehouse
    REJECT_DELIVERY = "reject_delivery"


DECIDED = frozenset({Verdict.ACCEPTED, Verdict.PARTLY_ACCEPTED, Verdict.REJECT_DELIVERY})


class InspectionStage(enum.Enum):
    """The inspection a result belongs to: the first or second 10% sample, or every unit of the line."""

    ROUND_1 = "round_1"
    ROUND_2 = "round_2"
    FULL = "full"


def sample_size(received: int) -> int:
    """Units to inspect in a sampling round: 10% of the received units, rounded up, at least 1 (INV-4)."""
    return max(1, math.ceil(received * SAMPLE_PERCENT / 100)) if received > 0 else 0


@dataclass(frozen=True)
class ReceiptLine:
    """One SKU line of a delivery and its quality check so far."""

    line_no: int
    sku_code: str
    expected: int
    received: int | None = None
    round1_inspected: int = 0
    round1_failed: int = 0
    round2_inspected: int = 0
    round2_failed: int = 0
    full_good: int | None = None
    full_defective: int | None = None
    # The lots posting made: accepted units in the receiving warehouse, defective ones in the defective one.
    lot_id: uuid.UUID | None = None
    defective_lot_id: uuid.UUID | None = None

    @property
    def variance(self) -> int | None:
        """Received minus expected: negative is a shortage, positive an overage (recorded, not hidden)."""
        return None if self.received is None else self.received - self.expected

    @property
    def round1_plan(self) -> int:
        """Units round 1 inspects: 10% of those received, rounded up, at least 1 (INV-4)."""
        return sample_size(self.received or 0)

    @property
    def round2_plan(self) -> int:
        """A further 10%, no more than the units not yet sampled."""
        received = self.received or 0
        return min(sample_size(received), received - self.round1_plan)

    @property
    def verdict(self) -> Verdict:
        """Where the line's quality check stands, from its count and inspections (INV-4)."""
        if self.received is None:
            return Verdict.AWAITING_COUNT
        if self.received == 0:
            return Verdict.ACCEPTED  # nothing arrived: nothing to inspect or stock
        if self.round1_inspected == 0:
            return Verdict.AWAITING_ROUND_1
        if self.round1_failed == 0:
            return Verdict.ACCEPTED
        if self.round2_inspected == 0 and self.round2_plan > 0:
            return Verdict.AWAITING_ROUND_2
        inspected = self.round1_inspected + self.round2_inspected
        passed = inspected - self.round1_failed - self.round2_failed
        # Integer comparison: passed / inspected < 70%  <=>  100 * passed < 70 * inspected.
        if 100 * passed < REJECT_BELOW_PERCENT * inspected:
            return Verdict.REJECT_DELIVERY
        if self.full_good is None:
            return Verdict.AWAITING_FULL_INSPECTION
        return Verdict.PARTLY_ACCEPTED

    @property
    def accepted_units(self) -> int:
        """Units to stock in the receiving warehouse once posted."""
        verdict = self.verdict
        if verdict is Verdict.ACCEPTED:
            return self.received or 0
        if verdict is Verdict.PARTLY_ACCEPTED:
            return self.full_good or 0
        return 0

    @property
    def defective_units(self) -> int:
        """Units for the defective-goods warehouse, to be returned to the supplier."""
        return (self.full_defective or 0) if self.verdict is Verdict.PARTLY_ACCEPTED else 0


def new_lines(lines: list[tuple[str, int]]) -> list[ReceiptLine]:
    """The expected lines of a delivery note; InvalidArgument names each offending ``lines[i]`` field."""
    v = Violations()
    v.require(bool(lines), "lines", "a delivery note lists at least one line")
    v.require(len(lines) <= MAX_LINES, "lines", f"must hold at most {MAX_LINES} lines")
    seen: set[str] = set()
    for i, (sku_code, expected) in enumerate(lines):
        sku = sku_code.strip()
        v.require(bool(sku), f"lines[{i}].sku_code", "is required")
        v.require(sku not in seen, f"lines[{i}].sku_code", "appears twice on the note; list each SKU once")
        seen.add(sku)
        v.require(
            0 <= expected <= MAX_MOVEMENT_QUANTITY, f"lines[{i}].expected_quantity", "must be 0 or more"
        )
    v.raise_if_any()
    return [ReceiptLine(i + 1, sku.strip(), expected) for i, (sku, expected) in enumerate(lines)]


def record_count(line: ReceiptLine, received: int, *, field: str) -> ReceiptLine:
    """The counted quantity of a line; recounting is allowed until inspection starts."""
    if received < 0 or received > MAX_MOVEMENT_QUANTITY:
        raise InvalidArgument.for_field(field, "must be 0 or more")
    if line.round1_inspected:
        raise FailedPrecondition.for_field(field, "inspection has started; the count can no longer change")
    return replace(line, received=received)


def record_inspection(
    line: ReceiptLine, round_: InspectionStage, inspected: int, failed: int, *, prefix: str
) -> ReceiptLine:
    """Records one inspection round of a line; the round must be due and follow the sampling plan (INV-4)."""
    verdict = line.verdict
    v = Violations()
    v.require(inspected >= 0, f"{prefix}.inspected_units", "must be 0 or more")
    v.require(
        0 <= failed <= max(inspected, 0), f"{prefix}.failed_units", "must be between 0 and inspected_units"
    )
    v.raise_if_any()
    if round_ is InspectionStage.ROUND_1:
        if verdict is not Verdict.AWAITING_ROUND_1:
            raise FailedPrecondition.for_field(
                f"{prefix}.round", f"round 1 is not due: the line is {verdict.value}"
            )
        if inspected != line.round1_plan:
            raise InvalidArgument.for_field(
                f"{prefix}.inspected_units", f"round 1 inspects {line.round1_plan} units (10% rounded up)"
            )
        return replace(line, round1_inspected=inspected, round1_failed=failed)
    if round_ is InspectionStage.ROUND_2:
        if verdict is not Verdict.AWAITING_ROUND_2:
            raise FailedPrecondition.for_field(
                f"{prefix}.round", f"round 2 is not due: the line is {verdict.value}"
            )
        if inspected != line.round2_plan:
            raise InvalidArgument.for_field(
                f"{prefix}.inspected_units", f"round 2 inspects a further {line.round2_plan} units"
            )
        return replace(line, round2_inspected=inspected, round2_failed=failed)
    if verdict is not Verdict.AWAITING_FULL_INSPECTION:
        raise FailedPrecondition.for_field(
            f"{prefix}.round", f"a full inspection is not due: the line is {verdict.value}"
        )
    if inspected != line.received:
        raise InvalidArgument.for_field(
            f"{prefix}.inspected_units", f"a full inspection covers all {line.received} units"
        )
    return replace(line, full_good=inspected - failed, full_defective=failed)


def delivery_rejected(lines: list[ReceiptLine]) -> bool:
    """INV-4: one line below 70% rejects the whole delivery."""
    return any(line.verdict is Verdict.REJECT_DELIVERY for line in lines)


def ready_to_post(lines: list[ReceiptLine]) -> list[str]:
    """What still stops posting, as ``lines[i]`` messages; empty when every line is decided."""
    if delivery_rejected(lines):
        return []
    return [
        f"lines[{line.line_no - 1}]: {line.verdict.value}" for line in lines if line.verdict not in DECIDED
    ]


SIGNING_ROLES = ("warehouse_supervisor", "stock_keeper")


def check_signature(existing: Mapping[str, str], role: str, user_id: str) -> None:
    """INV-5: a receipt is signed by a warehouse supervisor and a stock keeper, two different people."""
    if role in existing:
        raise FailedPrecondition.for_field("role", f"the {role} has already signed", reason="ALREADY_SIGNED")
    if user_id in existing.values():
        raise FailedPrecondition.for_field(
            "signature", "the second signature must come from a different person", reason="SAME_SIGNER"
        )


def is_overdue(created_at: datetime, now: datetime) -> bool:
    """INV-5: a receipt is posted on its business day; unposted after it, it is overdue."""
    return business_day(created_at) < business_day(now)


def photos_overdue(posted_at: datetime, published_at: datetime | None, now: datetime) -> bool:
    """INV-7: a new style's photos are due within 3 days of its receipt being posted."""
    return published_at is None and now > posted_at + PHOTO_DEADLINE
