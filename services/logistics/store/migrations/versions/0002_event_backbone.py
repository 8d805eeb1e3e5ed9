"""The kit tables, version 2: retention indexes, and the trigger that wakes the outbox relay on commit.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

from libs.kit_tables import create_kit_tables_v2, drop_kit_tables_v2

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v2(op.get_bind())


def downgrade() -> None:
    drop_kit_tables_v2(op.get_bind())
