"""The inventory service as the orders service sees it: reserve and release an order's stock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc

from libs import config, identity
from libs.errors import DomainError, NotFound
from libs.grpc_client import call, open_channel
from libs.grpc_errors import from_problem
from services.orders.domain.intake import OrderLine
from services.orders.domain.order import Order


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

    async def reserve_many(
        self, orders: Sequence[Order], *, caller: identity.Identity
    ) -> dict[str, DomainError | None]:
        """Reserves a review batch's orders in one call, each all or nothing (INV-10), first come first
        served in the given order: per order id, None when reserved, else the error ``reserve`` would have
        raised for it alone. Unavailable, DeadlineExceeded or Aborted for the call say nothing of any
        order; the call is idempotent per order and may be repeated."""
        reply = await call(
            self.stub.BatchReserveStock,
            pb.BatchReserveStockRequest(
                orders=[
                    pb.ReserveStockRequest(
                        order_id=o.order_id,
                        shop_code=o.shop_code,
                        lines=[pb.StockLine(sku_code=x.sku_code, quantity=x.quantity) for x in o.lines],
                    )
                    for o in orders
                ]
            ),
            caller=caller,
        )
        return {
            outcome.order_id: from_problem(outcome.problem) if outcome.HasField("problem") else None
            for outcome in reply.outcomes
        }

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
