"""The receipt aggregate without a database: every command in every state, allowed and refused.

INV-3 counts, INV-4 two-round sampling and verdicts, INV-5 two signatures, posting and overdue receipts,
INV-7 the inbound notice and new styles.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from shop.inventory.v1 import events_pb2

from libs.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.inventory.domain.receipts import (
    InspectionResult,
    Receipt,
    ReceiptStatus,
    SkuStyle,
    delivery_note,
)
from services.inventory.domain.receiving import PHOTO_DEADLINE, InspectionStage, Verdict
from services.inventory.domain.stock import MovementKind

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
KEEPER = ("keeper-1", frozenset({"stock_keeper"}))
SUPERVISOR = ("boss-1", frozenset({"warehouse_supervisor"}))
STYLES = {
    "TEE-R": SkuStyle("TEE", "Tee red"),
    "TEE-B": SkuStyle("TEE", "Tee blue"),
    "CAP-G": SkuStyle("CAP", "Cap green"),
}
R1, R2, FULL = InspectionStage.ROUND_1, InspectionStage.ROUND_2, InspectionStage.FULL


def new_receipt(*lines: tuple[str, int], warehouse: str = "MAIN") -> Receipt:
    note = delivery_note("SUP-1", "DN-1", warehouse, list(lines or (("TEE-R", 100),)))
    return Receipt.register(
        note, receipt_id="r-1", warehouse_sellable=True, unknown_skus=set(), actor="keeper-1", now=NOW
    )


def sign_both(receipt: Receipt) -> None:
    for role, (user, roles) in (("stock_keeper", KEEPER), ("warehouse_supervisor", SUPERVISOR)):
        receipt.sign(role, user_id=user, roles=roles)


def lot_ids() -> Callable[[], uuid.UUID]:
    ids: Iterator[uuid.UUID] = (uuid.UUID(int=n) for n in range(1, 1000))
    return lambda: next(ids)


def post(receipt: Receipt, received_styles: frozenset[str] = frozenset()) -> None:
    receipt.post(
        actor="boss-1", now=NOW, styles=STYLES, received_styles=received_styles, new_lot_id=lot_ids()
    )


def accepted() -> Receipt:
    """An open receipt whose one line passed round 1 and which both people signed: ready to post."""
    receipt = new_receipt()
    receipt.record_counts([(1, 100)])
    receipt.record_inspection([InspectionResult(1, R1, 10, 0)])
    sign_both(receipt)
    return receipt


def rejected_delivery() -> Receipt:
    """An open, signed receipt whose line failed sampling below 70% (13 of 20 pass)."""
    receipt = new_receipt()
    receipt.record_counts([(1, 100)])
    receipt.record_inspection([InspectionResult(1, R1, 10, 4), InspectionResult(1, R2, 10, 3)])
    sign_both(receipt)
    return receipt


def saved(receipt: Receipt) -> Receipt:
    """The receipt as its repository leaves it after saving: nothing pending."""
    receipt.take_events()
    receipt.take_postings()
    receipt.take_changes()
    return receipt


def posted() -> Receipt:
    receipt = accepted()
    post(receipt)
    return saved(receipt)


def rejected() -> Receipt:
    receipt = rejected_delivery()
    post(receipt)
    return saved(receipt)


RECEIPTS: dict[ReceiptStatus, Callable[[], Receipt]] = {
    ReceiptStatus.OPEN: accepted,
    ReceiptStatus.POSTED: posted,
    ReceiptStatus.REJECTED: rejected,
}
COMMANDS: dict[str, Callable[[Receipt], None]] = {
    "record_counts": lambda r: r.record_counts([(1, 100)]),
    "record_inspection": lambda r: r.record_inspection([InspectionResult(1, R1, 10, 0)]),
    "sign": lambda r: r.sign("stock_keeper", user_id="keeper-9", roles=frozenset({"stock_keeper"})),
    "post": post,
}


def test_the_builders_reach_every_status() -> None:
    assert {status: build().status for status, build in RECEIPTS.items()} == {s: s for s in ReceiptStatus}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("status", [ReceiptStatus.POSTED, ReceiptStatus.REJECTED])
def test_inv_5_a_posted_receipt_refuses_every_command(status: ReceiptStatus, command: str) -> None:
    """INV-5 and the posting rule: a posted document is immutable; corrections are new documents."""
    receipt = RECEIPTS[status]()
    with pytest.raises(FailedPrecondition) as refused:
        COMMANDS[command](receipt)
    assert refused.value.reason == "RECEIPT_POSTED"
    assert refused.value.violations[0].field == "receipt_id"
    assert receipt.status is status
    assert receipt.pending_events == () and receipt.pending_postings == ()


def test_inv_3_an_open_receipt_takes_counts_and_keeps_shortages_and_overages() -> None:
    receipt = new_receipt(("TEE-R", 10), ("TEE-B", 10))
    assert [line.verdict for line in receipt.lines] == [Verdict.AWAITING_COUNT] * 2
    receipt.record_counts([(1, 8), (2, 12)])
    assert [line.variance for line in receipt.lines] == [-2, 2]
    receipt.record_counts([(1, 9)])  # a recount before inspection starts
    assert [line.received for line in receipt.lines] == [9, 12]
    assert [line.line_no for line in receipt.take_changes().lines] == [1, 2]


@pytest.mark.parametrize(
    ("counts", "error", "field"),
    [
        ([], InvalidArgument, "counts"),
        ([(7, 1)], InvalidArgument, "counts[0].line_no"),
        ([(1, -1)], InvalidArgument, "counts[0].received_quantity"),
    ],
)
def test_inv_3_bad_counts_name_the_field(
    counts: list[tuple[int, int]], error: type[DomainError], field: str
) -> None:
    with pytest.raises(error) as refused:
        new_receipt().record_counts(counts)
    assert refused.value.violations[0].field == field


def test_inv_3_the_count_is_frozen_once_inspection_starts() -> None:
    receipt = new_receipt()
    receipt.record_counts([(1, 100)])
    receipt.record_inspection([InspectionResult(1, R1, 10, 1)])
    with pytest.raises(FailedPrecondition) as refused:
        receipt.record_counts([(1, 99)])
    assert refused.value.violations[0].field == "counts[0].received_quantity"


def test_inv_3_register_refuses_unknown_skus_and_defective_warehouses() -> None:
    note = delivery_note("SUP-1", "DN-1", "MAIN", [("TEE-R", 1), ("NOPE", 1)])
    with pytest.raises(NotFound) as unknown:
        Receipt.register(
            note, receipt_id="r", warehouse_sellable=True, unknown_skus={"NOPE"}, actor="k", now=NOW
        )
    assert unknown.value.violations[0].field == "lines[1].sku_code"
    with pytest.raises(FailedPrecondition) as defective:
        Receipt.register(
            note, receipt_id="r", warehouse_sellable=False, unknown_skus=set(), actor="k", now=NOW
        )
    assert defective.value.violations[0].field == "warehouse_code"


# --- INV-4: each line's verdict x the inspection stage recorded --------------------------------------


def line_in(verdict: Verdict) -> Receipt:
    """A one-line receipt of 100 units whose line has ``verdict``."""
    receipt = new_receipt()
    steps: dict[Verdict, list[InspectionResult]] = {
        Verdict.AWAITING_ROUND_1: [],
        Verdict.ACCEPTED: [InspectionResult(1, R1, 10, 0)],
        Verdict.AWAITING_ROUND_2: [InspectionResult(1, R1, 10, 1)],
        Verdict.AWAITING_FULL_INSPECTION: [InspectionResult(1, R1, 10, 1), InspectionResult(1, R2, 10, 2)],
        Verdict.PARTLY_ACCEPTED: [
            InspectionResult(1, R1, 10, 1),
            InspectionResult(1, R2, 10, 2),
            InspectionResult(1, FULL, 100, 6),
        ],
        Verdict.REJECT_DELIVERY: [InspectionResult(1, R1, 10, 4), InspectionResult(1, R2, 10, 3)],
    }
    if verdict is not Verdict.AWAITING_COUNT:
        receipt.record_counts([(1, 100)])
        if steps[verdict]:
            receipt.record_inspection(steps[verdict])
    assert receipt.lines[0].verdict is verdict
    return receipt


DUE: dict[Verdict, InspectionStage | None] = {
    Verdict.AWAITING_COUNT: None,
    Verdict.AWAITING_ROUND_1: R1,
    Verdict.AWAITING_ROUND_2: R2,
    Verdict.AWAITING_FULL_INSPECTION: FULL,
    Verdict.ACCEPTED: None,
    Verdict.PARTLY_ACCEPTED: None,
    Verdict.REJECT_DELIVERY: None,
}
PLANNED_UNITS = {R1: 10, R2: 10, FULL: 100}


@pytest.mark.parametrize("stage", list(InspectionStage))
@pytest.mark.parametrize("verdict", list(Verdict))
def test_inv_4_only_the_due_stage_is_recorded(verdict: Verdict, stage: InspectionStage) -> None:
    """INV-4: round 1, then round 2 only after a failure, then every unit only between 70% and 100%."""
    receipt = line_in(verdict)
    result = InspectionResult(1, stage, PLANNED_UNITS[stage], 0)
    if DUE[verdict] is stage:
        receipt.record_inspection([result])
        assert receipt.lines[0].verdict is not verdict
    else:
        with pytest.raises(FailedPrecondition) as refused:
            receipt.record_inspection([result])
        assert refused.value.violations[0].field == "results[0].round"
        assert receipt.lines[0].verdict is verdict


@pytest.mark.parametrize("verdict", list(Verdict))
def test_inv_3_recounting_is_allowed_only_before_inspection(verdict: Verdict) -> None:
    receipt = line_in(verdict)
    if verdict in (Verdict.AWAITING_COUNT, Verdict.AWAITING_ROUND_1):
        receipt.record_counts([(1, 90)])
        assert receipt.lines[0].received == 90
    else:
        with pytest.raises(FailedPrecondition):
            receipt.record_counts([(1, 90)])


def test_inv_4_results_for_one_line_apply_in_the_order_given() -> None:
    receipt = line_in(Verdict.AWAITING_ROUND_1)
    receipt.record_inspection([InspectionResult(1, R1, 10, 1), InspectionResult(1, R2, 10, 2)])
    assert receipt.lines[0].verdict is Verdict.AWAITING_FULL_INSPECTION  # 17 of 20 pass: 85%


@pytest.mark.parametrize(
    ("results", "field"),
    [
        ([], "results"),
        ([InspectionResult(9, R1, 10, 0)], "results[0].line_no"),
        ([InspectionResult(1, R1, 9, 0)], "results[0].inspected_units"),
        ([InspectionResult(1, R1, 10, 11)], "results[0].failed_units"),
    ],
)
def test_inv_4_results_off_the_plan_are_refused(results: list[InspectionResult], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        line_in(Verdict.AWAITING_ROUND_1).record_inspection(results)
    assert refused.value.violations[0].field == field


# --- INV-5: two signatures from two people ------------------------------------------------------------


def test_inv_5_the_supervisor_and_the_keeper_sign() -> None:
    receipt = new_receipt()
    sign_both(receipt)
    assert receipt.signatures == {"stock_keeper": "keeper-1", "warehouse_supervisor": "boss-1"}


@pytest.mark.parametrize(
    ("role", "user", "roles", "error", "reason"),
    [
        ("stock_keeper", "keeper-2", {"stock_keeper"}, FailedPrecondition, "ALREADY_SIGNED"),
        ("warehouse_supervisor", "keeper-1", {"warehouse_supervisor"}, FailedPrecondition, "SAME_SIGNER"),
        ("warehouse_supervisor", "keeper-2", {"stock_keeper"}, PermissionDenied, "ROLE_REQUIRED"),
        ("purchasing", "buyer-1", {"purchasing"}, InvalidArgument, "INVALID_ARGUMENT"),
    ],
)
def test_inv_5_signatures_that_are_refused(
    role: str, user: str, roles: set[str], error: type[DomainError], reason: str
) -> None:
    receipt = new_receipt()
    receipt.sign("stock_keeper", user_id="keeper-1", roles=frozenset({"stock_keeper"}))
    with pytest.raises(error) as refused:
        receipt.sign(role, user_id=user, roles=frozenset(roles))
    assert refused.value.reason == reason
    assert receipt.signatures == {"stock_keeper": "keeper-1"}


@pytest.mark.parametrize(
    ("signers", "missing"),
    [
        ((), "warehouse_supervisor and the stock_keeper"),
        (("stock_keeper",), "warehouse_supervisor"),
        (("warehouse_supervisor",), "stock_keeper"),
    ],
)
def test_inv_5_posting_needs_both_signatures(signers: tuple[str, ...], missing: str) -> None:
    receipt = new_receipt()
    receipt.record_counts([(1, 100)])
    receipt.record_inspection([InspectionResult(1, R1, 10, 0)])
    people = {"stock_keeper": KEEPER, "warehouse_supervisor": SUPERVISOR}
    for role in signers:
        receipt.sign(role, user_id=people[role][0], roles=people[role][1])
    with pytest.raises(FailedPrecondition) as refused:
        post(receipt)
    assert (refused.value.reason, refused.value.violations[0].field) == ("SIGNATURE_MISSING", "signatures")
    assert missing in refused.value.message
    assert receipt.status is ReceiptStatus.OPEN


@pytest.mark.parametrize(
    "verdict", [v for v in Verdict if v not in (Verdict.ACCEPTED, Verdict.PARTLY_ACCEPTED)]
)
def test_inv_4_posting_waits_until_every_line_is_decided(verdict: Verdict) -> None:
    receipt = line_in(verdict)
    sign_both(receipt)
    if verdict is Verdict.REJECT_DELIVERY:
        post(receipt)  # decided: the whole delivery goes back
        assert receipt.status is ReceiptStatus.REJECTED
        return
    with pytest.raises(FailedPrecondition) as refused:
        post(receipt)
    assert (refused.value.reason, refused.value.violations[0].field) == ("QC_PENDING", "lines")


# --- posting: lots, movements, events and who posted --------------------------------------------------


def test_inv_3_inv_7_posting_stocks_accepted_and_defective_units_and_announces_them() -> None:
    receipt = line_in(Verdict.PARTLY_ACCEPTED)
    sign_both(receipt)
    post(receipt)
    assert (receipt.status, receipt.posted_by, receipt.posted_at) == (ReceiptStatus.POSTED, "boss-1", NOW)
    [posting] = receipt.take_postings()
    assert [(m.kind, m.warehouse_code, m.on_hand_delta) for m in posting.movements] == [
        (MovementKind.RECEIPT, "MAIN", 94),
        (MovementKind.RECEIPT, "DEFECTIVE", 6),
    ]
    assert {m.lot_id for m in posting.movements} == {uuid.UUID(int=1), uuid.UUID(int=2)}
    changes = receipt.take_changes()
    assert [(lot.quantity, lot.label_id) for lot in changes.new_lots] == [
        (94, "TEE-R-0000000000"),
        (6, "TEE-R-0000000000"),
    ]
    assert (changes.lines[0].lot_id, changes.lines[0].defective_lot_id) == (
        uuid.UUID(int=1),
        uuid.UUID(int=2),
    )
    notice, new_style = (e.event for e in receipt.take_events())
    assert isinstance(notice, events_pb2.StockReceived)
    assert [(line.sku_code, line.style_number, line.accepted, line.defective) for line in notice.lines] == [
        ("TEE-R", "TEE", 94, 6)
    ]
    assert isinstance(new_style, events_pb2.NewStyleReceived)
    assert new_style.style_number == "TEE"
    assert new_style.photos_due_at.ToDatetime(tzinfo=UTC) == NOW + PHOTO_DEADLINE
    assert changes.first_receipts[0].style_number == "TEE"


def test_inv_7_a_style_received_before_is_not_new() -> None:
    receipt = accepted()
    post(receipt, received_styles=frozenset({"TEE"}))
    assert [type(e.event) for e in receipt.pending_events] == [events_pb2.StockReceived]
    assert receipt.take_changes().first_receipts == ()


def test_inv_4_a_rejected_delivery_stocks_nothing_and_is_announced() -> None:
    receipt = rejected_delivery()
    post(receipt)
    assert receipt.status is ReceiptStatus.REJECTED
    assert receipt.pending_postings == ()
    [rejection] = receipt.take_events()
    assert isinstance(rejection.event, events_pb2.DeliveryRejected)
    assert (rejection.key, list(rejection.event.failed_sku_codes)) == ("r-1", ["TEE-R"])


# --- INV-5: overdue ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "overdue_next_day"),
    [(ReceiptStatus.OPEN, True), (ReceiptStatus.POSTED, False), (ReceiptStatus.REJECTED, False)],
)
def test_inv_5_only_an_open_receipt_past_its_business_day_is_overdue(
    status: ReceiptStatus, overdue_next_day: bool
) -> None:
    receipt = RECEIPTS[status]()
    assert not receipt.overdue(NOW + timedelta(hours=1))
    assert receipt.overdue(NOW + timedelta(days=1)) is overdue_next_day
