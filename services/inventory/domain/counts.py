"""Stock counts (盘点, INV-13): planned cycle counts, the Friday full count, variances and adjustments.

A count sheet snapshots the book quantity of every lot and bin in scope; keepers record what they find,
including damaged units; the warehouse supervisor approves the adjustment, which needs a reason and a
responsible person whenever anything differs. Damaged units go to the defective-goods warehouse or are
scrapped, by document.

The count sheet these rules govern is the aggregate in ``stock_counts``.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from libs.errors import FailedPrecondition, InvalidArgument, Violations

FRIDAY = 4  # date.weekday()


class CountKind(enum.Enum):
    CYCLE = "cycle"
    FULL = "full"


class CountStatus(enum.Enum):
    """As stored: open until the approval posts it."""

    OPEN = "open"
    POSTED = "posted"


class DamagedDisposition(enum.Enum):
    DEFECTIVE_WAREHOUSE = "defective_warehouse"
    SCRAP = "scrap"


def check_plan(kind: CountKind, planned_for: date, sku_codes: list[str]) -> None:
    """A full count is the Friday count of a whole warehouse; a cycle count names the SKUs it covers."""
    if kind is CountKind.FULL:
        if planned_for.weekday() != FRIDAY:
            raise InvalidArgument.for_field("planned_for", "the full count happens on a Friday (INV-13)")
        if sku_codes:
            raise InvalidArgument.for_field(
                "sku_codes", "a full count covers the whole warehouse; name no SKUs"
            )
    elif not sku_codes:
        raise InvalidArgument.for_field("sku_codes", "a cycle count names the SKUs it covers")


def full_count_due(day: date) -> bool:
    """INV-13: a full count happens every Friday."""
    return day.weekday() == FRIDAY


@dataclass(frozen=True)
class CountLine:
    """The book quantity of one lot in one bin, and what the keepers found there."""

    line_no: int
    sku_code: str
    lot_id: uuid.UUID
    bin_code: str
    book: int
    counted: int | None = None
    damaged: int = 0

    @property
    def variance(self) -> int | None:
        """Counted minus book; None until counted."""
        return None if self.counted is None else self.counted - self.book


def record(line: CountLine, counted: int, damaged: int, *, prefix: str) -> CountLine:
    """What was found on one line, damaged units among them; InvalidArgument names ``prefix``'s fields."""
    v = Violations()
    v.require(counted >= 0, f"{prefix}.counted", "must be 0 or more")
    v.require(0 <= damaged <= max(counted, 0), f"{prefix}.damaged", "must be between 0 and counted")
    v.raise_if_any()
    return replace(line, counted=counted, damaged=damaged)


@dataclass(frozen=True)
class Approval:
    """The supervisor's approval of a count's adjustment (INV-13)."""

    reason: str
    responsible_person: str
    disposition: DamagedDisposition | None


def check_approval(lines: list[CountLine], approval: Approval) -> None:
    """INV-13: every line counted; a variance needs a reason and a responsible person; damaged units need
    a disposition."""
    uncounted = [line.line_no for line in lines if line.counted is None]
    if uncounted:
        raise FailedPrecondition.for_field(
            "lines",
            f"lines {', '.join(map(str, uncounted[:10]))} are not counted yet",
            reason="COUNT_INCOMPLETE",
        )
    v = Violations()
    if any(line.variance for line in lines):
        v.require(
            bool(approval.reason.strip()), "reason", "is required when the count differs from the books"
        )
        v.require(
            bool(approval.responsible_person.strip()),
            "responsible_person",
            "is required when the count differs from the books",
        )
    if any(line.damaged for line in lines):
        v.require(approval.disposition is not None, "damaged_disposition", "say where damaged units go")
    v.raise_if_any()


@dataclass(frozen=True)
class HeldUnits:
    """An active hold of one SKU (INV-9)."""

    hold_id: str
    sku_code: str
    quantity: int
    made_at: datetime


@dataclass(frozen=True)
class ReservedOrder:
    """An active reservation: the units of each SKU it still holds (reserved and not yet issued)."""

    order_id: str
    open_units: Mapping[str, int]
    made_at: datetime


@dataclass(frozen=True)
class Cuts:
    """The holds and order reservations a posted count cuts."""

    hold_ids: tuple[str, ...]
    order_ids: tuple[str, ...]


def promises_to_cut(
    short: Mapping[str, int], holds: Sequence[HeldUnits], orders: Sequence[ReservedOrder]
) -> Cuts:
    """INV-13 with INV-10: a posted count that leaves fewer units of a SKU than are promised must cut
    promises until the rest fit the counted stock.

    The rule: paid orders come before holds, and earlier promises before later ones. Holds of the short
    SKU are cut first, newest first (a hold sells nothing yet and lapses by itself, INV-9); then order
    reservations, newest first, so the oldest orders keep their stock. An order's reservation is all or
    nothing (INV-10), so a cut order loses every line, which also relieves any other short SKU it holds.
    ``short`` maps each SKU to the units by which promises exceed the counted stock.
    """
    left = {sku: units for sku, units in short.items() if units > 0}
    cut_holds: list[str] = []
    cut_orders: list[str] = []
    for sku in sorted(left):
        for hold in sorted(holds, key=lambda h: (h.made_at, h.hold_id), reverse=True):
            if left[sku] <= 0:
                break
            if hold.sku_code == sku and hold.hold_id not in cut_holds:
                cut_holds.append(hold.hold_id)
                left[sku] -= hold.quantity
    for sku in sorted(left):
        for order in sorted(orders, key=lambda o: (o.made_at, o.order_id), reverse=True):
            if left[sku] <= 0:
                break
            if order.open_units.get(sku, 0) > 0 and order.order_id not in cut_orders:
                cut_orders.append(order.order_id)
                for other, units in order.open_units.items():
                    if other in left:
                        left[other] -= units
    return Cuts(tuple(cut_holds), tuple(cut_orders))
