"""Order routes: intake from channels, payment, review, release, cancellation, amendments, refunds,
reports and promotions. Money is integer fen (1 yuan = 100 fen) in fields ending ``_fen``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from shop.common.v1 import money_pb2
from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc

from libs.grpc_client import call
from services.gateway.auth import Caller
from services.gateway.routes.common import (
    IdempotencyKey,
    Int64,
    StrictBody,
    UtcDateTime,
    request_id,
    request_id_field,
    timestamp,
    utc,
)

router = APIRouter(prefix="/v1", tags=["orders"])

ChannelName = Literal["tmall", "taobao", "jd", "own_site"]
_CHANNEL: dict[ChannelName, pb.Channel.ValueType] = {
    "tmall": pb.CHANNEL_TMALL,
    "taobao": pb.CHANNEL_TAOBAO,
    "jd": pb.CHANNEL_JD,
    "own_site": pb.CHANNEL_OWN_SITE,
}
_CHANNEL_NAME: dict[pb.Channel.ValueType, ChannelName] = {
    pb.CHANNEL_TMALL: "tmall",
    pb.CHANNEL_TAOBAO: "taobao",
    pb.CHANNEL_JD: "jd",
    pb.CHANNEL_OWN_SITE: "own_site",
}
_STATUS = {v: pb.OrderStatus.Name(v).removeprefix("ORDER_STATUS_").lower() for v in pb.OrderStatus.values()}
_KIND: dict[str, pb.PromotionKind.ValueType] = {
    "coupon": pb.PROMOTION_KIND_COUPON,
    "threshold": pb.PROMOTION_KIND_THRESHOLD,
    "percentage": pb.PROMOTION_KIND_PERCENTAGE,
}


def _stub(request: Request) -> orders_pb2_grpc.OrdersServiceStub:
    return orders_pb2_grpc.OrdersServiceStub(request.app.state.upstreams.channels["orders"])


def _fen(value: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="CNY", amount_minor=value)


class AddressIn(StrictBody):
    recipient: str = ""
    phone: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    street: str = ""

    def to_pb(self) -> pb.Address:
        return pb.Address(**self.model_dump())


class LineIn(StrictBody):
    sku_code: str
    quantity: Int64
    unit_price_fen: Int64 = 0


class PaymentIn(StrictBody):
    amount_fen: Int64
    paid_at: UtcDateTime
    reference: str = ""

    def to_pb(self) -> pb.Payment:
        return pb.Payment(
            amount=_fen(self.amount_fen), paid_at=timestamp(self.paid_at), reference=self.reference
        )


class OrderIn(StrictBody):
    channel: ChannelName
    channel_order_id: str
    shop_code: str
    buyer_id: str
    address: AddressIn
    lines: list[LineIn]
    shipping_fee_fen: Int64 = 0
    discount_fen: Int64 = 0
    buyer_message: str = ""
    payment: PaymentIn | None = None
    coupon_codes: list[str] = Field(default_factory=list, description="Own-site orders only (ORD-8).")


class AddressOut(BaseModel):
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    street: str


class LineOut(BaseModel):
    sku_code: str
    quantity: int
    unit_price_fen: int


class TimelineOut(BaseModel):
    at: datetime
    actor: str
    event: str
    from_status: str | None
    to_status: str | None
    reason: str


class OrderOut(BaseModel):
    order_id: str
    channel: ChannelName
    channel_order_id: str
    shop_code: str
    buyer_id: str
    status: str
    hold_category: str
    hold_reason: str
    reservation_state: str
    address: AddressOut
    lines: list[LineOut]
    goods_fen: int
    discount_fen: int
    shipping_fee_fen: int
    total_fen: int
    paid_fen: int
    refunded_fen: int
    paid_at: datetime | None
    buyer_message: str
    service_note: str
    notes_resolved: bool
    carrier_code: str
    invoice_requested: bool
    promotions: dict[str, int] = Field(description="Discount in fen per applied promotion.")
    created_at: datetime
    timeline: list[TimelineOut]


def order_out(o: pb.Order) -> OrderOut:
    a = o.address
    return OrderOut(
        order_id=o.order_id,
        channel=_CHANNEL_NAME[o.channel],
        channel_order_id=o.channel_order_id,
        shop_code=o.shop_code,
        buyer_id=o.buyer_id,
        status=_STATUS[o.status],
        hold_category=o.hold_category,
        hold_reason=o.hold_reason,
        reservation_state=o.reservation_state,
        address=AddressOut(
            recipient=a.recipient, phone=a.phone, province=a.province, city=a.city, district=a.district, street=a.street
        ),
        lines=[LineOut(sku_code=x.sku_code, quantity=x.quantity, unit_price_fen=x.unit_price.amount_minor) for x in o.lines],
        goods_fen=o.goods.amount_minor,
        discount_fen=o.discount.amount_minor,
        shipping_fee_fen=o.shipping_fee.amount_minor,
        total_fen=o.total.amount_minor,
        paid_fen=o.paid.amount_minor,
        refunded_fen=o.refunded.amount_minor,
        paid_at=utc(o.paid_at) if o.HasField("paid_at") else None,
        buyer_message=o.buyer_message,
        service_note=o.service_note,
        notes_resolved=o.notes_resolved,
        carrier_code=o.amendments.carrier_code,
        invoice_requested=o.amendments.invoice_requested,
        promotions={p.promotion_id: p.discount.amount_minor for p in o.promotions},
        created_at=utc(o.created_at),
        timeline=[
            TimelineOut(
                at=utc(e.at), actor=e.actor, event=e.event,
                from_status=_STATUS[e.from_status] if e.from_status else None,
                to_status=_STATUS[e.to_status] if e.to_status else None, reason=e.reason,
            )
            for e in o.timeline
        ],
    )  # fmt: skip


@router.post("/orders", response_model=OrderOut, status_code=201)
async def submit_order(body: OrderIn, request: Request, response: Response, caller: Caller) -> OrderOut:
    """Takes in a channel's order (ORD-1): 201 when new, 200 with the first order when it was sent before."""
    message = pb.SubmitOrderRequest(
        channel=_CHANNEL[body.channel],
        channel_order_id=body.channel_order_id,
        shop_code=body.shop_code,
        buyer_id=body.buyer_id,
        address=body.address.to_pb(),
        lines=[
            pb.OrderLine(sku_code=x.sku_code, quantity=x.quantity, unit_price=_fen(x.unit_price_fen))
            for x in body.lines
        ],
        shipping_fee=_fen(body.shipping_fee_fen),
        discount=_fen(body.discount_fen),
        buyer_message=body.buyer_message,
        coupon_codes=body.coupon_codes,
    )
    if body.payment is not None:
        message.payment.CopyFrom(body.payment.to_pb())
    reply = await call(_stub(request).SubmitOrder, message, caller=caller)
    if not reply.created:
        response.status_code = 200
    return order_out(reply.order)


