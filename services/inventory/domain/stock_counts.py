"""The count sheet (盘点表) as an aggregate (INV-13).

planned (some line not counted) -> counted (every line counted; lines may still be recounted) -> posted by
the warehouse supervisor's approval, and never changed after. The approval records the adjustment's ledger
movements, the holds and reservations it must cut when fewer units are found than are promised (INV-10),
and one ReservationCut event per cut order, for the repository to save in one transaction.
"""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date, datetime

from shop.inventory.v1 import events_pb2

from libs.errors import FailedPrecondition, InvalidArgument, NotFound
from libs.timestamps import to_timestamp
from services.inventory.domain.counts import (
    Approval,
    CountKind,
    CountLine,
    CountStatus,
    Cuts,
    DamagedDisposition,
    HeldUnits,
    ReservedOrder,
    check_approval,
    check_plan,
    promises_to_cut,
    record,
)
from services.inventory.domain.documents import Document
from services.inventory.domain.places import DEFECTIVE_WAREHOUSE
from services.inventory.domain.stock import Movement, MovementKind, StockLevel

DOCUMENT = "count"


class CountStage(enum.Enum):
    """Where a count sheet stands (INV-13)."""

    PLANNED = "planned"  # open, some line not counted yet
    COUNTED = "counted"  # open, every line counted: ready for approval
    POSTED = "posted"  # approved and posted; immutable


@dataclass(frozen=True)
class CountPlan:
    """A validated count to open: where, which kind, for which day, and the SKUs of a cycle count."""

    warehouse_code: str
    kind: CountKind
    planned_for: date
    sku_codes: tuple[str, ...]


def count_plan(
    warehouse_code: str, kind: CountKind, planned_for: date, sku_codes: Sequence[str]
) -> CountPlan:
    """Validates a count to open (INV-13); the SKUs are trimmed, deduplicated and sorted."""
    skus = sorted({s.strip() for s in sku_codes if s.strip()})
    check_plan(kind, planned_for, skus)
    if not warehouse_code.strip():
        raise InvalidArgument.for_field("warehouse_code", "is required")
    return CountPlan(warehouse_code.strip(), kind, planned_for, tuple(skus))


@dataclass(frozen=True)
class BookEntry:
    """The books' units of one lot in one bin, as the sheet snapshots them."""

    sku_code: str
    lot_id: uuid.UUID
    bin_code: str
    on_hand: int


@dataclass(frozen=True)
class CountedLine:
    """What the keepers found on one line of the sheet."""

    line_no: int
    counted: int
    damaged: int = 0


@dataclass(frozen=True)
class Promises:
    """What is promised of the SKUs an adjustment lowers: their locked stock levels in the count's
    warehouse and, for those it leaves short, the active holds and order reservations."""

    levels: Mapping[str, StockLevel]
    holds: Sequence[HeldUnits] = ()
    orders: Sequence[ReservedOrder] = ()


