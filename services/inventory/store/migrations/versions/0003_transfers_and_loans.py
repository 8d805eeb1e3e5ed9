"""Transfers between warehouses, sample loans, and the lots each document took out.

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
        "loans",
        sa.Column("loan_id", sa.UUID(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("borrower", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("lent_by", sa.Text(), nullable=False),
        sa.Column("lent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extended", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("returned_by", sa.Text(), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('out', 'returned')", name=op.f("ck_loans_status")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_loans_quantity_positive")),
        sa.ForeignKeyConstraint(["sku_code"], ["skus.sku_code"], name=op.f("fk_loans_sku_code_skus")),
        sa.ForeignKeyConstraint(
            ["warehouse_code"], ["warehouses.warehouse_code"], name=op.f("fk_loans_warehouse_code_warehouses")
        ),
        sa.PrimaryKeyConstraint("loan_id", name=op.f("pk_loans")),
    )
    op.create_table(
        "transfers",
        sa.Column("transfer_id", sa.UUID(), nullable=False),
        sa.Column("from_warehouse_code", sa.Text(), nullable=False),
        sa.Column("to_warehouse_code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column(
            "requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("shipped_by", sa.Text(), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_by", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('requested', 'in_transit', 'received', 'cancelled')", name=op.f("ck_transfers_status")
        ),
        sa.CheckConstraint("from_warehouse_code <> to_warehouse_code", name=op.f("ck_transfers_two_places")),
        sa.ForeignKeyConstraint(
            ["from_warehouse_code"],
            ["warehouses.warehouse_code"],
            name=op.f("fk_transfers_from_warehouse_code_warehouses"),
        ),
        sa.ForeignKeyConstraint(
            ["to_warehouse_code"],
            ["warehouses.warehouse_code"],
            name=op.f("fk_transfers_to_warehouse_code_warehouses"),
        ),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_transfers")),
    )
    op.create_table(
        "document_picks",
        sa.Column("document_type", sa.Text(), nullable=False),
        sa.Column("document_id", sa.Text(), nullable=False),
        sa.Column("lot_id", sa.UUID(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_document_picks_quantity_positive")),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.lot_id"], name=op.f("fk_document_picks_lot_id_lots")),
        sa.ForeignKeyConstraint(
            ["sku_code"], ["skus.sku_code"], name=op.f("fk_document_picks_sku_code_skus")
        ),
        sa.PrimaryKeyConstraint("document_type", "document_id", "lot_id", name=op.f("pk_document_picks")),
    )
    op.create_table(
        "transfer_lines",
        sa.Column("transfer_id", sa.UUID(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_transfer_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["sku_code"], ["skus.sku_code"], name=op.f("fk_transfer_lines_sku_code_skus")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.transfer_id"], name=op.f("fk_transfer_lines_transfer_id_transfers")
        ),
        sa.PrimaryKeyConstraint("transfer_id", "sku_code", name=op.f("pk_transfer_lines")),
    )


def downgrade() -> None:
    op.drop_table("transfer_lines")
    op.drop_table("document_picks")
    op.drop_table("transfers")
    op.drop_table("loans")
