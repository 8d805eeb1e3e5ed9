"""Reconciling without rereading the whole ledger: the ledger's sums up to a movement, advanced at each
daily close, with past movements' summed columns kept from changing; and movements indexed by time for the
day's close and the replenishment plan's window (INV-14, INV-15).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_stock_movements_created_at", "stock_movements", ["created_at"])
    op.create_table(
        "ledger_checkpoint",
        sa.Column("checkpoint", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("upto_movement_id", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("checkpoint", name=op.f("ck_ledger_checkpoint_one_row")),
        sa.PrimaryKeyConstraint("checkpoint", name=op.f("pk_ledger_checkpoint")),
    )
    op.create_table(
        "ledger_checkpoint_levels",
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("on_hand", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sku_code", "warehouse_code", name=op.f("pk_ledger_checkpoint_levels")),
    )
    op.create_table(
        "ledger_checkpoint_bins",
        sa.Column("lot_id", sa.UUID(), nullable=False),
        sa.Column("warehouse_code", sa.Text(), nullable=False),
        sa.Column("bin_code", sa.Text(), nullable=False),
        sa.Column("sku_code", sa.Text(), nullable=False),
        sa.Column("on_hand", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("lot_id", "warehouse_code", "bin_code", name=op.f("pk_ledger_checkpoint_bins")),
    )
    # What a checkpoint sums never changes once written: no movement is deleted, and no movement's
    # SKU, place, lot or quantities are rewritten (its note or time may be).
    op.execute(
        """
        CREATE FUNCTION stock_movements_keep_sums() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' OR (OLD.sku_code, OLD.warehouse_code, OLD.lot_id, OLD.bin_code,
                    OLD.on_hand_delta, OLD.reserved_delta, OLD.held_delta)
                IS DISTINCT FROM (NEW.sku_code, NEW.warehouse_code, NEW.lot_id, NEW.bin_code,
                    NEW.on_hand_delta, NEW.reserved_delta, NEW.held_delta) THEN
                RAISE EXCEPTION 'stock movement % is part of the ledger and cannot be changed', OLD.movement_id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER stock_movements_keep_sums BEFORE UPDATE OR DELETE ON stock_movements "
        "FOR EACH ROW EXECUTE FUNCTION stock_movements_keep_sums()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER stock_movements_keep_sums ON stock_movements")
    op.execute("DROP FUNCTION stock_movements_keep_sums()")
    op.drop_table("ledger_checkpoint_bins")
    op.drop_table("ledger_checkpoint_levels")
    op.drop_table("ledger_checkpoint")
    op.drop_index("ix_stock_movements_created_at", table_name="stock_movements")
