"""Tables of the logistics database: the kit's, and the carriers' terms (LOG-7)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

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

# A wave (LOG-1): the orders released before one cut-off of one warehouse's business day.
waves = sa.Table(
    "waves",
    metadata,
    sa.Column("wave_id", sa.Text, primary_key=True),
    sa.Column("warehouse_code", sa.Text, nullable=False),
    sa.Column("business_date", sa.Date, nullable=False),
    sa.Column("cutoff_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_of_day", sa.Boolean, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="open"),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("closed_by", sa.Text, nullable=False, server_default=""),
    sa.CheckConstraint("status IN ('open', 'closing', 'closed')", name="status"),
)
sa.Index("waves_due", waves.c.cutoff_at, postgresql_where=sa.text("status <> 'closed'"))

# One shipment of a released order: its units going to one address (ORD-7 splits give several).
shipments = sa.Table(
    "shipments",
    metadata,
    sa.Column("shipment_id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, nullable=False),
    sa.Column("shipment_no", sa.Integer, nullable=False),
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
    sa.Column("carrier_code", sa.Text, nullable=False),
    sa.Column("buyer_message", sa.Text, nullable=False, server_default=""),
    sa.Column("service_note", sa.Text, nullable=False, server_default=""),
    # No foreign key to waves: a release joins its wave (``waves.join``), which locks the wave's row in the
    # same transaction; a per-row key check would lock it again for each of a batch's shipments.
    sa.Column("wave_id", sa.Text, nullable=False, index=True),
    sa.Column("parcel_id", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("hold_reason", sa.Text, nullable=False, server_default=""),
    sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # LOG-8: an exchange shipment (换货) ships only once the logistics clerk signed it.
    sa.Column("exchange", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("signed_by", sa.Text, nullable=False, server_default=""),
    sa.Column("signed_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("order_id", "shipment_no", name="one_per_number"),
    sa.CheckConstraint("status IN ('waiting', 'in_parcel', 'withdrawn', 'on_hold')", name="status"),
)
sa.Index("shipments_by_channel_order", shipments.c.channel, shipments.c.channel_order_id)
# Only packed shipments have a parcel: a release's insert writes nothing to this index.
sa.Index("ix_shipments_parcel_id", shipments.c.parcel_id, postgresql_where=shipments.c.parcel_id.isnot(None))

shipment_lines = sa.Table(
    "shipment_lines",
    metadata,
    # Written with its shipment, in the same statement batch (``shipments.add``): no per-row key check.
    sa.Column("shipment_id", sa.Text, primary_key=True),
    sa.Column("sku_code", sa.Text, primary_key=True),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

# The lots and bins the inventory service kept for a shipment at its wave's close (LOG-2, INV-11).
shipment_picks = sa.Table(
    "shipment_picks",
    metadata,
    # Written for shipments the close has just read, and shipments are never deleted: no per-row key check.
    sa.Column("shipment_id", sa.Text, primary_key=True),
    sa.Column("sku_code", sa.Text, primary_key=True),
    sa.Column("lot_id", sa.Text, primary_key=True),
    sa.Column("bin_code", sa.Text, primary_key=True),
    sa.Column("lot_label", sa.Text, nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

# A parcel: one label, one weighing, one freight charge; one or more shipments (合单).
parcels = sa.Table(
    "parcels",
    metadata,
    sa.Column("parcel_id", sa.Text, primary_key=True),
    # Found by wave through one_per_seq (wave_id, print_seq): an index of its own would be one more to
    # write for each of a closing wave's thousands of parcels. Created under the wave's row lock
    # (``waves.start_closing``): no foreign key, whose check would lock that row again for each parcel.
    sa.Column("wave_id", sa.Text, nullable=False),
    sa.Column("print_seq", sa.Integer, nullable=False),
    sa.Column("carrier_code", sa.Text, nullable=False),
    sa.Column("shop_code", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("weight_grams", sa.Integer, nullable=False, server_default="0"),
    sa.Column("zone", sa.Integer, nullable=False, server_default="0"),
    sa.Column("freight_fen", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("freight_saved_fen", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("tracking_number", sa.Text),
    sa.Column("verified_by", sa.Text, nullable=False, server_default=""),
    sa.Column("verified_at", sa.DateTime(timezone=True)),
    sa.Column("packed_by", sa.Text, nullable=False, server_default=""),
    sa.Column("packed_at", sa.DateTime(timezone=True)),
    sa.Column("dispatched_by", sa.Text, nullable=False, server_default=""),
    sa.Column("dispatched_at", sa.DateTime(timezone=True)),
    # LOG-6: the end of the carrier's last promised day, set at dispatch; the overdue sweeper reads it.
    sa.Column("promised_by", sa.DateTime(timezone=True)),
    # The latest tracking event's state ("" before any), and when it was delivered.
    sa.Column("tracking_state", sa.Text, nullable=False, server_default=""),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("wave_id", "print_seq", name="one_per_seq"),
    sa.CheckConstraint(
        "status IN ('picking', 'verifying', 'verified', 'packed', 'dispatched', 'withdrawn')", name="status"
    ),
)
# Unique once given: a closing wave's parcels are made without one, and write nothing here.
sa.Index(
    "uq_parcels_tracking_number",
    parcels.c.tracking_number,
    unique=True,
    postgresql_where=parcels.c.tracking_number.isnot(None),
)

# Units scanned per SKU at the verification station (LOG-3).
parcel_scans = sa.Table(
    "parcel_scans",
    metadata,
    sa.Column("parcel_id", sa.Text, sa.ForeignKey("parcels.parcel_id"), primary_key=True),
    sa.Column("sku_code", sa.Text, primary_key=True),
    sa.Column("scanned", sa.BigInteger, nullable=False),
)

# Orders withdrawn by their cancellation (ORD-5), kept so that a release arriving later ships nothing.
withdrawn_orders = sa.Table(
    "withdrawn_orders",
    metadata,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("withdrawn_by", sa.Text, nullable=False),
    sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
)

# A warehouse's normal wave cut-offs ("HH:MM", Asia/Shanghai), and days with their own (LOG-1).
wave_schedules = sa.Table(
    "wave_schedules",
    metadata,
    sa.Column("warehouse_code", sa.Text, primary_key=True),
    sa.Column("cutoffs", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

wave_schedule_days = sa.Table(
    "wave_schedule_days",
    metadata,
    sa.Column("warehouse_code", sa.Text, primary_key=True),
    sa.Column("business_date", sa.Date, primary_key=True),
    sa.Column("cutoffs", pg.ARRAY(sa.Text), nullable=False),
)

# Carriers' tracking events per parcel (LOG-6), each recorded once by the carrier's event id.
tracking_events = sa.Table(
    "tracking_events",
    metadata,
    sa.Column("parcel_id", sa.Text, sa.ForeignKey("parcels.parcel_id"), primary_key=True),
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("tracking_number", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("location", sa.Text, nullable=False, server_default=""),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# Lost, damaged or late parcels being handled (LOG-6): at most one open case per parcel and kind.
exception_cases = sa.Table(
    "exception_cases",
    metadata,
    sa.Column("case_id", sa.Text, primary_key=True),
    sa.Column("parcel_id", sa.Text, sa.ForeignKey("parcels.parcel_id"), nullable=False, index=True),
    sa.Column("tracking_number", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("customer_told_at", sa.DateTime(timezone=True)),
    sa.Column("resolution", sa.Text),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("kind IN ('lost', 'damaged', 'delayed')", name="kind"),
)
sa.Index(
    "exception_cases_one_open",
    exception_cases.c.parcel_id,
    exception_cases.c.kind,
    unique=True,
    postgresql_where=sa.text("resolved_at IS NULL"),
)

exception_case_history = sa.Table(
    "exception_case_history",
    metadata,
    sa.Column("case_id", sa.Text, sa.ForeignKey("exception_cases.case_id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("what", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
)
