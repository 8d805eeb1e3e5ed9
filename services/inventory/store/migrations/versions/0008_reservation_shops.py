"""Reservations name the shop whose order they hold, so an integrator sees only its own shops'.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reservations", sa.Column("shop_code", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    op.drop_column("reservations", "shop_code")
