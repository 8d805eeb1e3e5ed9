"""Tables every service database has: the transactional outbox, the consumer inbox and idempotency keys.

Each service declares them on its own MetaData (``kit_tables(metadata)``) so its Alembic migrations
create them in its own database.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg


@dataclass(frozen=True)
class KitTables:
    outbox: sa.Table
    inbox: sa.Table
    idempotency: sa.Table


def kit_tables(metadata: sa.MetaData) -> KitTables:
    """Declares the outbox, inbox and idempotency tables on ``metadata``."""
    outbox = sa.Table(
        "outbox",
        metadata,
        sa.Column("event_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("aggregate_id", sa.Text, nullable=False),
        sa.Column("payload_type", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        # W3C trace context of the transaction that wrote the event, so delivery joins the same trace.
        sa.Column("traceparent", sa.Text, nullable=False, server_default=""),
        sa.Column("tracestate", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Index(
            "ix_outbox_pending",
            "next_attempt_at",
            postgresql_where=sa.text("delivered_at IS NULL"),
        ),
    )
    inbox = sa.Table(
        "inbox",
        metadata,
        sa.Column("event_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    idempotency = sa.Table(
        "idempotency_keys",
        metadata,
        sa.Column("operation", sa.Text, primary_key=True),
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("response", sa.LargeBinary),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    return KitTables(outbox=outbox, inbox=inbox, idempotency=idempotency)


def create_kit_tables_v1(bind: sa.engine.Connection) -> None:
    """Creates version 1 of the kit tables; called by each service's first migration.

    A later change to these tables gets a new migration in every service, never an edit of this function's
    effect on existing databases.
    """
    tables = kit_tables(sa.MetaData())
    for table in (tables.outbox, tables.inbox, tables.idempotency):
        table.create(bind)
