"""Inventory routes: items, stock and the lots it lies in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from shop.inventory.v1 import inventory_pb2 as pb

from libs.grpc_client import call
from services.gateway.auth import Caller
from services.gateway.routes.common import (
    IdempotencyKey,
    Int64,
    StrictBody,
    request_id,
    request_id_field,
    upstreams,
    utc,
)

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])

SkuKindName = Literal["sellable", "packing_material"]
_KIND_TO_PB: dict[SkuKindName, pb.SkuKind.ValueType] = {
    "sellable": pb.SKU_KIND_SELLABLE,
    "packing_material": pb.SKU_KIND_PACKING_MATERIAL,
}
_KIND_FROM_PB: dict[pb.SkuKind.ValueType, SkuKindName] = {value: name for name, value in _KIND_TO_PB.items()}


class RegisterSkuBody(StrictBody):
    request_id: str | None = request_id_field()
    sku_code: str
    style_number: str
    colour: str = ""
    size: str = ""
    name: str
    category: str
    barcode: str
    kind: SkuKindName = "sellable"


class SkuOut(BaseModel):
    sku_code: str
    style_number: str
    colour: str
    size: str
    name: str
    category: str
    barcode: str
    kind: SkuKindName
    created_at: datetime


class ReceiveStockBody(StrictBody):
    request_id: str | None = request_id_field()
    sku_code: str
    warehouse_code: str = "MAIN"
    quantity: Int64 = Field(description="Whole units received, at least 1.")
    note: str = ""
    bin_code: str = Field(default="", description="Bin to put the units in; empty: the receiving area.")


class StockLevelOut(BaseModel):
    sku_code: str
    warehouse_code: str
    on_hand: int
    reserved: int
    held: int
    available: int
    sellable: bool
    in_transit: int = Field(
        default=0, description="Units shipped here by a transfer, not yet received (INV-12)."
    )


class LotOut(BaseModel):
    lot_id: str
    label_id: str = Field(description="The barcode label printed for the lot.")
    sku_code: str
    warehouse_code: str
    bin_code: str = Field(description="Empty while the units wait in the receiving area.")
    received_at: datetime
    on_hand: int


class ReceiveStockOut(BaseModel):
    lot: LotOut
    level: StockLevelOut


class LotsOut(BaseModel):
    sku_code: str
    lots: list[LotOut] = Field(description="Units per lot and bin, oldest lot first.")


class StockLevelsOut(BaseModel):
    sku_code: str
    levels: list[StockLevelOut]
    available: int = Field(description="Available for sale over all sellable warehouses.")


def _sku_out(sku: pb.Sku) -> SkuOut:
    return SkuOut(
        sku_code=sku.sku_code,
        style_number=sku.style_number,
        colour=sku.colour,
        size=sku.size,
        name=sku.name,
        category=sku.category,
        barcode=sku.barcode,
        kind=_KIND_FROM_PB[sku.kind],
        created_at=utc(sku.created_at),
    )


def lot_out(lot: pb.LotStock) -> LotOut:
    return LotOut(
        lot_id=lot.lot_id,
        label_id=lot.label_id,
        sku_code=lot.sku_code,
        warehouse_code=lot.warehouse_code,
        bin_code=lot.bin_code,
        received_at=utc(lot.received_at),
        on_hand=lot.on_hand,
    )


def _level_out(level: pb.StockLevel) -> StockLevelOut:
    return StockLevelOut(
        sku_code=level.sku_code,
        warehouse_code=level.warehouse_code,
        on_hand=level.on_hand,
        reserved=level.reserved,
        held=level.held,
        available=level.available,
        sellable=level.sellable,
        in_transit=level.in_transit,
    )


@router.post("/skus", status_code=201, response_model=SkuOut)
async def register_sku(
    body: RegisterSkuBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> SkuOut:
    """Registers a SKU (INV-1). Retrying with the same request id returns the first result."""
    reply = await call(
        upstreams(request).inventory.RegisterSku,
        pb.RegisterSkuRequest(
            request_id=request_id(body.request_id, idempotency_key),
            sku_code=body.sku_code,
            style_number=body.style_number,
            colour=body.colour,
            size=body.size,
            name=body.name,
            category=body.category,
            barcode=body.barcode,
            kind=_KIND_TO_PB[body.kind],
        ),
        caller=caller,
    )
    return _sku_out(reply.sku)


@router.get("/skus/{sku_code}", response_model=SkuOut)
async def get_sku(sku_code: str, request: Request, caller: Caller) -> SkuOut:
    """One SKU."""
    reply = await call(
        upstreams(request).inventory.GetSku, pb.GetSkuRequest(sku_code=sku_code), caller=caller
    )
    return _sku_out(reply.sku)


@router.post("/stock-receipts", status_code=201, response_model=ReceiveStockOut)
async def receive_stock(
    body: ReceiveStockBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> ReceiveStockOut:
    """Books received units of a SKU into a warehouse (stock keepers only, INV-18)."""
    reply = await call(
        upstreams(request).inventory.ReceiveStock,
        pb.ReceiveStockRequest(
            request_id=request_id(body.request_id, idempotency_key),
            sku_code=body.sku_code,
            warehouse_code=body.warehouse_code,
            quantity=body.quantity,
            note=body.note,
            bin_code=body.bin_code,
        ),
        caller=caller,
    )
    return ReceiveStockOut(lot=lot_out(reply.lot), level=_level_out(reply.level))


@router.get("/skus/{sku_code}/stock", response_model=StockLevelsOut)
async def get_stock(sku_code: str, request: Request, caller: Caller) -> StockLevelsOut:
    """Stock of a SKU per warehouse: on hand, reserved, held and available (INV-10)."""
    reply = await call(
        upstreams(request).inventory.GetStockLevels,
        pb.GetStockLevelsRequest(sku_code=sku_code),
        caller=caller,
    )
    levels = [_level_out(level) for level in reply.levels]
    return StockLevelsOut(
        sku_code=sku_code, levels=levels, available=sum(lv.available for lv in levels if lv.sellable)
    )


@router.get("/skus/{sku_code}/lots", response_model=LotsOut)
async def list_lots(
    sku_code: str,
    request: Request,
    caller: Caller,
    warehouse_code: Annotated[str, Query(description="Only this warehouse; empty: every warehouse.")] = "",
) -> LotsOut:
    """The units of a SKU per lot and bin, oldest lot first (INV-6, INV-11)."""
    reply = await call(
        upstreams(request).inventory.ListLots,
        pb.ListLotsRequest(sku_code=sku_code, warehouse_code=warehouse_code),
        caller=caller,
    )
    return LotsOut(sku_code=sku_code, lots=[lot_out(lot) for lot in reply.lots])