@dataclass
class StockCount(Document):
    """A count sheet (盘点表): counted vs book per lot and bin, and its approved adjustment (INV-13)."""

    count_id: str
    warehouse_code: str
    kind: CountKind
    planned_for: date
    status: CountStatus
    lines: tuple[CountLine, ...]
    created_at: datetime
    created_by: str = ""
    approved_by: str | None = None
    approved_at: datetime | None = None
    reason: str = ""
    responsible_person: str = ""
    disposition: DamagedDisposition | None = None
    cut_order_ids: tuple[str, ...] = ()
    cut_hold_ids: tuple[str, ...] = ()
    _changed_lines: set[int] = field(default_factory=set, init=False, repr=False, compare=False)

    @classmethod
    def plan(
        cls,
        plan: CountPlan,
        *,
        count_id: str,
        book: Sequence[BookEntry],
        unknown_skus: Set[str],
        actor: str,
        now: datetime,
    ) -> StockCount:
        """Opens a count sheet holding the book quantity of every lot and bin in scope, in ``book``'s
        order; the SKUs of a cycle count must be known."""
        for i, sku in enumerate(plan.sku_codes):
            if sku in unknown_skus:
                raise NotFound.for_field(f"sku_codes[{i}]", f"unknown SKU {sku!r}", reason="SKU_NOT_FOUND")
        return cls(
            count_id=count_id,
            warehouse_code=plan.warehouse_code,
            kind=plan.kind,
            planned_for=plan.planned_for,
            status=CountStatus.OPEN,
            lines=tuple(
                CountLine(i + 1, entry.sku_code, entry.lot_id, entry.bin_code, entry.on_hand)
                for i, entry in enumerate(book)
            ),
            created_at=now,
            created_by=actor,
        )

    @property
    def stage(self) -> CountStage:
        """Planned, counted or posted (INV-13)."""
        if self.status is CountStatus.POSTED:
            return CountStage.POSTED
        if any(line.counted is None for line in self.lines):
            return CountStage.PLANNED
        return CountStage.COUNTED

    # --- commands -------------------------------------------------------------------------------------

    def record(self, found: Sequence[CountedLine]) -> None:
        """Records counted (and damaged) units per line; a line may be recounted until the count posts."""
        self._require_open()
        if not found:
            raise InvalidArgument.for_field("lines", "record at least one line")
        by_no = {line.line_no: line for line in self.lines}
        for i, counted in enumerate(found):
            line = by_no.get(counted.line_no)
            if line is None:
                raise InvalidArgument.for_field(
                    f"lines[{i}].line_no", f"the sheet has no line {counted.line_no}"
                )
            by_no[line.line_no] = record(line, counted.counted, counted.damaged, prefix=f"lines[{i}]")
            self._changed_lines.add(line.line_no)
        self.lines = tuple(by_no[line.line_no] for line in self.lines)

    def skus_at_risk(self, approval: Approval) -> list[str]:
        """The SKUs whose units in the count's warehouse the approved adjustment would lower, once the
        approval is acceptable: their promises may have to be cut."""
        change = self._on_hand_change(self._adjustments(approval))
        return sorted(sku for sku, delta in change.items() if delta < 0)

    def shortfall(self, approval: Approval, levels: Mapping[str, StockLevel]) -> dict[str, int]:
        """Per SKU, the units by which reservations and holds would exceed the stock left after the
        adjustment (only SKUs left short)."""
        return _shortfall(self._on_hand_change(self._adjustments(approval)), levels)

    def approve(self, approval: Approval, *, promises: Promises, actor: str, now: datetime) -> None:
        """INV-13: the warehouse supervisor approves and posts the adjustment.

        Every line must be counted; a variance needs a reason and a responsible person; damaged units go to
        the defective-goods warehouse or are scrapped. Variances post as ADJUSTMENT movements. Units that
        are gone cannot stay promised (INV-10): when the count leaves fewer units than are reserved and
        held, promises are cut by ``promises_to_cut`` and each cut order is announced (ReservationCut).
        """
        movements = self._adjustments(approval)
        change = self._on_hand_change(movements)
        cuts = promises_to_cut(_shortfall(change, promises.levels), promises.holds, promises.orders)
        movements += self._release(cuts, promises)
        self._post(movements, actor=actor, field="lines")
        self.status = CountStatus.POSTED
        self.approved_by, self.approved_at = actor, now
        self.reason, self.responsible_person = approval.reason.strip(), approval.responsible_person.strip()
        self.disposition = approval.disposition
        self.cut_hold_ids, self.cut_order_ids = cuts.hold_ids, cuts.order_ids
        self._announce_cuts(cuts, promises, change, now)

    # --- for the repository ---------------------------------------------------------------------------

    def take_changed_lines(self) -> tuple[CountLine, ...]:
        """Hands the lines recorded since loading to the repository."""
        changed = tuple(line for line in self.lines if line.line_no in self._changed_lines)
        self._changed_lines = set()
        return changed

    # --- inside ---------------------------------------------------------------------------------------

    def _require_open(self) -> None:
        if self.status is not CountStatus.OPEN:
            raise FailedPrecondition.for_field(
                "count_id", "the count is already posted", reason="COUNT_POSTED"
            )

    def _adjustments(self, approval: Approval) -> list[Movement]:
        """The movements the approved count posts, after checking that it may be approved."""
        self._require_open()
        check_approval(list(self.lines), approval)
        movements: list[Movement] = []
        for line in self.lines:
            at = {
                "sku_code": line.sku_code,
                "lot_id": line.lot_id,
                "document_type": DOCUMENT,
                "document_id": self.count_id,
            }
            if line.variance:
                movements.append(
                    Movement(
                        kind=MovementKind.ADJUSTMENT,
                        warehouse_code=self.warehouse_code,
                        bin_code=line.bin_code,
                        on_hand_delta=line.variance,
                        note=approval.reason,
                        **at,  # type: ignore[arg-type]
                    )
                )
            if not line.damaged:
                continue
            if approval.disposition is DamagedDisposition.SCRAP:
                movements.append(
                    Movement(
                        kind=MovementKind.SCRAP,
                        warehouse_code=self.warehouse_code,
                        bin_code=line.bin_code,
                        on_hand_delta=-line.damaged,
                        note="damaged in storage",
                        **at,  # type: ignore[arg-type]
                    )
                )
                continue
            movements += [
                Movement(
                    kind=MovementKind.TRANSFER_OUT,
                    warehouse_code=self.warehouse_code,
                    bin_code=line.bin_code,
                    on_hand_delta=-line.damaged,
                    note="damaged in storage",
                    **at,  # type: ignore[arg-type]
                ),
                Movement(
                    kind=MovementKind.TRANSFER_IN,
                    warehouse_code=DEFECTIVE_WAREHOUSE,
                    on_hand_delta=line.damaged,
                    note=f"damaged in storage at {self.warehouse_code}",
                    **at,  # type: ignore[arg-type]
                ),
            ]
        return movements

    def _on_hand_change(self, movements: Sequence[Movement]) -> dict[str, int]:
        change: dict[str, int] = defaultdict(int)
        for m in movements:
            if m.warehouse_code == self.warehouse_code:
                change[m.sku_code] += m.on_hand_delta
        return dict(change)

    def _release(self, cuts: Cuts, promises: Promises) -> list[Movement]:
        """The movements that give the cut holds' and reservations' units back."""
        note = f"cut by count {self.count_id}: fewer units found than were promised"
        holds = {h.hold_id: h for h in promises.holds}
        orders = {o.order_id: o for o in promises.orders}
        movements = [
            Movement(
                kind=MovementKind.HOLD_RELEASE,
                sku_code=holds[hold_id].sku_code,
                warehouse_code=self.warehouse_code,
                held_delta=-holds[hold_id].quantity,
                document_type="hold",
                document_id=hold_id,
                note=note,
            )
            for hold_id in cuts.hold_ids
        ]
        movements += [
            Movement(
                kind=MovementKind.RELEASE,
                sku_code=sku,
                warehouse_code=self.warehouse_code,
                reserved_delta=-units,
                document_type="order",
                document_id=order_id,
                note=note,
            )
            for order_id in sorted(cuts.order_ids)
            for sku, units in sorted(orders[order_id].open_units.items())
            if units > 0
        ]
        return movements

    def _announce_cuts(
        self, cuts: Cuts, promises: Promises, change: Mapping[str, int], now: datetime
    ) -> None:
        """One ReservationCut per cut order, naming its SKUs that the count found short."""
        orders = {o.order_id: o for o in promises.orders}
        for order_id in cuts.order_ids:
            skus = sorted(
                sku
                for sku, units in orders[order_id].open_units.items()
                if units > 0 and change.get(sku, 0) < 0
            )
            self._record(
                order_id,
                events_pb2.ReservationCut(
                    order_id=order_id,
                    warehouse_code=self.warehouse_code,
                    count_id=self.count_id,
                    short_sku_codes=skus,
                    reason=(
                        f"count {self.count_id} in {self.warehouse_code} found fewer units of "
                        f"{', '.join(skus)} than were reserved; the newest reservations were cut (INV-13)"
                    ),
                    at=to_timestamp(now),
                ),
            )


def _shortfall(change: Mapping[str, int], levels: Mapping[str, StockLevel]) -> dict[str, int]:
    short: dict[str, int] = {}
    for sku, delta in sorted(change.items()):
        level = levels.get(sku)
        if delta >= 0 or level is None:
            continue
        promised, left = level.reserved + level.held, level.on_hand + delta
        if promised > left:
            short[sku] = promised - left
    return short
