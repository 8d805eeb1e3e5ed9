"""Transfers between warehouses (调拨, INV-12) and sample loans for photography (INV-8).

A transfer is requested by the receiving warehouse, shipped by the sending one and confirmed on arrival;
the shipping and the receiving stock keeper both sign. Units in transit belong to neither warehouse's
available stock. The transfer is the aggregate: requested -> in transit -> received, or requested ->
cancelled; its commands refuse every other step. A sample loan moves units out to a borrower by a transfer document; it is due back in
7 days, may be extended once, and is listed for recall when overdue.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.errors import FailedPrecondition, NotFound, Violations
from services.inventory.domain import lots as lot_rules
from services.inventory.domain.documents import Document
from services.inventory.domain.lots import LotStock, TakenLot
from services.inventory.domain.reservations import Line
from services.inventory.domain.stock import MAX_MOVEMENT_QUANTITY

LOAN_PERIOD = timedelta(days=7)
MAX_LINES = 500
DOCUMENT = "transfer"


class TransferStatus(enum.Enum):
    REQUESTED = "requested"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TransferRequest:
    """A validated request for stock: from where, to where, and the lines merged per SKU in SKU order."""

    from_warehouse: str
    to_warehouse: str
    lines: tuple[Line, ...]


def transfer_request(from_warehouse: str, to_warehouse: str, lines: list[tuple[str, int]]) -> TransferRequest:
    """Validates a transfer request; InvalidArgument names every offending field."""
    v = Violations()
    src, dst = from_warehouse.strip(), to_warehouse.strip()
    v.require(bool(src), "from_warehouse_code", "is required")
    v.require(bool(dst), "to_warehouse_code", "is required")
    v.require(src != dst, "to_warehouse_code", "must differ from from_warehouse_code")
    v.require(bool(lines), "lines", "must hold at least one line")
    v.require(len(lines) <= MAX_LINES, "lines", f"must hold at most {MAX_LINES} lines")
    merged: dict[str, int] = {}
    for i, (sku, qty) in enumerate(lines):
        v.require(bool(sku.strip()), f"lines[{i}].sku_code", "is required")
        v.require(
            1 <= qty <= MAX_MOVEMENT_QUANTITY, f"lines[{i}].quantity", "must be a whole number of at least 1"
        )
        if sku.strip() and qty >= 1:
            merged[sku.strip()] = merged.get(sku.strip(), 0) + qty
    v.raise_if_any()
    return TransferRequest(src, dst, tuple(Line(s, q) for s, q in sorted(merged.items())))


#: The steps of a transfer (INV-12): what each status may become.
STEPS: dict[TransferStatus, frozenset[TransferStatus]] = {
    TransferStatus.REQUESTED: frozenset({TransferStatus.IN_TRANSIT, TransferStatus.CANCELLED}),
    TransferStatus.IN_TRANSIT: frozenset({TransferStatus.RECEIVED}),
    TransferStatus.RECEIVED: frozenset(),
    TransferStatus.CANCELLED: frozenset(),
}


def check_step(status: TransferStatus, wanted: TransferStatus) -> None:
    """A transfer moves requested -> in transit -> received; a requested one may be cancelled."""
    if wanted not in STEPS[status]:
        raise FailedPrecondition.for_field(
            "transfer_id", f"a {status.value} transfer cannot become {wanted.value}", reason="TRANSFER_STATE"
        )


def check_receiver(shipped_by: str | None, user_id: str) -> None:
    """INV-12: both keepers sign; the receiving signature must come from another person."""
    if shipped_by == user_id:
        raise FailedPrecondition.for_field(
            "signature",
            "the receiving stock keeper must be another person than the shipping one",
            reason="SAME_SIGNER",
        )


@dataclass
class Transfer(Document):
    """A transfer document (调拨单) between two warehouses (INV-12)."""

    transfer_id: str
    from_warehouse: str
    to_warehouse: str
    status: TransferStatus
    lines: tuple[Line, ...]
    requested_by: str
    requested_at: datetime
    shipped_by: str | None = None
    shipped_at: datetime | None = None
    received_by: str | None = None
    received_at: datetime | None = None
    # The lots that left the sending warehouse, to arrive as the same lots.
    travelling: tuple[TakenLot, ...] = ()

    @classmethod
    def request(
        cls, wanted: TransferRequest, *, transfer_id: str, unknown_skus: Set[str], actor: str, now: datetime
    ) -> Transfer:
        """The receiving warehouse asks the sending one for stock; nothing moves yet."""
        for i, line in enumerate(wanted.lines):
            if line.sku_code in unknown_skus:
                raise NotFound.for_field(
                    f"lines[{i}].sku_code", f"unknown SKU {line.sku_code!r}", reason="SKU_NOT_FOUND"
                )
        return cls(
            transfer_id=transfer_id,
            from_warehouse=wanted.from_warehouse,
            to_warehouse=wanted.to_warehouse,
            status=TransferStatus.REQUESTED,
            lines=wanted.lines,
            requested_by=actor,
            requested_at=now,
        )

    @property
    def sku_codes(self) -> list[str]:
        """The SKUs of the lines, in SKU order."""
        return sorted({line.sku_code for line in self.lines})

    def ship(self, stock: Mapping[str, Sequence[LotStock]], *, actor: str, now: datetime) -> None:
        """The sending keeper ships and signs: the lines leave the sending warehouse oldest lot first
        (INV-11) and are in transit, nobody's available stock. ``stock`` holds each SKU's lots there."""
        check_step(self.status, TransferStatus.IN_TRANSIT)
        movements, taken = lot_rules.take_out(
            stock,
            self.lines,
            warehouse_code=self.from_warehouse,
            document_type=DOCUMENT,
            document_id=self.transfer_id,
            note=f"to {self.to_warehouse}",
        )
        # The ledger refuses to take units that are reserved or held (available would go negative).
        self._post(movements, actor=actor, field="lines[0].quantity" if len(self.lines) == 1 else "lines")
        self.travelling = tuple(taken)
        self.status, self.shipped_by, self.shipped_at = TransferStatus.IN_TRANSIT, actor, now

    def receive(self, *, actor: str, now: datetime) -> None:
        """The receiving keeper, another person than the shipping one, confirms arrival and signs: the
        same lots enter the receiving warehouse's receiving area."""
        check_step(self.status, TransferStatus.RECEIVED)
        check_receiver(self.shipped_by, actor)
        self._post(
            lot_rules.bring_in(
                self.travelling,
                warehouse_code=self.to_warehouse,
                document_type=DOCUMENT,
                document_id=self.transfer_id,
                note=f"from {self.from_warehouse}",
            ),
            actor=actor,
            field="transfer_id",
        )
        self.status, self.received_by, self.received_at = TransferStatus.RECEIVED, actor, now

    def cancel(self) -> None:
        """Cancels a transfer not yet shipped; nothing had moved."""
        check_step(self.status, TransferStatus.CANCELLED)
        self.status = TransferStatus.CANCELLED


