"""The logistics clerk's office over the real services: wave schedules as data (LOG-1), exchange
shipments that wait for the clerk's signature (LOG-8), and the monthly freight report (LOG-7)."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from shop.inventory.v1 import inventory_pb2 as inv
from shop.logistics.v1 import logistics_pb2 as lg

from libs.business_time import BUSINESS_ZONE
from services.logistics.store import waves
from tests.conftest import auth
from tests.integration.test_inventory_stock_flow import KEEPER, stock
from tests.integration.test_logistics_floor import CLERK, PACKER, SKU, VERIFIER, carriers, code_of
from tests.integration.test_orders_flow import ADDRESS

AFTER_SALES = auth("after_sales", "as-1")
LEAD = auth("supervisor", "lead-1")


def local(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BUSINESS_ZONE)


async def test_cut_offs_are_data_per_warehouse_with_promotion_days_to_the_second_log_1(
    logistics_stub, logistics
):
    """LOG-1: a warehouse's cut-offs and a promotion day's own are set as data; an order released strictly
    before a cut-off joins it, one at the cut-off or after the last joins the next day's first wave under
    that day's schedule — across midnight too."""
    schedule = lg.WaveSchedule(
        warehouse_code="MAIN",
        cutoffs=["11:00", "18:00"],
        overrides=[lg.DaySchedule(date="2026-12-12", cutoffs=["09:00", "13:00", "20:00"])],
    )
    await logistics_stub.PutWaveSchedule(lg.PutWaveScheduleRequest(schedule=schedule), metadata=CLERK)
    got = await logistics_stub.GetWaveSchedule(
        lg.GetWaveScheduleRequest(warehouse_code="MAIN"), metadata=CLERK
    )
    assert got.schedule == schedule
    cases = {
        local(2026, 12, 11, 10, 59, 59): "MAIN-20261211-1100",
        local(2026, 12, 11, 11, 0, 0): "MAIN-20261211-1800",
        local(2026, 12, 11, 17, 59, 59): "MAIN-20261211-1800",
        local(2026, 12, 11, 18, 0, 0): "MAIN-20261212-0900",  # the promotion day's first wave
        local(2026, 12, 11, 23, 59, 59): "MAIN-20261212-0900",
        local(2026, 12, 12, 0, 0, 0): "MAIN-20261212-0900",
        local(2026, 12, 12, 19, 59, 59): "MAIN-20261212-2000",
        local(2026, 12, 12, 20, 0, 0): "MAIN-20261213-1100",
    }
    async with logistics.database.transaction() as conn:
        joined = {at: await waves.join(conn, "MAIN", at.astimezone(UTC)) for at in cases}
    assert joined == cases

    # A schedule change: waves made already keep their cut-off; new releases follow the new cut-offs.
    changed = lg.WaveSchedule(warehouse_code="MAIN", cutoffs=["10:00", "16:00"])
    await logistics_stub.PutWaveSchedule(lg.PutWaveScheduleRequest(schedule=changed), metadata=CLERK)
    async with logistics.database.transaction() as conn:
        kept = await waves.get(conn, "MAIN-20261211-1100")
        after = {
            at: await waves.join(conn, "MAIN", at.astimezone(UTC))
            for at in (
                local(2026, 12, 11, 9, 59, 59),
                local(2026, 12, 11, 10, 0, 0),
                local(2026, 12, 11, 16, 0, 0),
            )
        }
    assert kept.cutoff_at == local(2026, 12, 11, 11, 0, 0)
    assert list(after.values()) == ["MAIN-20261211-1000", "MAIN-20261211-1600", "MAIN-20261212-1000"]
    await logistics_stub.PutWaveSchedule(lg.PutWaveScheduleRequest(schedule=schedule), metadata=CLERK)

    bad = lg.WaveSchedule(warehouse_code="MAIN", cutoffs=["12:00", "11:00"])
    with pytest.raises(grpc.aio.AioRpcError) as unsorted:
        await logistics_stub.PutWaveSchedule(lg.PutWaveScheduleRequest(schedule=bad), metadata=CLERK)
    assert (
        code_of(unsorted)[0] == grpc.StatusCode.INVALID_ARGUMENT
        and "schedule.cutoffs[1]" in code_of(unsorted)[1]
    )
    with pytest.raises(grpc.aio.AioRpcError) as not_a_time:
        await logistics_stub.PutWaveSchedule(
            lg.PutWaveScheduleRequest(schedule=lg.WaveSchedule(warehouse_code="MAIN", cutoffs=["25:00"])),
            metadata=CLERK,
        )
    assert "schedule.cutoffs[0]" in code_of(not_a_time)[1]
    unchanged = await logistics_stub.GetWaveSchedule(
        lg.GetWaveScheduleRequest(warehouse_code="MAIN"), metadata=CLERK
    )
    assert unchanged.schedule == schedule


