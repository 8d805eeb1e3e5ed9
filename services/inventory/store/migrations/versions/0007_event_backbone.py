"""The event backbone: kit tables version 2 (retention indexes, the relay's wake-up trigger), what a count
cut (INV-13), and the large promotions announced by the orders service (INV-16).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from libs.kit_tables import create_kit_tables_v2, drop_kit_tables_v2

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v2(op.get_bind())
    op.add_column(
        "counts",
        sa.Column("cut_order_ids", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
    )
    op.add_column(
        "counts",
        sa.Column("cut_hold_ids", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
    )
    op.drop_constraint(op.f("ck_reservations_status"), "reservations", type_="check")
    op.create_check_constraint(
        op.f("ck_reservations_status"), "reservations", "status IN ('active', 'released', 'issued', 'cut')"
    )
    op.create_table(
        "scheduled_promotions",
        sa.Column("promotion_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("promotion_id", name=op.f("pk_scheduled_promotions")),
    )


def downgrade() -> None:
    op.drop_table("scheduled_promotions")
    op.drop_constraint(op.f("ck_reservations_status"), "reservations", type_="check")
    op.create_check_constraint(op.f("ck_reservations_status"), "reservations", "status IN ('active', 'released', 'issued')")
    op.drop_column("counts", "cut_hold_ids")
    op.drop_column("counts", "cut_order_ids")
    drop_kit_tables_v2(op.get_bind())
