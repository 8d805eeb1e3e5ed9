"""Pure warehouse rules (RULES.md INV-*): no I/O, no gRPC, no SQL."""
