"""Items, places, lots, the stock ledger and balances, reservations, holds, and the kit tables.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from libs.kit_tables import create_kit_tables_v1


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v1(op.get_bind())
    op.create_table(
        "skus",
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("style_number", sa.Text(), nullable=False),
        sa.Column("colour", sa.Text(), nullable=False),
        sa.Column("size", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("barcode", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('sellable', 'packing_material')", name=op.f("ck_skus_kind")),
        sa.PrimaryKeyConstraint("sku_code", name=op.f("pk_skus")),
        sa.UniqueConstraint("barcode", name=op.f("uq_skus_barcode")),
        sa.UniqueConstraint("style_number", "colour", "size", name="uq_skus_style_colour_size"),
    )
    warehouses = op.create_table(
        "warehouses",
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sellable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("warehouse_code", name=op.f("pk_warehouses")),
    )
    # INV-2: at least one sellable warehouse and one defective-goods warehouse.
    op.bulk_insert(
        warehouses,
        [
            {"warehouse_code": "MAIN", "name": "Main warehouse", "sellable": True},
            {"warehouse_code": "DEFECTIVE", "name": "Defective goods (次品仓)", "sellable": False},
        ],
    )
    op.create_table(
        "bins",
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("bin_code", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint("bin_code <> ''", name=op.f("ck_bins_bin_code_not_empty")),
        sa.ForeignKeyConstraint(
            ["warehouse_code"], ["warehouses.warehouse_code"], name=op.f("fk_bins_warehouse_code_warehouses")
        ),
        sa.PrimaryKeyConstraint("warehouse_code", "bin_code", name=op.f("pk_bins")),
    )
    op.create_table(
        "holds",
        sa.Column("hold_id", sa.UUID(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("customer_ref", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('active', 'released', 'expired')", name=op.f("ck_holds_status")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_holds_quantity_positive")),
        sa.ForeignKeyConstraint(["sku_code"], ["skus.sku_code"], name=op.f("fk_holds_sku_code_skus")),
        sa.ForeignKeyConstraint(
            ["warehouse_code"], ["warehouses.warehouse_code"], name=op.f("fk_holds_warehouse_code_warehouses")
        ),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_holds")),
    )
    op.create_index(
        "ix_holds_due", "holds", ["expires_at"], unique=False, postgresql_where=sa.text("status = 'active'")
    )
    op.create_table(
        "lots",
        sa.Column("lot_id", sa.UUID(), nullable=False),
        sa.Column("label_id", sa.Text(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("document_type", sa.Text(), nullable=False),
        sa.Column("document_id", sa.Text(), nullable=False),
        sa.Column("quantity_received", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["sku_code"], ["skus.sku_code"], name=op.f("fk_lots_sku_code_skus")),
        sa.PrimaryKeyConstraint("lot_id", name=op.f("pk_lots")),
        sa.UniqueConstraint("label_id", name=op.f("uq_lots_label_id")),
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('active', 'released', 'issued')", name=op.f("ck_reservations_status")),
        sa.ForeignKeyConstraint(
            ["warehouse_code"],
            ["warehouses.warehouse_code"],
            name=op.f("fk_reservations_warehouse_code_warehouses"),
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_reservations")),
    )
    op.create_table(
        "stock_levels",
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("on_hand", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reserved", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("held", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("held >= 0", name=op.f("ck_stock_levels_held_non_negative")),
        sa.CheckConstraint(
            "on_hand - reserved - held >= 0", name=op.f("ck_stock_levels_available_non_negative")
        ),
        sa.CheckConstraint("on_hand >= 0", name=op.f("ck_stock_levels_on_hand_non_negative")),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_stock_levels_reserved_non_negative")),
        sa.ForeignKeyConstraint(["sku_code"], ["skus.sku_code"], name=op.f("fk_stock_levels_sku_code_skus")),
        sa.ForeignKeyConstraint(
            ["warehouse_code"],
            ["warehouses.warehouse_code"],
            name=op.f("fk_stock_levels_warehouse_code_warehouses"),
        ),
        sa.PrimaryKeyConstraint("sku_code", "warehouse_code", name=op.f("pk_stock_levels")),
    )
    op.create_table(
        "lot_stock",
        sa.Column("lot_id", sa.UUID(), nullable=False),
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("bin_code", sa.Text(), nullable=False),
        sa.Column("on_hand", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("on_hand >= 0", name=op.f("ck_lot_stock_on_hand_non_negative")),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.lot_id"], name=op.f("fk_lot_stock_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["warehouse_code"],
            ["warehouses.warehouse_code"],
            name=op.f("fk_lot_stock_warehouse_code_warehouses"),
        ),
        sa.PrimaryKeyConstraint("lot_id", "warehouse_code", "bin_code", name=op.f("pk_lot_stock")),
    )
    op.create_table(
        "reservation_lines",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("issued", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "issued >= 0 AND issued <= quantity", name=op.f("ck_reservation_lines_issued_within_quantity")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_reservation_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["reservations.order_id"], name=op.f("fk_reservation_lines_order_id_reservations")
        ),
        sa.ForeignKeyConstraint(
            ["sku_code"], ["skus.sku_code"], name=op.f("fk_reservation_lines_sku_code_skus")
        ),
        sa.PrimaryKeyConstraint("order_id", "sku_code", name=op.f("pk_reservation_lines")),
    )
    op.create_table(
        "stock_movements",
        sa.Column("movement_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("lot_id", sa.UUID(), nullable=True),
        sa.Column("bin_code", sa.Text(), server_default="", nullable=False),
        sa.Column("on_hand_delta", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reserved_delta", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("held_delta", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("document_type", sa.Text(), server_default="", nullable=False),
        sa.Column("document_id", sa.Text(), server_default="", nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "lot_id IS NOT NULL OR on_hand_delta = 0", name=op.f("ck_stock_movements_on_hand_moves_by_lot")
        ),
        sa.CheckConstraint(
            "on_hand_delta <> 0 OR reserved_delta <> 0 OR held_delta <> 0",
            name=op.f("ck_stock_movements_changes_something"),
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.lot_id"], name=op.f("fk_stock_movements_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["sku_code"], ["skus.sku_code"], name=op.f("fk_stock_movements_sku_code_skus")
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_code"],
            ["warehouses.warehouse_code"],
            name=op.f("fk_stock_movements_warehouse_code_warehouses"),
        ),
        sa.PrimaryKeyConstraint("movement_id", name=op.f("pk_stock_movements")),
    )
    op.create_index(
        "ix_stock_movements_document", "stock_movements", ["document_type", "document_id"], unique=False
    )
    op.create_index(
        "ix_stock_movements_sku_warehouse", "stock_movements", ["sku_code", "warehouse_code"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_stock_movements_sku_warehouse", table_name="stock_movements")
    op.drop_index("ix_stock_movements_document", table_name="stock_movements")
    op.drop_table("stock_movements")
    op.drop_table("reservation_lines")
    op.drop_table("lot_stock")
    op.drop_table("stock_levels")
    op.drop_table("reservations")
    op.drop_table("lots")
    op.drop_index("ix_holds_due", table_name="holds", postgresql_where=sa.text("status = 'active'"))
    op.drop_table("holds")
    op.drop_table("bins")
    op.drop_table("warehouses")
    op.drop_table("skus")
    op.drop_index("ix_outbox_pending", table_name="outbox", postgresql_where=sa.text("delivered_at IS NULL"))
    op.drop_table("outbox")
    op.drop_table("inbox")
    op.drop_table("idempotency_keys")
