"""The rows a release or a wave's close writes by the thousand lose their per-row foreign-key checks, and
the shipments' parcel index covers packed shipments only.

A foreign key's check runs for each inserted row and locks the parent row again (``FOR KEY SHARE``):
10,000 checks of one wave for a wave's shipments, 15,000 for their lines. Shipments, their lines and
parcels are written in the transaction that has just written or locked their parent (``waves.join``,
``shipments.add``, ``waves.start_closing``); a close's picks are written for shipments it has just read;
and neither waves nor shipments are ever deleted. A shipment gets its parcel only
when its wave closes, so a release no longer writes to the parcel index.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constrained column, parent table, parent column)
_KEYS = (
    ("shipments", "wave_id", "waves", "wave_id"),
    ("shipment_lines", "shipment_id", "shipments", "shipment_id"),
    ("shipment_picks", "shipment_id", "shipments", "shipment_id"),
    ("parcels", "wave_id", "waves", "wave_id"),
)


def upgrade() -> None:
    for table, column, parent, parent_column in _KEYS:
        op.drop_constraint(op.f(f"fk_{table}_{column}_{parent}"), table, type_="foreignkey")
    op.drop_index(op.f("ix_shipments_parcel_id"), table_name="shipments")
    op.create_index(
        op.f("ix_shipments_parcel_id"),
        "shipments",
        ["parcel_id"],
        postgresql_where=sa.text("parcel_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_shipments_parcel_id"), table_name="shipments")
    op.create_index(op.f("ix_shipments_parcel_id"), "shipments", ["parcel_id"])
    for table, column, parent, parent_column in _KEYS:
        op.create_foreign_key(op.f(f"fk_{table}_{column}_{parent}"), table, parent, [column], [parent_column])