@router.get("/orders/{order_id}", response_model=OrderOut)
async def get_order(order_id: str, request: Request, caller: Caller) -> OrderOut:
    """An order with its state and timeline (ORD-4)."""
    reply = await call(_stub(request).GetOrder, pb.GetOrderRequest(order_id=order_id), caller=caller)
    return order_out(reply.order)


@router.get("/orders", response_model=OrderOut)
async def find_order(
    request: Request,
    caller: Caller,
    channel: Annotated[ChannelName, Query()],
    channel_order_id: Annotated[str, Query()],
) -> OrderOut:
    """An order by its channel's order id."""
    reply = await call(
        _stub(request).FindOrder,
        pb.FindOrderRequest(channel=_CHANNEL[channel], channel_order_id=channel_order_id),
        caller=caller,
    )
    return order_out(reply.order)


@router.post("/orders/{order_id}/payment", response_model=OrderOut)
async def confirm_payment(order_id: str, body: PaymentIn, request: Request, caller: Caller) -> OrderOut:
    """The channel confirms payment: pending payment -> paid."""
    reply = await call(
        _stub(request).ConfirmPayment,
        pb.ConfirmPaymentRequest(order_id=order_id, payment=body.to_pb()),
        caller=caller,
    )
    return order_out(reply.order)


