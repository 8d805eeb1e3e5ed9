"""Intake (ORD-1): orders from shop channels, one at a time or a channel's page at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from shop.orders.v1 import orders_pb2 as pb
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.errors import AlreadyExists, DomainError, InvalidArgument, PermissionDenied
from libs.grpc_errors import to_problem
from libs.money import fen
from libs.telemetry import set_attributes
from libs.timestamps import from_timestamp
from services.orders.api.base import OrdersApiBase, now
from services.orders.api.convert import address_from_pb, order_to_pb
from services.orders.api.enums import CHANNEL, ORDER_STATUS
from services.orders.api.promotions import price_checkout
from services.orders.clients.inventory import InventoryClient
from services.orders.domain.intake import Channel, IncomingOrder, Payment, incoming_order
from services.orders.domain.order import Order
from services.orders.store import order_repository, orders, promotions
from services.orders.workers.auto_review import auto_reviews

#: Orders in one BatchSubmitOrders call: a channel's page, with room to spare.
MAX_PAGE = 500


def payment_from_pb(value: pb.Payment, field: str) -> Payment:
    """A channel's payment; ``paid_at`` is required."""
    if not value.HasField("paid_at"):
        raise InvalidArgument.for_field(f"{field}.paid_at", "is required")
    return Payment(
        fen(value.amount, f"{field}.amount"), from_timestamp(value.paid_at), value.reference.strip()
    )


def incoming_from_pb(request: pb.SubmitOrderRequest, caller: identity.Identity) -> IncomingOrder:
    """A submitted order, checked field by field and against what the caller's token acts for."""
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
        payment=payment_from_pb(request.payment, "payment") if request.HasField("payment") else None,
        currency_code="",
        payment_must_cover_total=channel is not Channel.OWN_SITE,
    )
    if not caller.acts_for(incoming.shop_code, incoming.channel.value):
        raise PermissionDenied.for_field(
            "shop_code",
            f"this token does not act for shop {incoming.shop_code!r} on {incoming.channel.value}",
            reason="SHOP_NOT_GRANTED",
        )
    return incoming


def _reused(incoming: IncomingOrder) -> DomainError:
    return AlreadyExists.for_field(
        "channel_order_id",
        f"{incoming.channel.value} order {incoming.channel_order_id!r} was sent before with other "
        "contents; an order is never changed by sending it again",
        reason="CHANNEL_ORDER_REUSED",
    )


class IntakeApi(OrdersApiBase):
    """SubmitOrder and BatchSubmitOrders."""

    inventory: InventoryClient

    async def SubmitOrder(self, request: pb.SubmitOrderRequest, context: Any) -> pb.SubmitOrderResponse:
        caller = identity.current()
        incoming = incoming_from_pb(request, caller)
        order, created = await self._take_in(incoming, list(request.coupon_codes), caller)
        if created and order.status == pb.ORDER_STATUS_PAID:
            auto_reviews.wake()
        return pb.SubmitOrderResponse(order=order, created=created)

    async def BatchSubmitOrders(
        self, request: pb.BatchSubmitOrdersRequest, context: Any
    ) -> pb.BatchSubmitOrdersResponse:
        caller = identity.current()
        if not 1 <= len(request.orders) <= MAX_PAGE:
            raise InvalidArgument.for_field("orders", f"must hold 1 to {MAX_PAGE} orders")
        set_attributes(batch_size=len(request.orders))
        outcomes: list[pb.SubmitOutcome | None] = [None] * len(request.orders)
        # A platform's orders are stored together; an own-site order is priced with our promotions in
        # its own checkout transaction, as SubmitOrder does.
        page: list[tuple[int, IncomingOrder, Order]] = []
        at = now()
        for i, item in enumerate(request.orders):
            try:
                incoming = incoming_from_pb(item, caller)
                if incoming.channel is Channel.OWN_SITE:
                    shown, created = await self._take_in(incoming, list(item.coupon_codes), caller)
                    outcomes[i] = pb.SubmitOutcome(
                        channel_order_id=item.channel_order_id,
                        order_id=shown.order_id,
                        status=shown.status,
                        created=created,
                    )
                    continue
            except DomainError as err:
                outcomes[i] = pb.SubmitOutcome(
                    channel_order_id=item.channel_order_id, problem=to_problem(err)
                )
                continue
            received = Order.receive(order_repository.new_order_id(), incoming, actor=caller.subject, at=at)
            page.append((i, incoming, received))
        if page:
            async with self.db.transaction() as conn:
                added = await order_repository.add_many(conn, [o for _, _, o in page])
            stored = {o.order_id: o for (_, _, o), (_, created) in zip(page, added, strict=True) if created}
            sent_before = {order_id for order_id, created in added if not created and order_id not in stored}
            if sent_before:
                async with self.db.connection() as conn:
                    stored |= await order_repository.load_many(conn, sorted(sent_before), lock=False)
            for (i, incoming, _), (order_id, created) in zip(page, added, strict=True):
                channel_order_id = incoming.channel_order_id
                order = stored[order_id]
                if not created and not order.sent_as(incoming):
                    problem = to_problem(_reused(incoming))
                    outcomes[i] = pb.SubmitOutcome(channel_order_id=channel_order_id, problem=problem)
                    continue
                outcomes[i] = pb.SubmitOutcome(
                    channel_order_id=channel_order_id,
                    order_id=order_id,
                    status=ORDER_STATUS.to_pb(order.status),
                    created=created,
                )
        if any(o is not None and o.created and o.status == pb.ORDER_STATUS_PAID for o in outcomes):
            auto_reviews.wake()
        return pb.BatchSubmitOrdersResponse(outcomes=[o for o in outcomes if o is not None])

    async def _stored(self, order_id: str) -> Order:
        async with self.db.connection() as conn:
            return await order_repository.load(conn, order_id, lock=False)

    async def _take_in(
        self, incoming: IncomingOrder, coupon_codes: list[str], caller: identity.Identity
    ) -> tuple[pb.Order, bool]:
        """One order taken in (ORD-1): stored unless its channel order id was sent before."""
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
                order_id, created = await self._checkout(conn, incoming, coupon_codes, caller, categories)
            else:
                order = Order.receive(
                    order_repository.new_order_id(), incoming, actor=caller.subject, at=now()
                )
                timeline = list(order.new_timeline)
                order_id, created = await order_repository.add(conn, order)
                if created:
                    # The hot path of intake: answer from what was just written.
                    set_attributes(order_id=order_id, channel=incoming.channel.value)
                    return order_to_pb(order, timeline), True
        set_attributes(order_id=order_id, channel=incoming.channel.value)
        existing = await self._stored(order_id)
        # The same shop's order only (the caller acts for that shop), else a conflict, not a leak.
        if not created and not existing.sent_as(incoming):
            raise _reused(incoming)
        return await self._shown(existing), created

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
