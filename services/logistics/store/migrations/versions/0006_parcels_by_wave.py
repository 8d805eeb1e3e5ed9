"""Parcels are found by wave through their unique (wave_id, print_seq): the index on wave_id alone only
cost a write per parcel.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_parcels_wave_id"), table_name="parcels")


def downgrade() -> None:
    op.create_index(op.f("ix_parcels_wave_id"), "parcels", ["wave_id"], unique=False)
