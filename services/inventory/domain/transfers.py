"""Transfers between warehouses (调拨, INV-12) and sample loans for photography (INV-8).

A transfer is requested by the receiving warehouse, shipped by the sending one and confirmed on arrival;
the shipping and the receiving stock keeper both sign. Units in transit belong to neither warehouse's
available stock. A sample loan moves units out to a borrower by a transfer document; it is due back in
7 days, may be extended once, and is listed for recall when overdue.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.errors import FailedPrecondition, Violations
from services.inventory.domain.reservations import Line
from services.inventory.domain.stock import MAX_MOVEMENT_QUANTITY

LOAN_PERIOD = timedelta(days=7)
MAX_LINES = 500


class TransferStatus(enum.Enum):
    REQUESTED = "requested"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TransferRequest:
    from_warehouse: str
    to_warehouse: str
    lines: tuple[Line, ...]


def transfer_request(from_warehouse: str, to_warehouse: str, lines: list[tuple[str, int]]) -> TransferRequest:
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


def check_step(status: TransferStatus, wanted: TransferStatus) -> None:
    """A transfer moves requested -> in transit -> received; a requested one may be cancelled."""
    allowed = {
        TransferStatus.IN_TRANSIT: TransferStatus.REQUESTED,
        TransferStatus.RECEIVED: TransferStatus.IN_TRANSIT,
        TransferStatus.CANCELLED: TransferStatus.REQUESTED,
    }
    if allowed.get(wanted) is not status:
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


class LoanStatus(enum.Enum):
    OUT = "out"
    RETURNED = "returned"


@dataclass(frozen=True)
class LoanRequest:
    sku_code: str
    warehouse_code: str
    quantity: int
    borrower: str


def loan_request(sku_code: str, warehouse_code: str, quantity: int, borrower: str) -> LoanRequest:
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
    return returned_at is None and now > due_at
