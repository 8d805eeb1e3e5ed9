"""Replenishment policies (seeded with the defaults of INV-15) and plans; suppliers and their returns.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replenishment_plans",
        sa.Column("plan_id", sa.UUID(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('proposed', 'approved')", name=op.f("ck_replenishment_plans_status")),
        sa.PrimaryKeyConstraint("plan_id", name=op.f("pk_replenishment_plans")),
    )
    policies = op.create_table(
        "replenishment_policies",
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("low_cover_days", sa.Integer(), nullable=False),
        sa.Column("order_days", sa.Integer(), nullable=False),
        sa.Column("fast_daily_units", sa.Integer(), nullable=True),
        sa.Column("fast_order_days", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("category", name=op.f("pk_replenishment_policies")),
    )
    # INV-15's defaults, as data: tea (West Lake Longjing) below 2 days of cover orders 7 days of sales, or 3
    # days for a SKU selling more than 100 a day; every other category below 5 days orders 15 days.
    op.bulk_insert(
        policies,
        [
            {
                "category": "tea",
                "low_cover_days": 2,
                "order_days": 7,
                "fast_daily_units": 100,
                "fast_order_days": 3,
                "updated_by": "system",
            },
            {
                "category": "*",
                "low_cover_days": 5,
                "order_days": 15,
                "fast_daily_units": None,
                "fast_order_days": None,
                "updated_by": "system",
            },
        ],
    )
    op.create_table(
        "supplier_returns",
        sa.Column("return_id", sa.UUID(), nullable=False),
        sa.Column("supplier_code", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("return_id", name=op.f("pk_supplier_returns")),
    )
    op.create_table(
        "suppliers",
        sa.Column("supplier_code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('manufacturer', 'sporadic')", name=op.f("ck_suppliers_kind")),
        sa.PrimaryKeyConstraint("supplier_code", name=op.f("pk_suppliers")),
    )
    op.create_table(
        "replenishment_plan_lines",
        sa.Column("plan_id", sa.UUID(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("available", sa.BigInteger(), nullable=False),
        sa.Column("units_sold", sa.BigInteger(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("order_days", sa.Integer(), nullable=False),
        sa.Column("order_quantity", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["replenishment_plans.plan_id"],
            name=op.f("fk_replenishment_plan_lines_plan_id_replenishment_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["sku_code"], ["skus.sku_code"], name=op.f("fk_replenishment_plan_lines_sku_code_skus")
        ),
        sa.PrimaryKeyConstraint("plan_id", "sku_code", name=op.f("pk_replenishment_plan_lines")),
    )


def downgrade() -> None:
    op.drop_table("replenishment_plan_lines")
    op.drop_table("suppliers")
    op.drop_table("supplier_returns")
    op.drop_table("replenishment_policies")
    op.drop_table("replenishment_plans")
