"""Pure logistics rules (RULES.md LOG-*): no I/O, no gRPC, no SQL."""
