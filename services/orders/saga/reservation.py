"""The reservation saga between an order and the inventory service (ORD-2, ORD-5).

Each remote step is bracketed by local transactions: the intent (``reserving`` / ``releasing``) is
committed before the call, the outcome after it. Inventory's reserve and release are idempotent by order
id, so a step whose outcome is unknown (the orders service crashed, inventory was down, a deadline
passed) is simply repeated by ``resume`` until it gets an answer. Whatever fails, an order ends either
reviewed with its stock reserved, or in the exception queue with nothing reserved, or cancelled with its
reservation released: never half-way.

The order itself decides what each step and answer means (``domain.order``); the saga makes the calls and
books their answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.db import Database
from libs.errors import (
    Aborted,
    DeadlineExceeded,
    DomainError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from libs.identity import Identity
from libs.telemetry import set_attributes, untraced
from services.orders.clients.inventory import InventoryClient
from services.orders.domain.order import Order
from services.orders.domain.states import OrderStatus, ReservationState
from services.orders.store import order_repository, orders

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

# Outcomes that say nothing about whether inventory acted: repeat the step later.
UNKNOWN_OUTCOME = (Unavailable, DeadlineExceeded, Aborted)
# Inventory's answers that it did not reserve: the order goes to the exception queue.
REFUSALS = (FailedPrecondition, NotFound, InvalidArgument)
# Inventory's reasons for "not enough stock now", as opposed to a request that can never succeed.
SHORT_STOCK_REASONS = frozenset({"INSUFFICIENT_STOCK", "INSUFFICIENT_LOT_STOCK"})


def _not_found(order_id: str) -> DomainError:
    return NotFound.for_field("order_id", f"no order {order_id!r}", reason="ORDER_NOT_FOUND")


class ReservationSaga:
    """Reviews and cancellations of orders, with the inventory service's reservation calls they need."""

    def __init__(self, database: Database, inventory: InventoryClient) -> None:
        self.db = database
        self.inventory = inventory

    async def _book(self, order_id: str, command: Callable[[Order, datetime], object]) -> Order:
        """Runs ``command`` on the order, locked, and saves what it changed in one transaction."""
        async with self.db.transaction() as conn:
            order = await order_repository.load(conn, order_id, lock=True)
            command(order, datetime.now(UTC))
            await order_repository.save(conn, order)
        return order

    async def review(self, order_id: str, *, caller: Identity) -> Order:
        """Reviews one order (ORD-2): checks, then reserves its stock; returns the order as it ends."""
        with _tracer.start_as_current_span("orders.review_order"):
            set_attributes(order_id=order_id)
            async with self.db.transaction() as conn:
                order = await order_repository.load(conn, order_id, lock=True)
                to_reserve = order.review(actor=caller.subject, at=datetime.now(UTC))
                await order_repository.save(conn, order)
            if not to_reserve:
                return order
            return await self._reserve(order, caller=caller)

    async def review_batch(
        self, order_ids: Sequence[str], *, caller: Identity
    ) -> dict[str, Order | DomainError]:
        """Reviews a batch of orders (ORD-2, ORD-3) with one reservation call for all that pass; returns
        each order as it ends, or the error that stopped it, exactly as ``review`` would one by one.

        The same three steps as ``review``, each for the whole batch: the intent of every order that
        passes its checks commits in one transaction, inventory reserves them all in one call (first
        come first served in the batch's order), and the answers are booked in one transaction. A crash
        between the steps leaves orders ``reserving``, which ``resume`` finishes one by one.
        """
        return await self._review_batch(caller, order_ids=order_ids)

    async def review_due(self, limit: int, *, caller: Identity) -> dict[str, Order | DomainError]:
        """Reviews up to ``limit`` paid orders nobody has started to review, the earliest paid first, as
        ``review_batch`` does; orders another reviewer holds are skipped, not waited for."""
        return await self._review_batch(caller, due=limit)

    async def _review_batch(
        self, caller: Identity, *, order_ids: Sequence[str] = (), due: int = 0
    ) -> dict[str, Order | DomainError]:
        # One span over the three steps; it starts inside the intent's transaction, once there is work.
        span: trace.Span | None = None
        try:
            async with self.db.transaction() as conn:
                if due:
                    # Looking for work is housekeeping: a pass that finds none leaves no trace.
                    with untraced():
                        order_ids = await orders.due_for_review(conn, due)
                    if not order_ids:
                        return {}
                span = _tracer.start_span("orders.review_batch")
                with trace.use_span(span):
                    set_attributes(batch_size=len(order_ids), order_ids=order_ids)
                    ended, to_reserve = await self._intent(conn, order_ids, caller)
            with trace.use_span(span):
                if to_reserve:
                    ended.update(await self._reserve_batch(to_reserve, caller=caller))
            return ended
        finally:
            if span is not None:
                span.end()

    async def _intent(
        self, conn: AsyncConnection, order_ids: Sequence[str], caller: Identity
    ) -> tuple[dict[str, Order | DomainError], list[Order]]:
        """Step 1 of a batch, in the caller's transaction: each order is checked, and those that pass ask
        for their stock (``reserving``)."""
        ended: dict[str, Order | DomainError] = {}
        loaded = await order_repository.load_many(conn, order_ids, lock=True)
        at = datetime.now(UTC)
        to_reserve: list[Order] = []
        for order_id in order_ids:
            order = loaded.get(order_id)
            if order is None:
                ended[order_id] = _not_found(order_id)
                continue
            try:
                if order.review(actor=caller.subject, at=at):
                    to_reserve.append(order)
            except DomainError as err:
                ended[order_id] = err
                continue
            ended[order_id] = order
        await order_repository.save_many(conn, list(loaded.values()))
        return ended, to_reserve

    async def _reserve_batch(self, batch: list[Order], *, caller: Identity) -> dict[str, Order | DomainError]:
        actor = caller.subject
        answers: dict[str, DomainError | None]
        try:
            answers = await self.inventory.reserve_many(batch, caller=caller)
        except UNKNOWN_OUTCOME as err:
            log.warning("batch reservation outcome unknown: %s", err.message, extra={"orders": len(batch)})
            answers = {o.order_id: err for o in batch}
        except DomainError as err:
            # The call itself was refused (not any one order): each order stays reserving, as a single
            # review refused this way would, and its error is its answer.
            return {o.order_id: err for o in batch}
        ended: dict[str, Order | DomainError] = {}
        async with self.db.transaction() as conn:
            # The intent's orders, locked again; reloaded only where something changed their state meanwhile.
            loaded = await order_repository.relock(conn, batch)
            at = datetime.now(UTC)
            for asked in batch:
                order = loaded.get(asked.order_id)
                if order is None:  # orders are never deleted; kept for a database restored meanwhile
                    ended[asked.order_id] = _not_found(asked.order_id)
                    continue
                answer = answers.get(order.order_id, Internal("inventory did not answer for this order"))
                ended[order.order_id] = order
                if answer is None:
                    order.reserved(actor=actor, at=at)
                elif isinstance(answer, UNKNOWN_OUTCOME):
                    order.reservation_unconfirmed(answer.code, actor=actor, at=at)
                elif isinstance(answer, REFUSALS):
                    short = answer.reason in SHORT_STOCK_REASONS
                    order.reservation_refused(answer.message, short_stock=short, actor=actor, at=at)
                else:
                    ended[order.order_id] = answer
            await order_repository.save_many(conn, list(loaded.values()))
        return ended

    async def _reserve(self, order: Order, *, caller: Identity) -> Order:
        actor = caller.subject
        try:
            await self.inventory.reserve(order.order_id, order.shop_code, order.lines, caller=caller)
        except UNKNOWN_OUTCOME as err:
            log.warning("reservation outcome unknown: %s", err.message, extra={"order_id": order.order_id})
            cause = err.code
            return await self._book(
                order.order_id, lambda o, at: o.reservation_unconfirmed(cause, actor=actor, at=at)
            )
        except REFUSALS as err:
            detail, short = err.message, err.reason in SHORT_STOCK_REASONS
            return await self._book(
                order.order_id,
                lambda o, at: o.reservation_refused(detail, short_stock=short, actor=actor, at=at),
            )
        return await self._book(order.order_id, lambda o, at: o.reserved(actor=actor, at=at))

    async def cancel(
        self, order_id: str, reason: str, *, caller: Identity, warehouse_let_go: bool = False
    ) -> Order:
        """Cancels the order and releases its reservation (ORD-5); a released order only once the warehouse
        let it go (``warehouse_let_go``)."""
        with _tracer.start_as_current_span("orders.cancel_order"):
            set_attributes(order_id=order_id)
            order = await self._book(
                order_id,
                lambda o, at: o.cancel(
                    reason, actor=caller.subject, at=at, warehouse_let_go=warehouse_let_go
                ),
            )
            return await self._release(order, caller=caller)

    async def _release(self, order: Order, *, caller: Identity) -> Order:
        if order.reservation is not ReservationState.RELEASING:
            return order
        try:
            await self.inventory.release(order.order_id, "order cancelled", caller=caller)
        except UNKNOWN_OUTCOME as err:
            log.warning("release outcome unknown", extra={"order_id": order.order_id, "error": err.message})
            return order  # still "releasing": the recovery worker repeats it
        return await self._book(
            order.order_id, lambda o, at: o.reservation_released(actor=caller.subject, at=at)
        )

    async def resume(self, order_id: str, *, caller: Identity) -> Order:
        """Finishes a step left open by a crash or an outage; safe to run any number of times."""
        async with self.db.connection() as conn:
            order = await order_repository.load(conn, order_id, lock=False)
        if order.reservation is ReservationState.RESERVING:
            if order.status is not OrderStatus.CANCELLED:
                return await self._reserve(order, caller=caller)
            # Cancelled while asking for its stock: whatever was reserved goes back.
            order = await self._book(order_id, lambda o, at: o.start_releasing())
        return await self._release(order, caller=caller)
