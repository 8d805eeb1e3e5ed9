"""The suite's deployables: one package per service, plus the gateway."""
