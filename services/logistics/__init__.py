"""Logistics service: waves, pick lists, verification, packing and dispatch (LOG-*)."""
