"""Amendment, refund and report RPCs of OrdersService (ORD-4, ORD-6, ORD-7, ORD-9)."""

from __future__ import annotations

from typing import Any

from shop.orders.v1 import orders_pb2 as pb

from libs import identity
from libs.business_time import parse_business_date
from libs.errors import InvalidArgument
from libs.money import fen, money
from libs.telemetry import set_attributes
from libs.timestamps import to_timestamp
from services.orders.api.base import OrdersApiBase, now
from services.orders.api.convert import address_from_pb
from services.orders.api.enums import CHANNEL
from services.orders.domain import amendments as rules
from services.orders.domain.intake import Channel
from services.orders.store import order_repository, reports


class AmendmentsApi(OrdersApiBase):
    """Mixed into OrdersServicer."""

    async def ChangeAddress(self, request: pb.ChangeAddressRequest, context: Any) -> pb.ChangeAddressResponse:
        address = rules.checked_address(address_from_pb(request.address))
        return pb.ChangeAddressResponse(
            order=await self._change(
                request.order_id,
                lambda order, actor, at: order.change_address(address, request.reason, actor=actor, at=at),
            )
        )

    async def ChangeCarrier(self, request: pb.ChangeCarrierRequest, context: Any) -> pb.ChangeCarrierResponse:
        code = rules.carrier(request.carrier_code)
        return pb.ChangeCarrierResponse(
            order=await self._change(
                request.order_id, lambda order, actor, at: order.change_carrier(code, actor=actor, at=at)
            )
        )

    async def SplitShipment(self, request: pb.SplitShipmentRequest, context: Any) -> pb.SplitShipmentResponse:
        wanted = [
            rules.Shipment(
                address_from_pb(s.address), tuple((line.sku_code, line.quantity) for line in s.lines)
            )
            for s in request.shipments
        ]
        return pb.SplitShipmentResponse(
            order=await self._change(
                request.order_id, lambda order, actor, at: order.split_shipment(wanted, actor=actor, at=at)
            )
        )

    async def RequestInvoice(
        self, request: pb.RequestInvoiceRequest, context: Any
    ) -> pb.RequestInvoiceResponse:
        invoice = rules.invoice(request.title, request.tax_id)
        return pb.RequestInvoiceResponse(
            order=await self._change(
                request.order_id, lambda order, actor, at: order.request_invoice(invoice, actor=actor, at=at)
            )
        )

    async def RecordRefund(self, request: pb.RecordRefundRequest, context: Any) -> pb.RecordRefundResponse:
        caller = identity.current()
        amount = fen(request.amount, "amount")
        if amount < 1:
            raise InvalidArgument.for_field("amount", "must be at least 1 fen")
        if not request.reason.strip():
            raise InvalidArgument.for_field("reason", "is required")
        set_attributes(order_id=request.order_id)
        async with self.db.transaction() as conn:
            order = await order_repository.load(conn, request.order_id, lock=True)
            refund = order.record_refund(amount, request.reason, actor=caller.subject, at=now())
            await order_repository.save(conn, order)
        return pb.RecordRefundResponse(refund_id=refund.refund_id, order=await self._shown(order))

    async def SameDayReviewReport(
        self, request: pb.SameDayReviewReportRequest, context: Any
    ) -> pb.SameDayReviewReportResponse:
        day = parse_business_date(request.business_date, "business_date")
        async with self.db.connection() as conn:
            lines = await reports.same_day_review(conn, day)
        caller = identity.current()  # an integrator sees its own shops' orders only
        lines = [line for line in lines if caller.acts_for(line.shop_code, line.channel)]
        out = pb.SameDayReviewReportResponse(
            due=len(lines), reviewed_same_day=sum(line.in_time for line in lines)
        )
        for line in lines:
            pl = pb.SameDayReviewLine(
                order_id=line.order_id,
                channel_order_id=line.channel_order_id,
                paid_at=to_timestamp(line.paid_at),
                reviewed_same_day=line.in_time,
            )
            if line.reviewed_at:
                pl.reviewed_at.CopyFrom(to_timestamp(line.reviewed_at))
            out.lines.append(pl)
        return out

    async def GetNetSales(self, request: pb.GetNetSalesRequest, context: Any) -> pb.GetNetSalesResponse:
        first, last = (
            parse_business_date(request.from_date, "from_date"),
            parse_business_date(request.to_date, "to_date"),
        )
        if last < first:
            raise InvalidArgument.for_field("to_date", "must not be before from_date")
        if (last - first).days > 366:
            raise InvalidArgument.for_field("to_date", "a period spans at most a year")
        async with self.db.connection() as conn:
            rows = await reports.net_sales(conn, first, last)
        caller = identity.current()  # an integrator sees its own shops' sales only
        rows = [r for r in rows if caller.acts_for(r.shop_code, r.channel)]
        return pb.GetNetSalesResponse(
            rows=[
                pb.NetSales(
                    shop_code=r.shop_code,
                    channel=CHANNEL.to_pb(Channel(r.channel)),
                    paid=money(r.paid_fen),
                    refunded=money(r.refunded_fen),
                    net=money(r.net_fen),
                )
                for r in rows
            ],
            total_net=money(sum(r.net_fen for r in rows)),
        )
