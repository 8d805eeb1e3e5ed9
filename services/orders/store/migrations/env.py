"""Alembic environment of the orders database."""

from libs.db import run_migrations_online
from services.orders.store.tables import metadata

run_migrations_online(metadata)
