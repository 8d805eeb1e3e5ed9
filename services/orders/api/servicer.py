"""OrdersService: translates protobuf requests into domain operations, store calls and the saga."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc as pb_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.db import Database
from libs.errors import DomainError, FailedPrecondition, InvalidArgument
from libs.telemetry import set_attributes
from libs.timestamps import from_timestamp
from services.orders.api.amendments import AmendmentsApi
from services.orders.api.convert import CHANNEL_FROM_PB, STATUS_TO_PB, fen, money, order_to_pb
from services.orders.api.promotions import PromotionsApi, price_checkout
from services.orders.domain.intake import Address, Channel, IncomingOrder, Payment, incoming_order
from services.orders.domain.review import check_batch_size
from services.orders.domain.states import OrderStatus
from services.orders.saga.reservation import ReservationSaga
from services.orders.store import amendments, orders, promotions
from services.orders.store.orders import Order

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["OrdersService"].full_name
CHANNELS = ("integrator",)
REVIEWERS = ("supervisor", "customer_service")
CUSTOMER_SERVICE = ("customer_service", "supervisor")
# Concurrent reviews within one batch: enough to overlap the inventory round trips, few enough to keep
# the database pool free for other calls.
REVIEW_CONCURRENCY = 8


def _payment(value: pb.Payment, field: str) -> Payment:
    if not value.HasField("paid_at"):
        raise InvalidArgument.for_field(f"{field}.paid_at", "is required")
    return Payment(
        fen(value.amount, f"{field}.amount"), from_timestamp(value.paid_at), value.reference.strip()
    )


def _outcome(order_id: str, order: Order | None, error: DomainError | None = None) -> pb.ReviewOutcome:
    if order is None:
        assert error is not None
        return pb.ReviewOutcome(order_id=order_id, hold_reason=f"{error.code}: {error.message}")
    return pb.ReviewOutcome(
        order_id=order_id,
        status=STATUS_TO_PB[order.status],
        hold_category=order.hold_category.value if order.hold_category else "",
        hold_reason=order.hold_reason,
    )


class OrdersServicer(AmendmentsApi, PromotionsApi, pb_grpc.OrdersServiceServicer):  # type: ignore[misc]
    def __init__(self, database: Database, saga: ReservationSaga) -> None:
        self.db = database
        self.saga = saga
        self.inventory = saga.inventory

    async def _full(self, order_id: str) -> pb.Order:
        async with self.db.connection() as conn:
            order = await orders.get(conn, order_id)
            timeline = await orders.timeline(conn, order_id)
            changes = await amendments.of(conn, order_id)
            used = await promotions.uses_of_order(conn, order_id)
        out = order_to_pb(order, timeline, changes)
        for use in used:
            out.promotions.append(
                pb.AppliedPromotion(promotion_id=use.promotion_id, discount=money(use.discount_fen))
            )
        return out

    async def SubmitOrder(self, request: pb.SubmitOrderRequest, context: Any) -> pb.SubmitOrderResponse:
        caller = identity.require_role(*CHANNELS)
        a = request.address
        incoming = incoming_order(
            channel=CHANNEL_FROM_PB.get(request.channel),
            channel_order_id=request.channel_order_id,
            shop_code=request.shop_code,
            buyer_id=request.buyer_id,
            address=Address(a.recipient, a.phone, a.province, a.city, a.district, a.street),
            lines=[
                (line.sku_code, line.quantity, fen(line.unit_price, f"lines[{i}].unit_price"))
                for i, line in enumerate(request.lines)
            ],
            shipping_fee_fen=fen(request.shipping_fee, "shipping_fee"),
            discount_fen=fen(request.discount, "discount"),
            buyer_message=request.buyer_message,
            payment=_payment(request.payment, "payment") if request.HasField("payment") else None,
            currency_code="",
            payment_must_cover_total=request.channel != pb.CHANNEL_OWN_SITE,
        )
        categories: dict[str, str] = {}
        if incoming.channel is Channel.OWN_SITE:
            # Asked before the checkout transaction, so no row lock waits on another service.
            async with self.db.connection() as conn:
                running = await promotions.active(conn, datetime.now(UTC))
            if any(p.eligible_categories for p in running):
                categories = await self.inventory.categories(
                    [x.sku_code for x in incoming.lines], caller=caller
                )
        async with self.db.transaction() as conn:
            if incoming.channel is Channel.OWN_SITE:
                order_id, created = await self._checkout(
                    conn, incoming, list(request.coupon_codes), caller, categories
                )
            else:
                order_id, created = await orders.insert_order(conn, incoming, actor=caller.subject)
                if created:
                    # The hot path of intake: answer from what was just written.
                    order, timeline = orders.just_stored(
                        order_id,
                        incoming,
                        actor=caller.subject,
                        created_at=await orders.created_at_of(conn, order_id),
                    )
                    set_attributes(order_id=order_id, channel=incoming.channel.value)
                    return pb.SubmitOrderResponse(order=order_to_pb(order, timeline), created=True)
        set_attributes(order_id=order_id, channel=incoming.channel.value)
        return pb.SubmitOrderResponse(order=await self._full(order_id), created=created)

    async def _checkout(
        self,
        conn: AsyncConnection,
        incoming: IncomingOrder,
        coupon_codes: list[str],
        caller: identity.Identity,
        categories: dict[str, str],
    ) -> tuple[str, bool]:
        """An own-site order is priced with our promotions (ORD-8) in the transaction that stores it."""
        existing = await orders.find_id(conn, incoming.channel, incoming.channel_order_id)
        if existing is not None:
            return existing, False
        priced = await price_checkout(
            conn, self.inventory,
            lines=[(x.sku_code, x.quantity, x.unit_price_fen) for x in incoming.lines],
            buyer_id=incoming.buyer_id, coupon_codes=coupon_codes, caller=caller, lock=True, at=datetime.now(UTC),
            categories=categories,
        )  # fmt: skip
        priced_order = replace(incoming, discount_fen=incoming.discount_fen + priced.discount_fen)
        if incoming.payment is not None and incoming.payment.amount_fen != priced_order.total_fen:
            raise InvalidArgument.for_field(
                "payment.amount", f"must equal the order total after promotions, {priced_order.total_fen} fen"
            )
        order_id, created = await orders.insert_order(conn, priced_order, actor=caller.subject)
        if created:
            await promotions.record_uses(conn, order_id, incoming.buyer_id, priced.applied)
        return order_id, created

    async def ConfirmPayment(
        self, request: pb.ConfirmPaymentRequest, context: Any
    ) -> pb.ConfirmPaymentResponse:
        caller = identity.require_role(*CHANNELS)
        set_attributes(order_id=request.order_id)
        payment = _payment(request.payment, "payment")
        async with self.db.transaction() as conn:
            order = await orders.get(conn, request.order_id, lock=True)
            if order.status is not OrderStatus.PENDING_PAYMENT:
                if order.paid_fen == payment.amount_fen and order.payment_reference == payment.reference:
                    return pb.ConfirmPaymentResponse(order=await self._full(request.order_id))
                raise FailedPrecondition.for_field("order_id", f"the order is already {order.status.value}")
            if payment.amount_fen != order.total_fen:
                raise InvalidArgument.for_field(
                    "payment.amount", f"must equal the order total of {order.total_fen} fen"
                )
            await orders.change_status(
                conn, order, OrderStatus.PAID, actor=caller.subject, event="paid",
                paid_fen=payment.amount_fen, paid_at=payment.paid_at, payment_reference=payment.reference,
            )  # fmt: skip
        return pb.ConfirmPaymentResponse(order=await self._full(request.order_id))

    async def ResolveNotes(self, request: pb.ResolveNotesRequest, context: Any) -> pb.ResolveNotesResponse:
        caller = identity.require_role(*CUSTOMER_SERVICE)
        if len(request.service_note) > 500:
            raise InvalidArgument.for_field("service_note", "must be at most 500 characters")
        async with self.db.transaction() as conn:
            order = await orders.get(conn, request.order_id, lock=True)
            if order.status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.ON_HOLD):
                raise FailedPrecondition.for_field("order_id", f"the order is already {order.status.value}")
            await orders.set_values(
                conn, request.order_id, service_note=request.service_note.strip(), notes_resolved=True
            )
            await orders.add_timeline(
                conn,
                request.order_id,
                actor=caller.subject,
                event="notes resolved",
                reason=request.service_note,
            )
        return pb.ResolveNotesResponse(order=await self._full(request.order_id))

    async def ReviewOrders(self, request: pb.ReviewOrdersRequest, context: Any) -> pb.ReviewOrdersResponse:
        caller = identity.require_role(*REVIEWERS)
        order_ids = list(dict.fromkeys(request.order_ids))
        check_batch_size(len(order_ids))
        gate = asyncio.Semaphore(REVIEW_CONCURRENCY)

        async def review(order_id: str) -> pb.ReviewOutcome:
            async with gate:
                try:
                    return _outcome(order_id, await self.saga.review(order_id, caller=caller))
                except DomainError as err:
                    return _outcome(order_id, None, err)

        return pb.ReviewOrdersResponse(outcomes=await asyncio.gather(*(review(o) for o in order_ids)))

    async def ReleaseToWarehouse(
        self, request: pb.ReleaseToWarehouseRequest, context: Any
    ) -> pb.ReleaseToWarehouseResponse:
        caller = identity.require_role(*REVIEWERS)
        order_ids = list(dict.fromkeys(request.order_ids))
        check_batch_size(len(order_ids))
        outcomes = []
        for order_id in order_ids:
            try:
                async with self.db.transaction() as conn:
                    order = await orders.get(conn, order_id, lock=True)
                    if order.status is not OrderStatus.RELEASED:
                        await orders.change_status(
                            conn,
                            order,
                            OrderStatus.RELEASED,
                            actor=caller.subject,
                            event="released to warehouse",
                        )
                    outcomes.append(_outcome(order_id, await orders.get(conn, order_id)))
            except DomainError as err:
                outcomes.append(_outcome(order_id, None, err))
        return pb.ReleaseToWarehouseResponse(outcomes=outcomes)

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: Any) -> pb.CancelOrderResponse:
        caller = identity.require_role(*CHANNELS, *CUSTOMER_SERVICE)
        if not request.reason.strip():
            raise InvalidArgument.for_field("reason", "say why the order is cancelled")
        await self.saga.cancel(request.order_id, request.reason.strip()[:500], caller=caller)
        return pb.CancelOrderResponse(order=await self._full(request.order_id))

    async def GetOrder(self, request: pb.GetOrderRequest, context: Any) -> pb.GetOrderResponse:
        identity.current()
        set_attributes(order_id=request.order_id)
        return pb.GetOrderResponse(order=await self._full(request.order_id))

    async def FindOrder(self, request: pb.FindOrderRequest, context: Any) -> pb.FindOrderResponse:
        identity.current()
        channel = CHANNEL_FROM_PB.get(request.channel)
        if channel is None:
            raise InvalidArgument.for_field("channel", "must be tmall, taobao, jd or own_site")
        async with self.db.connection() as conn:
            order = await orders.find(conn, channel, request.channel_order_id)
        return pb.FindOrderResponse(order=await self._full(order.order_id))

    async def ListExceptions(
        self, request: pb.ListExceptionsRequest, context: Any
    ) -> pb.ListExceptionsResponse:
        identity.current()
        limit = request.limit or 200
        if not 1 <= limit <= 500:
            raise InvalidArgument.for_field("limit", "must be between 1 and 500")
        async with self.db.connection() as conn:
            ids = await orders.exceptions(conn, limit)
        return pb.ListExceptionsResponse(orders=[await self._full(order_id) for order_id in ids])
