"""Database access, the same in every service: one async engine per service database, Core queries,
transactions as ``async with database.transaction() as conn``, and Alembic migrations per service.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import psycopg
import sqlalchemy as sa
import sqlalchemy.ext.asyncio as sa_async
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import make_url

from libs.errors import Aborted, InvalidArgument, Unavailable

log = logging.getLogger(__name__)

# serialization_failure, deadlock_detected
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# The server is going away or refuses connections: admin_shutdown, crash_shutdown, cannot_connect_now,
# too_many_connections. Class 08 (connection exceptions) is matched by its prefix.
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})

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


_joined: contextvars.ContextVar[tuple[Database, sa_async.AsyncConnection] | None] = contextvars.ContextVar(
    "shop_call_transaction", default=None
)


@contextmanager
def joined(database: Database, conn: sa_async.AsyncConnection) -> Iterator[None]:
    """Within the block, ``database``'s transactions and connections are ``conn``'s transaction: how an
    RPC's change commits together with its idempotency claim (``libs.policy``). Concurrent tasks must not
    share it; an RPC that fans out over its own transactions is declared RESUMABLE instead."""
    token = _joined.set((database, conn))
    try:
        yield
    finally:
        _joined.reset(token)


@asynccontextmanager
async def hashing_joins(conn: sa_async.AsyncConnection) -> AsyncIterator[None]:
    """Within the block, ``conn``'s transaction joins whole tables by hashing, never row by row through an
    index: for reads that take thousands of rows written since the tables were last analysed. Counting on
    a few rows, the planner would look each of them up in the other table (10,000 index lookups where one
    hash join takes a fraction). An error leaves the setting to the transaction, which it ends anyway."""
    await conn.execute(sa.text("SET LOCAL enable_nestloop = off"))
    yield
    await conn.execute(sa.text("SET LOCAL enable_nestloop = on"))


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
        self.url = url
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

        A deadlock or serialization failure becomes Aborted: nothing was written and a retry is safe. A
        database that is down or going away becomes Unavailable: the caller may retry once it is back.
        Inside a call's transaction (``joined``) it is a savepoint of that transaction, which commits with
        the call's idempotency claim.
        """
        call = _joined.get()
        with _as_domain_errors():
            if call is not None and call[0] is self:
                async with call[1].begin_nested():
                    yield call[1]
                return
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[sa_async.AsyncConnection]:
        """A connection for reads that need no transaction of their own (errors as ``transaction``); inside
        a call's transaction (``joined``), that transaction's connection, so reads see its writes."""
        call = _joined.get()
        with _as_domain_errors():
            if call is not None and call[0] is self:
                yield call[1]
                return
            async with self.engine.connect() as conn:
                yield conn

    async def ping(self, within: float = 2.0) -> bool:
        """True when the database answers a trivial query within ``within`` seconds."""
        from libs.telemetry import untraced

        try:
            with untraced():
                async with asyncio.timeout(within), self.engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
        except Exception:  # any failure means: not usable now
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


@contextmanager
def _as_domain_errors() -> Iterator[None]:
    """Database errors that are not bugs, as the domain errors callers handle."""
    try:
        yield
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
            raise Aborted(
                "concurrent update conflict; retry the request", reason="CONCURRENCY_CONFLICT"
            ) from exc
        if _database_unavailable(exc):
            raise _unavailable() from exc
        raise
    except (sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
        raise _unavailable() from exc
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise _unavailable() from exc
        if isinstance(exc, sa.exc.DataError):
            raise _unstorable(exc) from exc
        raise


def _database_unavailable(exc: sa.exc.OperationalError) -> bool:
    """Connection refused or lost, or the server shutting down: not a fault of the request."""
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    # psycopg raises OperationalError without a SQLSTATE when it cannot connect at all.
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES


def _unavailable() -> Unavailable:
    return Unavailable("the database is unavailable; retry the request", reason="DATABASE_UNAVAILABLE")


def _unstorable(exc: sa.exc.DBAPIError) -> InvalidArgument:
    """Input the database cannot hold (a NUL character in text, a number out of range): bad input, not a
    server fault. Validation should catch it first; this keeps a miss from becoming INTERNAL."""
    detail = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
    return InvalidArgument(f"request: a value cannot be stored ({detail})", reason="UNSTORABLE_VALUE")


def libpq_url(url: str) -> str:
    """A service URL as libpq (and psycopg) reads it, whatever driver name it was given with."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Notifications:
    """Wakes a loop when PostgreSQL delivers a NOTIFY on ``channel``, or after a timeout.

    Holds one dedicated connection; while the database is unreachable it simply waits out the timeout, so
    callers poll as a fallback and never depend on a notification arriving.
    """

    def __init__(self, url: str, channel: str) -> None:
        self.url = libpq_url(url)
        self.channel = channel
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        """Returns on a notification, when ``stop`` is set, or after ``seconds``."""
        if stop.is_set():
            return
        if self._conn is None or self._conn.closed:
            try:
                self._conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=2
                )
                await self._conn.execute(f'LISTEN "{self.channel}"')
            except (psycopg.Error, OSError):
                await self.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=seconds)
                return
        conn = self._conn
        stopper = asyncio.ensure_future(stop.wait())
        listener = asyncio.ensure_future(self._one(conn, seconds))
        try:
            await asyncio.wait({stopper, listener}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def _one(self, conn: psycopg.AsyncConnection[tuple[object, ...]], seconds: float) -> None:
        try:
            async for _ in conn.notifies(timeout=seconds, stop_after=1):
                break
        except (psycopg.Error, OSError) as err:
            log.debug("notification connection lost: %s", err)
            await self.close()
            await asyncio.sleep(seconds)

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None


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