class NotesIn(StrictBody):
    service_note: str = ""


@router.post("/orders/{order_id}/notes", response_model=OrderOut)
async def resolve_notes(order_id: str, body: NotesIn, request: Request, caller: Caller) -> OrderOut:
    """Customer service honours the buyer's and its own notes (ORD-2)."""
    reply = await call(
        _stub(request).ResolveNotes,
        pb.ResolveNotesRequest(order_id=order_id, service_note=body.service_note),
        caller=caller,
    )
    return order_out(reply.order)


class BatchIn(StrictBody):
    order_ids: list[str] = Field(description="At most 200 (ORD-3).")


class OutcomeOut(BaseModel):
    order_id: str
    status: str | None
    hold_category: str
    hold_reason: str


def outcomes(items: list[pb.ReviewOutcome]) -> list[OutcomeOut]:
    return [
        OutcomeOut(
            order_id=o.order_id, status=_STATUS[o.status] if o.status else None,
            hold_category=o.hold_category, hold_reason=o.hold_reason,
        )
        for o in items
    ]  # fmt: skip


@router.post("/order-reviews", response_model=list[OutcomeOut])
async def review_orders(body: BatchIn, request: Request, caller: Caller) -> list[OutcomeOut]:
    """Reviews a batch of orders and reserves their stock (ORD-2, ORD-3)."""
    reply = await call(
        _stub(request).ReviewOrders, pb.ReviewOrdersRequest(order_ids=body.order_ids), caller=caller
    )
    return outcomes(list(reply.outcomes))


@router.post("/order-releases", response_model=list[OutcomeOut])
async def release_orders(body: BatchIn, request: Request, caller: Caller) -> list[OutcomeOut]:
    """Releases reviewed orders to the warehouse."""
    reply = await call(
        _stub(request).ReleaseToWarehouse,
        pb.ReleaseToWarehouseRequest(order_ids=body.order_ids),
        caller=caller,
    )
    return outcomes(list(reply.outcomes))


class ReasonIn(StrictBody):
    reason: str


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
async def cancel_order(order_id: str, body: ReasonIn, request: Request, caller: Caller) -> OrderOut:
    """Cancels before release and gives the stock back (ORD-5)."""
    reply = await call(
        _stub(request).CancelOrder,
        pb.CancelOrderRequest(order_id=order_id, reason=body.reason),
        caller=caller,
    )
    return order_out(reply.order)


@router.get("/order-exceptions", response_model=list[OrderOut])
async def list_exceptions(
    request: Request, caller: Caller, limit: Annotated[int, Query(ge=1, le=500)] = 200
) -> list[OrderOut]:
    """The exception queue: orders on hold with their reasons."""
    reply = await call(_stub(request).ListExceptions, pb.ListExceptionsRequest(limit=limit), caller=caller)
    return [order_out(o) for o in reply.orders]


class AddressChangeIn(StrictBody):
    address: AddressIn
    reason: str = ""


@router.post("/orders/{order_id}/address", response_model=OrderOut)
async def change_address(order_id: str, body: AddressChangeIn, request: Request, caller: Caller) -> OrderOut:
    """A new delivery address before release (ORD-7)."""
    reply = await call(
        _stub(request).ChangeAddress,
        pb.ChangeAddressRequest(order_id=order_id, address=body.address.to_pb(), reason=body.reason),
        caller=caller,
    )
    return order_out(reply.order)


class CarrierIn(StrictBody):
    carrier_code: str


@router.post("/orders/{order_id}/carrier", response_model=OrderOut)
async def change_carrier(order_id: str, body: CarrierIn, request: Request, caller: Caller) -> OrderOut:
    """Another carrier before release (ORD-7)."""
    reply = await call(
        _stub(request).ChangeCarrier,
        pb.ChangeCarrierRequest(order_id=order_id, carrier_code=body.carrier_code),
        caller=caller,
    )
    return order_out(reply.order)


