"""Logistics domain and store values as the contract shows them."""

from __future__ import annotations

from shop.logistics.v1 import logistics_pb2 as pb

from libs.money import money
from libs.timestamps import to_timestamp
from services.logistics.api.enums import PARCEL_STATUS, SHIPMENT_STATUS, TRACKING_STATE, WAVE_STATUS
from services.logistics.domain.shipments import Address
from services.logistics.domain.tracking import TrackingState
from services.logistics.store.parcels import StoredParcel
from services.logistics.store.shipments import StoredShipment
from services.logistics.store.waves import Wave


def address_to_pb(a: Address) -> pb.Address:
    return pb.Address(
        recipient=a.recipient,
        phone=a.phone,
        province=a.province,
        city=a.city,
        district=a.district,
        street=a.street,
    )


def lines_to_pb(lines: tuple[tuple[str, int], ...] | list[tuple[str, int]]) -> list[pb.ShipmentLine]:
    return [pb.ShipmentLine(sku_code=sku, quantity=units) for sku, units in lines]


def shipment_to_pb(s: StoredShipment) -> pb.Shipment:
    return pb.Shipment(
        shipment_id=s.shipment_id,
        order_id=s.order_id,
        shipment_no=s.shipment_no,
        channel=s.channel,
        channel_order_id=s.channel_order_id,
        shop_code=s.shop_code,
        address=address_to_pb(s.address),
        lines=lines_to_pb(s.lines),
        carrier_code=s.carrier_code,
        wave_id=s.wave_id,
        parcel_id=s.parcel_id,
        status=SHIPMENT_STATUS.to_pb(s.status),
        hold_reason=s.hold_reason,
        released_at=to_timestamp(s.released_at),
        tracking_number=s.tracking_number,
        notes=s.notes,
        exchange=s.exchange,
        signed_by=s.signed_by,
        picked=[
            pb.PickedLot(
                sku_code=p.sku_code,
                lot_id=p.lot_id,
                lot_label=p.lot_label,
                bin_code=p.bin_code,
                quantity=p.quantity,
            )
            for p in s.picked
        ],
    )


def parcel_to_pb(p: StoredParcel) -> pb.Parcel:
    shipping = p.shipping or p.shipments
    return pb.Parcel(
        parcel_id=p.parcel_id,
        wave_id=p.wave_id,
        print_seq=p.print_seq,
        carrier_code=p.carrier_code,
        address=address_to_pb(shipping[0].address) if shipping else None,
        shop_code=p.shop_code,
        shipments=[shipment_to_pb(s) for s in p.shipments],
        status=PARCEL_STATUS.to_pb(p.status),
        scanned=lines_to_pb(sorted(p.scanned.items())),
        weight_grams=p.weight_grams,
        zone=p.zone,
        freight=money(p.freight_fen),
        freight_saved=money(p.freight_saved_fen),
        tracking_number=p.tracking_number,
        dispatched_at=to_timestamp(p.dispatched_at) if p.dispatched_at else None,
        tracking_state=TRACKING_STATE.to_pb_or_unspecified(
            TrackingState(p.tracking_state) if p.tracking_state else None
        ),
        promised_by=to_timestamp(p.promised_by) if p.promised_by else None,
    )


def wave_to_pb(w: Wave) -> pb.Wave:
    return pb.Wave(
        wave_id=w.wave_id,
        warehouse_code=w.warehouse_code,
        business_date=w.slot.day.isoformat(),
        cutoff_at=to_timestamp(w.cutoff_at),
        status=WAVE_STATUS.to_pb(w.status),
        shipments=w.shipments,
        parcels=w.parcels,
        closed_at=to_timestamp(w.closed_at) if w.closed_at else None,
        closed_by=w.closed_by,
    )
