"""Unit tests: pure rules and helpers, no database and no network server."""
