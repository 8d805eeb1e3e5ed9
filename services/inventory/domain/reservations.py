"""Reservations for orders and holds for customers (INV-9, INV-10)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from libs.errors import DomainError, FailedPrecondition, Violations
from services.inventory.domain.stock import MAX_MOVEMENT_QUANTITY, StockLevel

MAX_LINES = 500
#: Orders reserved in one batch call: above a review batch's 200 (ORD-3), with room to spare.
MAX_BATCH = 500
MAX_CODE = 64
#: INV-9: a hold with no stated period expires after 7 days.
DEFAULT_HOLD_PERIOD = timedelta(days=7)
MAX_HOLD_PERIOD = timedelta(days=90)


class ReservationStatus(enum.Enum):
    ACTIVE = "active"
    RELEASED = "released"
    ISSUED = "issued"
    CUT = "cut"  # released by a count that found too few units (INV-13)


class HoldStatus(enum.Enum):
    ACTIVE = "active"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Line:
    sku_code: str
    quantity: int


@dataclass(frozen=True)
class ReservationRequest:
    """An order's lines to reserve, merged per SKU and sorted by SKU (the order rows are locked in)."""

    order_id: str
    warehouse_code: str
    lines: tuple[Line, ...]
    shop_code: str = ""


def reservation_request(
    order_id: str, warehouse_code: str, lines: list[tuple[str, int]], shop_code: str = ""
) -> ReservationRequest:
    """Validates an order's reservation; InvalidArgument names each offending ``lines[i]`` field."""
    v = Violations()
    warehouse_code = warehouse_code.strip()
    v.require(bool(order_id.strip()), "order_id", "is required")
    v.require(len(order_id) <= 128, "order_id", "must be at most 128 characters")
    v.require(bool(warehouse_code), "warehouse_code", "is required")
    v.require(bool(lines), "lines", "must hold at least one line")
    v.require(len(lines) <= MAX_LINES, "lines", f"must hold at most {MAX_LINES} lines")
    merged: dict[str, int] = {}
    for i, (sku_code, quantity) in enumerate(lines):
        sku_code = sku_code.strip()
        v.require(bool(sku_code), f"lines[{i}].sku_code", "is required")
        v.require(len(sku_code) <= MAX_CODE, f"lines[{i}].sku_code", f"must be at most {MAX_CODE} characters")
        v.require(quantity >= 1, f"lines[{i}].quantity", "must be a whole number of at least 1")
        v.require(
            quantity <= MAX_MOVEMENT_QUANTITY,
            f"lines[{i}].quantity",
            f"must be at most {MAX_MOVEMENT_QUANTITY}",
        )
        if sku_code and quantity >= 1:
            merged[sku_code] = merged.get(sku_code, 0) + quantity
    v.raise_if_any()
    return ReservationRequest(
        order_id, warehouse_code, tuple(Line(s, q) for s, q in sorted(merged.items())), shop_code.strip()
    )


def shortage(line_index: int, level: StockLevel) -> DomainError:
    """INV-10: line ``line_index`` of an order does not fit in what ``level`` has available."""
    return FailedPrecondition.for_field(
        f"lines[{line_index}].quantity",
        f"not enough stock of {level.sku_code} in {level.warehouse_code}: available {level.available}, "
        f"on hand {level.on_hand}, reserved {level.reserved}, held {level.held}",
        reason="INSUFFICIENT_STOCK",
    )


def serve_in_turn(
    requests: Sequence[ReservationRequest], levels: Mapping[tuple[str, str], StockLevel]
) -> list[DomainError | None]:
    """INV-10 for a batch of orders: first come first served, each order takes all its lines or none.

    ``levels`` are the locked stock levels by (SKU, warehouse) (a missing one has nothing). Returns, per
    request, None when it is reserved, or the shortage of its first line that does not fit: exactly what
    reserving the orders one after another, in this order, would answer.
    """
    current = dict(levels)
    outcomes: list[DomainError | None] = []
    for request in requests:
        taken: dict[tuple[str, str], StockLevel] = {}
        refused: DomainError | None = None
        for i, line in enumerate(request.lines):
            key = (line.sku_code, request.warehouse_code)
            level = current.get(key) or StockLevel(line.sku_code, request.warehouse_code, 0, 0, 0, True)
            if level.available < line.quantity:
                refused = shortage(i, level)
                break
            taken[key] = replace(level, reserved=level.reserved + line.quantity)
        if refused is None:
            current.update(taken)
        outcomes.append(refused)
    return outcomes


@dataclass(frozen=True)
class HoldRequest:
    sku_code: str
    warehouse_code: str
    quantity: int
    customer_ref: str
    expires_at: datetime


def hold_request(
    *,
    sku_code: str,
    warehouse_code: str,
    quantity: int,
    customer_ref: str,
    expires_at: datetime | None,
    now: datetime,
) -> HoldRequest:
    """Validates a hold; with no stated period it expires after 7 days (INV-9)."""
    v = Violations()
    v.require(bool(sku_code.strip()), "sku_code", "is required")
    v.require(bool(warehouse_code.strip()), "warehouse_code", "is required")
    v.require(quantity >= 1, "quantity", "must be a whole number of at least 1")
    v.require(quantity <= MAX_MOVEMENT_QUANTITY, "quantity", f"must be at most {MAX_MOVEMENT_QUANTITY}")
    v.require(bool(customer_ref.strip()), "customer_ref", "is required (whom the stock is held for)")
    v.require(len(customer_ref) <= 200, "customer_ref", "must be at most 200 characters")
    if expires_at is not None:
        v.require(expires_at > now, "expires_at", "must be in the future")
        v.require(expires_at <= now + MAX_HOLD_PERIOD, "expires_at", "must be at most 90 days ahead")
    v.raise_if_any()
    return HoldRequest(
        sku_code.strip(),
        warehouse_code.strip(),
        quantity,
        customer_ref.strip(),
        expires_at if expires_at is not None else now + DEFAULT_HOLD_PERIOD,
    )
