"""The logistics database: tables, queries and migrations of this service only."""
