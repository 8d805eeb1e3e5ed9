"""Amendments (ORD-7), refunds (ORD-4), the same-day review report (ORD-6) and net sales (ORD-9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from shop.orders.v1 import orders_pb2 as pb

from libs.business_time import BUSINESS_ZONE
from services.orders.store.tables import orders
from tests.conftest import auth
from tests.integration.test_inventory_rpc import field_violations
from tests.integration.test_inventory_stock_flow import stock
from tests.integration.test_orders_flow import ADDRESS, CS, LEAD, SHOP, order_request, yuan

AFTER_SALES = auth("after_sales", "as-1")
EXEC = auth("executive", "boss")
OTHER_ADDRESS = pb.Address(
    recipient="Zhao Lei", phone="0571-87654321", province="Zhejiang", city="Ningbo", district="Haishu",
    street="9 Tianyi Square",
)  # fmt: skip


async def test_amendments_before_release_are_on_the_timeline_ord_7(orders_stub, inventory_stub):
    """ORD-7: address change, carrier change, split shipments and an invoice request before release."""
    order_id = (await orders_stub.SubmitOrder(order_request(quantity=3), metadata=SHOP)).order.order_id
    changed = await orders_stub.ChangeAddress(
        pb.ChangeAddressRequest(order_id=order_id, address=OTHER_ADDRESS, reason="buyer moved"), metadata=CS
    )
    assert changed.order.address.city == "Ningbo"
    await orders_stub.ChangeCarrier(
        pb.ChangeCarrierRequest(order_id=order_id, carrier_code="SF"), metadata=CS
    )
    split = await orders_stub.SplitShipment(
        pb.SplitShipmentRequest(
            order_id=order_id,
            shipments=[
                pb.Shipment(address=ADDRESS, lines=[pb.OrderLine(sku_code="LJ-250-GRN", quantity=1)]),
                pb.Shipment(address=OTHER_ADDRESS, lines=[pb.OrderLine(sku_code="LJ-250-GRN", quantity=2)]),
            ],
        ),
        metadata=CS,
    )
    assert [len(s.lines) for s in split.order.amendments.shipments] == [1, 1]
    invoiced = await orders_stub.RequestInvoice(
        pb.RequestInvoiceRequest(order_id=order_id, title="Hangzhou Tea Co.", tax_id="91330100MA2B3C4D5E"),
        metadata=CS,
    )
    amend = invoiced.order.amendments
    assert (amend.carrier_code, amend.invoice_requested, amend.invoice_tax_id) == (
        "sf",
        True,
        "91330100MA2B3C4D5E",
    )
    events = [e.event for e in invoiced.order.timeline]
    assert events[-4:] == ["address changed", "carrier changed", "split into shipments", "invoice requested"]
    assert all("Ningbo" not in e.reason and "0571" not in e.reason for e in invoiced.order.timeline)


async def test_bad_amendments_name_the_field_and_change_nothing_ord_7(orders_stub):
    order_id = (await orders_stub.SubmitOrder(order_request(quantity=3), metadata=SHOP)).order.order_id
    bad_address = pb.Address(
        recipient="", phone="123", province="Zhejiang", city="Hangzhou", district="Xihu", street="1 Road"
    )
    for call, request, field in (
        (
            orders_stub.ChangeAddress,
            pb.ChangeAddressRequest(order_id=order_id, address=bad_address),
            "address",
        ),
        (
            orders_stub.ChangeCarrier,
            pb.ChangeCarrierRequest(order_id=order_id, carrier_code="x"),
            "carrier_code",
        ),
        (
            orders_stub.RequestInvoice,
            pb.RequestInvoiceRequest(order_id=order_id, title="", tax_id="1"),
            "title",
        ),
        (
            orders_stub.SplitShipment,
            pb.SplitShipmentRequest(
                order_id=order_id,
                shipments=[
                    pb.Shipment(address=ADDRESS, lines=[pb.OrderLine(sku_code="LJ-250-GRN", quantity=1)]),
                    pb.Shipment(
                        address=OTHER_ADDRESS, lines=[pb.OrderLine(sku_code="LJ-250-GRN", quantity=1)]
                    ),
                ],
            ),
            "shipments",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call(request, metadata=CS)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in field_violations(exc.value)
    order = (await orders_stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=CS)).order
    assert order.address.city == "Hangzhou" and order.amendments.carrier_code == ""
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.ChangeCarrier(
            pb.ChangeCarrierRequest(order_id=order_id, carrier_code="sf"), metadata=SHOP
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_no_amendment_after_release_ord_7(orders_stub, inventory_stub):
    await stock(inventory_stub, quantity=5)
    order_id = (await orders_stub.SubmitOrder(order_request(quantity=1), metadata=SHOP)).order.order_id
    await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=[order_id]), metadata=LEAD)
    await orders_stub.ReleaseToWarehouse(pb.ReleaseToWarehouseRequest(order_ids=[order_id]), metadata=LEAD)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.ChangeCarrier(
            pb.ChangeCarrierRequest(order_id=order_id, carrier_code="sf"), metadata=CS
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_refunds_are_recorded_and_bounded_by_the_payment_ord_4(orders_stub):
    order_id = (
        await orders_stub.SubmitOrder(order_request(quantity=1), metadata=SHOP)
    ).order.order_id  # 98 yuan
    first = await orders_stub.RecordRefund(
        pb.RecordRefundRequest(request_id="rf-1", order_id=order_id, amount=yuan(30), reason="damaged box"),
        metadata=AFTER_SALES,
    )
    again = await orders_stub.RecordRefund(
        pb.RecordRefundRequest(request_id="rf-1", order_id=order_id, amount=yuan(30), reason="damaged box"),
        metadata=AFTER_SALES,
    )
    assert again.refund_id == first.refund_id
    assert again.order.refunded.amount_minor == 3000
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.RecordRefund(
            pb.RecordRefundRequest(request_id="rf-2", order_id=order_id, amount=yuan(68.01), reason="more"),
            metadata=AFTER_SALES,
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "amount" in field_violations(exc.value)


async def test_net_sales_by_shop_and_channel_ord_9(orders_stub, orders_service):
    """ORD-9: net sales of a period = paid amounts - refunded amounts of that period, by shop and channel."""
    a = (await orders_stub.SubmitOrder(order_request("TM-1", quantity=1), metadata=SHOP)).order.order_id  # 98
    await orders_stub.SubmitOrder(order_request("TM-2", quantity=2), metadata=SHOP)  # 186
    jd = order_request("JD-1", quantity=1)
    jd.channel, jd.shop_code = pb.CHANNEL_JD, "jd-store"
    await orders_stub.SubmitOrder(jd, metadata=SHOP)  # 98
    await orders_stub.SubmitOrder(
        order_request("TM-3", quantity=1, paid=False), metadata=SHOP
    )  # unpaid: not sales
    await orders_stub.RecordRefund(
        pb.RecordRefundRequest(request_id="rf", order_id=a, amount=yuan(18), reason="late"),
        metadata=AFTER_SALES,
    )
    today = datetime.now(UTC).astimezone(BUSINESS_ZONE).date().isoformat()
    sales = await orders_stub.GetNetSales(
        pb.GetNetSalesRequest(from_date=today, to_date=today), metadata=EXEC
    )
    rows = {
        (r.shop_code, r.channel): (r.paid.amount_minor, r.refunded.amount_minor, r.net.amount_minor)
        for r in sales.rows
    }
    assert rows == {
        ("tmall-flagship", pb.CHANNEL_TMALL): (28400, 1800, 26600),
        ("jd-store", pb.CHANNEL_JD): (9800, 0, 9800),
    }
    assert sales.total_net.amount_minor == 36400
    yesterday = (datetime.now(UTC).astimezone(BUSINESS_ZONE).date() - timedelta(days=1)).isoformat()
    empty = await orders_stub.GetNetSales(
        pb.GetNetSalesRequest(from_date=yesterday, to_date=yesterday), metadata=EXEC
    )
    assert list(empty.rows) == []
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await orders_stub.GetNetSales(
            pb.GetNetSalesRequest(from_date=today, to_date=yesterday), metadata=EXEC
        )
    assert "to_date" in field_violations(exc.value)


async def test_same_day_review_report_ord_6(orders_stub, orders_service, inventory_stub):
    """ORD-6: orders paid before 17:00 are reviewed the same day; one paid at or after 17:00 is due the next
    day and appears in that day's report (the LOG-1 rollover); the report shows who made it."""
    await stock(inventory_stub, quantity=10)
    day = datetime.now(UTC).astimezone(BUSINESS_ZONE).date()
    eve = day - timedelta(days=1)
    early, late, after_cutoff, last_evening = [
        (await orders_stub.SubmitOrder(order_request(f"TM-{n}", quantity=1), metadata=SHOP)).order.order_id
        for n in ("E", "L", "A", "Y")
    ]
    moments = {
        early: datetime(day.year, day.month, day.day, 9, 0, tzinfo=BUSINESS_ZONE),
        late: datetime(day.year, day.month, day.day, 16, 59, tzinfo=BUSINESS_ZONE),
        after_cutoff: datetime(day.year, day.month, day.day, 17, 0, tzinfo=BUSINESS_ZONE),
        last_evening: datetime(eve.year, eve.month, eve.day, 17, 0, tzinfo=BUSINESS_ZONE),
    }
    async with orders_service.database.transaction() as conn:
        for order_id, at in moments.items():
            await conn.execute(orders.update().where(orders.c.order_id == order_id).values(paid_at=at))
    await orders_stub.ReviewOrders(pb.ReviewOrdersRequest(order_ids=[early]), metadata=LEAD)
    report = await orders_stub.SameDayReviewReport(
        pb.SameDayReviewReportRequest(business_date=day.isoformat()), metadata=LEAD
    )
    assert (report.due, report.reviewed_same_day) == (3, 1)
    assert {line.order_id: line.reviewed_same_day for line in report.lines} == {
        early: True, late: False, last_evening: False,
    }  # fmt: skip
    tomorrow = await orders_stub.SameDayReviewReport(
        pb.SameDayReviewReportRequest(business_date=(day + timedelta(days=1)).isoformat()), metadata=LEAD
    )
    assert [line.order_id for line in tomorrow.lines] == [after_cutoff]
