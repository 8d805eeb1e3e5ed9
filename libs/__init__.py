"""The shared kit: one way, used by every service, to do each cross-cutting thing."""
