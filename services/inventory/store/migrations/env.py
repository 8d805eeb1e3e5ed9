"""Alembic environment of the inventory database."""

from libs.db import run_migrations_online
from services.inventory.store.tables import metadata

run_migrations_online(metadata)
