"""Channels and stubs to the services the gateway fans out to, opened once per process."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2_grpc

from libs import config
from libs.grpc_client import open_channel


@dataclass
class Upstreams:
    channels: dict[str, grpc.aio.Channel]
    health_channels: dict[str, grpc.aio.Channel]

    def health(self, service: str) -> health_pb2_grpc.HealthStub:
        return health_pb2_grpc.HealthStub(self.health_channels[service])

    async def close(self) -> None:
        for channel in [*self.channels.values(), *self.health_channels.values()]:
            await channel.close()


def open_upstreams() -> Upstreams:
    targets = {name: config.service_target(name) for name in config.SERVICE_PORTS}
    channels = {name: open_channel(target) for name, target in targets.items()}
    return Upstreams(
        channels=channels,
        health_channels={name: open_channel(target, traced=False) for name, target in targets.items()},
    )
