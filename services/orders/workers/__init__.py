"""Background loops of the orders service; each is safe to run in several replicas at once."""
