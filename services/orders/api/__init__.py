"""gRPC face of the orders service: protobuf <-> domain, nothing else."""
