"""The count-sheet aggregate without a database (INV-13): planned -> counted -> posted by the supervisor's
approval; every command in every stage, allowed and refused, and what the approval posts and cuts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from shop.inventory.v1 import events_pb2

from libs.errors import FailedPrecondition, InvalidArgument, NotFound
from services.inventory.domain.counts import Approval, CountKind, DamagedDisposition, HeldUnits, ReservedOrder
from services.inventory.domain.stock import MovementKind, StockLevel
from services.inventory.domain.stock_counts import (
    BookEntry,
    CountedLine,
    CountStage,
    Promises,
    StockCount,
    count_plan,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MONDAY, FRIDAY = date(2026, 11, 23), date(2026, 11, 27)
LOT_1, LOT_2 = uuid.UUID(int=1), uuid.UUID(int=2)
BOOK = [BookEntry("TEA", LOT_1, "A-01", 10), BookEntry("TEA", LOT_2, "", 5)]
APPROVAL = Approval("one unit missing", "Li Wei", None)
NOTHING_PROMISED = Promises(levels={})


def planned() -> StockCount:
    plan = count_plan("MAIN", CountKind.CYCLE, MONDAY, ["TEA"])
    return StockCount.plan(plan, count_id="c-1", book=BOOK, unknown_skus=set(), actor="boss-1", now=NOW)


def counted() -> StockCount:
    count = planned()
    count.record([CountedLine(1, 9), CountedLine(2, 5)])
    count.take_changed_lines()
    return count


def posted() -> StockCount:
    count = counted()
    count.approve(APPROVAL, promises=NOTHING_PROMISED, actor="boss-1", now=NOW)
    count.take_postings()
    count.take_events()
    return count


COUNTS: dict[CountStage, Callable[[], StockCount]] = {
    CountStage.PLANNED: planned,
    CountStage.COUNTED: counted,
    CountStage.POSTED: posted,
}
COMMANDS: dict[str, Callable[[StockCount], None]] = {
    "record": lambda c: c.record([CountedLine(1, 10), CountedLine(2, 5)]),
    "approve": lambda c: c.approve(APPROVAL, promises=NOTHING_PROMISED, actor="boss-1", now=NOW),
}
ALLOWED = {
    (CountStage.PLANNED, "record"): CountStage.COUNTED,
    (CountStage.COUNTED, "record"): CountStage.COUNTED,  # a recount before approval
    (CountStage.COUNTED, "approve"): CountStage.POSTED,
}
REFUSED = {
    (CountStage.PLANNED, "approve"): ("COUNT_INCOMPLETE", "lines"),
    (CountStage.POSTED, "record"): ("COUNT_POSTED", "count_id"),
    (CountStage.POSTED, "approve"): ("COUNT_POSTED", "count_id"),
}


def test_the_builders_reach_every_stage() -> None:
    assert {stage: build().stage for stage, build in COUNTS.items()} == {s: s for s in CountStage}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("stage", list(CountStage))
def test_inv_13_every_stage_by_every_command(stage: CountStage, command: str) -> None:
    """INV-13: lines are counted (and recounted) until the supervisor approves; a posted count is final."""
    count = COUNTS[stage]()
    after = ALLOWED.get((stage, command))
    if after is not None:
        COMMANDS[command](count)
        assert count.stage is after
        return
    reason, field = REFUSED[(stage, command)]
    with pytest.raises(FailedPrecondition) as refused:
        COMMANDS[command](count)
    assert (refused.value.reason, refused.value.violations[0].field) == (reason, field)
    assert count.stage is stage
    assert count.pending_postings == () and count.pending_events == ()


def test_inv_13_the_sheet_holds_the_book_quantity_of_every_lot_and_bin() -> None:
    count = planned()
    assert [(line.line_no, line.lot_id, line.bin_code, line.book, line.counted) for line in count.lines] == [
        (1, LOT_1, "A-01", 10, None),
        (2, LOT_2, "", 5, None),
    ]
    assert (count.created_by, count.created_at, count.stage) == ("boss-1", NOW, CountStage.PLANNED)


@pytest.mark.parametrize(
    ("found", "field"),
    [
        ([], "lines"),
        ([CountedLine(3, 1)], "lines[0].line_no"),
        ([CountedLine(1, -1)], "lines[0].counted"),
        ([CountedLine(1, 2, 3)], "lines[0].damaged"),
    ],
)
def test_inv_13_bad_counts_name_the_field(found: list[CountedLine], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        planned().record(found)
    assert refused.value.violations[0].field == field


@pytest.mark.parametrize(
    ("kind", "day", "skus", "field"),
    [
        (CountKind.FULL, MONDAY, [], "planned_for"),
        (CountKind.FULL, FRIDAY, ["TEA"], "sku_codes"),
        (CountKind.CYCLE, MONDAY, [" "], "sku_codes"),
    ],
)
def test_inv_13_the_full_count_is_the_friday_count_of_a_whole_warehouse(
    kind: CountKind, day: date, skus: list[str], field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        count_plan("MAIN", kind, day, skus)
    assert refused.value.violations[0].field == field
    assert count_plan("MAIN", CountKind.FULL, FRIDAY, []).sku_codes == ()


def test_inv_13_a_cycle_count_names_known_skus() -> None:
    plan = count_plan("MAIN", CountKind.CYCLE, MONDAY, ["TEA", "NOPE"])
    with pytest.raises(NotFound) as refused:
        StockCount.plan(plan, count_id="c", book=[], unknown_skus={"NOPE"}, actor="k", now=NOW)
    assert refused.value.violations[0].field == "sku_codes[0]"  # SKUs are sorted: NOPE, TEA


# --- approval: what it needs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("approval", "field"),
    [
        (Approval("", "Li Wei", None), "reason"),
        (Approval("missing", " ", None), "responsible_person"),
    ],
)
def test_inv_13_a_variance_needs_a_reason_and_a_responsible_person(approval: Approval, field: str) -> None:
    count = counted()
    with pytest.raises(InvalidArgument) as refused:
        count.approve(approval, promises=NOTHING_PROMISED, actor="boss-1", now=NOW)
    assert field in {v.field for v in refused.value.violations}
    assert count.stage is CountStage.COUNTED


def test_inv_13_a_count_that_matches_the_books_needs_no_reason() -> None:
    count = planned()
    count.record([CountedLine(1, 10), CountedLine(2, 5)])
    count.approve(Approval("", "", None), promises=NOTHING_PROMISED, actor="boss-1", now=NOW)
    assert count.stage is CountStage.POSTED
    assert count.pending_postings == ()


def test_inv_13_damaged_units_need_a_disposition() -> None:
    count = planned()
    count.record([CountedLine(1, 10, 2), CountedLine(2, 5)])
    with pytest.raises(InvalidArgument) as refused:
        count.approve(Approval("", "", None), promises=NOTHING_PROMISED, actor="boss-1", now=NOW)
    assert refused.value.violations[0].field == "damaged_disposition"


# --- approval: what it posts ----------------------------------------------------------------------------


def test_inv_13_the_variance_posts_as_an_adjustment_signed_by_the_supervisor() -> None:
    count = counted()
    count.approve(
        Approval(" one unit missing ", " Li Wei ", None), promises=NOTHING_PROMISED, actor="boss-1", now=NOW
    )
    assert (count.approved_by, count.approved_at, count.reason, count.responsible_person) == (
        "boss-1",
        NOW,
        "one unit missing",
        "Li Wei",
    )
    [posting] = count.take_postings()
    assert (posting.actor, posting.field) == ("boss-1", "lines")
    assert [(m.kind, m.lot_id, m.bin_code, m.on_hand_delta) for m in posting.movements] == [
        (MovementKind.ADJUSTMENT, LOT_1, "A-01", -1)
    ]


@pytest.mark.parametrize(
    ("disposition", "moves"),
    [
        (DamagedDisposition.SCRAP, [(MovementKind.SCRAP, "MAIN", -2)]),
        (
            DamagedDisposition.DEFECTIVE_WAREHOUSE,
            [(MovementKind.TRANSFER_OUT, "MAIN", -2), (MovementKind.TRANSFER_IN, "DEFECTIVE", 2)],
        ),
    ],
)
def test_inv_13_damaged_units_are_scrapped_or_moved_to_the_defective_warehouse_by_document(
    disposition: DamagedDisposition, moves: list[tuple[MovementKind, str, int]]
) -> None:
    count = planned()
    count.record([CountedLine(1, 10, 2), CountedLine(2, 5)])
    count.approve(Approval("", "", disposition), promises=NOTHING_PROMISED, actor="boss-1", now=NOW)
    [posting] = count.take_postings()
    assert [(m.kind, m.warehouse_code, m.on_hand_delta) for m in posting.movements] == moves
    assert all((m.document_type, m.document_id) == ("count", "c-1") for m in posting.movements)
    assert count.disposition is disposition


# --- approval: promises that no longer fit (INV-13 with INV-10) -----------------------------------------


def short_count(found: int) -> StockCount:
    """15 units on the books in two lots; ``found`` of them on the first line's 10."""
    count = planned()
    count.record([CountedLine(1, found), CountedLine(2, 5)])
    return count


