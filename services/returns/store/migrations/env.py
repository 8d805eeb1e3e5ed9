"""Alembic environment of the returns database."""

from libs.db import run_migrations_online
from services.returns.store.tables import metadata

run_migrations_online(metadata)
