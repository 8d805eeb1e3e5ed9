"""Typed clients of the services the orders service calls, through their contracts only."""
