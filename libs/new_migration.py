"""Writes a service's next Alembic migration from the difference between its tables and its migrations.

    python -m libs.new_migration inventory "transfers and loans"     (make migration SERVICE=... MESSAGE=...)

Runs against a throwaway embedded PostgreSQL migrated to head, so no database needs to be set up. Read the
generated file before committing it: autogenerate misses some changes (renames, server-side details).
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from libs.config import REPO_ROOT, SERVICE_PORTS
from libs.db import migrate, normalize_url
from libs.embedded_pg import EmbeddedPostgres


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m libs.new_migration", description=__doc__)
    parser.add_argument("service", choices=sorted(SERVICE_PORTS))
    parser.add_argument("message")
    args = parser.parse_args(argv)
    migrations = REPO_ROOT / "services" / args.service / "store" / "migrations"
    folder = Path(tempfile.mkdtemp(prefix="shop-migration-"))
    os.chmod(folder, 0o755)  # the embedded server runs as an unprivileged user under root
    server = EmbeddedPostgres(folder / "data")
    try:
        url = server.create_database("authoring")
        migrate(url, migrations)
        cfg = Config()
        cfg.set_main_option("script_location", str(migrations))
        cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        next_id = f"{int(head or '0') + 1:04d}"
        slug = re.sub(r"[^a-z0-9]+", "_", args.message.lower()).strip("_")
        command.revision(cfg, message=args.message, autogenerate=True, rev_id=next_id)
        print(f"wrote {migrations / 'versions' / f'{next_id}_{slug}.py'}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
