"""OrdersService: translates protobuf requests into order commands, store calls and the saga."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc as pb_grpc

from libs import identity
from libs.db import Database
from libs.errors import DomainError, InvalidArgument, NotFound
from libs.telemetry import set_attributes
from services.orders.api.amendments import AmendmentsApi
from services.orders.api.base import now
from services.orders.api.enums import CHANNEL, ORDER_STATUS
from services.orders.api.intake import IntakeApi, payment_from_pb
from services.orders.api.promotions import PromotionsApi
from services.orders.clients.logistics import LogisticsClient
from services.orders.domain.order import Order
from services.orders.domain.review import check_batch_size
from services.orders.domain.states import OrderStatus
from services.orders.saga.reservation import ReservationSaga
from services.orders.store import order_repository, orders
from services.orders.workers.auto_review import auto_reviews

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["OrdersService"].full_name


def _answer(order_id: str, answer: Order | DomainError) -> pb.ReviewOutcome:
    """One order's outcome in a batch: where it stands, or why it could not be acted on."""
    if isinstance(answer, DomainError):
        return pb.ReviewOutcome(order_id=order_id, hold_reason=f"{answer.code}: {answer.message}")
    order = answer
    return pb.ReviewOutcome(
        order_id=order_id,
        status=ORDER_STATUS.to_pb(order.status),
        hold_category=order.hold_category.value if order.hold_category else "",
        hold_reason=order.hold_reason,
    )


class OrdersServicer(IntakeApi, AmendmentsApi, PromotionsApi, pb_grpc.OrdersServiceServicer):  # type: ignore[misc]
    def __init__(self, database: Database, saga: ReservationSaga, logistics: LogisticsClient) -> None:
        self.db = database
        self.saga = saga
        self.logistics = logistics
        self.inventory = saga.inventory

    async def ConfirmPayment(
        self, request: pb.ConfirmPaymentRequest, context: Any
    ) -> pb.ConfirmPaymentResponse:
        payment = payment_from_pb(request.payment, "payment")
        order = await self._change(
            request.order_id, lambda order, actor, at: order.confirm_payment(payment, actor=actor, at=at)
        )
        auto_reviews.wake()
        return pb.ConfirmPaymentResponse(order=order)

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
            outcomes=[_answer(order_id, ended[order_id]) for order_id in order_ids]
        )

    async def ReleaseToWarehouse(
        self, request: pb.ReleaseToWarehouseRequest, context: Any
    ) -> pb.ReleaseToWarehouseResponse:
        caller = identity.current()
        order_ids = list(dict.fromkeys(request.order_ids))
        check_batch_size(len(order_ids))
        set_attributes(order_ids=order_ids)
        # One transaction for the batch: an order that may not be released is answered with why, and
        # the others are released with their events.
        ended: dict[str, Order | DomainError] = {}
        async with self.db.transaction() as conn:
            loaded = await order_repository.load_many(conn, order_ids, lock=True)
            at = now()
            for order_id in order_ids:
                # Released in the order listed: the warehouse serves released orders by release time.
                at = max(now(), at + timedelta(microseconds=1))
                order = loaded.get(order_id)
                if order is None:
                    ended[order_id] = NotFound.for_field(
                        "order_id", f"no order {order_id!r}", reason="ORDER_NOT_FOUND"
                    )
                    continue
                try:
                    order.release_to_warehouse(actor=caller.subject, at=at)
                except DomainError as err:
                    ended[order_id] = err
                    continue
                ended[order_id] = order
            await order_repository.save_many(conn, list(loaded.values()))
        return pb.ReleaseToWarehouseResponse(
            outcomes=[_answer(order_id, ended[order_id]) for order_id in order_ids]
        )

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
