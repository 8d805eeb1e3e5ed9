"""Printable documents of waves and parcels (LOG-2, LOG-5), served as PDF and CSV."""

from __future__ import annotations

from libs.db import Database


class DocumentsApi:
    db: Database