class ShipmentIn(StrictBody):
    address: AddressIn
    lines: list[LineIn]


class SplitIn(StrictBody):
    shipments: list[ShipmentIn]


@router.post("/orders/{order_id}/shipments", response_model=OrderOut)
async def split_shipments(order_id: str, body: SplitIn, request: Request, caller: Caller) -> OrderOut:
    """Ships the order to several addresses (分地址发, ORD-7)."""
    reply = await call(
        _stub(request).SplitShipment,
        pb.SplitShipmentRequest(
            order_id=order_id,
            shipments=[
                pb.Shipment(
                    address=s.address.to_pb(),
                    lines=[pb.OrderLine(sku_code=x.sku_code, quantity=x.quantity) for x in s.lines],
                )
                for s in body.shipments
            ],
        ),
        caller=caller,
    )
    return order_out(reply.order)


class InvoiceIn(StrictBody):
    title: str
    tax_id: str = ""


@router.post("/orders/{order_id}/invoice", response_model=OrderOut)
async def request_invoice(order_id: str, body: InvoiceIn, request: Request, caller: Caller) -> OrderOut:
    """The buyer asks for an invoice (开发票, ORD-7)."""
    reply = await call(
        _stub(request).RequestInvoice,
        pb.RequestInvoiceRequest(order_id=order_id, title=body.title, tax_id=body.tax_id),
        caller=caller,
    )
    return order_out(reply.order)


class RefundIn(StrictBody):
    request_id: str
    amount_fen: Int64
    reason: str


@router.post("/orders/{order_id}/refunds", response_model=OrderOut, status_code=201)
async def record_refund(order_id: str, body: RefundIn, request: Request, caller: Caller) -> OrderOut:
    """Records a refund on the order (ORD-4); never more than was paid."""
    reply = await call(
        _stub(request).RecordRefund,
        pb.RecordRefundRequest(
            request_id=body.request_id, order_id=order_id, amount=_fen(body.amount_fen), reason=body.reason
        ),
        caller=caller,
    )
    return order_out(reply.order)


class NetSalesOut(BaseModel):
    shop_code: str
    channel: ChannelName
    paid_fen: int
    refunded_fen: int
    net_fen: int


@router.get("/reports/net-sales", response_model=list[NetSalesOut])
async def net_sales(
    request: Request, caller: Caller, from_date: Annotated[str, Query()], to_date: Annotated[str, Query()]
) -> list[NetSalesOut]:
    """Net sales per shop and channel: paid minus refunded amounts of the period (ORD-9)."""
    reply = await call(
        _stub(request).GetNetSales, pb.GetNetSalesRequest(from_date=from_date, to_date=to_date), caller=caller
    )
    return [
        NetSalesOut(
            shop_code=r.shop_code, channel=_CHANNEL_NAME[r.channel], paid_fen=r.paid.amount_minor,
            refunded_fen=r.refunded.amount_minor, net_fen=r.net.amount_minor,
        )
        for r in reply.rows
    ]  # fmt: skip


class SameDayOut(BaseModel):
    due: int
    reviewed_same_day: int
    late_order_ids: list[str]


@router.get("/reports/same-day-review", response_model=SameDayOut)
async def same_day_review(
    request: Request, caller: Caller, business_date: Annotated[str, Query()]
) -> SameDayOut:
    """Orders paid before 17:00 and whether each was reviewed that day (ORD-6)."""
    reply = await call(
        _stub(request).SameDayReviewReport,
        pb.SameDayReviewReportRequest(business_date=business_date),
        caller=caller,
    )
    return SameDayOut(
        due=reply.due,
        reviewed_same_day=reply.reviewed_same_day,
        late_order_ids=[x.order_id for x in reply.lines if not x.reviewed_same_day],
    )


