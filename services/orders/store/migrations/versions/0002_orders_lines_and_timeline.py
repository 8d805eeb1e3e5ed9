"""Orders, their lines and timelines.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("channel_order_id", sa.Text(), nullable=False),
        sa.Column("shop_code", sa.Text(), nullable=False),
        sa.Column("buyer_id", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("province", sa.Text(), nullable=False),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("district", sa.Text(), nullable=False),
        sa.Column("street", sa.Text(), nullable=False),
        sa.Column("buyer_message", sa.Text(), server_default="", nullable=False),
        sa.Column("service_note", sa.Text(), server_default="", nullable=False),
        sa.Column("notes_resolved", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("hold_category", sa.Text(), nullable=True),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("reservation_state", sa.Text(), server_default="none", nullable=False),
        sa.Column("goods_fen", sa.BigInteger(), nullable=False),
        sa.Column("discount_fen", sa.BigInteger(), nullable=False),
        sa.Column("shipping_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_reference", sa.Text(), server_default="", nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "reservation_state IN ('none', 'reserving', 'reserved', 'releasing', 'released')",
            name=op.f("ck_orders_reservation_state"),
        ),
        sa.CheckConstraint("refunded_fen <= paid_fen", name=op.f("ck_orders_refund_within_payment")),
        sa.CheckConstraint(
            "total_fen >= 0 AND paid_fen >= 0 AND refunded_fen >= 0",
            name=op.f("ck_orders_money_non_negative"),
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
        sa.UniqueConstraint("channel", "channel_order_id", name="uq_orders_channel_order"),
    )
    op.create_index(
        "ix_orders_saga_pending",
        "orders",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("reservation_state IN ('reserving', 'releasing')"),
    )
    op.create_index("ix_orders_status", "orders", ["status", "paid_at"], unique=False)
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0 AND unit_price_fen >= 0", name=op.f("ck_order_lines_line_values")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name=op.f("fk_order_lines_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", "line_no", name=op.f("pk_order_lines")),
    )
    op.create_table(
        "order_timeline",
        sa.Column("entry_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name=op.f("fk_order_timeline_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_order_timeline")),
    )
    op.create_index("ix_order_timeline_order", "order_timeline", ["order_id", "entry_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_order_timeline_order", table_name="order_timeline")
    op.drop_table("order_timeline")
    op.drop_table("order_lines")
    op.drop_index("ix_orders_status", table_name="orders")
    op.drop_index(
        "ix_orders_saga_pending",
        table_name="orders",
        postgresql_where=sa.text("reservation_state IN ('reserving', 'releasing')"),
    )
    op.drop_table("orders")
