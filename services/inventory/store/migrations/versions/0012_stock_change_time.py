"""A stock change's time is when the posting recorded it, not when its transaction began: a review batch
that reserves for a few hundred ms no longer shows its changes as older than they are (INV-10).

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE stock_changes ALTER COLUMN changed_at SET DEFAULT clock_timestamp()")


def downgrade() -> None:
    op.execute("ALTER TABLE stock_changes ALTER COLUMN changed_at SET DEFAULT now()")
