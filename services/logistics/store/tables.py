"""Tables of the logistics database: the kit's, and the carriers' terms (LOG-7)."""

from __future__ import annotations

import sqlalchemy as sa

from libs.db import new_metadata
from libs.kit_tables import kit_tables

metadata = new_metadata()
kit = kit_tables(metadata)

carriers = sa.Table(
    "carriers",
    metadata,
    sa.Column("carrier_code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# One row per zone of a carrier's table: its service level and its price (first weight + each started kg).
carrier_zones = sa.Table(
    "carrier_zones",
    metadata,
    sa.Column("carrier_code", sa.Text, sa.ForeignKey("carriers.carrier_code"), primary_key=True),
    sa.Column("zone", sa.Integer, primary_key=True),
    sa.Column("promised_days", sa.Integer, nullable=False),
    sa.Column("first_weight_grams", sa.Integer, nullable=False),
    sa.Column("first_weight_fen", sa.BigInteger, nullable=False),
    sa.Column("additional_kg_fen", sa.BigInteger, nullable=False),
    sa.CheckConstraint("zone >= 1 AND promised_days >= 1 AND first_weight_grams >= 1", name="positive"),
    sa.CheckConstraint("first_weight_fen >= 0 AND additional_kg_fen >= 0", name="prices"),
)

# The provinces a carrier covers, each in one of its zones.
carrier_provinces = sa.Table(
    "carrier_provinces",
    metadata,
    sa.Column("carrier_code", sa.Text, primary_key=True),
    sa.Column("province", sa.Text, primary_key=True),
    sa.Column("zone", sa.Integer, nullable=False),
    sa.ForeignKeyConstraint(
        ["carrier_code", "zone"], ["carrier_zones.carrier_code", "carrier_zones.zone"], name="fk_carrier_zone"
    ),
)
