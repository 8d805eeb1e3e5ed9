"""The orders database: tables, queries and migrations of this service only."""
