"""Tables of the orders database. The service's own tables arrive with its first business slice."""

from __future__ import annotations

from libs.db import new_metadata
from libs.kit_tables import kit_tables

metadata = new_metadata()
kit = kit_tables(metadata)
