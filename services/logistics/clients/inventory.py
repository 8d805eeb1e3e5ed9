"""The inventory service as the logistics service sees it: the lots each shipment is picked from, an
exchange's reservation, and which barcodes name SKUs of the catalogue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc

from libs import config, identity
from libs.errors import NotFound
from libs.grpc_client import call, open_channel
from services.logistics.domain.shipments import ShipmentToPick
from services.logistics.store.parcels import Picks

#: Shipments per allocation call: the inventory service's limit (fewer calls spread their fixed statements).
CHUNK = 2000
#: Allocation calls on their way at once.
CALLS_IN_FLIGHT = 2


@dataclass(frozen=True)
class Allocation:
    """The inventory service's answer for some shipments: the lots kept for each, or why it refused."""

    picked: Picks
    refused: dict[str, str]


class InventoryClient:
    """Pick allocation, idempotent per shipment at the inventory service, so a call may be repeated."""

    def __init__(self, target: str | None = None) -> None:
        self.channel = open_channel(target or config.service_target("inventory"))
        self.stub = inventory_pb2_grpc.InventoryServiceStub(self.channel)

    def allocate_in_turn(
        self, shipments: Sequence[ShipmentToPick], *, caller: identity.Identity
    ) -> list[asyncio.Future[Allocation]]:
        """Asks for the lots kept for each shipment, first in first out (INV-11), ``CHUNK`` shipments a call,
        and returns the calls in order: each gives those shipments' lots and the refused ones with why.
        ``CALLS_IN_FLIGHT`` are on their way at once, the next one sent as soon as one is answered,
        however fast the caller takes the answers: the inventory service reads a call's reservations while
        it allocates the one before (its stock-level locks, taken in the ledger's one order, queue the calls
        without deadlock). A call's request is built before its turn and its answer read after it, so
        the next call is not held back by either. The calls start at the caller's next await; a caller that
        gives up cancels the ones left."""
        gate = asyncio.Semaphore(CALLS_IN_FLIGHT)  # waiters are served in turn: the chunks go in order

        async def in_turn(chunk: Sequence[ShipmentToPick]) -> Allocation:
            request = _request(chunk)
            async with gate:
                reply = await self._ask(request, caller)
            await asyncio.sleep(0)  # the next call goes out before this answer is read
            return _answer(reply)

        return [
            asyncio.ensure_future(in_turn(shipments[start : start + CHUNK]))
            for start in range(0, len(shipments), CHUNK)
        ]

    async def _ask(
        self, request: pb.AllocatePicksRequest, caller: identity.Identity
    ) -> pb.AllocatePicksResponse:
        return await call(self.stub.AllocatePicks, request, caller=caller, max_seconds=60.0)

    async def reserve(
        self, order_id: str, shop_code: str, lines: Sequence[tuple[str, int]], *, caller: identity.Identity
    ) -> None:
        """Reserves an exchange shipment's goods under its own id (LOG-8); all or none, idempotent by id.
        FailedPrecondition names the short line."""
        await call(
            self.stub.ReserveStock,
            pb.ReserveStockRequest(
                order_id=order_id,
                shop_code=shop_code,
                lines=[pb.StockLine(sku_code=sku, quantity=units) for sku, units in lines],
            ),
            caller=caller,
        )

    async def known_skus(self, sku_codes: Iterable[str]) -> set[str]:
        """Those of ``sku_codes`` the catalogue holds, asked as the logistics service itself (a scanning
        station's verifier may not read the catalogue)."""
        caller = identity.service_identity("logistics", ["logistics_clerk"])

        async def known(sku: str) -> str:
            try:
                await call(self.stub.GetSku, pb.GetSkuRequest(sku_code=sku), caller=caller)
            except NotFound:
                return ""
            return sku

        return {sku for sku in await asyncio.gather(*(known(s) for s in sorted(set(sku_codes)))) if sku}

    async def close(self) -> None:
        await self.channel.close()


def _request(chunk: Sequence[ShipmentToPick]) -> pb.AllocatePicksRequest:
    # Built in place (``add``): a message made apart is copied into the list, twice the cost.
    request = pb.AllocatePicksRequest()
    for s in chunk:
        lines = request.shipments.add(shipment_id=s.shipment_id, order_id=s.order_id).lines
        for sku, units in s.lines:
            lines.add(sku_code=sku, quantity=units)
    return request


def _answer(reply: pb.AllocatePicksResponse) -> Allocation:
    answer = Allocation(Picks(), {})
    picked = answer.picked
    # Appended column by column: a call answers for thousands of lots.
    shipment_ids, sku_codes, lot_ids = picked.shipment_id, picked.sku_code, picked.lot_id
    bin_codes, lot_labels, quantities = picked.bin_code, picked.lot_label, picked.quantity
    for shipment in reply.shipments:
        if shipment.refusal:
            answer.refused[shipment.shipment_id] = shipment.refusal
            continue
        shipment_id = shipment.shipment_id
        for lot in shipment.lots:
            shipment_ids.append(shipment_id)
            sku_codes.append(lot.sku_code)
            lot_ids.append(lot.lot_id)
            bin_codes.append(lot.bin_code)
            lot_labels.append(lot.lot_label)
            quantities.append(lot.quantity)
    return answer
