"""Pick allocations: the lots and bins each shipment of a closed wave is picked from, kept until its stock
is issued from exactly them (INV-11, LOG-2).

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pick_allocations",
        sa.Column("shipment_id", sa.Text(), primary_key=True),
        sa.Column("sku_code", sa.Text(), primary_key=True),
        sa.Column("lot_id", pg.UUID(as_uuid=True), sa.ForeignKey("lots.lot_id"), primary_key=True),
        sa.Column("bin_code", sa.Text(), primary_key=True),
        sa.Column("order_id", sa.Text(), sa.ForeignKey("reservations.order_id"), nullable=False),
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("issued", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("allocated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_pick_allocations_quantity_positive")),
    )
    op.create_index("ix_pick_allocations_order_id", "pick_allocations", ["order_id"])
    op.create_index(
        "pick_allocations_open_by_lot",
        "pick_allocations",
        ["lot_id", "warehouse_code", "bin_code"],
        postgresql_where=sa.text("NOT issued"),
    )


def downgrade() -> None:
    op.drop_table("pick_allocations")
