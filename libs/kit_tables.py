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


def kit_tables(metadata: sa.MetaData, *, version: int = 2) -> KitTables:
    """Declares the outbox, inbox and idempotency tables on ``metadata``, as of ``version``."""
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
    if version >= 2:
        # For the retention worker: old delivered rows and old inbox rows are found without a scan.
        sa.Index(
            "ix_outbox_delivered", outbox.c.delivered_at, postgresql_where=sa.text("delivered_at IS NOT NULL")
        )
        sa.Index("ix_inbox_received", inbox.c.received_at)
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
    tables = kit_tables(sa.MetaData(), version=1)
    for table in (tables.outbox, tables.inbox, tables.idempotency):
        table.create(bind)


#: Every commit that adds outbox rows notifies this channel once, which wakes the relay at once.
OUTBOX_NOTIFY_CHANNEL = "shop_outbox"


def create_kit_tables_v2(bind: sa.engine.Connection) -> None:
    """Version 2: the indexes retention needs, and the trigger that wakes the relay on commit.

    The trigger is per statement, and PostgreSQL folds identical notifications of one transaction into
    one, so a busy outbox costs one notification per commit.
    """
    tables = kit_tables(sa.MetaData(), version=2)
    for table in (tables.outbox, tables.inbox):
        for index in table.indexes:
            if index.name in ("ix_outbox_delivered", "ix_inbox_received"):
                index.create(bind)
    bind.execute(
        sa.text(
            f"""
            CREATE OR REPLACE FUNCTION shop_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{OUTBOX_NOTIFY_CHANNEL}', '');
                RETURN NULL;
            END $$
            """
        )
    )
    bind.execute(
        sa.text(
            "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
            "FOR EACH STATEMENT EXECUTE FUNCTION shop_outbox_notify()"
        )
    )


def drop_kit_tables_v2(bind: sa.engine.Connection) -> None:
    bind.execute(sa.text("DROP TRIGGER IF EXISTS outbox_notify ON outbox"))
    bind.execute(sa.text("DROP FUNCTION IF EXISTS shop_outbox_notify()"))
    bind.execute(sa.text("DROP INDEX IF EXISTS ix_outbox_delivered"))
    bind.execute(sa.text("DROP INDEX IF EXISTS ix_inbox_received"))
