"""End-to-end tests: the whole suite as real processes, driven over HTTP."""
