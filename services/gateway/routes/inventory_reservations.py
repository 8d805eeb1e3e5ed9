"""Inventory routes: reservations for orders, released on cancellation or issued at dispatch (INV-10, INV-11)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
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

ReservationStatusName = Literal["active", "released", "issued", "cut"]
_STATUS_FROM_PB: dict[pb.ReservationStatus.ValueType, ReservationStatusName] = {
    pb.RESERVATION_STATUS_ACTIVE: "active",
    pb.RESERVATION_STATUS_RELEASED: "released",
    pb.RESERVATION_STATUS_ISSUED: "issued",
    pb.RESERVATION_STATUS_CUT: "cut",
}


class StockLineBody(StrictBody):
    sku_code: str
    quantity: Int64 = Field(description="Whole units, at least 1.")


class ReserveStockBody(StrictBody):
    order_id: str = Field(description="The order; reserving the same order again returns its reservation.")
    warehouse_code: str = Field(default="MAIN", description="A sellable warehouse.")
    lines: list[StockLineBody] = Field(description="Reserved all together or not at all.")


class ReleaseReservationBody(StrictBody):
    reason: str = Field(default="", description="Why, for the ledger; e.g. the order was cancelled.")


class IssueReservationBody(StrictBody):
    request_id: str | None = request_id_field()
    shipment_id: str = Field(description="The shipment (parcel) the units leave with (INV-11).")
    lines: list[StockLineBody] = Field(
        default_factory=list, description="Units to issue for a partial shipment; empty: all still reserved."
    )


class ReservationLineOut(BaseModel):
    sku_code: str
    quantity: int = Field(description="Units reserved.")
    issued: int = Field(description="Units of those already issued.")


class ReservationOut(BaseModel):
    order_id: str
    warehouse_code: str
    status: ReservationStatusName
    lines: list[ReservationLineOut]
    created_at: datetime


class ReserveStockOut(BaseModel):
    reservation: ReservationOut
    created: bool = Field(description="False when the order was already reserved and that is returned.")


class IssuedLotOut(BaseModel):
    sku_code: str
    lot_id: str
    bin_code: str = Field(description="Where the units were taken from; empty: the receiving area.")
    quantity: int


class IssueReservationOut(BaseModel):
    reservation: ReservationOut
    issued: list[IssuedLotOut] = Field(description="The units taken, oldest lot first (INV-11).")


def _reservation_out(reservation: pb.Reservation) -> ReservationOut:
    return ReservationOut(
        order_id=reservation.order_id,
        warehouse_code=reservation.warehouse_code,
        status=_STATUS_FROM_PB[reservation.status],
        lines=[
            ReservationLineOut(sku_code=line.sku_code, quantity=line.quantity, issued=line.issued)
            for line in reservation.lines
        ],
        created_at=utc(reservation.created_at),
    )


def _lines_pb(lines: list[StockLineBody]) -> list[pb.StockLine]:
    return [pb.StockLine(sku_code=line.sku_code, quantity=line.quantity) for line in lines]


_EXISTING: dict[int | str, dict[str, Any]] = {
    200: {"model": ReserveStockOut, "description": "The order was already reserved; its reservation."}
}


@router.post("/reservations", status_code=201, response_model=ReserveStockOut, responses=_EXISTING)
async def reserve_stock(
    body: ReserveStockBody, request: Request, response: Response, caller: Caller
) -> ReserveStockOut:
    """Reserves every line of an order, or none (INV-10). 201 when reserved now; 200 with the first
    reservation when the same order was reserved before. Other lines for a reserved order are refused."""
    reply = await call(
        upstreams(request).inventory.ReserveStock,
        pb.ReserveStockRequest(
            order_id=body.order_id, warehouse_code=body.warehouse_code, lines=_lines_pb(body.lines)
        ),
        caller=caller,
    )
    if not reply.created:
        response.status_code = 200
    return ReserveStockOut(reservation=_reservation_out(reply.reservation), created=reply.created)


@router.get("/reservations/{order_id}", response_model=ReservationOut)
async def get_reservation(order_id: str, request: Request, caller: Caller) -> ReservationOut:
    """An order's reservation."""
    reply = await call(
        upstreams(request).inventory.GetReservation,
        pb.GetReservationRequest(order_id=order_id),
        caller=caller,
    )
    return _reservation_out(reply.reservation)


@router.post("/reservations/{order_id}/release", response_model=ReservationOut)
async def release_reservation(
    order_id: str, request: Request, caller: Caller, body: ReleaseReservationBody | None = None
) -> ReservationOut:
    """Returns what an order still has reserved to sale (cancellation). Releasing again changes nothing."""
    reply = await call(
        upstreams(request).inventory.ReleaseReservation,
        pb.ReleaseReservationRequest(order_id=order_id, reason=body.reason if body else ""),
        caller=caller,
    )
    return _reservation_out(reply.reservation)


@router.post("/reservations/{order_id}/issue", response_model=IssueReservationOut)
async def issue_reservation(
    order_id: str,
    body: IssueReservationBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> IssueReservationOut:
    """Issues reserved units at dispatch, oldest lot first (INV-11; stock keepers only): everything still
    reserved, or the given lines for a partial shipment."""
    reply = await call(
        upstreams(request).inventory.IssueReservation,
        pb.IssueReservationRequest(
            request_id=request_id(body.request_id, idempotency_key),
            order_id=order_id,
            shipment_id=body.shipment_id,
            lines=_lines_pb(body.lines),
        ),
        caller=caller,
    )
    return IssueReservationOut(
        reservation=_reservation_out(reply.reservation),
        issued=[
            IssuedLotOut(sku_code=i.sku_code, lot_id=i.lot_id, bin_code=i.bin_code, quantity=i.quantity)
            for i in reply.issued
        ],
    )
