"""The warehouse floor's stations: the scanning station (验货, LOG-3), the packing bench with its scale
(LOG-4), and the hand-over to the carrier (LOG-5)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from shop.logistics.v1 import events_pb2
from shop.logistics.v1 import logistics_pb2 as pb
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.db import Database
from libs.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument
from libs.outbox import publish
from libs.telemetry import set_attributes
from libs.timestamps import to_timestamp
from services.logistics.api.convert import lines_to_pb, parcel_to_pb
from services.logistics.clients.inventory import InventoryClient
from services.logistics.domain import packing, verification
from services.logistics.domain.carriers import Carrier, promised_days
from services.logistics.domain.shipments import ParcelStatus, ShipmentStatus
from services.logistics.domain.tracking import overdue_from
from services.logistics.store import carriers, parcels, shipments
from services.logistics.store.parcels import StoredParcel
from services.logistics.store.tables import kit
from services.logistics.store.tables import parcels as parcel_rows

_TRACKING_NUMBER = re.compile(r"^[A-Za-z0-9-]{6,40}$")
#: Where verification may start or go on; a packed or dispatched parcel is past the station.
_AT_STATION = frozenset({ParcelStatus.PICKING, ParcelStatus.VERIFYING, ParcelStatus.VERIFIED})


def _refused(parcel: StoredParcel, doing: str) -> DomainError:
    return FailedPrecondition.for_field(
        "parcel_id", f"parcel {parcel.parcel_id} is {parcel.status.value}: it cannot be {doing}",
        reason="PARCEL_STATE",
    )  # fmt: skip


def _missing(v: verification.Verification) -> list[pb.ShipmentLine]:
    return lines_to_pb([(d.sku_code, d.missing) for d in v.difference() if d.missing > 0])


def _verification(parcel: StoredParcel) -> verification.Verification:
    return verification.Verification(parcel.parcel_id, parcel.expected(), parcel.scanned)


async def _carrier(conn: AsyncConnection, code: str) -> Carrier:
    for carrier, _ in await carriers.all_carriers(conn):
        if carrier.code == code:
            return carrier
    raise FailedPrecondition.for_field(
        "parcel_id", f"carrier {code!r} is no longer configured", reason="NO_CARRIER"
    )


class StationsApi:
    db: Database
    inventory: InventoryClient

    async def StartVerification(
        self, request: pb.StartVerificationRequest, context: Any
    ) -> pb.StartVerificationResponse:
        caller = identity.current()
        label = request.label_barcode.strip()
        if not label:
            raise InvalidArgument.for_field("label_barcode", "scan the parcel's label")
        async with self.db.transaction() as conn:
            parcel = await parcels.get(conn, label, lock=True, field_path="label_barcode")
            set_attributes(parcel_id=parcel.parcel_id, wave_id=parcel.wave_id)
            verification.check_documents(parcel.parcel_id, label, request.packing_slip_barcode)
            if parcel.status not in _AT_STATION:
                raise _refused(parcel, "verified again")
            if parcel.status is ParcelStatus.PICKING:
                await parcels.update(
                    conn, parcel.parcel_id, status=ParcelStatus.VERIFYING.value, verified_by=caller.subject
                )
                parcel = await parcels.get(conn, parcel.parcel_id)
        return pb.StartVerificationResponse(
            parcel=parcel_to_pb(parcel), missing=_missing(_verification(parcel))
        )

    async def ScanItem(self, request: pb.ScanItemRequest, context: Any) -> pb.ScanItemResponse:
        caller = identity.current()
        if not request.request_id.strip():
            raise InvalidArgument.for_field(
                "request_id", "name each scan, so that a retried scan counts once"
            )
        set_attributes(parcel_id=request.parcel_id)
        try:
            return await self._scan(request, caller)
        except InvalidArgument as unknown:
            if unknown.reason != verification.UNKNOWN_BARCODE:
                raise
            # Not one of the parcel's items: if the catalogue knows it, it is a wrong item, refused with the
            # difference (LOG-3); asked after the transaction, so no row stays locked meanwhile.
            known = await self.inventory.known_skus(verification.skus_named_by(request.barcode))
            if not known:
                raise
            async with self.db.connection() as conn:
                parcel = await parcels.get(conn, request.parcel_id.strip())
            _verification(parcel).scan(request.barcode, known_skus=known)
            raise  # the scan above refuses: the parcel does not hold that SKU

    async def _scan(self, request: pb.ScanItemRequest, caller: identity.Identity) -> pb.ScanItemResponse:
        async with self.db.transaction() as conn:
            parcel = await parcels.get(conn, request.parcel_id.strip(), lock=True)
            if parcel.status not in (ParcelStatus.VERIFYING, ParcelStatus.VERIFIED):
                if parcel.status is ParcelStatus.PICKING:
                    raise FailedPrecondition.for_field(
                        "parcel_id", "scan the label and the packing slip first (StartVerification)",
                        reason="NOT_STARTED",
                    )  # fmt: skip
                raise _refused(parcel, "scanned")
            check = _verification(parcel)
            outcome = check.scan(request.barcode, known_skus=set(parcel.expected()))
            await parcels.count_scan(conn, parcel.parcel_id, outcome.sku_code)
            if outcome.verified:
                await parcels.update(
                    conn, parcel.parcel_id, status=ParcelStatus.VERIFIED.value, verified_by=caller.subject,
                    verified_at=datetime.now(UTC),
                )  # fmt: skip
            parcel = await parcels.get(conn, parcel.parcel_id)
        return pb.ScanItemResponse(
            parcel=parcel_to_pb(parcel), sku_code=outcome.sku_code, missing=_missing(_verification(parcel))
        )

    async def PackParcel(self, request: pb.PackParcelRequest, context: Any) -> pb.PackParcelResponse:
        caller = identity.current()
        weight = packing.checked_weight(request.weight_grams)
        set_attributes(parcel_id=request.parcel_id)
        async with self.db.transaction() as conn:
            parcel = await parcels.get(conn, request.parcel_id.strip(), lock=True)
            if parcel.status not in (ParcelStatus.VERIFYING, ParcelStatus.VERIFIED, ParcelStatus.PACKED):
                raise _refused(parcel, "packed")
            _verification(parcel).require_verified()  # LOG-3: only a verified parcel is packed
            carrier = await _carrier(conn, parcel.carrier_code)
            province = parcel.shipping[0].address.province
            packed = packing.pack(carrier, province, weight)
            await parcels.update(
                conn, parcel.parcel_id, status=ParcelStatus.PACKED.value, weight_grams=weight, zone=packed.zone,
                freight_fen=packed.freight_fen, freight_saved_fen=_saved(carrier, province, weight, parcel),
                packed_by=caller.subject, packed_at=datetime.now(UTC),
            )  # fmt: skip
            parcel = await parcels.get(conn, parcel.parcel_id)
        return pb.PackParcelResponse(parcel=parcel_to_pb(parcel))

    async def DispatchParcel(
        self, request: pb.DispatchParcelRequest, context: Any
    ) -> pb.DispatchParcelResponse:
        caller = identity.current()
        tracking = request.tracking_number.strip()
        if not _TRACKING_NUMBER.match(tracking):
            raise InvalidArgument.for_field(
                "tracking_number", "is 6 to 40 letters, digits or '-', as on the waybill"
            )
        set_attributes(parcel_id=request.parcel_id)
        async with self.db.transaction() as conn:
            parcel = await parcels.get(conn, request.parcel_id.strip(), lock=True)
            if parcel.status is ParcelStatus.DISPATCHED:
                if parcel.tracking_number != tracking:
                    raise AlreadyExists.for_field(
                        "tracking_number",
                        f"parcel {parcel.parcel_id} left already with tracking number {parcel.tracking_number}",
                        reason="DISPATCHED_ALREADY",
                    )
                return pb.DispatchParcelResponse(parcel=parcel_to_pb(parcel))  # the same hand-over again
            if parcel.status is not ParcelStatus.PACKED:
                raise _refused(parcel, "dispatched before it is packed and weighed")
            taken = (
                await conn.execute(
                    sa.select(parcel_rows.c.parcel_id).where(parcel_rows.c.tracking_number == tracking)
                )
            ).first()
            if taken is not None:
                raise AlreadyExists.for_field(
                    "tracking_number",
                    f"is the tracking number of parcel {taken.parcel_id}",
                    reason="TRACKING_NUMBER_USED",
                )
            _require_signed(parcel)
            at = datetime.now(UTC)
            carrier = await _carrier(conn, parcel.carrier_code)
            days = promised_days(carrier, parcel.shipping[0].address.province)
            await parcels.update(
                conn, parcel.parcel_id, status=ParcelStatus.DISPATCHED.value, tracking_number=tracking,
                dispatched_by=caller.subject, dispatched_at=at,
                promised_by=overdue_from(at, days),  # LOG-6: past this the sweeper opens a delayed case
            )  # fmt: skip
            parcel = await parcels.get(conn, parcel.parcel_id)
            await publish(conn, kit.outbox, parcel.parcel_id, await _dispatched(conn, parcel))
        return pb.DispatchParcelResponse(parcel=parcel_to_pb(parcel))


def _require_signed(parcel: StoredParcel) -> None:
    """LOG-8: an exchange shipment (换货) leaves only once the logistics clerk signed it."""
    unsigned = [s.shipment_id for s in parcel.shipping if s.exchange and not s.signed_by]
    if unsigned:
        raise FailedPrecondition.for_field(
            "parcel_id",
            f"exchange shipment {unsigned[0]} waits for the logistics clerk's signature",
            reason="EXCHANGE_NOT_SIGNED",
        )


def _saved(carrier: Carrier, province: str, weight: int, parcel: StoredParcel) -> int:
    """合单: what shipping each order alone would have cost more, sharing the weight by units."""
    units = [sum(q for _, q in s.lines) for s in parcel.shipping]
    if len(units) < 2:
        return 0
    total = sum(units)
    shares = [max(1, weight * u // total) for u in units]
    return packing.freight_saved(carrier, province, weight, shares)


async def _dispatched(conn: AsyncConnection, parcel: StoredParcel) -> events_pb2.ParcelDispatched:
    """LOG-5's fact: the parcel, its tracking number, and per shipment the lots it was picked from and
    whether its order has now left entirely."""
    assert parcel.dispatched_at is not None
    out = []
    for s in parcel.shipping:
        siblings = [
            x for x in await shipments.of_order(conn, s.order_id) if x.status is not ShipmentStatus.WITHDRAWN
        ]
        status_of = await parcels.statuses(conn, [x.parcel_id for x in siblings if x.parcel_id])
        out.append(
            events_pb2.ParcelDispatched.Shipment(
                shipment_id=s.shipment_id,
                order_id=s.order_id,
                lots=[
                    events_pb2.ParcelDispatched.Lot(
                        sku_code=p.sku_code, lot_id=p.lot_id, bin_code=p.bin_code, quantity=p.quantity
                    )
                    for p in s.picked
                ],
                order_dispatched=all(status_of.get(x.parcel_id) is ParcelStatus.DISPATCHED for x in siblings),
            )
        )
    return events_pb2.ParcelDispatched(
        parcel_id=parcel.parcel_id,
        wave_id=parcel.wave_id,
        carrier_code=parcel.carrier_code,
        tracking_number=parcel.tracking_number,
        dispatched_at=to_timestamp(parcel.dispatched_at),
        shipments=out,
        dispatched_by=parcel.dispatched_by,
    )
