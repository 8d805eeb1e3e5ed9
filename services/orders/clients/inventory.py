"""The inventory service as the orders service sees it: reserve and release an order's stock."""

from __future__ import annotations

import asyncio

from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc

from libs import config, identity
from libs.errors import NotFound
from libs.grpc_client import call, open_channel
from services.orders.domain.intake import OrderLine


class InventoryClient:
    """Reservation calls, idempotent by order id at the inventory service, so any of them may be repeated."""

    def __init__(self, target: str | None = None) -> None:
        self.channel = open_channel(target or config.service_target("inventory"))
        self.stub = inventory_pb2_grpc.InventoryServiceStub(self.channel)

    async def reserve(
        self, order_id: str, shop_code: str, lines: tuple[OrderLine, ...], *, caller: identity.Identity
    ) -> None:
        """All lines or none (INV-10); FailedPrecondition names the short line, Unavailable when down."""
        await call(
            self.stub.ReserveStock,
            pb.ReserveStockRequest(
                order_id=order_id,
                shop_code=shop_code,
                lines=[pb.StockLine(sku_code=x.sku_code, quantity=x.quantity) for x in lines],
            ),
            caller=caller,
        )

    async def release(self, order_id: str, reason: str, *, caller: identity.Identity) -> None:
        """Releases the order's reservation; an order with none is fine (nothing to give back)."""
        try:
            await call(
                self.stub.ReleaseReservation,
                pb.ReleaseReservationRequest(order_id=order_id, reason=reason[:500]),
                caller=caller,
            )
        except NotFound:
            return

    async def categories(self, sku_codes: list[str], *, caller: identity.Identity) -> dict[str, str]:
        """Each SKU's category (for category-wide promotions); unknown SKUs have none."""

        async def one(sku: str) -> tuple[str, str]:
            try:
                reply = await call(self.stub.GetSku, pb.GetSkuRequest(sku_code=sku), caller=caller)
            except NotFound:
                return sku, ""
            return sku, reply.sku.category

        return dict(await asyncio.gather(*(one(sku) for sku in sorted(set(sku_codes)))))

    async def close(self) -> None:
        await self.channel.close()
