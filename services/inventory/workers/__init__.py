"""Background loops of the inventory service; each is safe to run in several replicas at once."""
