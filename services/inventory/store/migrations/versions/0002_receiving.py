"""Receiving: receipts from delivery notes, their lines with quality sampling, signatures, and styles.

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
        "receipts",
        sa.Column("receipt_id", sa.UUID(), nullable=False),
        sa.Column("supplier_code", sa.Text(), nullable=False),
        sa.Column("delivery_note_number", sa.Text(), nullable=False),
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("posted_by", sa.Text(), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'posted', 'rejected')", name=op.f("ck_receipts_status")),
        sa.ForeignKeyConstraint(
            ["warehouse_code"],
            ["warehouses.warehouse_code"],
            name=op.f("fk_receipts_warehouse_code_warehouses"),
        ),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("supplier_code", "delivery_note_number", name="uq_receipts_supplier_note"),
    )
    op.create_index(
        "ix_receipts_open",
        "receipts",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "receipt_lines",
        sa.Column("receipt_id", sa.UUID(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("expected", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=True),
        sa.Column("round1_inspected", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("round1_failed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("round2_inspected", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("round2_failed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("full_good", sa.BigInteger(), nullable=True),
        sa.Column("full_defective", sa.BigInteger(), nullable=True),
        sa.Column("lot_id", sa.UUID(), nullable=True),
        sa.Column("defective_lot_id", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "expected >= 0 AND (received IS NULL OR received >= 0)", name=op.f("ck_receipt_lines_quantities")
        ),
        sa.ForeignKeyConstraint(
            ["defective_lot_id"], ["lots.lot_id"], name=op.f("fk_receipt_lines_defective_lot_id_lots")
        ),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.lot_id"], name=op.f("fk_receipt_lines_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.receipt_id"], name=op.f("fk_receipt_lines_receipt_id_receipts")
        ),
        sa.ForeignKeyConstraint(["sku_code"], ["skus.sku_code"], name=op.f("fk_receipt_lines_sku_code_skus")),
        sa.PrimaryKeyConstraint("receipt_id", "line_no", name=op.f("pk_receipt_lines")),
    )
    op.create_table(
        "receipt_signatures",
        sa.Column("receipt_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.receipt_id"], name=op.f("fk_receipt_signatures_receipt_id_receipts")
        ),
        sa.PrimaryKeyConstraint("receipt_id", "role", name=op.f("pk_receipt_signatures")),
        sa.UniqueConstraint("receipt_id", "user_id", name="uq_receipt_signatures_one_per_person"),
    )
    op.create_table(
        "styles",
        sa.Column("style_number", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("first_receipt_id", sa.UUID(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("photos_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["first_receipt_id"], ["receipts.receipt_id"], name=op.f("fk_styles_first_receipt_id_receipts")
        ),
        sa.PrimaryKeyConstraint("style_number", name=op.f("pk_styles")),
    )


def downgrade() -> None:
    op.drop_table("styles")
    op.drop_table("receipt_signatures")
    op.drop_table("receipt_lines")
    op.drop_index("ix_receipts_open", table_name="receipts", postgresql_where=sa.text("status = 'open'"))
    op.drop_table("receipts")
