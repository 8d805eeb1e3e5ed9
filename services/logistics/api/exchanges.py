"""Exchange shipments (换货, LOG-8): replacement goods that ship only after the logistics clerk signs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shop.logistics.v1 import logistics_pb2 as pb

from libs import identity
from libs.db import Database
from libs.telemetry import set_attributes
from services.logistics.api.convert import shipment_to_pb
from services.logistics.clients.inventory import InventoryClient
from services.logistics.domain.shipments import Address, exchange_shipment
from services.logistics.store import carriers, shipments, waves

#: Exchange ids follow from the caller's request id, so a retry reserves and creates nothing new.
_EXCHANGE_IDS = uuid.UUID("1b7e5c0a-4a0f-4b8e-9d55-6a4f3c2e8b17")
#: Reserving stock for a replacement is the warehouse's own act, whoever in after-sales asked for it.
WAREHOUSE = ["stock_keeper"]


def exchange_id_for(subject: str, request_id: str) -> str:
    """``EX-`` and 12 hex digits: from the request id when there is one, else new."""
    base = uuid.uuid5(_EXCHANGE_IDS, f"{subject}/{request_id}") if request_id else uuid.uuid4()
    return f"EX-{base.hex[:12].upper()}"


class ExchangesApi:
    db: Database
    inventory: InventoryClient

    async def CreateExchangeShipment(
        self, request: pb.CreateExchangeShipmentRequest, context: Any
    ) -> pb.CreateExchangeShipmentResponse:
        caller = identity.current()
        a = request.address
        at = datetime.now(UTC)
        async with self.db.connection() as conn:
            known = [c for c, _ in await carriers.all_carriers(conn)]
        new = exchange_shipment(
            exchange_id_for(caller.subject, request.request_id.strip()),
            original_order_id=request.original_order_id,
            shop_code=request.shop_code,
            address=Address(a.recipient.strip(), a.phone.strip(), a.province.strip(), a.city.strip(),
                            a.district.strip(), a.street.strip()),
            lines=[(line.sku_code, line.quantity) for line in request.lines],
            carrier_code=request.carrier_code,
            reason=request.reason,
            carriers=known,
            at=at,
        )  # fmt: skip
        set_attributes(order_id=new.order.order_id)
        # The goods are reserved first (idempotent by the exchange's id), so a shipment never waits for
        # stock that is not there; a refusal names the short line and nothing is written here.
        await self.inventory.reserve(
            new.order.order_id,
            new.order.shop_code,
            new.lines,
            caller=identity.service_identity("logistics", WAREHOUSE),
        )
        async with self.db.transaction() as conn:
            wave_id = await waves.join(conn, waves.DEFAULT_WAREHOUSE, at)
            await shipments.add(conn, shipments.NewShipments.of([new], wave_id))
            created = await shipments.get(conn, new.shipment_id)
        return pb.CreateExchangeShipmentResponse(shipment=shipment_to_pb(created))

    async def SignExchangeShipment(
        self, request: pb.SignExchangeShipmentRequest, context: Any
    ) -> pb.SignExchangeShipmentResponse:
        caller = identity.current()
        async with self.db.transaction() as conn:
            signed = await shipments.sign(
                conn, request.shipment_id.strip(), actor=caller.subject, at=datetime.now(UTC)
            )
        return pb.SignExchangeShipmentResponse(shipment=shipment_to_pb(signed))
