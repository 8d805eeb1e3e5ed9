"""The kit tables: outbox, inbox and idempotency keys.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

from alembic import op

from libs.kit_tables import create_kit_tables_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v1(op.get_bind())


def downgrade() -> None:
    for table in ("idempotency_keys", "inbox", "outbox"):
        op.drop_table(table)
