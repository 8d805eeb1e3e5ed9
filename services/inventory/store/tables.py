"""Tables of the inventory database."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from libs.db import new_metadata
from libs.kit_tables import kit_tables

metadata = new_metadata()
kit = kit_tables(metadata)

warehouses = sa.Table(
    "warehouses",
    metadata,
    sa.Column("warehouse_code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    # False for the defective-goods warehouse (INV-2).
    sa.Column("sellable", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

skus = sa.Table(
    "skus",
    metadata,
    sa.Column("sku_code", sa.Text, primary_key=True),
    sa.Column("style_number", sa.Text, nullable=False),
    sa.Column("colour", sa.Text, nullable=False),
    sa.Column("size", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("barcode", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("style_number", "colour", "size", name="uq_skus_style_colour_size"),
    sa.CheckConstraint("kind IN ('sellable', 'packing_material')", name="kind"),
)

bins = sa.Table(
    "bins",
    metadata,
    sa.Column("warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), primary_key=True),
    sa.Column("bin_code", sa.Text, primary_key=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.CheckConstraint("bin_code <> ''", name="bin_code_not_empty"),
)

# A lot (批次): the units of one SKU received together, labelled with a barcode that matches the books.
lots = sa.Table(
    "lots",
    metadata,
    sa.Column("lot_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("label_id", sa.Text, nullable=False, unique=True),
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), nullable=False),
    sa.Column("document_type", sa.Text, nullable=False),
    sa.Column("document_id", sa.Text, nullable=False),
    sa.Column("quantity_received", sa.BigInteger, nullable=False),
    # FIFO order (INV-11).
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# Units of a lot per warehouse and bin; bin "" = received but not yet put away (INV-6).
lot_stock = sa.Table(
    "lot_stock",
    metadata,
    sa.Column("lot_id", pg.UUID(as_uuid=True), sa.ForeignKey("lots.lot_id"), primary_key=True),
    sa.Column("warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), primary_key=True),
    sa.Column("bin_code", sa.Text, primary_key=True),
    sa.Column("on_hand", sa.BigInteger, nullable=False),
    sa.CheckConstraint("on_hand >= 0", name="on_hand_non_negative"),
)

# The append-only ledger: every change of on-hand, reserved or held is one row here (INV-14).
stock_movements = sa.Table(
    "stock_movements",
    metadata,
    sa.Column("movement_id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), nullable=False),
    sa.Column("warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), nullable=False),
    sa.Column("lot_id", pg.UUID(as_uuid=True), sa.ForeignKey("lots.lot_id")),
    sa.Column("bin_code", sa.Text, nullable=False, server_default=""),
    sa.Column("on_hand_delta", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reserved_delta", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("held_delta", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("document_type", sa.Text, nullable=False, server_default=""),
    sa.Column("document_id", sa.Text, nullable=False, server_default=""),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint(
        "on_hand_delta <> 0 OR reserved_delta <> 0 OR held_delta <> 0", name="changes_something"
    ),
    sa.CheckConstraint("lot_id IS NOT NULL OR on_hand_delta = 0", name="on_hand_moves_by_lot"),
    sa.Index("ix_stock_movements_sku_warehouse", "sku_code", "warehouse_code"),
    sa.Index("ix_stock_movements_document", "document_type", "document_id"),
    # A day's movements (the daily close, the replenishment plan's window) without reading the rest.
    sa.Index("ix_stock_movements_created_at", "created_at"),
)

# Balances derived from the ledger, kept in the same transaction; CHECKs are the last line against
# negative stock (INV-10).
stock_levels = sa.Table(
    "stock_levels",
    metadata,
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), primary_key=True),
    sa.Column("warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), primary_key=True),
    sa.Column("on_hand", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("held", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("on_hand >= 0", name="on_hand_non_negative"),
    sa.CheckConstraint("reserved >= 0", name="reserved_non_negative"),
    sa.CheckConstraint("held >= 0", name="held_non_negative"),
    sa.CheckConstraint("on_hand - reserved - held >= 0", name="available_non_negative"),
)

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    # The shop whose order it is ("" outside any shop): integrators are scoped to their shops.
    sa.Column("shop_code", sa.Text, nullable=False, server_default=""),
    sa.CheckConstraint("status IN ('active', 'released', 'issued', 'cut')", name="status"),
)

reservation_lines = sa.Table(
    "reservation_lines",
    metadata,
    sa.Column("order_id", sa.Text, sa.ForeignKey("reservations.order_id"), primary_key=True),
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), primary_key=True),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("issued", sa.BigInteger, nullable=False, server_default="0"),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    sa.CheckConstraint("issued >= 0 AND issued <= quantity", name="issued_within_quantity"),
)

# The lots and bins a shipment is picked from, kept from its wave's close until its stock is issued
# (INV-11, LOG-2): the pick list and the issue read the same rows. Units kept here are not offered to
# any other issue.
pick_allocations = sa.Table(
    "pick_allocations",
    metadata,
    sa.Column("shipment_id", sa.Text, primary_key=True),
    sa.Column("sku_code", sa.Text, primary_key=True),
    # No foreign keys: an allocation writes its rows by the thousand under the row locks of their lots and
    # reservations (``pick_allocations.allocate``), which a per-row key check would take again for each.
    sa.Column("lot_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("bin_code", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, nullable=False, index=True),
    sa.Column("warehouse_code", sa.Text, nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    # False until the stock is issued; then the row stays as the record of what was picked.
    sa.Column("issued", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)
sa.Index(
    "pick_allocations_open_by_lot",
    pick_allocations.c.lot_id,
    pick_allocations.c.warehouse_code,
    pick_allocations.c.bin_code,
    postgresql_where=sa.text("NOT issued"),
)

holds = sa.Table(
    "holds",
    metadata,
    sa.Column("hold_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), nullable=False),
    sa.Column("warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("customer_ref", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    sa.CheckConstraint("status IN ('active', 'released', 'expired')", name="status"),
    sa.Index("ix_holds_due", "expires_at", postgresql_where=sa.text("status = 'active'")),
)

# Receiving (INV-3 .. INV-7).
receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("receipt_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("supplier_code", sa.Text, nullable=False),
    sa.Column("delivery_note_number", sa.Text, nullable=False),
    sa.Column("warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("posted_by", sa.Text),
    sa.Column("posted_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("supplier_code", "delivery_note_number", name="uq_receipts_supplier_note"),
    sa.CheckConstraint("status IN ('open', 'posted', 'rejected')", name="status"),
    sa.Index("ix_receipts_open", "created_at", postgresql_where=sa.text("status = 'open'")),
)

receipt_lines = sa.Table(
    "receipt_lines",
    metadata,
    sa.Column("receipt_id", pg.UUID(as_uuid=True), sa.ForeignKey("receipts.receipt_id"), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), nullable=False),
    sa.Column("expected", sa.BigInteger, nullable=False),
    sa.Column("received", sa.BigInteger),
    sa.Column("round1_inspected", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("round1_failed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("round2_inspected", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("round2_failed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("full_good", sa.BigInteger),
    sa.Column("full_defective", sa.BigInteger),
    sa.Column("lot_id", pg.UUID(as_uuid=True), sa.ForeignKey("lots.lot_id")),
    sa.Column("defective_lot_id", pg.UUID(as_uuid=True), sa.ForeignKey("lots.lot_id")),
    sa.CheckConstraint("expected >= 0 AND (received IS NULL OR received >= 0)", name="quantities"),
)

receipt_signatures = sa.Table(
    "receipt_signatures",
    metadata,
    sa.Column("receipt_id", pg.UUID(as_uuid=True), sa.ForeignKey("receipts.receipt_id"), primary_key=True),
    sa.Column("role", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("receipt_id", "user_id", name="uq_receipt_signatures_one_per_person"),
)

# Every style ever received; a style's first receipt makes it a "new style" awaiting photos (INV-7).
styles = sa.Table(
    "styles",
    metadata,
    sa.Column("style_number", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column(
        "first_receipt_id", pg.UUID(as_uuid=True), sa.ForeignKey("receipts.receipt_id"), nullable=False
    ),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("photos_due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Column("published_by", sa.Text),
)

# Transfers between warehouses (INV-12) and sample loans (INV-8).
transfers = sa.Table(
    "transfers",
    metadata,
    sa.Column("transfer_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("from_warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), nullable=False),
    sa.Column("to_warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("requested_by", sa.Text, nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("shipped_by", sa.Text),
    sa.Column("shipped_at", sa.DateTime(timezone=True)),
    sa.Column("received_by", sa.Text),
    sa.Column("received_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("status IN ('requested', 'in_transit', 'received', 'cancelled')", name="status"),
    sa.CheckConstraint("from_warehouse_code <> to_warehouse_code", name="two_places"),
)

transfer_lines = sa.Table(
    "transfer_lines",
    metadata,
    sa.Column("transfer_id", pg.UUID(as_uuid=True), sa.ForeignKey("transfers.transfer_id"), primary_key=True),
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), primary_key=True),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

loans = sa.Table(
    "loans",
    metadata,
    sa.Column("loan_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), nullable=False),
    sa.Column("warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("borrower", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("lent_by", sa.Text, nullable=False),
    sa.Column("lent_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("extended", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("returned_by", sa.Text),
    sa.Column("returned_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    sa.CheckConstraint("status IN ('out', 'returned')", name="status"),
)

# Which lots left with a document that will bring them back or on (a transfer in transit, a loan), so
# the same lots come back into the books.
document_picks = sa.Table(
    "document_picks",
    metadata,
    sa.Column("document_type", sa.Text, primary_key=True),
    sa.Column("document_id", sa.Text, primary_key=True),
    sa.Column("lot_id", pg.UUID(as_uuid=True), sa.ForeignKey("lots.lot_id"), primary_key=True),
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

# Counts (INV-13) and daily closes (INV-14).
counts = sa.Table(
    "counts",
    metadata,
    sa.Column("count_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("warehouse_code", sa.Text, sa.ForeignKey("warehouses.warehouse_code"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("planned_for", sa.Date, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("approved_by", sa.Text),
    sa.Column("approved_at", sa.DateTime(timezone=True)),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("responsible_person", sa.Text, nullable=False, server_default=""),
    sa.Column("damaged_disposition", sa.Text),
    # What a count that found fewer units than were promised had to cut (INV-13).
    sa.Column("cut_order_ids", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("cut_hold_ids", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.CheckConstraint("kind IN ('cycle', 'full')", name="kind"),
    sa.CheckConstraint("status IN ('open', 'posted')", name="status"),
)

count_lines = sa.Table(
    "count_lines",
    metadata,
    sa.Column("count_id", pg.UUID(as_uuid=True), sa.ForeignKey("counts.count_id"), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), nullable=False),
    sa.Column("lot_id", pg.UUID(as_uuid=True), sa.ForeignKey("lots.lot_id"), nullable=False),
    sa.Column("bin_code", sa.Text, nullable=False),
    sa.Column("book", sa.BigInteger, nullable=False),
    sa.Column("counted", sa.BigInteger),
    sa.Column("damaged", sa.BigInteger, nullable=False, server_default="0"),
    sa.CheckConstraint("counted IS NULL OR (counted >= 0 AND damaged <= counted)", name="quantities"),
)

day_closes = sa.Table(
    "day_closes",
    metadata,
    sa.Column("business_date", sa.Date, primary_key=True),
    sa.Column("closed_by", sa.Text, nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("movements", sa.Integer, nullable=False),
    sa.Column("receipts_posted", sa.Integer, nullable=False),
)

# The ledger's sums up to one movement, advanced at each daily close: reconciling then reads only the
# movements after it (INV-14). A trigger keeps the summed columns of past movements from changing.
ledger_checkpoint = sa.Table(
    "ledger_checkpoint",
    metadata,
    sa.Column("checkpoint", sa.Boolean, primary_key=True, server_default=sa.true()),  # the one row
    sa.Column("upto_movement_id", sa.BigInteger, nullable=False),
    sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("checkpoint", name="one_row"),
)

ledger_checkpoint_levels = sa.Table(
    "ledger_checkpoint_levels",
    metadata,
    sa.Column("sku_code", sa.Text, primary_key=True),
    sa.Column("warehouse_code", sa.Text, primary_key=True),
    sa.Column("on_hand", sa.BigInteger, nullable=False),
    sa.Column("reserved", sa.BigInteger, nullable=False),
    sa.Column("held", sa.BigInteger, nullable=False),
)

ledger_checkpoint_bins = sa.Table(
    "ledger_checkpoint_bins",
    metadata,
    sa.Column("lot_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("warehouse_code", sa.Text, primary_key=True),
    sa.Column("bin_code", sa.Text, primary_key=True),
    sa.Column("sku_code", sa.Text, nullable=False),
    sa.Column("on_hand", sa.BigInteger, nullable=False),
)

# Planning: replenishment policies and plans (INV-15); suppliers and their returns (INV-17).
replenishment_policies = sa.Table(
    "replenishment_policies",
    metadata,
    sa.Column("category", sa.Text, primary_key=True),
    sa.Column("low_cover_days", sa.Integer, nullable=False),
    sa.Column("order_days", sa.Integer, nullable=False),
    sa.Column("fast_daily_units", sa.Integer),
    sa.Column("fast_order_days", sa.Integer),
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

replenishment_plans = sa.Table(
    "replenishment_plans",
    metadata,
    sa.Column("plan_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("business_date", sa.Date, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("approved_by", sa.Text),
    sa.Column("approved_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("status IN ('proposed', 'approved')", name="status"),
)

replenishment_plan_lines = sa.Table(
    "replenishment_plan_lines",
    metadata,
    sa.Column(
        "plan_id", pg.UUID(as_uuid=True), sa.ForeignKey("replenishment_plans.plan_id"), primary_key=True
    ),
    sa.Column("sku_code", sa.Text, sa.ForeignKey("skus.sku_code"), primary_key=True),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("available", sa.BigInteger, nullable=False),
    sa.Column("units_sold", sa.BigInteger, nullable=False),
    sa.Column("window_days", sa.Integer, nullable=False),
    sa.Column("order_days", sa.Integer, nullable=False),
    sa.Column("order_quantity", sa.BigInteger, nullable=False),
)

suppliers = sa.Table(
    "suppliers",
    metadata,
    sa.Column("supplier_code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.CheckConstraint("kind IN ('manufacturer', 'sporadic')", name="kind"),
)

supplier_returns = sa.Table(
    "supplier_returns",
    metadata,
    sa.Column("return_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("supplier_code", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# Approved warehouse access for people other than stock keepers (INV-18, 003 rule 21).
warehouse_access = sa.Table(
    "warehouse_access",
    metadata,
    sa.Column("grant_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("granted_by", sa.Text, nullable=False),
    sa.Column("granted_by_role", sa.Text, nullable=False),
    sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_warehouse_access_user", "user_id", "valid_until"),
)

# Large promotions the orders service announced (LargePromotionScheduled), for packing alerts (INV-16).
scheduled_promotions = sa.Table(
    "scheduled_promotions",
    metadata,
    sa.Column("promotion_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    # The promotion's revision at the orders service: only a later one replaces what is kept.
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)


class TransactionId(sa.types.UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id (``xid8``)."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "xid8"


# The stock change feed (INV-10): a row per SKU whose available stock a transaction changed, with that
# transaction's id. Read in (tx, seq) order below the oldest transaction still running, a cursor never
# skips a change that commits late (``store.stock_changes``).
stock_changes = sa.Table(
    "stock_changes",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("tx", TransactionId(), nullable=False, server_default=sa.text("pg_current_xact_id()")),
    sa.Column("sku_code", sa.Text, nullable=False),
    # When the posting recorded the change (clock_timestamp, not the transaction's start).
    sa.Column(
        "changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.clock_timestamp()
    ),
    sa.Index("ix_stock_changes_tx_seq", "tx", "seq"),
    sa.Index("ix_stock_changes_changed_at", "changed_at"),
)
