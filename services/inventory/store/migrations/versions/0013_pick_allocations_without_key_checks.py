"""Pick allocations lose their per-row foreign-key checks.

A wave's close allocates thousands of rows per call; each row's two checks locked its lot and its
reservation again (``FOR KEY SHARE``), some two thirds of the insert's time. The allocation holds both
rows' locks already (``FOR UPDATE``, in the ledger's one order), and neither is deleted once it has
allocations.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (constrained column, parent table, parent column)
_KEYS = (("lot_id", "lots", "lot_id"), ("order_id", "reservations", "order_id"))


def upgrade() -> None:
    for column, parent, _ in _KEYS:
        op.drop_constraint(
            op.f(f"fk_pick_allocations_{column}_{parent}"), "pick_allocations", type_="foreignkey"
        )


def downgrade() -> None:
    for column, parent, parent_column in _KEYS:
        op.create_foreign_key(
            op.f(f"fk_pick_allocations_{column}_{parent}"),
            "pick_allocations",
            parent,
            [column],
            [parent_column],
        )
