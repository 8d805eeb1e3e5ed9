"""Workflows that span services, as explicit state machines with compensations."""
