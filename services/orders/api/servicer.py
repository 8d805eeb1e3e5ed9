"""OrdersService: translates protobuf requests into order commands, store calls and the saga."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc as pb_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.db import Database
from libs.errors import AlreadyExists, DomainError, InvalidArgument, PermissionDenied
from libs.money import fen
from libs.telemetry import set_attributes
from libs.timestamps import from_timestamp
from services.orders.api.amendments import AmendmentsApi
from services.orders.api.base import now
from services.orders.api.convert import address_from_pb, order_to_pb
from services.orders.api.enums import CHANNEL, ORDER_STATUS
from services.orders.api.promotions import PromotionsApi, price_checkout
from services.orders.clients.logistics import LogisticsClient
from services.orders.domain.intake import Channel, IncomingOrder, Payment, incoming_order
from services.orders.domain.order import Order
from services.orders.domain.review import check_batch_size
from services.orders.domain.states import OrderStatus
from services.orders.saga.reservation import ReservationSaga
from services.orders.store import order_repository, orders, promotions

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["OrdersService"].full_name


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
        status=ORDER_STATUS.to_pb(order.status),
        hold_category=order.hold_category.value if order.hold_category else "",
        hold_reason=order.hold_reason,
    )


class OrdersServicer(AmendmentsApi, PromotionsApi, pb_grpc.OrdersServiceServicer):  # type: ignore[misc]
    def __init__(self, database: Database, saga: ReservationSaga, logistics: LogisticsClient) -> None:
        self.db = database
        self.saga = saga
        self.logistics = logistics
        self.inventory = saga.inventory

    async def SubmitOrder(self, request: pb.SubmitOrderRequest, context: Any) -> pb.SubmitOrderResponse:
        caller = identity.current()
        channel = CHANNEL.from_pb_or_none(request.channel, field="channel")
        incoming = incoming_order(
            channel=channel,
            channel_order_id=request.channel_order_id,
            shop_code=request.shop_code,
            buyer_id=request.buyer_id,
            address=address_from_pb(request.address),
            lines=[
                (line.sku_code, line.quantity, fen(line.unit_price, f"lines[{i}].unit_price"))
                for i, line in enumerate(request.lines)
            ],
            shipping_fee_fen=fen(request.shipping_fee, "shipping_fee"),
            discount_fen=fen(request.discount, "discount"),
            buyer_message=request.buyer_message,
            payment=_payment(request.payment, "payment") if request.HasField("payment") else None,
            currency_code="",
            payment_must_cover_total=channel is not Channel.OWN_SITE,
        )
        if not caller.acts_for(incoming.shop_code, incoming.channel.value):
            raise PermissionDenied.for_field(
                "shop_code",
                f"this token does not act for shop {incoming.shop_code!r} on {incoming.channel.value}",
                reason="SHOP_NOT_GRANTED",
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
                order = Order.receive(
                    order_repository.new_order_id(), incoming, actor=caller.subject, at=now()
                )
                timeline = list(order.new_timeline)
                order_id, created = await order_repository.add(conn, order)
                if created:
                    # The hot path of intake: answer from what was just written.
                    set_attributes(order_id=order_id, channel=incoming.channel.value)
                    return pb.SubmitOrderResponse(order=order_to_pb(order, timeline), created=True)
        set_attributes(order_id=order_id, channel=incoming.channel.value)
        async with self.db.connection() as conn:
            existing = await order_repository.load(conn, order_id, lock=False)
        # The same shop's order only (the caller acts for that shop), else a conflict, not a leak.
        if not created and not existing.sent_as(incoming):
            raise AlreadyExists.for_field(
                "channel_order_id",
                f"{incoming.channel.value} order {incoming.channel_order_id!r} was sent before with other "
                "contents; an order is never changed by sending it again",
                reason="CHANNEL_ORDER_REUSED",
            )
        return pb.SubmitOrderResponse(order=await self._shown(existing), created=created)

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
        order = Order.receive(order_repository.new_order_id(), priced_order, actor=caller.subject, at=now())
        order_id, created = await order_repository.add(conn, order)
        if created:
            await promotions.record_uses(conn, order_id, incoming.buyer_id, priced.applied)
        return order_id, created

    async def ConfirmPayment(
        self, request: pb.ConfirmPaymentRequest, context: Any
    ) -> pb.ConfirmPaymentResponse:
        payment = _payment(request.payment, "payment")
        return pb.ConfirmPaymentResponse(
            order=await self._change(
                request.order_id, lambda order, actor, at: order.confirm_payment(payment, actor=actor, at=at)
            )
        )

    async def ResolveNotes(self, request: pb.ResolveNotesRequest, context: Any) -> pb.ResolveNotesResponse:
        if len(request.service_note) > 500:
            raise InvalidArgument.for_field("service_note", "must be at most 500 characters")
        return pb.ResolveNotesResponse(
            order=await self._change(
                request.order_id,
                lambda order, actor, at: order.resolve_notes(request.service_note, actor=actor, at=at),
            )
        )

    async def ReviewOrders(self, request: pb.ReviewOrdersRequest, context: Any) -> pb.ReviewOrdersResponse:
        caller = identity.current()
        order_ids = list(dict.fromkeys(request.order_ids))
        check_batch_size(len(order_ids))
        # The batch's stock is reserved first come first served in the order the supervisor listed it.
        ended = await self.saga.review_batch(order_ids, caller=caller)
        return pb.ReviewOrdersResponse(
            outcomes=[
                _outcome(order_id, None, answer)
                if isinstance(answer, DomainError)
                else _outcome(order_id, answer)
                for order_id, answer in ((order_id, ended[order_id]) for order_id in order_ids)
            ]
        )

    async def ReleaseToWarehouse(
        self, request: pb.ReleaseToWarehouseRequest, context: Any
    ) -> pb.ReleaseToWarehouseResponse:
        caller = identity.current()
        order_ids = list(dict.fromkeys(request.order_ids))
        check_batch_size(len(order_ids))
        outcomes = []
        for order_id in order_ids:
            try:
                async with self.db.transaction() as conn:
                    order = await order_repository.load(conn, order_id, lock=True)
                    order.release_to_warehouse(actor=caller.subject, at=now())
                    await order_repository.save(conn, order)
                outcomes.append(_outcome(order_id, order))
            except DomainError as err:
                outcomes.append(_outcome(order_id, None, err))
        return pb.ReleaseToWarehouseResponse(outcomes=outcomes)

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: Any) -> pb.CancelOrderResponse:
        caller = identity.current()
        if not request.reason.strip():
            raise InvalidArgument.for_field("reason", "say why the order is cancelled")
        reason = request.reason.strip()[:500]
        current = await self._visible(request.order_id)
        let_go = False
        if current.status is OrderStatus.RELEASED:
            # ORD-5: the warehouse may already work on it; it lets the order go only while nothing is packed.
            await self.logistics.withdraw(request.order_id, reason, caller=caller)
            let_go = True
        order = await self.saga.cancel(request.order_id, reason, caller=caller, warehouse_let_go=let_go)
        return pb.CancelOrderResponse(order=await self._shown(order))

    async def GetOrder(self, request: pb.GetOrderRequest, context: Any) -> pb.GetOrderResponse:
        identity.current()
        set_attributes(order_id=request.order_id)
        return pb.GetOrderResponse(order=await self._full(request.order_id))

    async def FindOrder(self, request: pb.FindOrderRequest, context: Any) -> pb.FindOrderResponse:
        identity.current()
        channel = CHANNEL.from_pb(request.channel, field="channel")
        async with self.db.connection() as conn:
            order_id = await orders.id_of(conn, channel, request.channel_order_id)
        return pb.FindOrderResponse(order=await self._full(order_id, field="channel_order_id"))

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