def test_inv_13_only_skus_the_adjustment_lowers_are_at_risk() -> None:
    assert short_count(9).skus_at_risk(APPROVAL) == ["TEA"]
    assert short_count(11).skus_at_risk(APPROVAL) == []


def test_inv_13_the_shortfall_is_what_is_promised_beyond_the_stock_left() -> None:
    levels = {"TEA": StockLevel("TEA", "MAIN", on_hand=15, reserved=10, held=3, sellable=True)}
    assert short_count(5).shortfall(APPROVAL, levels) == {"TEA": 3}  # 13 promised, 10 left
    assert short_count(8).shortfall(APPROVAL, levels) == {}  # 13 promised, 13 left


def test_inv_13_holds_are_cut_first_then_the_newest_orders_and_each_cut_order_is_announced() -> None:
    levels = {"TEA": StockLevel("TEA", "MAIN", on_hand=15, reserved=9, held=2, sellable=True)}
    promises = Promises(
        levels=levels,
        holds=[HeldUnits("h-1", "TEA", 2, NOW - timedelta(hours=1))],
        orders=[
            ReservedOrder("order-old", {"TEA": 4}, NOW - timedelta(days=2)),
            ReservedOrder("order-new", {"TEA": 5, "CUP": 1}, NOW - timedelta(days=1)),
        ],
    )
    count = short_count(4)  # 11 promised, 9 left: short by 2 -> the hold (2) covers it
    count.approve(APPROVAL, promises=promises, actor="boss-1", now=NOW)
    assert (count.cut_hold_ids, count.cut_order_ids) == (("h-1",), ())
    assert count.pending_events == ()

    count = short_count(1)  # 11 promised, 6 left: short by 5 -> the hold, then the newest order
    count.approve(APPROVAL, promises=promises, actor="boss-1", now=NOW)
    assert (count.cut_hold_ids, count.cut_order_ids) == (("h-1",), ("order-new",))
    [posting] = count.take_postings()
    releases = [
        (m.kind, m.sku_code, m.held_delta, m.reserved_delta, m.document_type, m.document_id)
        for m in posting.movements
        if m.kind in (MovementKind.HOLD_RELEASE, MovementKind.RELEASE)
    ]
    assert releases == [
        (MovementKind.HOLD_RELEASE, "TEA", -2, 0, "hold", "h-1"),
        (MovementKind.RELEASE, "CUP", 0, -1, "order", "order-new"),  # the whole reservation goes
        (MovementKind.RELEASE, "TEA", 0, -5, "order", "order-new"),
    ]
    [cut] = count.take_events()
    assert cut.key == "order-new"
    assert isinstance(cut.event, events_pb2.ReservationCut)
    assert (cut.event.count_id, list(cut.event.short_sku_codes)) == ("c-1", ["TEA"])
    assert "fewer units of TEA" in cut.event.reason
    assert cut.event.at.ToDatetime(tzinfo=UTC) == NOW
