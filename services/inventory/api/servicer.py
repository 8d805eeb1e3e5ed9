"""InventoryService: translates protobuf requests into domain operations and store calls."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc as pb_grpc

from libs import identity
from libs.db import Database
from libs.errors import DomainError, InvalidArgument, PermissionDenied
from libs.grpc_errors import to_problem
from libs.telemetry import set_attributes
from libs.timestamps import from_timestamp, to_timestamp
from services.inventory.api.convert import (
    hold_to_pb,
    level_to_pb,
    lot_to_pb,
    reservation_to_pb,
    sku_to_pb,
    warehouse_to_pb,
)
from services.inventory.api.counts import CountsApi
from services.inventory.api.enums import ACCESS_PURPOSE, SKU_KIND
from services.inventory.api.planning import PlanningApi
from services.inventory.api.receiving import ReceivingApi
from services.inventory.api.stock_feed import FeedTip
from services.inventory.api.transfers import TransfersApi
from services.inventory.domain import access as access_rules
from services.inventory.domain import places
from services.inventory.domain.lots import label_id_for
from services.inventory.domain.places import warehouse_or_default
from services.inventory.domain.reservations import (
    MAX_BATCH,
    ReservationRequest,
    hold_request,
    reservation_request,
)
from services.inventory.domain.skus import DEFAULT_KIND, new_sku
from services.inventory.domain.stock import Movement, MovementKind, available_for_sale, put_away, stock_in
from services.inventory.store import (
    access,
    catalogue,
    holds,
    ledger,
    pick_allocations,
    reservations,
    stock_changes,
    transfers,
)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["InventoryService"].full_name
# The stock change feed (ListStockChanges, WatchStockChanges).
DEFAULT_CHANGES_PAGE = 500
MAX_CHANGES_PAGE = 5000
MAX_CHANGES_WAIT_SECONDS = 30
CHANGES_KEEP_ALIVE_SECONDS = 15.0
MAX_WATCH_SECONDS = 3600


def _changes_page_size(requested: int) -> int:
    page_size = requested or DEFAULT_CHANGES_PAGE
    if not 1 <= page_size <= MAX_CHANGES_PAGE:
        raise InvalidArgument.for_field("page_size", f"must be between 1 and {MAX_CHANGES_PAGE}")
    return page_size


def _availability_pb(changed: Sequence[stock_changes.SkuAvailability]) -> list[pb.SkuAvailability]:
    return [
        pb.SkuAvailability(sku_code=c.sku_code, available=c.available, changed_at=to_timestamp(c.changed_at))
        for c in changed
    ]


def _reservation_wanted(request: pb.ReserveStockRequest, caller: identity.Identity) -> ReservationRequest:
    """An order's reservation, checked field by field and against the shops the caller acts for."""
    wanted = reservation_request(
        request.order_id,
        warehouse_or_default(request.warehouse_code),
        [(line.sku_code, line.quantity) for line in request.lines],
        request.shop_code,
    )
    if not caller.acts_for(wanted.shop_code):
        raise PermissionDenied.for_field(
            "shop_code", f"this token does not act for shop {wanted.shop_code!r}", reason="SHOP_NOT_GRANTED"
        )
    return wanted


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.for_field(field, f"must be a UUID, got {value!r}") from None


