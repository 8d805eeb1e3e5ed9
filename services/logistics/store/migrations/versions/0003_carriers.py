"""Carriers and their terms: zones with service level and price, and the provinces of each (LOG-7).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "carriers",
        sa.Column("carrier_code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("carrier_code", name=op.f("pk_carriers")),
    )
    op.create_table(
        "carrier_zones",
        sa.Column("carrier_code", sa.Text(), nullable=False),
        sa.Column("zone", sa.Integer(), nullable=False),
        sa.Column("promised_days", sa.Integer(), nullable=False),
        sa.Column("first_weight_grams", sa.Integer(), nullable=False),
        sa.Column("first_weight_fen", sa.BigInteger(), nullable=False),
        sa.Column("additional_kg_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "zone >= 1 AND promised_days >= 1 AND first_weight_grams >= 1", name=op.f("ck_carrier_zones_positive")
        ),
        sa.CheckConstraint("first_weight_fen >= 0 AND additional_kg_fen >= 0", name=op.f("ck_carrier_zones_prices")),
        sa.ForeignKeyConstraint(
            ["carrier_code"], ["carriers.carrier_code"], name=op.f("fk_carrier_zones_carrier_code_carriers")
        ),
        sa.PrimaryKeyConstraint("carrier_code", "zone", name=op.f("pk_carrier_zones")),
    )
    op.create_table(
        "carrier_provinces",
        sa.Column("carrier_code", sa.Text(), nullable=False),
        sa.Column("province", sa.Text(), nullable=False),
        sa.Column("zone", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["carrier_code", "zone"], ["carrier_zones.carrier_code", "carrier_zones.zone"], name="fk_carrier_zone"
        ),
        sa.PrimaryKeyConstraint("carrier_code", "province", name=op.f("pk_carrier_provinces")),
    )


def downgrade() -> None:
    op.drop_table("carrier_provinces")
    op.drop_table("carrier_zones")
    op.drop_table("carriers")