class LoanStatus(enum.Enum):
    OUT = "out"
    RETURNED = "returned"


@dataclass(frozen=True)
class LoanRequest:
    """A validated sample loan: what, from where, how many, to whom (INV-8)."""

    sku_code: str
    warehouse_code: str
    quantity: int
    borrower: str


def loan_request(sku_code: str, warehouse_code: str, quantity: int, borrower: str) -> LoanRequest:
    """Validates a sample loan; InvalidArgument names every offending field."""
    v = Violations()
    v.require(bool(sku_code.strip()), "sku_code", "is required")
    v.require(bool(warehouse_code.strip()), "warehouse_code", "is required")
    v.require(1 <= quantity <= MAX_MOVEMENT_QUANTITY, "quantity", "must be a whole number of at least 1")
    v.require(bool(borrower.strip()), "borrower", "is required (who takes the samples)")
    v.require(len(borrower) <= 200, "borrower", "must be at most 200 characters")
    v.raise_if_any()
    return LoanRequest(sku_code.strip(), warehouse_code.strip(), quantity, borrower.strip())


def extended_due(due_at: datetime, extended: bool) -> datetime:
    """INV-8: one extension of another 7 days; a second one is refused."""
    if extended:
        raise FailedPrecondition.for_field(
            "loan_id", "a loan may be extended only once", reason="ALREADY_EXTENDED"
        )
    return due_at + LOAN_PERIOD


def loan_overdue(due_at: datetime, returned_at: datetime | None, now: datetime) -> bool:
    """INV-8: a loan not back by its due time is listed for recall."""
    return returned_at is None and now > due_at
