"""Carriers' tracking events and the exception cases they open (LOG-6)."""

from __future__ import annotations

from libs.db import Database


class TrackingApi:
    db: Database
