"""Integration tests against a real PostgreSQL and real gRPC servers."""
