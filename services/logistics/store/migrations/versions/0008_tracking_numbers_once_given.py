"""A parcel's tracking number is unique among the parcels that have one: the unique index holds only
those. Every parcel is made without one when its wave closes, and an index over all of them wrote an
entry for each of a closing wave's thousands of parcels, to say nothing.

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
    op.drop_constraint(op.f("uq_parcels_tracking_number"), "parcels", type_="unique")
    op.create_index(
        op.f("uq_parcels_tracking_number"),
        "parcels",
        ["tracking_number"],
        unique=True,
        postgresql_where=sa.text("tracking_number IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(op.f("uq_parcels_tracking_number"), table_name="parcels")
    op.create_unique_constraint(op.f("uq_parcels_tracking_number"), "parcels", ["tracking_number"])