class PromotionIn(StrictBody):
    promotion_id: str
    name: str
    kind: Literal["coupon", "threshold", "percentage"]
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    eligible_skus: list[str] = Field(default_factory=list)
    eligible_categories: list[str] = Field(default_factory=list)
    coupon_code: str = ""
    amount_off_fen: Int64 = 0
    threshold_fen: Int64 = 0
    repeat: bool = False
    max_off_fen: Int64 = 0
    rate_bp: int = 0
    stackable: bool = True
    priority: int = 0
    budget_fen: Int64 = 0
    per_buyer_limit: int = 0
    large: bool = Field(
        default=False,
        description="A large promotion (大促): the warehouse is told when it is created or moved, and its "
        "supervisor is alerted to buy packing materials until it is over (INV-16).",
    )


@router.post("/promotions", status_code=201)
async def create_promotion(body: PromotionIn, request: Request, caller: Caller) -> dict[str, str]:
    """Creates a promotion (ORD-8); a large one is announced to the warehouse (INV-16)."""
    reply = await call(
        _stub(request).CreatePromotion,
        pb.CreatePromotionRequest(
            promotion=pb.Promotion(
                promotion_id=body.promotion_id, name=body.name, kind=_KIND[body.kind],
                starts_at=timestamp(body.starts_at), ends_at=timestamp(body.ends_at),
                eligible_skus=body.eligible_skus, eligible_categories=body.eligible_categories,
                coupon_code=body.coupon_code, amount_off=_fen(body.amount_off_fen), threshold=_fen(body.threshold_fen),
                repeat=body.repeat, max_off=_fen(body.max_off_fen), rate_bp=body.rate_bp, stackable=body.stackable,
                priority=body.priority, budget=_fen(body.budget_fen), per_buyer_limit=body.per_buyer_limit,
                large=body.large,
            )
        ),
        caller=caller,
    )  # fmt: skip
    return {"promotion_id": reply.promotion.promotion_id}


class RescheduleIn(StrictBody):
    request_id: str | None = request_id_field()
    starts_at: UtcDateTime
    ends_at: UtcDateTime


class PromotionWindowOut(BaseModel):
    promotion_id: str
    starts_at: datetime
    ends_at: datetime
    large: bool
    revision: int = Field(description="Grows with every change of the promotion.")


@router.post("/promotions/{promotion_id}/reschedule", response_model=PromotionWindowOut)
async def reschedule_promotion(
    promotion_id: str,
    body: RescheduleIn,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> PromotionWindowOut:
    """Moves a promotion's time window (ORD-8); a large one is announced to the warehouse again (INV-16)."""
    reply = await call(
        _stub(request).ReschedulePromotion,
        pb.ReschedulePromotionRequest(
            request_id=request_id(body.request_id, idempotency_key),
            promotion_id=promotion_id,
            starts_at=timestamp(body.starts_at),
            ends_at=timestamp(body.ends_at),
        ),
        caller=caller,
    )
    p = reply.promotion
    return PromotionWindowOut(
        promotion_id=p.promotion_id, starts_at=utc(p.starts_at), ends_at=utc(p.ends_at), large=p.large,
        revision=p.revision,
    )  # fmt: skip


class CampaignOut(BaseModel):
    promotion_id: str
    orders: int
    paid_orders: int
    sales_fen: int
    discount_spent_fen: int
    conversion_bp: int


@router.get("/promotions/{promotion_id}/report", response_model=CampaignOut)
async def campaign_report(promotion_id: str, request: Request, caller: Caller) -> CampaignOut:
    """Orders, sales, discount spent and conversion of a campaign (ORD-8)."""
    reply = await call(
        _stub(request).GetCampaignReport,
        pb.GetCampaignReportRequest(promotion_id=promotion_id),
        caller=caller,
    )
    return CampaignOut(
        promotion_id=promotion_id, orders=reply.orders, paid_orders=reply.paid_orders, sales_fen=reply.sales.amount_minor,
        discount_spent_fen=reply.discount_spent.amount_minor, conversion_bp=reply.conversion_bp,
    )  # fmt: skip
