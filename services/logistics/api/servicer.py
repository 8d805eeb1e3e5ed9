"""LogisticsService: translates protobuf requests into the logistics domain and its store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shop.logistics.v1 import logistics_pb2 as pb
from shop.logistics.v1 import logistics_pb2_grpc as pb_grpc

from libs import identity
from libs.db import Database
from libs.errors import InvalidArgument, Violations
from libs.money import fen, money
from libs.timestamps import to_timestamp
from services.logistics.api.documents import DocumentsApi
from services.logistics.api.exchanges import ExchangesApi
from services.logistics.api.reports import ReportsApi
from services.logistics.api.schedules import SchedulesApi
from services.logistics.api.stations import StationsApi
from services.logistics.api.tracking import TrackingApi
from services.logistics.api.waves import WavesApi
from services.logistics.domain.carriers import (
    Carrier,
    ZonePrice,
    choose_carrier,
    freight_fen,
    promised_days,
)
from services.logistics.store import carriers
from services.logistics.workflows.wave_close import WaveClosing

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["LogisticsService"].full_name
DEFAULT_FIRST_WEIGHT_GRAMS = 1000


def carrier_from_pb(value: pb.Carrier) -> Carrier:
    """A carrier's terms as the request states them; every offending field is named (``carrier.zones[i]...``)."""
    v = Violations()
    zones: dict[str, int] = {}
    service_days: dict[int, int] = {}
    prices: dict[int, ZonePrice] = {}
    v.require(bool(value.zones), "carrier.zones", "list at least one zone")
    for i, zone in enumerate(value.zones):
        path = f"carrier.zones[{i}]"
        v.require(zone.zone >= 1, f"{path}.zone", "is 1 or more")
        v.require(zone.zone not in service_days, f"{path}.zone", f"zone {zone.zone} is listed twice")
        v.require(zone.promised_days >= 1, f"{path}.promised_days", "is 1 or more days")
        v.require(zone.first_weight_grams >= 0, f"{path}.first_weight_grams", "is 0 (1,000 g) or more grams")
        v.require(bool(zone.provinces), f"{path}.provinces", "list at least one province")
        # A price left out is a gap in the table, not free shipping.
        for price in ("first_weight_price", "additional_kg_price"):
            v.require(
                zone.HasField(price), f"{path}.{price}", "is required: the table has no gap, 0 means free"
            )
        first, additional = (
            fen(zone.first_weight_price, f"{path}.first_weight_price"),
            fen(zone.additional_kg_price, f"{path}.additional_kg_price"),
        )
        v.require(first >= 0, f"{path}.first_weight_price", "must be 0 or more fen")
        v.require(additional >= 0, f"{path}.additional_kg_price", "must be 0 or more fen")
        for j, province in enumerate(zone.provinces):
            name = province.strip()
            v.require(bool(name), f"{path}.provinces[{j}]", "must not be empty")
            v.require(name not in zones, f"{path}.provinces[{j}]", f"{name!r} is in another zone already")
            zones[name] = zone.zone
        service_days[zone.zone] = zone.promised_days
        prices[zone.zone] = ZonePrice(
            max(first, 0), max(additional, 0), zone.first_weight_grams or DEFAULT_FIRST_WEIGHT_GRAMS
        )
    code = value.carrier_code.strip()
    v.require(bool(code) and code == code.lower() and code.isalnum(), "carrier.carrier_code",
              "is required: lower-case letters and digits, e.g. sf")  # fmt: skip
    v.require(bool(value.name.strip()), "carrier.name", "is required")
    v.raise_if_any()
    return Carrier(code, value.name.strip(), set(zones), zones, service_days, prices)


def carrier_to_pb(carrier: Carrier, updated_at: datetime) -> pb.Carrier:
    """A carrier's terms as the contract shows them, zone by zone."""
    return pb.Carrier(
        carrier_code=carrier.code,
        name=carrier.name,
        zones=[
            pb.CarrierZone(
                zone=zone,
                provinces=sorted(p for p, z in carrier.zones.items() if z == zone),
                promised_days=carrier.service_days[zone],
                first_weight_price=money(price.first_weight_fen),
                first_weight_grams=price.first_weight_grams,
                additional_kg_price=money(price.additional_kg_fen),
            )
            for zone, price in sorted(carrier.prices.items())
        ],
        updated_at=to_timestamp(updated_at),
    )


class LogisticsServicer(  # type: ignore[misc]
    WavesApi,
    StationsApi,
    DocumentsApi,
    TrackingApi,
    ExchangesApi,
    SchedulesApi,
    ReportsApi,
    pb_grpc.LogisticsServiceServicer,
):
    def __init__(self, database: Database, closing: WaveClosing) -> None:
        self.db = database
        self.closing = closing
        self.inventory = closing.inventory

    async def PutCarrier(self, request: pb.PutCarrierRequest, context: Any) -> pb.PutCarrierResponse:
        carrier = carrier_from_pb(request.carrier)
        at = datetime.now(UTC)
        async with self.db.transaction() as conn:
            await carriers.put(conn, carrier, actor=identity.current().subject, at=at)
        return pb.PutCarrierResponse(carrier=carrier_to_pb(carrier, at))

    async def ListCarriers(self, request: pb.ListCarriersRequest, context: Any) -> pb.ListCarriersResponse:
        async with self.db.connection() as conn:
            found = await carriers.all_carriers(conn)
        return pb.ListCarriersResponse(carriers=[carrier_to_pb(c, at) for c, at in found])

    async def QuoteFreight(self, request: pb.QuoteFreightRequest, context: Any) -> pb.QuoteFreightResponse:
        if request.weight_grams < 1:
            raise InvalidArgument.for_field("weight_grams", "is 1 gram or more")
        async with self.db.connection() as conn:
            known = [c for c, _ in await carriers.all_carriers(conn)]
        carrier = choose_carrier(known, request.province.strip(), request.carrier_code.strip() or None)
        province = request.province.strip()
        return pb.QuoteFreightResponse(
            carrier_code=carrier.code,
            zone=carrier.zone_of(province),
            promised_days=promised_days(carrier, province),
            freight=money(freight_fen(carrier, province, request.weight_grams)),
        )
