"""Items, warehouses, the stock ledger and balances, and the kit tables.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from libs.kit_tables import create_kit_tables_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v1(op.get_bind())
    warehouses = op.create_table(
        "warehouses",
        sa.Column("warehouse_code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("sellable", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("warehouse_code", name="pk_warehouses"),
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
        "skus",
        sa.Column("sku_code", sa.Text, nullable=False),
        sa.Column("style_number", sa.Text, nullable=False),
        sa.Column("colour", sa.Text, nullable=False),
        sa.Column("size", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("barcode", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("sku_code", name="pk_skus"),
        sa.UniqueConstraint("barcode", name="uq_skus_barcode"),
        sa.UniqueConstraint("style_number", "colour", "size", name="uq_skus_style_colour_size"),
        sa.CheckConstraint("kind IN ('sellable', 'packing_material')", name="ck_skus_kind"),
    )
    op.create_table(
        "stock_movements",
        sa.Column("movement_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("sku_code", sa.Text, nullable=False),
        sa.Column("warehouse_code", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, server_default="", nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("movement_id", name="pk_stock_movements"),
        sa.ForeignKeyConstraint(["sku_code"], ["skus.sku_code"], name="fk_stock_movements_sku_code_skus"),
        sa.ForeignKeyConstraint(
            ["warehouse_code"],
            ["warehouses.warehouse_code"],
            name="fk_stock_movements_warehouse_code_warehouses",
        ),
        sa.CheckConstraint("quantity <> 0", name="ck_stock_movements_quantity_nonzero"),
    )
    op.create_index("ix_stock_movements_sku_warehouse", "stock_movements", ["sku_code", "warehouse_code"])
    op.create_table(
        "stock_levels",
        sa.Column("sku_code", sa.Text, nullable=False),
        sa.Column("warehouse_code", sa.Text, nullable=False),
        sa.Column("on_hand", sa.BigInteger, server_default="0", nullable=False),
        sa.Column("reserved", sa.BigInteger, server_default="0", nullable=False),
        sa.Column("held", sa.BigInteger, server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("sku_code", "warehouse_code", name="pk_stock_levels"),
        sa.ForeignKeyConstraint(["sku_code"], ["skus.sku_code"], name="fk_stock_levels_sku_code_skus"),
        sa.ForeignKeyConstraint(
            ["warehouse_code"], ["warehouses.warehouse_code"], name="fk_stock_levels_warehouse_code_warehouses"
        ),
        sa.CheckConstraint("on_hand >= 0", name="ck_stock_levels_on_hand_non_negative"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_levels_reserved_non_negative"),
        sa.CheckConstraint("held >= 0", name="ck_stock_levels_held_non_negative"),
        sa.CheckConstraint("on_hand - reserved - held >= 0", name="ck_stock_levels_available_non_negative"),
    )


def downgrade() -> None:
    for table in ("stock_levels", "stock_movements", "skus", "warehouses", "idempotency_keys", "inbox", "outbox"):
        op.drop_table(table)
