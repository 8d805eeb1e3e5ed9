"""The monthly freight report by carrier (LOG-7)."""

from __future__ import annotations

from typing import Any

from shop.logistics.v1 import logistics_pb2 as pb

from libs.business_time import parse_business_month
from libs.db import Database
from libs.money import money
from services.logistics.store import freight


class ReportsApi:
    db: Database

    async def GetFreightReport(
        self, request: pb.GetFreightReportRequest, context: Any
    ) -> pb.GetFreightReportResponse:
        year, month = parse_business_month(request.month, "month")
        async with self.db.connection() as conn:
            found = await freight.by_carrier(conn, year, month)
        return pb.GetFreightReportResponse(
            month=f"{year:04d}-{month:02d}",
            carriers=[_carrier_month(c) for c in found],
            total_freight=money(sum(c.freight_fen for c in found)),
            total_saved=money(sum(c.saved_fen for c in found)),
        )


def _carrier_month(c: freight.CarrierMonth) -> pb.CarrierFreight:
    return pb.CarrierFreight(
        carrier_code=c.carrier_code,
        parcels=c.parcels,
        weight_grams=c.weight_grams,
        freight=money(c.freight_fen),
        freight_saved=money(c.saved_fen),
        merged_parcels=c.merged_parcels,
    )
