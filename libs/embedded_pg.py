"""A throwaway local PostgreSQL for the embedded run and the tests.

``pgserver`` ships real PostgreSQL binaries in a wheel and runs them (as a dedicated system user when we
are root). It listens on a Unix socket inside its data folder only, so it never takes a TCP port.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import psycopg

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class EmbeddedPostgres:
    """A PostgreSQL server in ``data_dir``; ``stop()`` shuts it down and deletes the folder."""

    def __init__(self, data_dir: Path) -> None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); its /tmp fallback is fine.
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._server: Any = get_server(data_dir, cleanup_mode="delete")

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for ``database`` (Unix socket)."""
        return str(self._server.get_uri(database=database))

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Creates ``name`` unless it exists, optionally as a copy of ``template``; returns its URL."""
        for value in (name, template or "x"):
            if not _DB_NAME.match(value):
                raise ValueError(f"database name {value!r} must be lower-case letters, digits and '_'")
        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists is None:
                copy = f' TEMPLATE "{template}"' if template else ""
                conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        if not _DB_NAME.match(name):
            raise ValueError(f"database name {name!r} must be lower-case letters, digits and '_'")
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        self._server.cleanup()
