"""Amendment, refund and report RPCs of OrdersService (ORD-4, ORD-6, ORD-7, ORD-9)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from shop.orders.v1 import orders_pb2 as pb
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.db import Database
from libs.errors import FailedPrecondition, InvalidArgument
from libs.idempotency import transact_once
from libs.telemetry import set_attributes
from libs.timestamps import to_timestamp
from services.orders.api.convert import CHANNEL_TO_PB, address_from_pb, fen, money
from services.orders.domain import amendments as rules
from services.orders.domain.intake import Channel
from services.orders.domain.states import OrderStatus
from services.orders.store import amendments, orders, reports
from services.orders.store.tables import kit

AMENDERS = ("customer_service", "supervisor")
AFTER_SALES = ("after_sales",)
READERS = ("supervisor", "customer_service", "executive", "hr_manager", "integrator")


def _date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument.for_field(field, f"must be a date YYYY-MM-DD, got {value!r}") from None


class AmendmentsApi:
    """Mixed into OrdersServicer."""

    db: Database
    _full: Callable[[str], Awaitable[pb.Order]]

    async def _amend(
        self, order_id: str, event: str, reason: str, change: Callable[[AsyncConnection], Awaitable[None]]
    ) -> pb.Order:
        caller = identity.require_role(*AMENDERS)
        set_attributes(order_id=order_id)
        async with self.db.transaction() as conn:
            order = await orders.get(conn, order_id, lock=True)
            rules.check_amendable(order.status)
            await change(conn)
            await orders.add_timeline(conn, order_id, actor=caller.subject, event=event, reason=reason)
        return await self._full(order_id)

    async def ChangeAddress(self, request: pb.ChangeAddressRequest, context: Any) -> pb.ChangeAddressResponse:
        address = rules.checked_address(address_from_pb(request.address))

        async def change(conn: AsyncConnection) -> None:
            await amendments.set_address(conn, request.order_id, address)

        # The timeline says that the address changed, not what it is: no personal data in reasons.
        return pb.ChangeAddressResponse(
            order=await self._amend(request.order_id, "address changed", request.reason.strip()[:200], change)
        )

    async def ChangeCarrier(self, request: pb.ChangeCarrierRequest, context: Any) -> pb.ChangeCarrierResponse:
        code = rules.carrier(request.carrier_code)

        async def change(conn: AsyncConnection) -> None:
            await amendments.set_carrier(conn, request.order_id, code)

        return pb.ChangeCarrierResponse(
            order=await self._amend(request.order_id, "carrier changed", code, change)
        )

    async def SplitShipment(self, request: pb.SplitShipmentRequest, context: Any) -> pb.SplitShipmentResponse:
        wanted = [
            rules.Shipment(
                address_from_pb(s.address), tuple((line.sku_code, line.quantity) for line in s.lines)
            )
            for s in request.shipments
        ]

        async def change(conn: AsyncConnection) -> None:
            order = await orders.get(conn, request.order_id)
            await amendments.set_shipments(conn, request.order_id, rules.split(order.lines, wanted))

        return pb.SplitShipmentResponse(
            order=await self._amend(
                request.order_id, "split into shipments", f"{len(wanted)} shipments", change
            )
        )

    async def RequestInvoice(
        self, request: pb.RequestInvoiceRequest, context: Any
    ) -> pb.RequestInvoiceResponse:
        invoice = rules.invoice(request.title, request.tax_id)

        async def change(conn: AsyncConnection) -> None:
            await amendments.request_invoice(conn, request.order_id, invoice)

        return pb.RequestInvoiceResponse(
            order=await self._amend(request.order_id, "invoice requested", "", change)
        )

    async def RecordRefund(self, request: pb.RecordRefundRequest, context: Any) -> pb.RecordRefundResponse:
        caller = identity.require_role(*AFTER_SALES)
        amount = fen(request.amount, "amount")
        if amount < 1:
            raise InvalidArgument.for_field("amount", "must be at least 1 fen")
        if not request.reason.strip():
            raise InvalidArgument.for_field("reason", "is required")
        set_attributes(order_id=request.order_id)

        async def perform(conn: AsyncConnection) -> pb.RecordRefundResponse:
            order = await orders.get(conn, request.order_id, lock=True)
            if order.status in (OrderStatus.PENDING_PAYMENT,):
                raise FailedPrecondition.for_field("order_id", "nothing was paid yet")
            refund_id = await amendments.record_refund(
                conn, request.order_id, amount, request.reason.strip()[:500], actor=caller.subject
            )
            await orders.add_timeline(
                conn, request.order_id, actor=caller.subject, event="refunded",
                reason=f"{amount} fen: {request.reason.strip()[:200]}",
            )  # fmt: skip
            return pb.RecordRefundResponse(refund_id=refund_id)

        reply = await transact_once(
            self.db, kit.idempotency, operation="RecordRefund", request_id=request.request_id,
            request=request, response_type=pb.RecordRefundResponse, perform=perform,
        )  # fmt: skip
        reply.order.CopyFrom(await self._full(request.order_id))
        return reply

    async def SameDayReviewReport(
        self, request: pb.SameDayReviewReportRequest, context: Any
    ) -> pb.SameDayReviewReportResponse:
        identity.require_role(*READERS)
        day = _date(request.business_date, "business_date")
        async with self.db.connection() as conn:
            lines = await reports.same_day_review(conn, day)
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
        identity.require_role(*READERS)
        first, last = _date(request.from_date, "from_date"), _date(request.to_date, "to_date")
        if last < first:
            raise InvalidArgument.for_field("to_date", "must not be before from_date")
        if (last - first).days > 366:
            raise InvalidArgument.for_field("to_date", "a period spans at most a year")
        async with self.db.connection() as conn:
            rows = await reports.net_sales(conn, first, last)
        return pb.GetNetSalesResponse(
            rows=[
                pb.NetSales(
                    shop_code=r.shop_code,
                    channel=CHANNEL_TO_PB[Channel(r.channel)],
                    paid=money(r.paid_fen),
                    refunded=money(r.refunded_fen),
                    net=money(r.net_fen),
                )
                for r in rows
            ],
            total_net=money(sum(r.net_fen for r in rows)),
        )
