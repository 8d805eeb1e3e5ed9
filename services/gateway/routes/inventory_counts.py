"""Inventory routes: stock counts (盘点) and their adjustments (INV-13), the daily close (日清日结, INV-14)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from pydantic.json_schema import WithJsonSchema
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
from services.gateway.routes.inventory_receiving import Int32

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])

IsoDate = Annotated[
    str,
    Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
    WithJsonSchema({"type": "string", "format": "date", "example": "2030-01-31"}),
]
"""A calendar date YYYY-MM-DD (a business day in Asia/Shanghai); the service checks it is a real date."""

YEAR_MONTH_PATTERN = r"^[0-9]{4}-[0-9]{2}$"

CountKindName = Literal["cycle", "full"]
_KIND_TO_PB: dict[CountKindName, pb.CountKind.ValueType] = {
    "cycle": pb.COUNT_KIND_CYCLE,
    "full": pb.COUNT_KIND_FULL,
}
_KIND_FROM_PB: dict[pb.CountKind.ValueType, CountKindName] = {v: k for k, v in _KIND_TO_PB.items()}
DispositionName = Literal["defective_warehouse", "scrap"]
_DISPOSITION_TO_PB: dict[DispositionName, pb.DamagedDisposition.ValueType] = {
    "defective_warehouse": pb.DAMAGED_DISPOSITION_DEFECTIVE_WAREHOUSE,
    "scrap": pb.DAMAGED_DISPOSITION_SCRAP,
}
_DISPOSITION_FROM_PB: dict[pb.DamagedDisposition.ValueType, DispositionName] = {
    v: k for k, v in _DISPOSITION_TO_PB.items()
}


class PlanCountBody(StrictBody):
    request_id: str | None = request_id_field()
    warehouse_code: str = "MAIN"
    kind: CountKindName = Field(description="cycle: the named SKUs; full: the whole warehouse, on a Friday.")
    planned_for: IsoDate = Field(description="YYYY-MM-DD; a full count falls on a Friday (INV-13).")
    sku_codes: list[str] = Field(
        default_factory=list, description="The SKUs of a cycle count; empty for a full count."
    )


class CountedLineBody(StrictBody):
    line_no: Int32
    counted: Int64 = Field(description="Units found, 0 or more.")
    damaged: Int64 = Field(default=0, description="Units of those found damaged, 0 up to counted.")


class RecordCountBody(StrictBody):
    lines: list[CountedLineBody] = Field(description="At least one sheet line; recording again overwrites.")


class ApproveCountBody(StrictBody):
    request_id: str | None = request_id_field()
    reason: str = Field(default="", description="Why the count differs; required when it does.")
    responsible_person: str = Field(default="", description="Who answers for it; required when it differs.")
    damaged_disposition: DispositionName | None = Field(
        default=None, description="Where damaged units go; required when any were found."
    )


class CloseDayBody(StrictBody):
    business_date: IsoDate = Field(description="The business day (Asia/Shanghai) to close, YYYY-MM-DD.")


class CountLineOut(BaseModel):
    line_no: int
    sku_code: str
    lot_id: str
    bin_code: str = Field(description="Empty: the receiving area.")
    book_quantity: int = Field(description="On hand by the books when the sheet was opened.")
    counted: int | None = Field(description="Null until counted.")
    damaged: int
    variance: int = Field(description="counted - book; 0 until counted.")


class CountOut(BaseModel):
    count_id: str
    warehouse_code: str
    kind: CountKindName
    planned_for: str = Field(description="YYYY-MM-DD in Asia/Shanghai.")
    posted: bool
    lines: list[CountLineOut]
    approved_by: str = Field(description="Empty until approved.")
    reason: str
    responsible_person: str
    damaged_disposition: DispositionName | None
    cut_order_ids: list[str] = Field(
        description="Orders whose reservation the posted count cut because it found fewer units than were "
        "promised (newest reservations first; holds are cut before any order). Each goes to the orders "
        "service's exception queue and is reviewed again when stock arrives (INV-13)."
    )
    cut_hold_ids: list[str] = Field(description="Holds the posted count cut for the same reason.")


class DayCloseOut(BaseModel):
    business_date: str = Field(description="YYYY-MM-DD in Asia/Shanghai.")
    closed_by: str
    closed_at: datetime
    movements: int = Field(description="Stock movements booked that day.")
    receipts_posted: int


class DayClosesOut(BaseModel):
    month: str
    closes: list[DayCloseOut] = Field(description="The closed days of the month, in date order.")


def _count_out(count: pb.Count) -> CountOut:
    return CountOut(
        count_id=count.count_id,
        warehouse_code=count.warehouse_code,
        kind=_KIND_FROM_PB[count.kind],
        planned_for=count.planned_for,
        posted=count.posted,
        lines=[
            CountLineOut(
                line_no=line.line_no,
                sku_code=line.sku_code,
                lot_id=line.lot_id,
                bin_code=line.bin_code,
                book_quantity=line.book_quantity,
                counted=line.counted if line.HasField("counted") else None,
                damaged=line.damaged,
                variance=line.variance,
            )
            for line in count.lines
        ],
        approved_by=count.approved_by,
        reason=count.reason,
        responsible_person=count.responsible_person,
        damaged_disposition=_DISPOSITION_FROM_PB.get(count.damaged_disposition),
        cut_order_ids=list(count.cut_order_ids),
        cut_hold_ids=list(count.cut_hold_ids),
    )


def _close_out(close: pb.DayClose) -> DayCloseOut:
    return DayCloseOut(
        business_date=close.business_date,
        closed_by=close.closed_by,
        closed_at=utc(close.closed_at),
        movements=close.movements,
        receipts_posted=close.receipts_posted,
    )


@router.post("/counts", status_code=201, response_model=CountOut)
async def plan_count(
    body: PlanCountBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> CountOut:
    """Opens a count sheet with the book quantity of every lot and bin in scope: a cycle count of named
    SKUs or the Friday full count of a warehouse (INV-13; warehouse supervisors and stock keepers)."""
    reply = await call(
        upstreams(request).inventory.PlanCount,
        pb.PlanCountRequest(
            request_id=request_id(body.request_id, idempotency_key),
            warehouse_code=body.warehouse_code,
            kind=_KIND_TO_PB[body.kind],
            planned_for=body.planned_for,
            sku_codes=body.sku_codes,
        ),
        caller=caller,
    )
    return _count_out(reply.count)


@router.get("/counts/{count_id}", response_model=CountOut)
async def get_count(count_id: str, request: Request, caller: Caller) -> CountOut:
    """One count sheet."""
    reply = await call(
        upstreams(request).inventory.GetCount, pb.GetCountRequest(count_id=count_id), caller=caller
    )
    return _count_out(reply.count)


@router.post("/counts/{count_id}/lines", response_model=CountOut)
async def record_count(count_id: str, body: RecordCountBody, request: Request, caller: Caller) -> CountOut:
    """Records counted (and damaged) units per sheet line (stock keepers only)."""
    reply = await call(
        upstreams(request).inventory.RecordCount,
        pb.RecordCountRequest(
            count_id=count_id,
            lines=[
                pb.CountedLine(line_no=line.line_no, counted=line.counted, damaged=line.damaged)
                for line in body.lines
            ],
        ),
        caller=caller,
    )
    return _count_out(reply.count)


@router.post("/counts/{count_id}/approve", response_model=CountOut)
async def approve_count(
    count_id: str,
    body: ApproveCountBody,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> CountOut:
    """Approves and posts the count's adjustment (INV-13; warehouse supervisors only): a variance needs a
    reason and a responsible person; damaged units go to the defective-goods warehouse or are scrapped."""
    reply = await call(
        upstreams(request).inventory.ApproveCount,
        pb.ApproveCountRequest(
            request_id=request_id(body.request_id, idempotency_key),
            count_id=count_id,
            reason=body.reason,
            responsible_person=body.responsible_person,
            damaged_disposition=(
                _DISPOSITION_TO_PB[body.damaged_disposition]
                if body.damaged_disposition is not None
                else pb.DAMAGED_DISPOSITION_UNSPECIFIED
            ),
        ),
        caller=caller,
    )
    return _count_out(reply.count)


@router.post("/day-closes", status_code=201, response_model=DayCloseOut)
async def close_day(body: CloseDayBody, request: Request, caller: Caller) -> DayCloseOut:
    """Closes a business day (INV-14; warehouse supervisors only): refused, naming what is wrong, unless
    every receipt of the day is posted and the ledger equals the books. Closing again returns the first
    close."""
    reply = await call(
        upstreams(request).inventory.CloseDay,
        pb.CloseDayRequest(business_date=body.business_date),
        caller=caller,
    )
    return _close_out(reply.close)


@router.get("/day-closes", response_model=DayClosesOut)
async def list_day_closes(
    request: Request,
    caller: Caller,
    month: Annotated[str, Query(pattern=YEAR_MONTH_PATTERN, description="YYYY-MM.")],
) -> DayClosesOut:
    """The closed days of a month: the monthly archive (INV-14)."""
    reply = await call(
        upstreams(request).inventory.ListDayCloses, pb.ListDayClosesRequest(month=month), caller=caller
    )
    return DayClosesOut(month=month, closes=[_close_out(c) for c in reply.closes])
