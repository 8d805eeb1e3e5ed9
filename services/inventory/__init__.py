"""Inventory service: items, places and stock, derived from an append-only movement ledger."""
