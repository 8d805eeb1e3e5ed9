"""Alembic environment of the payroll database."""

from libs.db import run_migrations_online
from services.payroll.store.tables import metadata

run_migrations_online(metadata)
