"""Statements per order, from PostgreSQL's own record, for `make bench`.

The embedded PostgreSQL has no ``pg_stat_statements``, so for a short measured stretch the server logs
every statement it executes (``log_statement = 'all'``, each line prefixed with its database) and the
lines are counted per database, then divided by the orders that went through meanwhile. Logging costs the
server time, so this runs apart from the timed figures. Counted: every statement a client sent, BEGIN and
COMMIT included, whether simple or prepared (``statement:`` and ``execute`` lines).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg

_LINE = re.compile(r"^\[(?P<db>[^\]]*)\] LOG:  (?:statement: |execute [^:]*: )")


async def _set_logging(admin_url: str, on: bool) -> None:
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        if on:
            await conn.execute("ALTER SYSTEM SET log_statement = 'all'")
            await conn.execute("ALTER SYSTEM SET log_line_prefix = '[%d] '")
        else:
            await conn.execute("ALTER SYSTEM RESET log_statement")
            await conn.execute("ALTER SYSTEM RESET log_line_prefix")
        await conn.execute("SELECT pg_reload_conf()")
    await asyncio.sleep(0.5)  # every backend reloads at its next command


def _count(log: Path, start: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    with log.open("rb") as fh:
        fh.seek(start)
        for raw in fh:
            match = _LINE.match(raw.decode("utf-8", "replace"))
            if match:
                counts[match["db"]] += 1
    return counts


async def per_order(
    admin_url: str, log: Path, databases: dict[str, str], work: Callable[[], Awaitable[int]]
) -> dict[str, float]:
    """Runs ``work`` (which returns the orders it completed) with every statement logged; returns the
    statements per order in each of ``databases`` (service name -> database name)."""
    await _set_logging(admin_url, True)
    start = (await asyncio.to_thread(log.stat)).st_size
    try:
        orders = await work()
    finally:
        await _set_logging(admin_url, False)
    counts = await asyncio.to_thread(_count, log, start)
    return {
        service: round(counts[name] / orders, 2) if orders else 0.0 for service, name in databases.items()
    }
