"""Inventory routes: places (warehouses and their bins) and putting lots away into bins."""

from __future__ import annotations

from fastapi import APIRouter, Request
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
)
from services.gateway.routes.inventory import LotOut, lot_out

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])


class CreateWarehouseBody(StrictBody):
    request_id: str | None = request_id_field()
    warehouse_code: str = Field(description="1-32 letters, digits, '.', '_' or '-'; stored in upper case.")
    name: str
    sellable: bool = Field(
        default=True, description="False for a defective-goods warehouse, whose stock is never for sale."
    )


class WarehouseOut(BaseModel):
    warehouse_code: str
    name: str
    sellable: bool = Field(description="False for a defective-goods warehouse (INV-2).")


class WarehousesOut(BaseModel):
    warehouses: list[WarehouseOut]


class CreateBinBody(StrictBody):
    request_id: str | None = request_id_field()
    bin_code: str = Field(description="1-32 letters, digits, '.', '_' or '-'; stored in upper case.")
    description: str = ""


class BinOut(BaseModel):
    warehouse_code: str
    bin_code: str
    description: str


class BinsOut(BaseModel):
    warehouse_code: str
    bins: list[BinOut]


class PutAwayBody(StrictBody):
    request_id: str | None = request_id_field()
    lot_id: str
    warehouse_code: str = "MAIN"
    from_bin_code: str = Field(default="", description="Where the units are now; empty: the receiving area.")
    to_bin_code: str
    quantity: Int64 = Field(description="Whole units to move, at least 1.")


class PutAwayOut(BaseModel):
    lots: list[LotOut] = Field(description="Where the lot's units in the warehouse lie after the move.")


def _warehouse_out(warehouse: pb.Warehouse) -> WarehouseOut:
    return WarehouseOut(
        warehouse_code=warehouse.warehouse_code, name=warehouse.name, sellable=warehouse.sellable
    )


def _bin_out(bin_: pb.Bin) -> BinOut:
    return BinOut(warehouse_code=bin_.warehouse_code, bin_code=bin_.bin_code, description=bin_.description)


@router.post("/warehouses", status_code=201, response_model=WarehouseOut)
async def create_warehouse(
    body: CreateWarehouseBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> WarehouseOut:
    """Registers a warehouse (INV-2; warehouse supervisors only)."""
    reply = await call(
        upstreams(request).inventory.CreateWarehouse,
        pb.CreateWarehouseRequest(
            request_id=request_id(body.request_id, idempotency_key),
            warehouse_code=body.warehouse_code,
            name=body.name,
            sellable=body.sellable,
        ),
        caller=caller,
    )
    return _warehouse_out(reply.warehouse)


@router.get("/warehouses", response_model=WarehousesOut)
async def list_warehouses(request: Request, caller: Caller) -> WarehousesOut:
    """Every warehouse, in code order."""
    reply = await call(upstreams(request).inventory.ListWarehouses, pb.ListWarehousesRequest(), caller=caller)
    return WarehousesOut(warehouses=[_warehouse_out(w) for w in reply.warehouses])


@router.post("/warehouses/{warehouse_code}/bins", status_code=201, response_model=BinOut)
async def create_bin(
    warehouse_code: str,
    body: CreateBinBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> BinOut:
    """Registers a bin location in a warehouse (warehouse supervisors only)."""
    reply = await call(
        upstreams(request).inventory.CreateBin,
        pb.CreateBinRequest(
            request_id=request_id(body.request_id, idempotency_key),
            warehouse_code=warehouse_code,
            bin_code=body.bin_code,
            description=body.description,
        ),
        caller=caller,
    )
    return _bin_out(reply.bin)


@router.get("/warehouses/{warehouse_code}/bins", response_model=BinsOut)
async def list_bins(warehouse_code: str, request: Request, caller: Caller) -> BinsOut:
    """The bins of a warehouse, in code order."""
    reply = await call(
        upstreams(request).inventory.ListBins,
        pb.ListBinsRequest(warehouse_code=warehouse_code),
        caller=caller,
    )
    return BinsOut(warehouse_code=warehouse_code, bins=[_bin_out(b) for b in reply.bins])


@router.post("/put-aways", status_code=201, response_model=PutAwayOut)
async def put_away(
    body: PutAwayBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> PutAwayOut:
    """Moves units of a lot from the receiving area or a bin into a bin (INV-6; stock keepers only)."""
    reply = await call(
        upstreams(request).inventory.PutAway,
        pb.PutAwayRequest(
            request_id=request_id(body.request_id, idempotency_key),
            lot_id=body.lot_id,
            warehouse_code=body.warehouse_code,
            from_bin_code=body.from_bin_code,
            to_bin_code=body.to_bin_code,
            quantity=body.quantity,
        ),
        caller=caller,
    )
    return PutAwayOut(lots=[lot_out(lot) for lot in reply.lots])
