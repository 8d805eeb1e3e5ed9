"""The count and daily-close RPCs of InventoryService (INV-13, INV-14)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from shop.inventory.v1 import inventory_pb2 as pb
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.business_time import business_day
from libs.db import Database
from libs.errors import InvalidArgument
from libs.idempotency import transact_once
from libs.telemetry import set_attributes
from libs.timestamps import to_timestamp
from services.inventory.domain import counts as rules
from services.inventory.domain.counts import Approval, CountKind, CountStatus, DamagedDisposition
from services.inventory.store import counts, daily_close
from services.inventory.store.counts import Count
from services.inventory.store.daily_close import DayClose
from services.inventory.store.tables import kit

PLANNERS = ("warehouse_supervisor", "stock_keeper")
COUNTERS = ("stock_keeper",)
APPROVERS = ("warehouse_supervisor",)
_KIND = {pb.COUNT_KIND_CYCLE: CountKind.CYCLE, pb.COUNT_KIND_FULL: CountKind.FULL}
_KIND_PB = {v: k for k, v in _KIND.items()}
_DISPOSITION = {
    pb.DAMAGED_DISPOSITION_DEFECTIVE_WAREHOUSE: DamagedDisposition.DEFECTIVE_WAREHOUSE,
    pb.DAMAGED_DISPOSITION_SCRAP: DamagedDisposition.SCRAP,
}
_DISPOSITION_PB = {v: k for k, v in _DISPOSITION.items()}


def parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument.for_field(field, f"must be a date YYYY-MM-DD, got {value!r}") from None


def count_to_pb(count: Count) -> pb.Count:
    out = pb.Count(
        count_id=count.count_id,
        warehouse_code=count.warehouse_code,
        kind=_KIND_PB[count.kind],
        planned_for=count.planned_for.isoformat(),
        posted=count.status is CountStatus.POSTED,
        approved_by=count.approved_by or "",
        reason=count.reason,
        responsible_person=count.responsible_person,
        damaged_disposition=_DISPOSITION_PB[count.disposition] if count.disposition else 0,  # type: ignore[arg-type]
        cut_order_ids=list(count.cut_order_ids),
        cut_hold_ids=list(count.cut_hold_ids),
    )
    for line in count.lines:
        pl = pb.CountLine(
            line_no=line.line_no,
            sku_code=line.sku_code,
            lot_id=str(line.lot_id),
            bin_code=line.bin_code,
            book_quantity=line.book,
            damaged=line.damaged,
            variance=line.variance or 0,
        )
        if line.counted is not None:
            pl.counted = line.counted
        out.lines.append(pl)
    return out


def close_to_pb(close: DayClose) -> pb.DayClose:
    return pb.DayClose(
        business_date=close.business_date.isoformat(),
        closed_by=close.closed_by,
        closed_at=to_timestamp(close.closed_at),
        movements=close.movements,
        receipts_posted=close.receipts_posted,
    )


class CountsApi:
    """Mixed into InventoryServicer."""

    db: Database

    async def PlanCount(self, request: pb.PlanCountRequest, context: Any) -> pb.PlanCountResponse:
        caller = identity.require_role(*PLANNERS)
        kind = _KIND.get(request.kind)
        if kind is None:
            raise InvalidArgument.for_field("kind", "must be cycle or full")
        planned_for = parse_date(request.planned_for, "planned_for")
        sku_codes = sorted({s.strip() for s in request.sku_codes if s.strip()})
        rules.check_plan(kind, planned_for, sku_codes)
        if not request.warehouse_code.strip():
            raise InvalidArgument.for_field("warehouse_code", "is required")

        async def perform(conn: AsyncConnection) -> pb.PlanCountResponse:
            count = await counts.plan(
                conn,
                warehouse_code=request.warehouse_code.strip(),
                kind=kind,
                planned_for=planned_for,
                sku_codes=sku_codes,
                actor=caller.subject,
            )
            set_attributes(count_id=count.count_id)
            return pb.PlanCountResponse(count=count_to_pb(count))

        return await transact_once(
            self.db, kit.idempotency, operation="PlanCount", request_id=request.request_id,
            request=request, response_type=pb.PlanCountResponse, perform=perform,
        )  # fmt: skip

    async def RecordCount(self, request: pb.RecordCountRequest, context: Any) -> pb.RecordCountResponse:
        identity.require_role(*COUNTERS)
        set_attributes(count_id=request.count_id)
        if not request.lines:
            raise InvalidArgument.for_field("lines", "record at least one line")
        async with self.db.transaction() as conn:
            count = await counts.get(conn, request.count_id, lock=True)
            count.require_open()
            by_no = {line.line_no: line for line in count.lines}
            for i, counted in enumerate(request.lines):
                line = by_no.get(counted.line_no)
                if line is None:
                    raise InvalidArgument.for_field(
                        f"lines[{i}].line_no", f"the sheet has no line {counted.line_no}"
                    )
                await counts.save_line(
                    conn,
                    count.count_id,
                    rules.record(line, counted.counted, counted.damaged, prefix=f"lines[{i}]"),
                )
            count = await counts.get(conn, request.count_id)
        return pb.RecordCountResponse(count=count_to_pb(count))

    async def ApproveCount(self, request: pb.ApproveCountRequest, context: Any) -> pb.ApproveCountResponse:
        caller = identity.require_role(*APPROVERS)
        set_attributes(count_id=request.count_id)
        approval = Approval(
            request.reason, request.responsible_person, _DISPOSITION.get(request.damaged_disposition)
        )

        async def perform(conn: AsyncConnection) -> pb.ApproveCountResponse:
            count = await counts.get(conn, request.count_id, lock=True)
            posted = await counts.approve(conn, count, approval, actor=caller.subject)
            return pb.ApproveCountResponse(count=count_to_pb(posted))

        return await transact_once(
            self.db, kit.idempotency, operation="ApproveCount", request_id=request.request_id,
            request=request, response_type=pb.ApproveCountResponse, perform=perform,
        )  # fmt: skip

    async def GetCount(self, request: pb.GetCountRequest, context: Any) -> pb.GetCountResponse:
        identity.current()
        async with self.db.connection() as conn:
            count = await counts.get(conn, request.count_id)
        return pb.GetCountResponse(count=count_to_pb(count))

    async def CloseDay(self, request: pb.CloseDayRequest, context: Any) -> pb.CloseDayResponse:
        caller = identity.require_role(*APPROVERS)
        day = parse_date(request.business_date, "business_date")
        if day > business_day(datetime.now(UTC)):
            raise InvalidArgument.for_field(
                "business_date", "a day can be closed once it has begun, not before"
            )
        async with self.db.transaction() as conn:
            close = await daily_close.close_day(conn, day, actor=caller.subject)
        return pb.CloseDayResponse(close=close_to_pb(close))

    async def ListDayCloses(self, request: pb.ListDayClosesRequest, context: Any) -> pb.ListDayClosesResponse:
        identity.current()
        match = re.fullmatch(r"(\d{4})-(\d{2})", request.month)
        if match is None or not 1 <= int(match.group(2)) <= 12:
            raise InvalidArgument.for_field("month", f"must be YYYY-MM, got {request.month!r}")
        async with self.db.connection() as conn:
            found = await daily_close.closes_of_month(conn, int(match.group(1)), int(match.group(2)))
        return pb.ListDayClosesResponse(closes=[close_to_pb(c) for c in found])
