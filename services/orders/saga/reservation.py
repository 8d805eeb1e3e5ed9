"""The reservation saga between an order and the inventory service (ORD-2, ORD-5).

Each remote step is bracketed by local transactions: the intent (``reserving`` / ``releasing``) is
committed before the call, the outcome after it. Inventory's reserve and release are idempotent by order
id, so a step whose outcome is unknown (the orders service crashed, inventory was down, a deadline
passed) is simply repeated by ``resume`` until it gets an answer. Whatever fails, an order ends either
reviewed with its stock reserved, or in the exception queue with nothing reserved, or cancelled with its
reservation released: never half-way.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import sqlalchemy as sa
from opentelemetry import trace

from libs.db import Database
from libs.errors import (
    Aborted,
    DeadlineExceeded,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from libs.identity import Identity
from libs.telemetry import set_attributes
from services.orders.clients.inventory import InventoryClient
from services.orders.domain.review import review_findings
from services.orders.domain.states import BEFORE_RELEASE, HoldCategory, OrderStatus
from services.orders.store import amendments, orders
from services.orders.store.orders import Order

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

# Outcomes that say nothing about whether inventory acted: repeat the step later.
UNKNOWN_OUTCOME = (Unavailable, DeadlineExceeded, Aborted)
REVIEWABLE = frozenset({OrderStatus.PAID, OrderStatus.ON_HOLD})
# Inventory's reasons for "not enough stock now", as opposed to a request that can never succeed.
SHORT_STOCK_REASONS = frozenset({"INSUFFICIENT_STOCK", "INSUFFICIENT_LOT_STOCK"})


class ReservationSaga:
    def __init__(self, database: Database, inventory: InventoryClient) -> None:
        self.db = database
        self.inventory = inventory

    async def review(self, order_id: str, *, caller: Identity) -> Order:
        """Reviews one order (ORD-2): checks, then reserves its stock; returns the order as it ends."""
        with _tracer.start_as_current_span("orders.review_order"):
            set_attributes(order_id=order_id)
            async with self.db.transaction() as conn:
                order = await orders.get(conn, order_id, lock=True)
                if order.status not in REVIEWABLE or order.reservation_state == "reserved":
                    if order.status in (OrderStatus.REVIEWED, OrderStatus.RELEASED):
                        return order  # reviewing again changes nothing
                    raise FailedPrecondition.for_field(
                        "order_id",
                        f"an order that is {order.status.value} cannot be reviewed",
                        reason="ORDER_STATE",
                    )
                findings = review_findings(
                    paid=order.paid_fen > 0 and order.paid_fen == order.total_fen,
                    address=order.address,
                    buyer_message=order.buyer_message,
                    service_note=order.service_note,
                    notes_resolved=order.notes_resolved,
                )
                if findings:
                    reason = "; ".join(f"{f.code}: {f.detail}" for f in findings)
                    await orders.change_status(
                        conn, order, OrderStatus.ON_HOLD, actor=caller.subject, event="review failed",
                        reason=reason, hold=HoldCategory.REVIEW_FAILED,
                    )  # fmt: skip
                    return await orders.get(conn, order_id)
                if order.reservation_state != "reserving":
                    await orders.set_values(conn, order_id, reservation_state="reserving")
                    await orders.add_timeline(
                        conn, order_id, actor=caller.subject, event="stock reservation requested"
                    )
            return await self._reserve(order, caller=caller)

    async def _reserve(self, order: Order, *, caller: Identity) -> Order:
        try:
            await self.inventory.reserve(order.order_id, order.lines, caller=caller)
        except UNKNOWN_OUTCOME as err:
            return await self._hold_unknown(order.order_id, err, caller=caller)
        except (FailedPrecondition, NotFound, InvalidArgument) as err:
            return await self._stock_refused(order.order_id, err, caller=caller)
        async with self.db.transaction() as conn:
            current = await orders.get(conn, order.order_id, lock=True, with_lines=False)
            if current.reservation_state != "reserving":
                return current  # another worker finished the step
            if current.status is OrderStatus.CANCELLED:
                # Cancelled while we asked: compensate by releasing.
                await orders.set_values(conn, order.order_id, reservation_state="releasing")
                return current
            await orders.change_status(
                conn, current, OrderStatus.REVIEWED, actor=caller.subject, event="reviewed",
                reason="payment, address and notes checked; stock reserved",
                reviewed_at=sa.func.now(), reservation_state="reserved",
            )  # fmt: skip
            return replace(
                current, lines=order.lines, status=OrderStatus.REVIEWED, reservation_state="reserved",
                hold_category=None, hold_reason="",
            )  # fmt: skip

    async def _hold_unknown(self, order_id: str, err: DomainError, *, caller: Identity) -> Order:
        """Inventory did not answer: the order waits in the exception queue and the step is retried."""
        log.warning("reservation outcome unknown: %s", err.message, extra={"order_id": order_id})
        async with self.db.transaction() as conn:
            current = await orders.get(conn, order_id, lock=True)
            if current.status in REVIEWABLE and current.reservation_state == "reserving":
                await orders.change_status(
                    conn, current, OrderStatus.ON_HOLD, actor=caller.subject, event="reservation not confirmed",
                    reason=f"inventory unavailable ({err.code}); retried automatically", hold=HoldCategory.SYSTEM_FAULT,
                )  # fmt: skip
            return await orders.get(conn, order_id)

    async def _stock_refused(self, order_id: str, err: DomainError, *, caller: Identity) -> Order:
        """Inventory refused: nothing is reserved. Short stock waits for stock to arrive (it is reviewed
        again by itself then); anything else, such as an unknown SKU, needs a person."""
        short = err.reason in SHORT_STOCK_REASONS
        async with self.db.transaction() as conn:
            current = await orders.get(conn, order_id, lock=True)
            if current.reservation_state != "reserving":
                return current
            await orders.set_values(conn, order_id, reservation_state="none")
            if current.status in REVIEWABLE:
                await orders.change_status(
                    conn, current, OrderStatus.ON_HOLD, actor=caller.subject, event="stock not reserved",
                    reason=f"STOCK: {err.message}",
                    hold=HoldCategory.SHORT_STOCK if short else HoldCategory.REVIEW_FAILED,
                )  # fmt: skip
            return await orders.get(conn, order_id)

    async def cancel(self, order_id: str, reason: str, *, caller: Identity) -> Order:
        """Cancels before release and releases the reservation (ORD-5)."""
        with _tracer.start_as_current_span("orders.cancel_order"):
            set_attributes(order_id=order_id)
            async with self.db.transaction() as conn:
                order = await orders.get(conn, order_id, lock=True)
                if order.status is OrderStatus.CANCELLED:
                    return order
                if order.status not in BEFORE_RELEASE:
                    raise FailedPrecondition.for_field(
                        "order_id",
                        f"the order is {order.status.value}: after release, logistics must accept the cancellation",
                        reason="RELEASED_TO_WAREHOUSE",
                    )
                await orders.change_status(
                    conn, order, OrderStatus.CANCELLED, actor=caller.subject, event="cancelled", reason=reason
                )
                if order.reservation_state in ("reserving", "reserved", "releasing"):
                    await orders.set_values(conn, order_id, reservation_state="releasing")
                owed = order.paid_fen - order.refunded_fen
                if owed > 0:
                    # A paid order cancelled before dispatch is refunded in full, so net sales (ORD-9) drop it.
                    await amendments.record_refund(
                        conn, order_id, owed, f"order cancelled: {reason}", actor=caller.subject
                    )
                    await orders.add_timeline(
                        conn,
                        order_id,
                        actor=caller.subject,
                        event="refunded",
                        reason=f"{owed} fen: order cancelled",
                    )
            return await self._release(order_id, caller=caller)

    async def _release(self, order_id: str, *, caller: Identity) -> Order:
        async with self.db.connection() as conn:
            order = await orders.get(conn, order_id)
        if order.reservation_state != "releasing":
            return order
        try:
            await self.inventory.release(order_id, "order cancelled", caller=caller)
        except UNKNOWN_OUTCOME as err:
            log.warning("release outcome unknown", extra={"order_id": order_id, "error": err.message})
            return order  # still "releasing": the recovery worker repeats it
        async with self.db.transaction() as conn:
            current = await orders.get(conn, order_id, lock=True)
            if current.reservation_state == "releasing":
                await orders.set_values(conn, order_id, reservation_state="released")
                await orders.add_timeline(
                    conn, order_id, actor=caller.subject, event="stock reservation released"
                )
            return await orders.get(conn, order_id)

    async def resume(self, order_id: str, *, caller: Identity) -> Order:
        """Finishes a step left open by a crash or an outage; safe to run any number of times."""
        async with self.db.connection() as conn:
            order = await orders.get(conn, order_id)
        if order.reservation_state == "releasing":
            return await self._release(order_id, caller=caller)
        if order.reservation_state == "reserving":
            if order.status is OrderStatus.CANCELLED:
                async with self.db.transaction() as conn:
                    await orders.set_values(conn, order_id, reservation_state="releasing")
                return await self._release(order_id, caller=caller)
            return await self._reserve(order, caller=caller)
        return order
