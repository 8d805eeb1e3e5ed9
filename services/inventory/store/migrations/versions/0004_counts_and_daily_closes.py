"""Count sheets and their lines (INV-13), and the daily closes (INV-14).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "day_closes",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("closed_by", sa.Text(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("movements", sa.Integer(), nullable=False),
        sa.Column("receipts_posted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("business_date", name=op.f("pk_day_closes")),
    )
    op.create_table(
        "counts",
        sa.Column("count_id", sa.UUID(), nullable=False),
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("planned_for", sa.Date(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("responsible_person", sa.Text(), server_default="", nullable=False),
        sa.Column("damaged_disposition", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('cycle', 'full')", name=op.f("ck_counts_kind")),
        sa.CheckConstraint("status IN ('open', 'posted')", name=op.f("ck_counts_status")),
        sa.ForeignKeyConstraint(
            ["warehouse_code"],
            ["warehouses.warehouse_code"],
            name=op.f("fk_counts_warehouse_code_warehouses"),
        ),
        sa.PrimaryKeyConstraint("count_id", name=op.f("pk_counts")),
    )
    op.create_table(
        "count_lines",
        sa.Column("count_id", sa.UUID(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("lot_id", sa.UUID(), nullable=False),
        sa.Column("bin_code", sa.Text(), nullable=False),
        sa.Column("book", sa.BigInteger(), nullable=False),
        sa.Column("counted", sa.BigInteger(), nullable=True),
        sa.Column("damaged", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "counted IS NULL OR (counted >= 0 AND damaged <= counted)", name=op.f("ck_count_lines_quantities")
        ),
        sa.ForeignKeyConstraint(
            ["count_id"], ["counts.count_id"], name=op.f("fk_count_lines_count_id_counts")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.lot_id"], name=op.f("fk_count_lines_lot_id_lots")),
        sa.ForeignKeyConstraint(["sku_code"], ["skus.sku_code"], name=op.f("fk_count_lines_sku_code_skus")),
        sa.PrimaryKeyConstraint("count_id", "line_no", name=op.f("pk_count_lines")),
    )


def downgrade() -> None:
    op.drop_table("count_lines")
    op.drop_table("counts")
    op.drop_table("day_closes")
