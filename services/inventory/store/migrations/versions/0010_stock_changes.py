"""The stock change feed: one row per SKU whose available stock a transaction changed, with the
transaction's id, so that integrators can follow available stock with a cursor (INV-10).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE stock_changes (
            seq bigserial PRIMARY KEY,
            tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
            sku_code text NOT NULL,
            changed_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.create_index("ix_stock_changes_tx_seq", "stock_changes", ["tx", "seq"])
    op.create_index("ix_stock_changes_changed_at", "stock_changes", ["changed_at"])


def downgrade() -> None:
    op.drop_table("stock_changes")
    _ = sa  # the table is written in SQL: xid8 has no SQLAlchemy type
