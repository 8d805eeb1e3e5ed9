"""Every protobuf enum of the logistics contract and the domain enum it carries, paired once (``EnumCodec``
refuses at import when they differ)."""

from __future__ import annotations

from shop.logistics.v1 import logistics_pb2 as pb

from libs.enums import EnumCodec
from services.logistics.domain.shipments import ParcelStatus, ShipmentStatus
from services.logistics.domain.tracking import ContactChannel, ExceptionKind, Resolution, TrackingState
from services.logistics.store.waves import WaveStatus

SHIPMENT_STATUS = EnumCodec(pb.ShipmentStatus, ShipmentStatus)
PARCEL_STATUS = EnumCodec(pb.ParcelStatus, ParcelStatus)
WAVE_STATUS = EnumCodec(pb.WaveStatus, WaveStatus)
TRACKING_STATE = EnumCodec(pb.TrackingState, TrackingState)
EXCEPTION_KIND = EnumCodec(pb.ExceptionKind, ExceptionKind)
RESOLUTION = EnumCodec(pb.Resolution, Resolution)
CONTACT_CHANNEL = EnumCodec(pb.ContactChannel, ContactChannel)
