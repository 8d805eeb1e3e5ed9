"""Local PostgreSQL servers: a throwaway one for the tests, and the kept, supervised one of the embedded run.

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


class PostgresCluster:
    """A PostgreSQL data folder that is kept: the embedded run's database server.

    ``init()`` creates the cluster once (``initdb``, as the dedicated ``pgserver`` system user when we are
    root, as PostgreSQL refuses to run as root); ``command()`` is the server in the foreground, so a
    supervisor runs it as a child, restarts it if it dies and stops it with SIGINT (fast shutdown: open
    transactions are rolled back, committed ones are on disk). It listens on a Unix socket only.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.user: str | None = None
        self.socket_dir = self.data_dir

    def init(self) -> None:
        """Creates the data folder and its cluster unless they exist (an existing one is kept as it is)."""
        import os

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver import _commands, utils

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import pwd
            import stat

            self.user = "pgserver"
            entry = utils.ensure_user_exists(self.user)
            utils.ensure_prefix_permissions(self.data_dir)
            utils.ensure_prefix_permissions(_commands.POSTGRES_BIN_PATH)
            readable = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
            utils.ensure_folder_permissions(_commands.POSTGRES_BIN_PATH, readable)
            utils.ensure_folder_permissions(
                _commands.POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH
            )
            assert entry is not None
            os.chown(self.data_dir, pwd.getpwnam(self.user).pw_uid, pwd.getpwnam(self.user).pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            _commands.initdb(  # type: ignore[attr-defined]
                ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
                pgdata=self.data_dir,
                user=self.user,
            )
        self.socket_dir = utils.find_suitable_socket_dir(self.data_dir, self.data_dir.parent / "run")
        if self.user is not None:
            import pwd

            # The socket folder may be outside the data folder (a long path): the server must own it.
            entry = pwd.getpwnam(self.user)
            os.chown(self.socket_dir, entry.pw_uid, entry.pw_gid)

    def command(self) -> list[str]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver import _commands

        return [
            str(_commands.POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(self.data_dir),
            "-c",
            "listen_addresses=",
            "-c",
            f"unix_socket_directories={self.socket_dir}",
            "-c",
            "max_connections=200",
            # Commit times of rows (pg_xact_commit_timestamp), which the event benchmark reads its delays from.
            "-c",
            "track_commit_timestamp=on",
        ]

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for ``database`` over the Unix socket."""
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def answers(self) -> bool:
        """True when the server accepts connections."""
        try:
            with psycopg.connect(self.url(), connect_timeout=1) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def create_database(self, name: str) -> str:
        """Creates ``name`` unless it exists; returns its URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"database name {name!r} must be lower-case letters, digits and '_'")
        with psycopg.connect(self.url(), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
