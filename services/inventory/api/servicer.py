"""InventoryService: translates protobuf requests into domain operations and store calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc as pb_grpc

from libs import idempotency, identity
from libs.db import Database
from libs.telemetry import set_attributes
from services.inventory.domain.skus import Sku, SkuKind, new_sku
from services.inventory.domain.stock import MovementKind, StockLevel, stock_in
from services.inventory.store import catalogue, ledger
from services.inventory.store.tables import kit

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["InventoryService"].full_name

# Who may do what (INV-18: only stock keepers move stock).
CATALOGUE_EDITORS = ("stock_keeper", "warehouse_supervisor", "purchasing", "integrator")
STOCK_MOVERS = ("stock_keeper",)

_KIND_FROM_PB = {
    pb.SKU_KIND_SELLABLE: SkuKind.SELLABLE,
    pb.SKU_KIND_PACKING_MATERIAL: SkuKind.PACKING_MATERIAL,
}
_KIND_TO_PB = {kind: value for value, kind in _KIND_FROM_PB.items()}


def _timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def sku_to_pb(sku: Sku, created_at: datetime) -> pb.Sku:
    return pb.Sku(
        sku_code=sku.sku_code,
        style_number=sku.style_number,
        colour=sku.colour,
        size=sku.size,
        name=sku.name,
        category=sku.category,
        barcode=sku.barcode,
        kind=_KIND_TO_PB[sku.kind],
        created_at=_timestamp(created_at),
    )


def level_to_pb(level: StockLevel) -> pb.StockLevel:
    return pb.StockLevel(
        sku_code=level.sku_code,
        warehouse_code=level.warehouse_code,
        on_hand=level.on_hand,
        reserved=level.reserved,
        held=level.held,
        available=level.available,
        sellable=level.sellable,
    )


class InventoryServicer(pb_grpc.InventoryServiceServicer):  # type: ignore[misc]
    def __init__(self, database: Database) -> None:
        self.db = database

    async def RegisterSku(self, request: pb.RegisterSkuRequest, context: Any) -> pb.RegisterSkuResponse:
        caller = identity.require_role(*CATALOGUE_EDITORS)
        idempotency.check_request_id(request.request_id)
        sku = new_sku(
            sku_code=request.sku_code,
            style_number=request.style_number,
            colour=request.colour,
            size=request.size,
            name=request.name,
            category=request.category,
            barcode=request.barcode,
            kind=_KIND_FROM_PB.get(request.kind),
        )
        set_attributes(sku=sku.sku_code)

        async with self.db.transaction() as conn:

            async def register() -> pb.RegisterSkuResponse:
                created_at = await catalogue.add_sku(conn, sku, actor=caller.subject)
                return pb.RegisterSkuResponse(sku=sku_to_pb(sku, created_at))

            return await idempotency.once(
                conn,
                kit.idempotency,
                operation="RegisterSku",
                request_id=request.request_id,
                request=request,
                response_type=pb.RegisterSkuResponse,
                perform=register,
            )

    async def GetSku(self, request: pb.GetSkuRequest, context: Any) -> pb.GetSkuResponse:
        identity.current()
        set_attributes(sku=request.sku_code)
        async with self.db.connection() as conn:
            sku, created_at = await catalogue.get_sku(conn, request.sku_code)
        return pb.GetSkuResponse(sku=sku_to_pb(sku, created_at))

    async def ReceiveStock(self, request: pb.ReceiveStockRequest, context: Any) -> pb.ReceiveStockResponse:
        caller = identity.require_role(*STOCK_MOVERS)
        idempotency.check_request_id(request.request_id)
        receipt = stock_in(
            sku_code=request.sku_code,
            warehouse_code=request.warehouse_code,
            quantity=request.quantity,
            note=request.note,
        )
        set_attributes(sku=receipt.sku_code, warehouse=receipt.warehouse_code)

        async with self.db.transaction() as conn:

            async def receive() -> pb.ReceiveStockResponse:
                await catalogue.get_sku(conn, receipt.sku_code)
                sellable = await catalogue.warehouse_sellable(conn, receipt.warehouse_code)
                movement_id, level = await ledger.book_in(
                    conn,
                    sku_code=receipt.sku_code,
                    warehouse_code=receipt.warehouse_code,
                    quantity=receipt.quantity,
                    kind=MovementKind.RECEIPT,
                    note=receipt.note,
                    actor=caller.subject,
                    sellable=sellable,
                )
                return pb.ReceiveStockResponse(movement_id=str(movement_id), level=level_to_pb(level))

            return await idempotency.once(
                conn,
                kit.idempotency,
                operation="ReceiveStock",
                request_id=request.request_id,
                request=request,
                response_type=pb.ReceiveStockResponse,
                perform=receive,
            )

    async def GetStockLevels(
        self, request: pb.GetStockLevelsRequest, context: Any
    ) -> pb.GetStockLevelsResponse:
        identity.current()
        set_attributes(sku=request.sku_code)
        async with self.db.connection() as conn:
            await catalogue.get_sku(conn, request.sku_code)
            levels = await ledger.levels_of(conn, request.sku_code)
        return pb.GetStockLevelsResponse(levels=[level_to_pb(level) for level in levels])
