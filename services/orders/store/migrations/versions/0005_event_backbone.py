"""The event backbone: kit tables version 2 (retention indexes, the relay's wake-up trigger), large
promotions announced to the warehouse, and re-review requests for orders held for short stock.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from libs.kit_tables import create_kit_tables_v2, drop_kit_tables_v2

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v2(op.get_bind())
    op.add_column("promotions", sa.Column("large", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("promotions", sa.Column("revision", sa.BigInteger(), server_default="1", nullable=False))
    op.create_table(
        "review_requests",
        sa.Column("order_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("traceparent", sa.Text(), server_default="", nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.order_id"], name=op.f("fk_review_requests_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_review_requests")),
    )


def downgrade() -> None:
    op.drop_table("review_requests")
    op.drop_column("promotions", "revision")
    op.drop_column("promotions", "large")
    drop_kit_tables_v2(op.get_bind())
