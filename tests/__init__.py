"""Cross-service integration, end-to-end and unit tests of the suite."""
