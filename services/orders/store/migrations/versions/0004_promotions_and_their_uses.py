"""Promotions (ORD-8) and their uses by orders.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("promotion_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("eligible_skus", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("eligible_categories", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("coupon_code", sa.Text(), nullable=True),
        sa.Column("amount_off_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("threshold_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("repeat", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("max_off_fen", sa.BigInteger(), nullable=True),
        sa.Column("rate_bp", sa.Integer(), server_default="0", nullable=False),
        sa.Column("stackable", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=True),
        sa.Column("per_buyer_limit", sa.Integer(), nullable=True),
        sa.Column("spent_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "budget_fen IS NULL OR spent_fen <= budget_fen", name=op.f("ck_promotions_within_budget")
        ),
        sa.PrimaryKeyConstraint("promotion_id", name=op.f("pk_promotions")),
        sa.UniqueConstraint("coupon_code", name=op.f("uq_promotions_coupon_code")),
    )
    op.create_index("ix_promotions_window", "promotions", ["starts_at", "ends_at"], unique=False)
    op.create_table(
        "promotion_uses",
        sa.Column("promotion_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("buyer_id", sa.Text(), nullable=False),
        sa.Column("discount_fen", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name=op.f("fk_promotion_uses_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.promotion_id"],
            name=op.f("fk_promotion_uses_promotion_id_promotions"),
        ),
        sa.PrimaryKeyConstraint("promotion_id", "order_id", name=op.f("pk_promotion_uses")),
    )
    op.create_index("ix_promotion_uses_buyer", "promotion_uses", ["promotion_id", "buyer_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_promotion_uses_buyer", table_name="promotion_uses")
    op.drop_table("promotion_uses")
    op.drop_index("ix_promotions_window", table_name="promotions")
    op.drop_table("promotions")
