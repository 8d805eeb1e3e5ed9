"""Inventory routes: holds (囤货), units kept back for a customer until released or expired (INV-9)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from shop.inventory.v1 import inventory_pb2 as pb

from libs.grpc_client import call
from services.gateway.auth import Caller
from services.gateway.routes.common import (
    IdempotencyKey,
    Int64,
    StrictBody,
    UtcDateTime,
    request_id,
    request_id_field,
    timestamp,
    upstreams,
    utc,
)

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])

HoldStatusName = Literal["active", "released", "expired"]
_STATUS_FROM_PB: dict[pb.HoldStatus.ValueType, HoldStatusName] = {
    pb.HOLD_STATUS_ACTIVE: "active",
    pb.HOLD_STATUS_RELEASED: "released",
    pb.HOLD_STATUS_EXPIRED: "expired",
}


class PlaceHoldBody(StrictBody):
    request_id: str | None = request_id_field()
    sku_code: str
    warehouse_code: str = Field(default="MAIN", description="A sellable warehouse.")
    quantity: Int64 = Field(description="Whole units to hold, at least 1.")
    customer_ref: str = Field(description="Whom the stock is held for: a customer or deal reference.")
    expires_at: UtcDateTime | None = Field(
        default=None, description="RFC 3339 with a UTC offset, at most 90 days ahead; unset: in 7 days."
    )


class HoldOut(BaseModel):
    hold_id: str
    sku_code: str
    warehouse_code: str
    quantity: int
    customer_ref: str
    status: HoldStatusName
    expires_at: datetime
    created_at: datetime


class HoldsOut(BaseModel):
    sku_code: str
    holds: list[HoldOut] = Field(description="The active holds, soonest to expire first.")


def _hold_out(hold: pb.Hold) -> HoldOut:
    return HoldOut(
        hold_id=hold.hold_id,
        sku_code=hold.sku_code,
        warehouse_code=hold.warehouse_code,
        quantity=hold.quantity,
        customer_ref=hold.customer_ref,
        status=_STATUS_FROM_PB[hold.status],
        expires_at=utc(hold.expires_at),
        created_at=utc(hold.created_at),
    )


@router.post("/holds", status_code=201, response_model=HoldOut)
async def place_hold(
    body: PlaceHoldBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> HoldOut:
    """Holds available units of a SKU for a customer (INV-9; promoters, customer service, supervisors)."""
    reply = await call(
        upstreams(request).inventory.PlaceHold,
        pb.PlaceHoldRequest(
            request_id=request_id(body.request_id, idempotency_key),
            sku_code=body.sku_code,
            warehouse_code=body.warehouse_code,
            quantity=body.quantity,
            customer_ref=body.customer_ref,
            expires_at=timestamp(body.expires_at) if body.expires_at is not None else None,
        ),
        caller=caller,
    )
    return _hold_out(reply.hold)


@router.post("/holds/{hold_id}/release", response_model=HoldOut)
async def release_hold(hold_id: str, request: Request, caller: Caller) -> HoldOut:
    """Returns a hold's units to normal sale. Releasing a closed hold again changes nothing."""
    reply = await call(
        upstreams(request).inventory.ReleaseHold, pb.ReleaseHoldRequest(hold_id=hold_id), caller=caller
    )
    return _hold_out(reply.hold)


@router.get("/skus/{sku_code}/holds", response_model=HoldsOut)
async def list_holds(sku_code: str, request: Request, caller: Caller) -> HoldsOut:
    """The active holds of a SKU."""
    reply = await call(
        upstreams(request).inventory.ListHolds, pb.ListHoldsRequest(sku_code=sku_code), caller=caller
    )
    return HoldsOut(sku_code=sku_code, holds=[_hold_out(h) for h in reply.holds])
