"""Protobuf <-> domain conversions of the orders API."""

from __future__ import annotations

from shop.common.v1 import money_pb2
from shop.orders.v1 import orders_pb2 as pb

from libs.errors import InvalidArgument
from libs.timestamps import to_timestamp
from services.orders.domain.intake import CURRENCY, Address, Channel
from services.orders.domain.states import OrderStatus, TimelineEntry
from services.orders.store.amendments import Amendments
from services.orders.store.orders import Order

CHANNEL_FROM_PB = {
    pb.CHANNEL_TMALL: Channel.TMALL,
    pb.CHANNEL_TAOBAO: Channel.TAOBAO,
    pb.CHANNEL_JD: Channel.JD,
    pb.CHANNEL_OWN_SITE: Channel.OWN_SITE,
}
CHANNEL_TO_PB = {v: k for k, v in CHANNEL_FROM_PB.items()}
STATUS_TO_PB = {
    OrderStatus.PENDING_PAYMENT: pb.ORDER_STATUS_PENDING_PAYMENT,
    OrderStatus.PAID: pb.ORDER_STATUS_PAID,
    OrderStatus.REVIEWED: pb.ORDER_STATUS_REVIEWED,
    OrderStatus.RELEASED: pb.ORDER_STATUS_RELEASED,
    OrderStatus.SHIPPED: pb.ORDER_STATUS_SHIPPED,
    OrderStatus.DELIVERED: pb.ORDER_STATUS_DELIVERED,
    OrderStatus.COMPLETED: pb.ORDER_STATUS_COMPLETED,
    OrderStatus.CANCELLED: pb.ORDER_STATUS_CANCELLED,
    OrderStatus.ON_HOLD: pb.ORDER_STATUS_ON_HOLD,
}


def money(fen: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code=CURRENCY, amount_minor=fen)


def fen(value: money_pb2.Money, field: str) -> int:
    """Minor units of a Money field; an unset Money is 0, another currency is refused."""
    if value.currency_code not in ("", CURRENCY):
        raise InvalidArgument.for_field(f"{field}.currency_code", f"must be {CURRENCY}")
    return value.amount_minor


def address_to_pb(a: Address) -> pb.Address:
    return pb.Address(
        recipient=a.recipient,
        phone=a.phone,
        province=a.province,
        city=a.city,
        district=a.district,
        street=a.street,
    )


def address_from_pb(a: pb.Address) -> Address:
    return Address(a.recipient, a.phone, a.province, a.city, a.district, a.street)


def amendments_to_pb(amendments: Amendments) -> pb.Amendments:
    return pb.Amendments(
        carrier_code=amendments.carrier_code,
        invoice_requested=amendments.invoice is not None,
        invoice_title=amendments.invoice.title if amendments.invoice else "",
        invoice_tax_id=amendments.invoice.tax_id if amendments.invoice else "",
        shipments=[
            pb.Shipment(
                address=address_to_pb(s.address),
                lines=[pb.OrderLine(sku_code=sku, quantity=q) for sku, q in s.lines],
            )
            for s in amendments.shipments
        ],
    )


def order_to_pb(
    order: Order, timeline: list[TimelineEntry] | None = None, amendments: Amendments | None = None
) -> pb.Order:
    out = pb.Order(
        order_id=order.order_id,
        channel=CHANNEL_TO_PB[order.channel],
        channel_order_id=order.channel_order_id,
        status=STATUS_TO_PB[order.status],
        lines=[
            pb.OrderLine(sku_code=x.sku_code, quantity=x.quantity, unit_price=money(x.unit_price_fen))
            for x in order.lines
        ],
        total=money(order.total_fen),
        created_at=to_timestamp(order.created_at),
        shop_code=order.shop_code,
        buyer_id=order.buyer_id,
        address=address_to_pb(order.address),
        buyer_message=order.buyer_message,
        service_note=order.service_note,
        notes_resolved=order.notes_resolved,
        goods=money(order.goods_fen),
        discount=money(order.discount_fen),
        shipping_fee=money(order.shipping_fee_fen),
        paid=money(order.paid_fen),
        hold_category=order.hold_category.value if order.hold_category else "",
        hold_reason=order.hold_reason,
        reservation_state=order.reservation_state,
        refunded=money(order.refunded_fen),
    )
    if amendments is not None:
        out.amendments.CopyFrom(amendments_to_pb(amendments))
    if order.paid_at:
        out.paid_at.CopyFrom(to_timestamp(order.paid_at))
    for entry in timeline or []:
        out.timeline.append(
            pb.TimelineEntry(
                at=to_timestamp(entry.at),
                actor=entry.actor,
                event=entry.event,
                from_status=STATUS_TO_PB[entry.from_status] if entry.from_status else 0,  # type: ignore[arg-type]
                to_status=STATUS_TO_PB[entry.to_status] if entry.to_status else 0,  # type: ignore[arg-type]
                reason=entry.reason,
            )
        )
    return out