def exchange_request(request_id: str, quantity: int = 1) -> lg.CreateExchangeShipmentRequest:
    return lg.CreateExchangeShipmentRequest(
        request_id=request_id,
        original_order_id="order-77",
        shop_code="tmall-flagship",
        address=lg.Address(
            recipient=ADDRESS.recipient, phone=ADDRESS.phone, province=ADDRESS.province, city=ADDRESS.city,
            district=ADDRESS.district, street=ADDRESS.street,
        ),
        lines=[lg.ShipmentLine(sku_code=SKU, quantity=quantity)],
        reason="RMA-1: wrong size",
    )  # fmt: skip


async def test_an_exchange_shipment_ships_only_after_the_clerk_signs_and_freight_is_reported_log_8_log_7(
    logistics_stub, logistics, inventory_stub
):
    """LOG-8: after-sales creates an exchange shipment (its goods reserved at once); it is picked, verified
    and packed like any parcel, but dispatch waits for the logistics clerk's signature. LOG-7: the month's
    freight report shows the parcel under its carrier."""
    await carriers(logistics_stub)
    await stock(inventory_stub, quantity=2)
    with pytest.raises(grpc.aio.AioRpcError) as short:
        await logistics_stub.CreateExchangeShipment(
            exchange_request("ex-short", quantity=5), metadata=AFTER_SALES
        )
    assert code_of(short)[0] == grpc.StatusCode.FAILED_PRECONDITION
    created = (
        await logistics_stub.CreateExchangeShipment(exchange_request("ex-1"), metadata=AFTER_SALES)
    ).shipment
    again = (
        await logistics_stub.CreateExchangeShipment(exchange_request("ex-1"), metadata=AFTER_SALES)
    ).shipment
    assert again.shipment_id == created.shipment_id
    assert (created.exchange, created.signed_by, created.channel_order_id) == (True, "", "order-77")
    assert created.order_id.startswith("EX-")
    reservation = await inventory_stub.GetReservation(
        inv.GetReservationRequest(order_id=created.order_id), metadata=KEEPER
    )
    assert [(line.sku_code, line.quantity) for line in reservation.reservation.lines] == [(SKU, 1)]

    await logistics_stub.CloseWave(lg.CloseWaveRequest(wave_id=created.wave_id), metadata=CLERK)
    (parcel,) = (
        await logistics_stub.GetWave(lg.GetWaveRequest(wave_id=created.wave_id), metadata=CLERK)
    ).parcels
    await logistics_stub.StartVerification(
        lg.StartVerificationRequest(label_barcode=parcel.parcel_id, packing_slip_barcode=parcel.parcel_id),
        metadata=VERIFIER,
    )
    await logistics_stub.ScanItem(
        lg.ScanItemRequest(parcel_id=parcel.parcel_id, barcode=SKU, request_id="ex-scan-1"), metadata=VERIFIER
    )
    await logistics_stub.PackParcel(
        lg.PackParcelRequest(parcel_id=parcel.parcel_id, weight_grams=800), metadata=PACKER
    )
    dispatch = lg.DispatchParcelRequest(parcel_id=parcel.parcel_id, tracking_number="SF7000000001")
    with pytest.raises(grpc.aio.AioRpcError) as unsigned:
        await logistics_stub.DispatchParcel(dispatch, metadata=CLERK)
    assert code_of(unsigned)[0] == grpc.StatusCode.FAILED_PRECONDITION and "signature" in code_of(unsigned)[1]
    with pytest.raises(grpc.aio.AioRpcError) as not_clerk:
        await logistics_stub.SignExchangeShipment(
            lg.SignExchangeShipmentRequest(shipment_id=created.shipment_id), metadata=AFTER_SALES
        )
    assert code_of(not_clerk)[0] == grpc.StatusCode.PERMISSION_DENIED
    signed = (
        await logistics_stub.SignExchangeShipment(
            lg.SignExchangeShipmentRequest(shipment_id=created.shipment_id), metadata=CLERK
        )
    ).shipment
    assert signed.signed_by == "clerk-1"
    sent = (await logistics_stub.DispatchParcel(dispatch, metadata=CLERK)).parcel
    assert sent.status == lg.PARCEL_STATUS_DISPATCHED

    month = sent.dispatched_at.ToDatetime(tzinfo=UTC).astimezone(BUSINESS_ZONE).strftime("%Y-%m")
    report = await logistics_stub.GetFreightReport(lg.GetFreightReportRequest(month=month), metadata=LEAD)
    assert [(c.carrier_code, c.parcels, c.weight_grams, c.freight.amount_minor) for c in report.carriers] == [
        ("sf", 1, 800, 1200)
    ]
    assert report.total_freight.amount_minor == 1200
    with pytest.raises(grpc.aio.AioRpcError) as bad_month:
        await logistics_stub.GetFreightReport(lg.GetFreightReportRequest(month="2026-13"), metadata=LEAD)
    assert code_of(bad_month)[0] == grpc.StatusCode.INVALID_ARGUMENT and "month" in code_of(bad_month)[1]
