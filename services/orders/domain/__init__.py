"""Pure order rules (RULES.md ORD-*): no I/O, no gRPC, no SQL."""
