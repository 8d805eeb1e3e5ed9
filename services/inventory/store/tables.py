"""Tables of the inventory database."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from libs.db import new_metadata
from libs.kit_tables import kit_tables

metadata = new_metadata()
kit = kit_tables(metadata)

warehouses = sa.Table(
    "warehouses",
    metadata,
    sa.Column("warehouse_code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    # False for the defective-goods warehouse (INV-2).
    sa.Column("sellable", sa.Boolean, nullable=False),
)

skus = sa.Table(
    "skus",
    metadata,
    sa.Column("sku_code", sa.Text, primary_key=True),
    sa.Column("style_number", sa.Text, nullable=False),
    sa.Column("colour", sa.Text, nullable=False),
    sa.Column("size", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("barcode", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("style_number", "colour", "size", name="uq_skus_style_colour_size"),
    sa.CheckConstraint("kind IN ('sellable', 'packing_material')", name="kind"),
)

# The append-only ledger: every change of on-hand is one row here (INV-14).
stock_movements = sa.Table(
    "stock_movements",
    metadata,
    sa.Column("movement_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), nullable=False),
    sa.Column("warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("quantity <> 0", name="quantity_nonzero"),
    sa.Index("ix_stock_movements_sku_warehouse", "sku_code", "warehouse_code"),
)

# Balances derived from the ledger, kept in the same transaction; CHECKs are the last line against
# negative stock.
stock_levels = sa.Table(
    "stock_levels",
    metadata,
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), primary_key=True),
    sa.Column("warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), primary_key=True),
    sa.Column("on_hand", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("held", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("on_hand >= 0", name="on_hand_non_negative"),
    sa.CheckConstraint("reserved >= 0", name="reserved_non_negative"),
    sa.CheckConstraint("held >= 0", name="held_non_negative"),
    sa.CheckConstraint("on_hand - reserved - held >= 0", name="available_non_negative"),
)
