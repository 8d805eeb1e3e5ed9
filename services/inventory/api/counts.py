"""The count and daily-close RPCs of InventoryService (INV-13, INV-14)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shop.inventory.v1 import inventory_pb2 as pb

from libs import identity
from libs.business_time import business_day, parse_business_date, parse_business_month
from libs.db import Database
from libs.errors import InvalidArgument
from libs.grpc_errors import required
from libs.telemetry import set_attributes
from libs.timestamps import to_timestamp
from services.inventory.api.enums import COUNT_KIND, DAMAGED_DISPOSITION
from services.inventory.domain.counts import Approval, CountKind
from services.inventory.domain.places import warehouse_or_default
from services.inventory.domain.stock_counts import CountedLine, CountStage, StockCount, count_plan
from services.inventory.store import catalogue, counts, daily_close
from services.inventory.store.daily_close import DayClose


def count_to_pb(count: StockCount) -> pb.Count:
    out = pb.Count(
        count_id=count.count_id,
        warehouse_code=count.warehouse_code,
        kind=COUNT_KIND.to_pb(count.kind),
        planned_for=count.planned_for.isoformat(),
        posted=count.stage is CountStage.POSTED,
        approved_by=count.approved_by or "",
        reason=count.reason,
        responsible_person=count.responsible_person,
        damaged_disposition=DAMAGED_DISPOSITION.to_pb_or_unspecified(count.disposition),
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
        caller = identity.current()
        kind: CountKind = COUNT_KIND.from_pb(request.kind, field="kind")
        plan = count_plan(
            warehouse_or_default(request.warehouse_code),
            kind,
            parse_business_date(request.planned_for, "planned_for"),
            request.sku_codes,
        )
        async with self.db.transaction() as conn:
            await catalogue.warehouse_sellable(conn, plan.warehouse_code)
            unknown = await catalogue.unknown_skus(conn, list(plan.sku_codes))
            book = await counts.book(
                conn, plan.warehouse_code, list(plan.sku_codes) if kind is CountKind.CYCLE else None
            )
            count = StockCount.plan(
                plan,
                count_id=str(uuid.uuid4()),
                book=book,
                unknown_skus=unknown,
                actor=caller.subject,
                now=datetime.now(UTC),
            )
            set_attributes(count_id=count.count_id)
            await counts.add(conn, count)
        return pb.PlanCountResponse(count=count_to_pb(count))

    async def RecordCount(self, request: pb.RecordCountRequest, context: Any) -> pb.RecordCountResponse:
        set_attributes(count_id=request.count_id)
        required(request.lines, "lines", "counted")
        found = [CountedLine(line.line_no, line.counted, line.damaged) for line in request.lines]
        async with self.db.transaction() as conn:
            count = await counts.load(conn, request.count_id, lock=True)
            count.record(found)
            await counts.save(conn, count)
        return pb.RecordCountResponse(count=count_to_pb(count))

    async def ApproveCount(self, request: pb.ApproveCountRequest, context: Any) -> pb.ApproveCountResponse:
        caller = identity.current()
        set_attributes(count_id=request.count_id)
        approval = Approval(
            request.reason,
            request.responsible_person,
            DAMAGED_DISPOSITION.from_pb_or_none(request.damaged_disposition, field="damaged_disposition"),
        )
        async with self.db.transaction() as conn:
            count = await counts.load(conn, request.count_id, lock=True)
            promises = await counts.promises_at_risk(conn, count, approval)
            count.approve(approval, promises=promises, actor=caller.subject, now=datetime.now(UTC))
            await counts.save(conn, count)
        return pb.ApproveCountResponse(count=count_to_pb(count))

    async def GetCount(self, request: pb.GetCountRequest, context: Any) -> pb.GetCountResponse:
        identity.current()
        async with self.db.connection() as conn:
            count = await counts.load(conn, request.count_id)
        return pb.GetCountResponse(count=count_to_pb(count))

    async def CloseDay(self, request: pb.CloseDayRequest, context: Any) -> pb.CloseDayResponse:
        caller = identity.current()
        day = parse_business_date(request.business_date, "business_date")
        if day > business_day(datetime.now(UTC)):
            raise InvalidArgument.for_field(
                "business_date", "a day can be closed once it has begun, not before"
            )
        async with self.db.transaction() as conn:
            close = await daily_close.close_day(conn, day, actor=caller.subject)
        return pb.CloseDayResponse(close=close_to_pb(close))

    async def ListDayCloses(self, request: pb.ListDayClosesRequest, context: Any) -> pb.ListDayClosesResponse:
        identity.current()
        year, month = parse_business_month(request.month)
        async with self.db.connection() as conn:
            found = await daily_close.closes_of_month(conn, year, month)
        return pb.ListDayClosesResponse(closes=[close_to_pb(c) for c in found])
