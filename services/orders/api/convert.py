"""Protobuf <-> domain conversions of the orders API."""

from __future__ import annotations

from shop.orders.v1 import orders_pb2 as pb

from libs.money import money
from libs.timestamps import to_timestamp
from services.orders.api.enums import CHANNEL, ORDER_STATUS
from services.orders.domain.amendments import Amendments
from services.orders.domain.intake import Address
from services.orders.domain.order import Order
from services.orders.domain.states import TimelineEntry


def address_to_pb(a: Address) -> pb.Address:
    """An address as the contract carries it."""
    return pb.Address(
        recipient=a.recipient,
        phone=a.phone,
        province=a.province,
        city=a.city,
        district=a.district,
        street=a.street,
    )


def address_from_pb(a: pb.Address) -> Address:
    """An address from a request, as given (the domain checks it)."""
    return Address(a.recipient, a.phone, a.province, a.city, a.district, a.street)


def amendments_to_pb(amendments: Amendments) -> pb.Amendments:
    """The order's amendments (ORD-7) as the contract carries them."""
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


def timeline_entry_to_pb(entry: TimelineEntry) -> pb.TimelineEntry:
    """One timeline entry (ORD-4) as the contract carries it."""
    return pb.TimelineEntry(
        at=to_timestamp(entry.at),
        actor=entry.actor,
        event=entry.event,
        from_status=ORDER_STATUS.to_pb_or_unspecified(entry.from_status),
        to_status=ORDER_STATUS.to_pb_or_unspecified(entry.to_status),
        reason=entry.reason,
    )


def order_to_pb(order: Order, timeline: list[TimelineEntry]) -> pb.Order:
    """The order with its timeline, as the contract carries it."""
    out = pb.Order(
        order_id=order.order_id,
        channel=CHANNEL.to_pb(order.channel),
        channel_order_id=order.channel_order_id,
        status=ORDER_STATUS.to_pb(order.status),
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
        reservation_state=order.reservation.value,
        timeline=[timeline_entry_to_pb(entry) for entry in timeline],
        amendments=amendments_to_pb(order.amendments),
        refunded=money(order.refunded_fen),
    )
    if order.paid_at:
        out.paid_at.CopyFrom(to_timestamp(order.paid_at))
    return out
