"""The order's state machines and its timeline.

The order's status (ORD-4): pending payment -> paid -> reviewed -> released to warehouse -> shipped ->
delivered -> completed; or cancelled; or on hold as an exception (system fault, logistics problem, customer
reason, or a failed review) until it is retried or cancelled. Every change is kept on the timeline with
actor, time and reason.

The reservation of the order's stock at the inventory service (ORD-2, ORD-5): asked for when the order is
reviewed, given back when it is cancelled. Each remote step has an intent state (``reserving``,
``releasing``) that stays until the step's answer is booked, so a step left open by a crash is repeated.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from libs.errors import FailedPrecondition


class OrderStatus(enum.Enum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    REVIEWED = "reviewed"
    RELEASED = "released"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ON_HOLD = "on_hold"


class HoldCategory(enum.Enum):
    """Why an order sits in the exception queue (ORD-2, ORD-4)."""

    SYSTEM_FAULT = "system_fault"  # a dependency failed; retrying may succeed as is
    LOGISTICS_PROBLEM = "logistics_problem"
    CUSTOMER_REASON = "customer_reason"
    REVIEW_FAILED = "review_failed"  # payment, address or notes (or an unknown SKU): needs a person
    # Not enough stock to reserve, or a count cut the reservation: reviewed again by itself when stock
    # of one of its SKUs arrives (StockAvailable).
    SHORT_STOCK = "short_stock"


S = OrderStatus
ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.REVIEWED, S.ON_HOLD, S.CANCELLED}),
    S.REVIEWED: frozenset({S.RELEASED, S.ON_HOLD, S.CANCELLED}),
    # An exception is retried by reviewing again, or the order is cancelled.
    S.ON_HOLD: frozenset({S.REVIEWED, S.ON_HOLD, S.CANCELLED}),
    # After release a cancellation needs logistics' acceptance first (ORD-5); that check is the caller's.
    S.RELEASED: frozenset({S.SHIPPED, S.ON_HOLD, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}

#: States in which the order may still change before the warehouse has it (ORD-7 amendments).
BEFORE_RELEASE = frozenset({S.PENDING_PAYMENT, S.PAID, S.REVIEWED, S.ON_HOLD})


def check_transition(current: OrderStatus, target: OrderStatus, *, field: str = "order_id") -> None:
    """Raises FailedPrecondition unless ``current -> target`` is a step of ORD-4."""
    if target not in ALLOWED[current]:
        raise FailedPrecondition.for_field(
            field, f"an order that is {current.value} cannot become {target.value}", reason="ORDER_STATE"
        )


class ReservationState(enum.Enum):
    """Where the order's stock reservation at the inventory service stands."""

    NONE = "none"  # nothing reserved: not asked yet, refused, or cut by a count
    RESERVING = "reserving"  # asked to reserve; the answer is not booked yet
    RESERVED = "reserved"
    RELEASING = "releasing"  # asked to give the stock back; the answer is not booked yet
    RELEASED = "released"


R = ReservationState
RESERVATION_STEPS: dict[ReservationState, frozenset[ReservationState]] = {
    R.NONE: frozenset({R.RESERVING}),
    # Reserved; or refused; or the order was cancelled while asking, so whatever was reserved goes back.
    R.RESERVING: frozenset({R.RESERVED, R.NONE, R.RELEASING}),
    # Given back when the order is cancelled (ORD-5), or cut by a count (INV-13).
    R.RESERVED: frozenset({R.RELEASING, R.NONE}),
    R.RELEASING: frozenset({R.RELEASED}),
    R.RELEASED: frozenset(),
}


def check_reservation_step(
    current: ReservationState, target: ReservationState, *, field: str = "order_id"
) -> None:
    """Raises FailedPrecondition unless ``current -> target`` is a step of the reservation."""
    if target not in RESERVATION_STEPS[current]:
        raise FailedPrecondition.for_field(
            field,
            f"a reservation that is {current.value} cannot become {target.value}",
            reason="RESERVATION_STATE",
        )


@dataclass(frozen=True)
class TimelineEntry:
    """One change on an order's timeline (ORD-4, ORD-7)."""

    at: datetime
    actor: str
    event: str
    from_status: OrderStatus | None
    to_status: OrderStatus | None
    reason: str = ""
