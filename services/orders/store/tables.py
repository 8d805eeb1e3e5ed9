"""Tables of the orders database.

Buyer contact data (recipient, phone, address) lives only here and never goes on spans or events.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from libs.db import new_metadata
from libs.kit_tables import kit_tables

metadata = new_metadata()
kit = kit_tables(metadata)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("channel_order_id", sa.Text, nullable=False),
    sa.Column("shop_code", sa.Text, nullable=False),
    sa.Column("buyer_id", sa.Text, nullable=False),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("phone", sa.Text, nullable=False),
    sa.Column("province", sa.Text, nullable=False),
    sa.Column("city", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("street", sa.Text, nullable=False),
    sa.Column("buyer_message", sa.Text, nullable=False, server_default=""),
    sa.Column("service_note", sa.Text, nullable=False, server_default=""),
    sa.Column("notes_resolved", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("hold_category", sa.Text),
    sa.Column("hold_reason", sa.Text),
    # The reservation saga at the inventory service: none, reserving (asked, answer not yet booked),
    # reserved, releasing (asked to release, not yet confirmed), released.
    sa.Column("reservation_state", sa.Text, nullable=False, server_default="none"),
    sa.Column("goods_fen", sa.BigInteger, nullable=False),
    sa.Column("discount_fen", sa.BigInteger, nullable=False),
    sa.Column("shipping_fee_fen", sa.BigInteger, nullable=False),
    sa.Column("total_fen", sa.BigInteger, nullable=False),
    sa.Column("paid_fen", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("paid_at", sa.DateTime(timezone=True)),
    sa.Column("payment_reference", sa.Text, nullable=False, server_default=""),
    sa.Column("refunded_fen", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("reviewed_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("channel", "channel_order_id", name="uq_orders_channel_order"),
    sa.CheckConstraint("total_fen >= 0 AND paid_fen >= 0 AND refunded_fen >= 0", name="money_non_negative"),
    sa.CheckConstraint("refunded_fen <= paid_fen", name="refund_within_payment"),
    sa.CheckConstraint(
        "reservation_state IN ('none', 'reserving', 'reserved', 'releasing', 'released')",
        name="reservation_state",
    ),
    sa.Index("ix_orders_status", "status", "paid_at"),
    sa.Index(
        "ix_orders_saga_pending",
        "updated_at",
        postgresql_where=sa.text("reservation_state IN ('reserving', 'releasing')"),
    ),
)

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("order_id", pg.UUID(as_uuid=True), sa.ForeignKey("orders.order_id"), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("sku_code", sa.Text, nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price_fen", sa.BigInteger, nullable=False),
    sa.CheckConstraint("quantity > 0 AND unit_price_fen >= 0", name="line_values"),
)

order_timeline = sa.Table(
    "order_timeline",
    metadata,
    sa.Column("entry_id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("order_id", pg.UUID(as_uuid=True), sa.ForeignKey("orders.order_id"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("from_status", sa.Text),
    sa.Column("to_status", sa.Text),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_order_timeline_order", "order_id", "entry_id"),
)

# Amendments before release (ORD-7).
order_amendments = sa.Table(
    "order_amendments",
    metadata,
    sa.Column("order_id", pg.UUID(as_uuid=True), sa.ForeignKey("orders.order_id"), primary_key=True),
    sa.Column("carrier_code", sa.Text, nullable=False, server_default=""),
    sa.Column("invoice_title", sa.Text, nullable=False, server_default=""),
    sa.Column("invoice_tax_id", sa.Text, nullable=False, server_default=""),
    sa.Column("invoice_requested_at", sa.DateTime(timezone=True)),
)

# Split shipments (分地址发): each with its own address and lines.
order_shipments = sa.Table(
    "order_shipments",
    metadata,
    sa.Column("order_id", pg.UUID(as_uuid=True), sa.ForeignKey("orders.order_id"), primary_key=True),
    sa.Column("shipment_no", sa.Integer, primary_key=True),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("phone", sa.Text, nullable=False),
    sa.Column("province", sa.Text, nullable=False),
    sa.Column("city", sa.Text, nullable=False),
    sa.Column("district", sa.Text, nullable=False),
    sa.Column("street", sa.Text, nullable=False),
)

order_shipment_lines = sa.Table(
    "order_shipment_lines",
    metadata,
    sa.Column("order_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("shipment_no", sa.Integer, primary_key=True),
    sa.Column("sku_code", sa.Text, primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.ForeignKeyConstraint(
        ["order_id", "shipment_no"],
        ["order_shipments.order_id", "order_shipments.shipment_no"],
        name="fk_order_shipment_lines_shipment",
    ),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

# Refunds recorded on the order (ORD-4), the minus side of net sales (ORD-9).
refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("refund_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("order_id", pg.UUID(as_uuid=True), sa.ForeignKey("orders.order_id"), nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("refunded_by", sa.Text, nullable=False),
    sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
    sa.Index("ix_refunds_at", "refunded_at"),
)

# Promotions (ORD-8): coupons, thresholds, percentage discounts; their uses hold budgets and per-buyer
# limits under concurrent checkouts (each checkout locks the promotions it prices with).
promotions = sa.Table(
    "promotions",
    metadata,
    sa.Column("promotion_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("eligible_skus", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("eligible_categories", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("coupon_code", sa.Text, unique=True),
    sa.Column("amount_off_fen", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("threshold_fen", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("repeat", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("max_off_fen", sa.BigInteger),
    sa.Column("rate_bp", sa.Integer, nullable=False, server_default="0"),
    sa.Column("stackable", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("budget_fen", sa.BigInteger),
    sa.Column("per_buyer_limit", sa.Integer),
    # A large promotion (大促) is announced to the warehouse, which stocks up on packing materials (INV-16).
    sa.Column("large", sa.Boolean, nullable=False, server_default=sa.false()),
    # Grows with every change of the promotion, so consumers keep the latest announcement.
    sa.Column("revision", sa.BigInteger, nullable=False, server_default="1"),
    sa.Column("spent_fen", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("budget_fen IS NULL OR spent_fen <= budget_fen", name="within_budget"),
    sa.Index("ix_promotions_window", "starts_at", "ends_at"),
)

promotion_uses = sa.Table(
    "promotion_uses",
    metadata,
    sa.Column("promotion_id", sa.Text, sa.ForeignKey("promotions.promotion_id"), primary_key=True),
    sa.Column("order_id", pg.UUID(as_uuid=True), sa.ForeignKey("orders.order_id"), primary_key=True),
    sa.Column("buyer_id", sa.Text, nullable=False),
    sa.Column("discount_fen", sa.BigInteger, nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_promotion_uses_buyer", "promotion_id", "buyer_id"),
)

# Orders held for short stock that should be reviewed again because stock of one of their SKUs arrived
# (StockAvailable). Written by the event handler, worked off by the re-review worker; a row stays until its
# review is done, so a crash in between only delays the review.
review_requests = sa.Table(
    "review_requests",
    metadata,
    sa.Column("order_id", pg.UUID(as_uuid=True), sa.ForeignKey("orders.order_id"), primary_key=True),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("cause", sa.Text, nullable=False),
    # The consumer span of the event that asked for it: the review joins that flow's trace.
    sa.Column("traceparent", sa.Text, nullable=False, server_default=""),
    # A worker holds the request until then; after it, another worker may take it over.
    sa.Column("claimed_until", sa.DateTime(timezone=True)),
)
