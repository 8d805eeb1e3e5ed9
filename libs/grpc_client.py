"""Client channels to the other services: deadlines, retries on UNAVAILABLE only, tracing, identity.

Use ``open_channel(service)`` once per process and ``call(stub.Method, request)`` for every call
(``stream(stub.Method, request)`` for a server-streaming one).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from libs import config, deadlines, identity, telemetry
from libs.deadlines import outgoing_timeout
from libs.grpc_errors import from_rpc_error

# Retries live in the channel's service config, so every stub of the channel gets them; only UNAVAILABLE
# (the request never reached a server able to act on it) is safe to retry blindly.
RETRY_SERVICE_CONFIG = json.dumps(
    {
        # Spread calls over every address the name resolves to (e.g. a headless Kubernetes Service).
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)

R = TypeVar("R")


def channel_options() -> list[tuple[str, Any]]:
    size = config.max_message_bytes()
    return [
        ("grpc.service_config", RETRY_SERVICE_CONFIG),
        ("grpc.enable_retries", 1),
        ("grpc.max_send_message_length", size),
        ("grpc.max_receive_message_length", size),
        ("grpc.keepalive_time_ms", 30_000),
        # A peer that restarted (often on the same port) is found again within seconds, not minutes. The
        # subchannels stay shared process-wide, so the health probe's reconnection serves the calls too.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 5_000),
    ]


def open_channel(target: str, *, traced: bool = True) -> grpc.aio.Channel:
    """A channel to ``target`` (host:port), e.g. ``config.service_target("inventory")``.

    ``traced=False`` is for health probing, which would otherwise flood the trace store.
    """
    interceptors = telemetry.grpc_client_interceptors() if traced else None
    return grpc.aio.insecure_channel(target, options=channel_options(), interceptors=interceptors)


async def call(
    method: Callable[..., Awaitable[R]],
    request: Any,
    *,
    caller: identity.Identity | None = None,
    max_seconds: float | None = None,
) -> R:
    """Calls a unary stub method with a propagated deadline and the caller's identity.

    A failed call raises the DomainError the server meant (details included), so callers handle the same
    error types whether a rule failed here or downstream. ``caller`` is the identity to forward; by
    default, the identity of the call being served.
    """
    try:
        return await method(request, timeout=outgoing_timeout(max_seconds), metadata=_metadata(caller))
    except grpc.RpcError as err:
        raise from_rpc_error(err) from None


async def stream(
    method: Callable[..., Any], request: Any, *, caller: identity.Identity | None = None
) -> AsyncIterator[Any]:
    """Calls a server-streaming stub method with the caller's identity and yields its messages.

    A stream has no deadline of its own (it lasts while its reader reads), only the one of the call being
    served, if any. A failure, before the first message or midway, raises the DomainError the server
    meant; leaving the iteration early cancels the call.
    """
    left = deadlines.remaining()
    timeout = None if left is None else outgoing_timeout(left)
    call = method(request, timeout=timeout, metadata=_metadata(caller))
    try:
        async for message in call:
            yield message
    except grpc.RpcError as err:
        raise from_rpc_error(err) from None
    finally:
        call.cancel()


def _metadata(caller: identity.Identity | None) -> list[tuple[str, str]]:
    """The identity to send: ``caller``'s token, or by default that of the call being served."""
    return [(identity.METADATA_KEY, f"Bearer {caller.token}")] if caller else identity.outgoing_metadata()
