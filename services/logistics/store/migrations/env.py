"""Alembic environment of the logistics database."""

from libs.db import run_migrations_online
from services.logistics.store.tables import metadata

run_migrations_online(metadata)
