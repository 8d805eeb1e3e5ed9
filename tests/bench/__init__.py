"""Benchmarks: `make bench` runs the order-flow benchmark against the suite as separate processes."""
