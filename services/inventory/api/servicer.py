"""InventoryService: translates protobuf requests into domain operations and store calls."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc as pb_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import identity
from libs.db import Database
from libs.errors import InvalidArgument
from libs.idempotency import transact_once
from libs.telemetry import set_attributes
from libs.timestamps import from_timestamp
from services.inventory.api.convert import (
    KIND_FROM_PB,
    hold_to_pb,
    level_to_pb,
    lot_to_pb,
    reservation_to_pb,
    sku_to_pb,
)
from services.inventory.api.counts import CountsApi
from services.inventory.api.planning import PlanningApi
from services.inventory.api.receiving import ReceivingApi
from services.inventory.api.transfers import TransfersApi
from services.inventory.domain import access as access_rules
from services.inventory.domain import places
from services.inventory.domain.lots import label_id_for
from services.inventory.domain.reservations import hold_request, reservation_request
from services.inventory.domain.skus import new_sku
from services.inventory.domain.stock import Movement, MovementKind, put_away, stock_in
from services.inventory.store import access, catalogue, holds, ledger, reservations, transfers
from services.inventory.store.tables import kit

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["InventoryService"].full_name
DEFAULT_WAREHOUSE = "MAIN"
_PURPOSE = {
    pb.ACCESS_PURPOSE_GOODS_HANDLING: access_rules.Purpose.GOODS_HANDLING,
    pb.ACCESS_PURPOSE_SPECIAL: access_rules.Purpose.SPECIAL,
}

# Who may do what. INV-18: only stock keepers move stock in the warehouse.
CATALOGUE_EDITORS = ("stock_keeper", "warehouse_supervisor", "purchasing", "integrator")
PLACE_EDITORS = ("warehouse_supervisor",)
# Reservations are made and released by the order flow (the orders service calls as integrator or on behalf
# of customer service and supervisors).
RESERVERS = ("integrator", "customer_service", "supervisor", "stock_keeper")
HOLDERS = ("promoter", "customer_service", "supervisor")


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.for_field(field, f"must be a UUID, got {value!r}") from None


class InventoryServicer(ReceivingApi, TransfersApi, CountsApi, PlanningApi, pb_grpc.InventoryServiceServicer):  # type: ignore[misc]
    def __init__(self, database: Database) -> None:
        self.db = database

    # --- items and places -------------------------------------------------------------------------

    async def RegisterSku(self, request: pb.RegisterSkuRequest, context: Any) -> pb.RegisterSkuResponse:
        caller = identity.require_role(*CATALOGUE_EDITORS)
        sku = new_sku(
            sku_code=request.sku_code,
            style_number=request.style_number,
            colour=request.colour,
            size=request.size,
            name=request.name,
            category=request.category,
            barcode=request.barcode,
            kind=KIND_FROM_PB.get(request.kind),
        )
        set_attributes(sku=sku.sku_code)

        async def register(conn: AsyncConnection) -> pb.RegisterSkuResponse:
            created_at = await catalogue.add_sku(conn, sku, actor=caller.subject)
            return pb.RegisterSkuResponse(sku=sku_to_pb(sku, created_at))

        return await transact_once(
            self.db, kit.idempotency, operation="RegisterSku", request_id=request.request_id,
            request=request, response_type=pb.RegisterSkuResponse, perform=register,
        )  # fmt: skip

    async def GetSku(self, request: pb.GetSkuRequest, context: Any) -> pb.GetSkuResponse:
        identity.current()
        set_attributes(sku=request.sku_code)
        async with self.db.connection() as conn:
            sku, created_at = await catalogue.get_sku(conn, request.sku_code)
        return pb.GetSkuResponse(sku=sku_to_pb(sku, created_at))

    async def CreateWarehouse(
        self, request: pb.CreateWarehouseRequest, context: Any
    ) -> pb.CreateWarehouseResponse:
        identity.require_role(*PLACE_EDITORS)
        warehouse = places.new_warehouse(request.warehouse_code, request.name, request.sellable)

        async def create(conn: AsyncConnection) -> pb.CreateWarehouseResponse:
            await catalogue.add_warehouse(conn, warehouse)
            return pb.CreateWarehouseResponse(
                warehouse=pb.Warehouse(
                    warehouse_code=warehouse.warehouse_code, name=warehouse.name, sellable=warehouse.sellable
                )
            )

        return await transact_once(
            self.db, kit.idempotency, operation="CreateWarehouse", request_id=request.request_id,
            request=request, response_type=pb.CreateWarehouseResponse, perform=create,
        )  # fmt: skip

    async def ListWarehouses(
        self, request: pb.ListWarehousesRequest, context: Any
    ) -> pb.ListWarehousesResponse:
        identity.current()
        async with self.db.connection() as conn:
            found = await catalogue.list_warehouses(conn)
        return pb.ListWarehousesResponse(
            warehouses=[
                pb.Warehouse(warehouse_code=w.warehouse_code, name=w.name, sellable=w.sellable) for w in found
            ]
        )

    async def CreateBin(self, request: pb.CreateBinRequest, context: Any) -> pb.CreateBinResponse:
        identity.require_role(*PLACE_EDITORS)
        bin_ = places.new_bin(request.warehouse_code, request.bin_code, request.description)

        async def create(conn: AsyncConnection) -> pb.CreateBinResponse:
            await catalogue.add_bin(conn, bin_)
            return pb.CreateBinResponse(
                bin=pb.Bin(
                    warehouse_code=bin_.warehouse_code, bin_code=bin_.bin_code, description=bin_.description
                )
            )

        return await transact_once(
            self.db, kit.idempotency, operation="CreateBin", request_id=request.request_id,
            request=request, response_type=pb.CreateBinResponse, perform=create,
        )  # fmt: skip

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
            warehouse_code=request.warehouse_code,
            quantity=request.quantity,
            note=request.note,
            bin_code=request.bin_code,
        )
        set_attributes(sku=receipt.sku_code, warehouse=receipt.warehouse_code)

        async def receive(conn: AsyncConnection) -> pb.ReceiveStockResponse:
            await access.require_stock_mover(conn, caller)
            await catalogue.get_sku(conn, receipt.sku_code)
            await catalogue.warehouse_sellable(conn, receipt.warehouse_code)
            if receipt.bin_code:
                await catalogue.require_bin(conn, receipt.warehouse_code, receipt.bin_code)
            lot_id = uuid.uuid4()
            await ledger.new_lot(
                conn,
                lot_id=lot_id,
                label_id=label_id_for(receipt.sku_code, lot_id),
                sku_code=receipt.sku_code,
                quantity=receipt.quantity,
                document_type="stock_in",
                document_id=request.request_id,
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
                        document_id=request.request_id,
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

        return await transact_once(
            self.db, kit.idempotency, operation="ReceiveStock", request_id=request.request_id,
            request=request, response_type=pb.ReceiveStockResponse, perform=receive,
        )  # fmt: skip

    async def PutAway(self, request: pb.PutAwayRequest, context: Any) -> pb.PutAwayResponse:
        caller = identity.current()
        lot_id = _uuid(request.lot_id, "lot_id")
        move = put_away(
            warehouse_code=request.warehouse_code,
            from_bin_code=request.from_bin_code,
            to_bin_code=request.to_bin_code,
            quantity=request.quantity,
        )

        async def perform(conn: AsyncConnection) -> pb.PutAwayResponse:
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
                "document_id": request.request_id,
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

        return await transact_once(
            self.db, kit.idempotency, operation="PutAway", request_id=request.request_id,
            request=request, response_type=pb.PutAwayResponse, perform=perform,
        )  # fmt: skip

    async def GetStockLevels(
        self, request: pb.GetStockLevelsRequest, context: Any
    ) -> pb.GetStockLevelsResponse:
        identity.current()
        set_attributes(sku=request.sku_code)
        async with self.db.connection() as conn:
            await catalogue.get_sku(conn, request.sku_code)
            levels = {
                lv.warehouse_code: level_to_pb(lv) for lv in await ledger.levels_of(conn, request.sku_code)
            }
            for warehouse_code, units in (await transfers.in_transit_to(conn, request.sku_code)).items():
                if warehouse_code not in levels:
                    levels[warehouse_code] = level_to_pb(
                        await ledger.level_of(conn, request.sku_code, warehouse_code)
                    )
                levels[warehouse_code].in_transit = units
        return pb.GetStockLevelsResponse(levels=[levels[code] for code in sorted(levels)])

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
        caller = identity.require_role(*RESERVERS)
        wanted = reservation_request(
            request.order_id,
            request.warehouse_code or DEFAULT_WAREHOUSE,
            [(line.sku_code, line.quantity) for line in request.lines],
        )
        set_attributes(order_id=wanted.order_id)
        async with self.db.transaction() as conn:
            reservation, created = await reservations.reserve(conn, wanted, actor=caller.subject)
        return pb.ReserveStockResponse(reservation=reservation_to_pb(reservation), created=created)

    async def ReleaseReservation(
        self, request: pb.ReleaseReservationRequest, context: Any
    ) -> pb.ReleaseReservationResponse:
        caller = identity.require_role(*RESERVERS)
        set_attributes(order_id=request.order_id)
        async with self.db.transaction() as conn:
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

        async def perform(conn: AsyncConnection) -> pb.IssueReservationResponse:
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

        return await transact_once(
            self.db, kit.idempotency, operation="IssueReservation", request_id=request.request_id,
            request=request, response_type=pb.IssueReservationResponse, perform=perform,
        )  # fmt: skip

    async def GetReservation(
        self, request: pb.GetReservationRequest, context: Any
    ) -> pb.GetReservationResponse:
        identity.current()
        async with self.db.connection() as conn:
            reservation = await reservations.require(conn, request.order_id)
        return pb.GetReservationResponse(reservation=reservation_to_pb(reservation))

    async def PlaceHold(self, request: pb.PlaceHoldRequest, context: Any) -> pb.PlaceHoldResponse:
        caller = identity.require_role(*HOLDERS)
        wanted = hold_request(
            sku_code=request.sku_code,
            warehouse_code=request.warehouse_code or DEFAULT_WAREHOUSE,
            quantity=request.quantity,
            customer_ref=request.customer_ref,
            expires_at=from_timestamp(request.expires_at) if request.HasField("expires_at") else None,
            now=datetime.now(UTC),
        )
        set_attributes(sku=wanted.sku_code)

        async def perform(conn: AsyncConnection) -> pb.PlaceHoldResponse:
            return pb.PlaceHoldResponse(
                hold=hold_to_pb(await holds.place(conn, wanted, actor=caller.subject))
            )

        return await transact_once(
            self.db, kit.idempotency, operation="PlaceHold", request_id=request.request_id,
            request=request, response_type=pb.PlaceHoldResponse, perform=perform,
        )  # fmt: skip

    async def ReleaseHold(self, request: pb.ReleaseHoldRequest, context: Any) -> pb.ReleaseHoldResponse:
        caller = identity.require_role(*HOLDERS)
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
            purpose=_PURPOSE.get(request.purpose),
            valid_until=from_timestamp(request.valid_until),
            now=datetime.now(UTC),
            grantor=caller.subject,
            grantor_roles=caller.roles,
        )
        async with self.db.transaction() as conn:
            grant_id = await access.record(conn, approval)
        return pb.GrantWarehouseAccessResponse(grant_id=grant_id, granted_by_role=approval.granted_by_role)
