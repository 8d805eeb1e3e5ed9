"""Database access, the same in every service: one async engine per service database, Core queries,
transactions as ``async with database.transaction() as conn``, and Alembic migrations per service.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
import sqlalchemy.ext.asyncio as sa_async
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import make_url

from libs.errors import Aborted, InvalidArgument, Unavailable

# serialization_failure, deadlock_detected
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})

# Constraint names that migrations can refer to and that stay the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> sa.MetaData:
    """The MetaData a service's store declares its tables on."""
    return sa.MetaData(naming_convention=NAMING_CONVENTION)


def normalize_url(url: str) -> str:
    """Accepts ``postgresql://`` URLs (as libpq and pgserver write them) and selects the psycopg 3 driver."""
    if not url:
        raise InvalidArgument.for_field("database_url", "is not set")
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise InvalidArgument.for_field("database_url", f"must be a PostgreSQL URL, got {parsed.drivername}")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


class Database:
    """A service's database: the async engine and the one way to open a transaction."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        # Looked up through the module so OpenTelemetry's instrumentation (libs.telemetry) sees it.
        self.engine: sa_async.AsyncEngine = sa_async.create_async_engine(
            normalize_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No ping per checkout (a round trip on every transaction): a connection the server dropped is
            # invalidated on first use and that call answers UNAVAILABLE, safe to retry.
            pool_pre_ping=False,
            pool_recycle=1800,
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[sa_async.AsyncConnection]:
        """A connection inside a transaction: committed on success, rolled back on any error.

        A deadlock or serialization failure becomes Aborted: nothing was written and a retry is safe.
        """
        try:
            async with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
                raise Aborted(
                    "concurrent update conflict; retry the request", reason="CONCURRENCY_CONFLICT"
                ) from exc
            if exc.connection_invalidated:
                raise Unavailable(
                    "database connection lost; retry the request", reason="DATABASE_UNAVAILABLE"
                ) from exc
            raise
        except sa.exc.DataError as exc:
            raise _unstorable(exc) from exc

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[sa_async.AsyncConnection]:
        """A connection for reads that need no transaction of their own."""
        try:
            async with self.engine.connect() as conn:
                yield conn
        except sa.exc.DataError as exc:
            raise _unstorable(exc) from exc

    async def dispose(self) -> None:
        await self.engine.dispose()


def _unstorable(exc: sa.exc.DataError) -> InvalidArgument:
    """Input the database cannot hold (a NUL character in text, a number out of range): bad input, not a
    server fault. Validation should catch it first; this keeps a miss from becoming INTERNAL."""
    detail = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
    return InvalidArgument(f"request: a value cannot be stored ({detail})", reason="UNSTORABLE_VALUE")


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock, derived from a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def migrate(url: str, migrations_dir: Path, revision: str = "head") -> None:
    """Applies a service's Alembic migrations to ``url``; safe to run from several replicas at once
    (the migration environment holds an advisory lock)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    cfg.attributes["lock_name"] = str(migrations_dir)
    command.upgrade(cfg, revision)


def run_migrations_online(target_metadata: sa.MetaData) -> None:
    """Body of every service's ``migrations/env.py``: migrate under an advisory lock."""
    from alembic import context

    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    key = advisory_lock_key(str(cfg.attributes.get("lock_name", url)))
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()  # the lock is the session's; migrations then run in their own transaction
        try:
            context.configure(connection=conn, target_metadata=target_metadata, compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
    engine.dispose()