class InventoryServicer(ReceivingApi, TransfersApi, CountsApi, PlanningApi, pb_grpc.InventoryServiceServicer):  # type: ignore[misc]
    def __init__(self, database: Database) -> None:
        self.db = database
        self.feed_tip = FeedTip(database)

    # --- items and places -------------------------------------------------------------------------

    async def RegisterSku(self, request: pb.RegisterSkuRequest, context: Any) -> pb.RegisterSkuResponse:
        caller = identity.current()
        sku = new_sku(
            sku_code=request.sku_code,
            style_number=request.style_number,
            colour=request.colour,
            size=request.size,
            name=request.name,
            category=request.category,
            barcode=request.barcode,
            # An unset kind is the default, a sellable item; an unknown one is refused.
            kind=SKU_KIND.from_pb_or_none(request.kind, field="kind") or DEFAULT_KIND,
        )
        set_attributes(sku=sku.sku_code)
        async with self.db.transaction() as conn:
            created_at = await catalogue.add_sku(conn, sku, actor=caller.subject)
        return pb.RegisterSkuResponse(sku=sku_to_pb(sku, created_at))

    async def GetSku(self, request: pb.GetSkuRequest, context: Any) -> pb.GetSkuResponse:
        identity.current()
        set_attributes(sku=request.sku_code)
        async with self.db.connection() as conn:
            sku, created_at = await catalogue.get_sku(conn, request.sku_code)
        return pb.GetSkuResponse(sku=sku_to_pb(sku, created_at))

    async def CreateWarehouse(
        self, request: pb.CreateWarehouseRequest, context: Any
    ) -> pb.CreateWarehouseResponse:
        warehouse = places.new_warehouse(
            request.warehouse_code,
            request.name,
            request.sellable if request.HasField("sellable") else None,
        )
        async with self.db.transaction() as conn:
            await catalogue.add_warehouse(conn, warehouse)
        return pb.CreateWarehouseResponse(warehouse=warehouse_to_pb(warehouse))

    async def ListWarehouses(
        self, request: pb.ListWarehousesRequest, context: Any
    ) -> pb.ListWarehousesResponse:
        identity.current()
        async with self.db.connection() as conn:
            found = await catalogue.list_warehouses(conn)
        return pb.ListWarehousesResponse(warehouses=[warehouse_to_pb(w) for w in found])

    async def CreateBin(self, request: pb.CreateBinRequest, context: Any) -> pb.CreateBinResponse:
        bin_ = places.new_bin(request.warehouse_code, request.bin_code, request.description)
        async with self.db.transaction() as conn:
            await catalogue.add_bin(conn, bin_)
        return pb.CreateBinResponse(
            bin=pb.Bin(
                warehouse_code=bin_.warehouse_code, bin_code=bin_.bin_code, description=bin_.description
            )
        )

    async def ListBins(self, request: pb.ListBinsRequest, context: Any) -> pb.ListBinsResponse:
        identity.current()
        async with self.db.connection() as conn:
            await catalogue.warehouse_sellable(conn, request.warehouse_code)
            found = await catalogue.list_bins(conn, request.warehouse_code)
        return pb.ListBinsResponse(
            bins=[
                pb.Bin(warehouse_code=b.warehouse_code, bin_code=b.bin_code, description=b.description)
                for b in found
            ]
        )

    # --- stock ------------------------------------------------------------------------------------

    async def ReceiveStock(self, request: pb.ReceiveStockRequest, context: Any) -> pb.ReceiveStockResponse:
        caller = identity.current()
        receipt = stock_in(
            sku_code=request.sku_code,
            warehouse_code=warehouse_or_default(request.warehouse_code),
            quantity=request.quantity,
            note=request.note,
            bin_code=request.bin_code,
        )
        set_attributes(sku=receipt.sku_code, warehouse=receipt.warehouse_code)
        async with self.db.transaction() as conn:
            await access.require_stock_mover(conn, caller)
            await catalogue.get_sku(conn, receipt.sku_code)
            await catalogue.warehouse_sellable(conn, receipt.warehouse_code)
            if receipt.bin_code:
                await catalogue.require_bin(conn, receipt.warehouse_code, receipt.bin_code)
            lot_id = uuid.uuid4()
            # The movement names the request that caused it; without an id, the new lot does.
            document_id = request.request_id or str(lot_id)
            await ledger.new_lot(
                conn,
                lot_id=lot_id,
                label_id=label_id_for(receipt.sku_code, lot_id),
                sku_code=receipt.sku_code,
                quantity=receipt.quantity,
                document_type="stock_in",
                document_id=document_id,
            )
            levels = await ledger.post(
                conn,
                [
                    Movement(
                        kind=MovementKind.RECEIPT,
                        sku_code=receipt.sku_code,
                        warehouse_code=receipt.warehouse_code,
                        lot_id=lot_id,
                        bin_code=receipt.bin_code,
                        on_hand_delta=receipt.quantity,
                        document_type="stock_in",
                        document_id=document_id,
                        note=receipt.note,
                    )
                ],
                actor=caller.subject,
            )
            [lot] = [
                x
                for x in await ledger.lots_of(conn, receipt.sku_code, receipt.warehouse_code)
                if x.lot_id == lot_id
            ]
        return pb.ReceiveStockResponse(
            lot=lot_to_pb(lot), level=level_to_pb(levels[(receipt.sku_code, receipt.warehouse_code)])
        )

    async def PutAway(self, request: pb.PutAwayRequest, context: Any) -> pb.PutAwayResponse:
        caller = identity.current()
        lot_id = _uuid(request.lot_id, "lot_id")
        move = put_away(
            warehouse_code=warehouse_or_default(request.warehouse_code),
            from_bin_code=request.from_bin_code,
            to_bin_code=request.to_bin_code,
            quantity=request.quantity,
        )
        async with self.db.transaction() as conn:
            await access.require_stock_mover(conn, caller)
            sku_code = await catalogue.sku_of_lot(conn, lot_id)
            set_attributes(sku=sku_code, warehouse=move.warehouse_code)
            await catalogue.require_bin(conn, move.warehouse_code, move.to_bin_code, field="to_bin_code")
            common = {
                "kind": MovementKind.PUT_AWAY,
                "sku_code": sku_code,
                "warehouse_code": move.warehouse_code,
                "lot_id": lot_id,
                "document_type": "put_away",
                "document_id": request.request_id or str(uuid.uuid4()),
            }
            await ledger.post(
                conn,
                [
                    Movement(bin_code=move.from_bin_code, on_hand_delta=-move.quantity, **common),  # type: ignore[arg-type]
                    Movement(bin_code=move.to_bin_code, on_hand_delta=move.quantity, **common),  # type: ignore[arg-type]
                ],
                actor=caller.subject,
            )
            lots = [
                x for x in await ledger.lots_of(conn, sku_code, move.warehouse_code) if x.lot_id == lot_id
            ]
        return pb.PutAwayResponse(lots=[lot_to_pb(x) for x in lots])

    async def GetStockLevels(
        self, request: pb.GetStockLevelsRequest, context: Any
    ) -> pb.GetStockLevelsResponse:
        identity.current()
        set_attributes(sku=request.sku_code)
        async with self.db.connection() as conn:
            await catalogue.get_sku(conn, request.sku_code)
            found = {lv.warehouse_code: lv for lv in await ledger.levels_of(conn, request.sku_code)}
            in_transit = await transfers.in_transit_to(conn, request.sku_code)
            for warehouse_code in sorted(set(in_transit) - set(found)):
                found[warehouse_code] = await ledger.level_of(conn, request.sku_code, warehouse_code)
        levels = [level_to_pb(found[code]) for code in sorted(found)]
        for level in levels:
            level.in_transit = in_transit.get(level.warehouse_code, 0)
        return pb.GetStockLevelsResponse(levels=levels, available=available_for_sale(found.values()))

    async def ListLots(self, request: pb.ListLotsRequest, context: Any) -> pb.ListLotsResponse:
        identity.current()
        set_attributes(sku=request.sku_code)
        async with self.db.connection() as conn:
            await catalogue.get_sku(conn, request.sku_code)
            if request.warehouse_code:
                await catalogue.warehouse_sellable(conn, request.warehouse_code)
            lots = await ledger.lots_of(conn, request.sku_code, request.warehouse_code or None)
        return pb.ListLotsResponse(lots=[lot_to_pb(x) for x in lots])

    # --- reservations and holds -----------------------------------------------------------------

    async def ReserveStock(self, request: pb.ReserveStockRequest, context: Any) -> pb.ReserveStockResponse:
        caller = identity.current()
        wanted = _reservation_wanted(request, caller)
        set_attributes(order_id=wanted.order_id)
        async with self.db.transaction() as conn:
            reservation, created = await reservations.reserve(conn, wanted, actor=caller.subject)
        return pb.ReserveStockResponse(reservation=reservation_to_pb(reservation), created=created)

    async def BatchReserveStock(
        self, request: pb.BatchReserveStockRequest, context: Any
    ) -> pb.BatchReserveStockResponse:
        caller = identity.current()
        if not 1 <= len(request.orders) <= MAX_BATCH:
            raise InvalidArgument.for_field("orders", f"must hold 1 to {MAX_BATCH} orders")
        seen: dict[str, int] = {}
        for i, order in enumerate(request.orders):
            if order.order_id in seen:
                raise InvalidArgument.for_field(
                    f"orders[{i}].order_id",
                    f"repeats orders[{seen[order.order_id]}]; an order is reserved once",
                )
            seen[order.order_id] = i
        # Each order is checked on its own: a bad one is answered with its problem, the others go on.
        answers: list[reservations.Answer | None] = []
        wanted: list[ReservationRequest] = []
        for order in request.orders:
            try:
                one = _reservation_wanted(order, caller)
            except DomainError as err:
                answers.append(err)
                continue
            answers.append(None)
            wanted.append(one)
        async with self.db.transaction() as conn:
            reserved = iter(await reservations.reserve_many(conn, wanted, actor=caller.subject))
        outcomes = []
        for order, answer in zip(request.orders, answers, strict=True):
            answer = answer or next(reserved)
            if isinstance(answer, DomainError):
                outcomes.append(pb.ReservationOutcome(order_id=order.order_id, problem=to_problem(answer)))
            else:
                reservation, created = answer
                outcomes.append(
                    pb.ReservationOutcome(
                        order_id=order.order_id, reservation=reservation_to_pb(reservation), created=created
                    )
                )
        return pb.BatchReserveStockResponse(outcomes=outcomes)

    async def ReleaseReservation(
        self, request: pb.ReleaseReservationRequest, context: Any
    ) -> pb.ReleaseReservationResponse:
        caller = identity.current()
        set_attributes(order_id=request.order_id)
        async with self.db.transaction() as conn:
            found = await reservations.require(conn, request.order_id, lock=True)
            identity.require_shop(found.shop_code, field="order_id", of=caller)
            reservation, _ = await reservations.release(
                conn, request.order_id, actor=caller.subject, reason=request.reason[:500]
            )
        return pb.ReleaseReservationResponse(reservation=reservation_to_pb(reservation))

    async def IssueReservation(
        self, request: pb.IssueReservationRequest, context: Any
    ) -> pb.IssueReservationResponse:
        caller = identity.current()
        set_attributes(order_id=request.order_id)
        if not request.shipment_id.strip():
            raise InvalidArgument.for_field(
                "shipment_id", "is required: stock leaves only against a document (INV-11)"
            )
        wanted = [(line.sku_code, line.quantity) for line in request.lines] or None
        async with self.db.transaction() as conn:
            await access.require_stock_mover(conn, caller)
            reservation, picks = await reservations.issue(
                conn, request.order_id, wanted, actor=caller.subject, shipment_id=request.shipment_id
            )
        return pb.IssueReservationResponse(
            reservation=reservation_to_pb(reservation),
            issued=[
                pb.IssuedLot(
                    sku_code=p.sku_code,
                    lot_id=str(p.pick.lot_id),
                    bin_code=p.pick.bin_code,
                    quantity=p.pick.quantity,
                )
                for p in picks
            ],
        )

    async def AllocatePicks(self, request: pb.AllocatePicksRequest, context: Any) -> pb.AllocatePicksResponse:
        wanted = [
            pick_allocations.ShipmentToPick(
                s.shipment_id.strip(),
                s.order_id.strip(),
                tuple((line.sku_code.strip(), line.quantity) for line in s.lines),
            )
            for s in request.shipments
        ]
        async with self.db.transaction() as conn:
            answers = await pick_allocations.allocate(conn, wanted)
        # Built in place (``add``): a message made apart is copied into the list, twice the cost or more
        # for a call's thousands of shipments.
        reply = pb.AllocatePicksResponse()
        for s, answer in zip(wanted, answers, strict=True):
            if isinstance(answer, DomainError):
                reply.shipments.add(shipment_id=s.shipment_id, refusal=f"{answer.reason}: {answer.message}")
                continue
            lots = reply.shipments.add(shipment_id=s.shipment_id).lots
            for k in answer:
                lots.add(
                    sku_code=k.sku_code,
                    lot_id=str(k.lot_id),
                    lot_label=k.lot_label,
                    bin_code=k.bin_code,
                    quantity=k.quantity,
                )
        return reply

    async def ListStockChanges(
        self, request: pb.ListStockChangesRequest, context: Any
    ) -> pb.ListStockChangesResponse:
        identity.current()
        page_size = _changes_page_size(request.page_size)
        if not 0 <= request.wait_seconds <= MAX_CHANGES_WAIT_SECONDS:
            raise InvalidArgument.for_field(
                "wait_seconds", f"must be between 0 and {MAX_CHANGES_WAIT_SECONDS}"
            )
        after = stock_changes.Cursor.parse(request.cursor)
        changed, cursor = await self._changes_after(after, page_size)
        if (
            not changed
            and request.wait_seconds
            and await self.feed_tip.wait_past(after, request.wait_seconds)
        ):
            changed, cursor = await self._changes_after(after, page_size)
        return pb.ListStockChangesResponse(changes=_availability_pb(changed), next_cursor=cursor.token())

    async def WatchStockChanges(
        self, request: pb.WatchStockChangesRequest, context: Any
    ) -> AsyncIterator[pb.WatchStockChangesResponse]:
        identity.current()
        page_size = _changes_page_size(request.page_size)
        max_seconds = request.max_seconds or MAX_WATCH_SECONDS
        if not 1 <= max_seconds <= MAX_WATCH_SECONDS:
            raise InvalidArgument.for_field("max_seconds", f"must be between 1 and {MAX_WATCH_SECONDS}")
        cursor = stock_changes.Cursor.parse(request.cursor)
        loop = asyncio.get_running_loop()
        ends = loop.time() + max_seconds
        changed, cursor = await self._changes_after(cursor, page_size)
        yield pb.WatchStockChangesResponse(changes=_availability_pb(changed), cursor=cursor.token())
        while (left := ends - loop.time()) > 0:
            if not changed and not await self.feed_tip.wait_past(
                cursor, min(left, CHANGES_KEEP_ALIVE_SECONDS)
            ):
                if ends - loop.time() > 0:
                    yield pb.WatchStockChangesResponse(cursor=cursor.token())  # keep-alive
                continue
            changed, cursor = await self._changes_after(cursor, page_size)
            if changed:
                yield pb.WatchStockChangesResponse(changes=_availability_pb(changed), cursor=cursor.token())

    async def _changes_after(
        self, after: stock_changes.Cursor, page_size: int
    ) -> tuple[list[stock_changes.SkuAvailability], stock_changes.Cursor]:
        async with self.db.connection() as conn:
            return await stock_changes.page(conn, after, page_size)

    async def GetReservation(
        self, request: pb.GetReservationRequest, context: Any
    ) -> pb.GetReservationResponse:
        async with self.db.connection() as conn:
            reservation = await reservations.require(conn, request.order_id)
        identity.require_shop(reservation.shop_code, field="order_id")
        return pb.GetReservationResponse(reservation=reservation_to_pb(reservation))

    async def PlaceHold(self, request: pb.PlaceHoldRequest, context: Any) -> pb.PlaceHoldResponse:
        caller = identity.current()
        wanted = hold_request(
            sku_code=request.sku_code,
            warehouse_code=warehouse_or_default(request.warehouse_code),
            quantity=request.quantity,
            customer_ref=request.customer_ref,
            expires_at=from_timestamp(request.expires_at) if request.HasField("expires_at") else None,
            now=datetime.now(UTC),
        )
        set_attributes(sku=wanted.sku_code)
        async with self.db.transaction() as conn:
            hold = await holds.place(conn, wanted, actor=caller.subject)
        return pb.PlaceHoldResponse(hold=hold_to_pb(hold))

    async def ReleaseHold(self, request: pb.ReleaseHoldRequest, context: Any) -> pb.ReleaseHoldResponse:
        caller = identity.current()
        hold_id = _uuid(request.hold_id, "hold_id")
        async with self.db.transaction() as conn:
            hold = await holds.release(conn, hold_id, actor=caller.subject)
        return pb.ReleaseHoldResponse(hold=hold_to_pb(hold))

    async def ListHolds(self, request: pb.ListHoldsRequest, context: Any) -> pb.ListHoldsResponse:
        identity.current()
        async with self.db.connection() as conn:
            await catalogue.get_sku(conn, request.sku_code)
            found = await holds.active_for(conn, request.sku_code)
        return pb.ListHoldsResponse(holds=[hold_to_pb(h) for h in found])

    async def GrantWarehouseAccess(
        self, request: pb.GrantWarehouseAccessRequest, context: Any
    ) -> pb.GrantWarehouseAccessResponse:
        caller = identity.current()
        approval = access_rules.grant(
            user_id=request.user_id,
            purpose=ACCESS_PURPOSE.from_pb_or_none(request.purpose, field="purpose"),
            valid_until=from_timestamp(request.valid_until),
            now=datetime.now(UTC),
            grantor=caller.subject,
            grantor_roles=caller.roles,
        )
        async with self.db.transaction() as conn:
            grant_id = await access.record(conn, approval)
        return pb.GrantWarehouseAccessResponse(grant_id=grant_id, granted_by_role=approval.granted_by_role)
