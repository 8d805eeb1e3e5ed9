"""Amendments before release (ORD-7), split shipments, and refunds (ORD-4, ORD-9).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_amendments",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("carrier_code", sa.Text(), server_default="", nullable=False),
        sa.Column("invoice_title", sa.Text(), server_default="", nullable=False),
        sa.Column("invoice_tax_id", sa.Text(), server_default="", nullable=False),
        sa.Column("invoice_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name=op.f("fk_order_amendments_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_amendments")),
    )
    op.create_table(
        "order_shipments",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("shipment_no", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("province", sa.Text(), nullable=False),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("district", sa.Text(), nullable=False),
        sa.Column("street", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name=op.f("fk_order_shipments_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", "shipment_no", name=op.f("pk_order_shipments")),
    )
    op.create_table(
        "refunds",
        sa.Column("refund_id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("refunded_by", sa.Text(), nullable=False),
        sa.Column("refunded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], name=op.f("fk_refunds_order_id_orders")),
        sa.PrimaryKeyConstraint("refund_id", name=op.f("pk_refunds")),
    )
    op.create_index("ix_refunds_at", "refunds", ["refunded_at"], unique=False)
    op.create_table(
        "order_shipment_lines",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("shipment_no", sa.Integer(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_shipment_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["order_id", "shipment_no"],
            ["order_shipments.order_id", "order_shipments.shipment_no"],
            name="fk_order_shipment_lines_shipment",
        ),
        sa.PrimaryKeyConstraint("order_id", "shipment_no", "sku_code", name=op.f("pk_order_shipment_lines")),
    )


def downgrade() -> None:
    op.drop_table("order_shipment_lines")
    op.drop_index("ix_refunds_at", table_name="refunds")
    op.drop_table("refunds")
    op.drop_table("order_shipments")
    op.drop_table("order_amendments")
