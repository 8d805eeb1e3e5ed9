"""gRPC face of the inventory service: protobuf <-> domain, nothing else."""
