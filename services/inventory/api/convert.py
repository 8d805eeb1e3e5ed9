"""Protobuf <-> domain conversions of the inventory API."""

from __future__ import annotations

from datetime import datetime

from shop.inventory.v1 import inventory_pb2 as pb

from libs.timestamps import to_timestamp
from services.inventory.api.enums import HOLD_STATUS, RESERVATION_STATUS, SKU_KIND
from services.inventory.domain.lots import LotStock
from services.inventory.domain.places import Warehouse
from services.inventory.domain.skus import Sku
from services.inventory.domain.stock import StockLevel
from services.inventory.store.holds import Hold
from services.inventory.store.reservations import Reservation


def sku_to_pb(sku: Sku, created_at: datetime) -> pb.Sku:
    return pb.Sku(
        sku_code=sku.sku_code,
        style_number=sku.style_number,
        colour=sku.colour,
        size=sku.size,
        name=sku.name,
        category=sku.category,
        barcode=sku.barcode,
        kind=SKU_KIND.to_pb(sku.kind),
        created_at=to_timestamp(created_at),
    )


def warehouse_to_pb(warehouse: Warehouse) -> pb.Warehouse:
    return pb.Warehouse(
        warehouse_code=warehouse.warehouse_code, name=warehouse.name, sellable=warehouse.sellable
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


def lot_to_pb(lot: LotStock) -> pb.LotStock:
    return pb.LotStock(
        lot_id=str(lot.lot_id),
        label_id=lot.label_id,
        sku_code=lot.sku_code,
        warehouse_code=lot.warehouse_code,
        bin_code=lot.bin_code,
        received_at=to_timestamp(lot.received_at),
        on_hand=lot.on_hand,
    )


def reservation_to_pb(reservation: Reservation) -> pb.Reservation:
    return pb.Reservation(
        order_id=reservation.order_id,
        warehouse_code=reservation.warehouse_code,
        status=RESERVATION_STATUS.to_pb(reservation.status),
        lines=[
            pb.ReservationLine(sku_code=line.sku_code, quantity=line.quantity, issued=line.issued)
            for line in reservation.lines
        ],
        created_at=to_timestamp(reservation.created_at),
        shop_code=reservation.shop_code,
    )


def hold_to_pb(hold: Hold) -> pb.Hold:
    return pb.Hold(
        hold_id=str(hold.hold_id),
        sku_code=hold.sku_code,
        warehouse_code=hold.warehouse_code,
        quantity=hold.quantity,
        customer_ref=hold.customer_ref,
        status=HOLD_STATUS.to_pb(hold.status),
        expires_at=to_timestamp(hold.expires_at),
        created_at=to_timestamp(hold.created_at),
    )
