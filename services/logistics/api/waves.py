"""Shipments, waves and pick lists (LOG-1, LOG-2) and the withdrawal of a cancelled order (ORD-5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shop.logistics.v1 import logistics_pb2 as pb

from libs import identity
from libs.business_time import BUSINESS_ZONE, parse_business_date
from libs.db import Database
from libs.errors import InvalidArgument
from libs.telemetry import set_attributes
from services.logistics.api.convert import parcel_to_pb, shipment_to_pb, wave_to_pb
from services.logistics.store import parcels, pick_list, shipments, waves
from services.logistics.workflows.wave_close import WaveClosing


class WavesApi:
    db: Database
    closing: WaveClosing

    async def GetShipment(self, request: pb.GetShipmentRequest, context: Any) -> pb.GetShipmentResponse:
        async with self.db.connection() as conn:
            found = await shipments.get(conn, request.shipment_id.strip())
        return pb.GetShipmentResponse(shipment=shipment_to_pb(found))

    async def FindShipments(self, request: pb.FindShipmentsRequest, context: Any) -> pb.FindShipmentsResponse:
        order_id, tracking = request.order_id.strip(), request.tracking_number.strip()
        channel, channel_order_id = request.channel.strip(), request.channel_order_id.strip()
        given = [name for name, value in (
            ("order_id", order_id), ("channel_order_id", channel_order_id), ("tracking_number", tracking)
        ) if value]  # fmt: skip
        if len(given) != 1:
            raise InvalidArgument.for_field(
                "order_id", "give exactly one of order_id, channel_order_id (with channel) or tracking_number"
            )
        if channel_order_id and not channel:
            raise InvalidArgument.for_field("channel", "is required with channel_order_id, e.g. tmall")
        async with self.db.connection() as conn:
            if order_id:
                found = await shipments.of_order(conn, order_id)
            elif tracking:
                found = await shipments.of_tracking_number(conn, tracking)
            else:
                found = await shipments.of_channel_order(conn, channel, channel_order_id)
        return pb.FindShipmentsResponse(shipments=[shipment_to_pb(s) for s in found])

    async def WithdrawOrder(self, request: pb.WithdrawOrderRequest, context: Any) -> pb.WithdrawOrderResponse:
        caller = identity.current()
        order_id = request.order_id.strip()
        if not order_id:
            raise InvalidArgument.for_field("order_id", "is required")
        if not request.reason.strip():
            raise InvalidArgument.for_field("reason", "say why the order is withdrawn")
        set_attributes(order_id=order_id)
        async with self.db.transaction() as conn:
            withdrawn = await shipments.withdraw(
                conn, order_id, request.reason.strip()[:500], actor=caller.subject, at=datetime.now(UTC)
            )
        return pb.WithdrawOrderResponse(order_id=order_id, withdrawn_shipment_ids=withdrawn)

    async def ListWaves(self, request: pb.ListWavesRequest, context: Any) -> pb.ListWavesResponse:
        day = (
            parse_business_date(request.business_date, "business_date")
            if request.business_date.strip()
            else datetime.now(BUSINESS_ZONE).date()
        )
        async with self.db.connection() as conn:
            found = await waves.of_day(conn, request.warehouse_code.strip() or waves.DEFAULT_WAREHOUSE, day)
        return pb.ListWavesResponse(waves=[wave_to_pb(w) for w in found])

    async def GetWave(self, request: pb.GetWaveRequest, context: Any) -> pb.GetWaveResponse:
        set_attributes(wave_id=request.wave_id)
        async with self.db.connection() as conn:
            wave = await waves.get(conn, request.wave_id)
            packed = await parcels.of_wave(conn, wave.wave_id)
            outside = [s for s in await shipments.of_wave(conn, wave.wave_id) if not s.parcel_id]
        return pb.GetWaveResponse(
            wave=wave_to_pb(wave),
            parcels=[parcel_to_pb(p) for p in packed],
            unparcelled=[shipment_to_pb(s) for s in outside],
        )

    async def CloseWave(self, request: pb.CloseWaveRequest, context: Any) -> pb.CloseWaveResponse:
        caller = identity.current()
        async with self.db.connection() as conn:
            await waves.get(conn, request.wave_id)  # NotFound before anything else
        wave = await self.closing.close(request.wave_id, actor=caller.subject, caller=caller)
        return pb.CloseWaveResponse(wave=wave_to_pb(wave))

    async def GetPickList(self, request: pb.GetPickListRequest, context: Any) -> pb.GetPickListResponse:
        set_attributes(wave_id=request.wave_id)
        async with self.db.connection() as conn:
            wave = await waves.get(conn, request.wave_id)
            waves.require_closed(wave)
            rows = await pick_list.walk(conn, wave.wave_id)
            sorting = await pick_list.sort_list(conn, wave.wave_id)
        reply = pb.GetPickListResponse(
            wave=wave_to_pb(wave),
            lines=[
                pb.PickListLine(
                    bin_code=r.bin_code, sku_code=r.sku_code, lot_label=r.lot_label, quantity=r.quantity
                )
                for r in rows
            ],
            totals=[
                pb.PickListTotal(sku_code=sku, quantity=units) for sku, units in pick_list.sku_totals(rows)
            ],
        )
        # Built in place (``add``): a message made apart is copied into the list, five times the cost for a
        # wave's thousands of parcels.
        entries = reply.sort_list
        for e in sorting:
            entry = entries.add(
                print_seq=e.print_seq,
                parcel_id=e.parcel_id,
                order_ids=e.order_ids,
                carrier_code=e.carrier_code,
            )
            for sku, units in e.lines:
                entry.lines.add(sku_code=sku, quantity=units)
        return reply

    async def GetParcel(self, request: pb.GetParcelRequest, context: Any) -> pb.GetParcelResponse:
        set_attributes(parcel_id=request.parcel_id)
        async with self.db.connection() as conn:
            found = await parcels.get(conn, request.parcel_id.strip())
        return pb.GetParcelResponse(parcel=parcel_to_pb(found))
