"""gRPC server bootstrap shared by every service.

grpc.aio server with OpenTelemetry, per-call identity and deadline context, each RPC's declared policy
(roles and idempotency, ``libs.policy``) enforced before its handler runs, DomainError -> rich status,
grpc.health.v1 (a status per service), reflection, message size limits, and graceful shutdown on
SIGTERM/SIGINT: every health status turns NOT_SERVING, then ``stop(grace)`` lets calls in flight finish.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from libs import identity
from libs.config import ServiceConfig
from libs.deadlines import reset_deadline, set_deadline_in
from libs.errors import DomainError, PermissionDenied
from libs.grpc_errors import grpc_code, status_message, trailing_metadata
from libs.policy import (
    Claims,
    MethodPolicy,
    UndeclaredPolicy,
    check_declared,
    check_roles,
    policies_served,
    policy_of,
)

log = logging.getLogger(__name__)

# Health and reflection answer without identity: probes and tools carry no token.
PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True)
class Servicers:
    """What a service serves: ``add`` puts its servicers on a server and returns their full service names;
    ``claims`` keeps the idempotency claims of their mutating RPCs (None only if they have none)."""

    add: Callable[[grpc.aio.Server], Sequence[str]]
    claims: Claims | None = None


class CallContextInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Per call, unary or server-streaming: deadline and verified identity into context, the RPC's
    declared policy (roles, then the idempotency claim of a mutating call), and DomainError -> status with
    details, also when a stream fails midway. Handlers hold only their use case."""

    def __init__(self, claims: Claims | None) -> None:
        self.claims = claims

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(PUBLIC_METHOD_PREFIXES):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # Client streaming has no policy the kit could enforce per message (libs.policy refuses it).
        raise UndeclaredPolicy(f"{method}: client-streaming RPCs are not served")

    def _unary(self, method: str, inner: Any) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            deadline_token = set_deadline_in(context.time_remaining())
            identity_token = None
            try:
                identity_token = _set_caller(context)
                policy = _checked_policy(method)
                if self.claims is None or not policy.mutating:
                    return await inner(request, context)
                return await self.claims.once(policy, request, lambda: inner(request, context))
            except Exception as err:  # _abort answers it, or re-raises an abort
                await _abort(method, context, err)
            finally:
                _leave(deadline_token, identity_token)

        return unary

    def _stream(
        self, method: str, inner: Any
    ) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            deadline_token = set_deadline_in(context.time_remaining())
            identity_token = None
            try:
                identity_token = _set_caller(context)
                _checked_policy(method)  # streams are read-only (libs.policy): no claim to take
                async for reply in inner(request, context):
                    yield reply
            except Exception as err:  # _abort answers it, or re-raises an abort
                await _abort(method, context, err)
            finally:
                _leave(deadline_token, identity_token)

        return stream


def _set_caller(context: grpc.aio.ServicerContext) -> contextvars.Token[identity.Identity | None]:
    """Puts the caller's verified identity into context; Unauthenticated when its token is missing or bad."""
    metadata = dict(context.invocation_metadata() or ())
    return identity.set_current(identity.identity_from_header(metadata.get(identity.METADATA_KEY)))


def _checked_policy(method: str) -> MethodPolicy:
    """The RPC's declared policy, once the caller holds one of its roles."""
    try:
        policy = policy_of(method)
    except UndeclaredPolicy:
        raise PermissionDenied(f"method: {method} declares no policy", reason="NO_POLICY") from None
    check_roles(policy)
    return policy


def _leave(deadline_token: contextvars.Token[Any], identity_token: contextvars.Token[Any] | None) -> None:
    if identity_token is not None:
        identity.reset_current(identity_token)
    reset_deadline(deadline_token)


async def _abort(method: str, context: grpc.aio.ServicerContext, err: Exception) -> None:
    """Answers a failed call: a DomainError with its status and details, a bug as INTERNAL (logged with
    its trace, telling the caller nothing internal). Cancellation and aborts pass through."""
    if isinstance(err, DomainError):
        await context.abort(grpc_code(err), status_message(err), trailing_metadata=trailing_metadata(err))
    if isinstance(err, grpc.aio.AbortError):
        raise err
    log.exception("unhandled error in %s", method, exc_info=err)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")


class UntracedPublicMethods(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Runs ``inner`` except for health and reflection calls: probes every few seconds are not flows."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if handler_call_details.method.startswith(PUBLIC_METHOD_PREFIXES):
            return await continuation(handler_call_details)
        return await self.inner.intercept_service(continuation, handler_call_details)


class GrpcServer:
    """One service's gRPC server. ``register`` adds servicers and returns their full service names, which
    get a health status each; ``contracts`` are further service names to publish through reflection."""

    def __init__(
        self,
        cfg: ServiceConfig,
        servicers: Servicers,
        *,
        contracts: Sequence[str] = (),
        extra_interceptors: Sequence[Any] = (),
    ) -> None:
        from libs.telemetry import grpc_server_interceptors

        self.cfg = cfg
        options = [
            ("grpc.max_send_message_length", cfg.max_message_bytes),
            ("grpc.max_receive_message_length", cfg.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self.server = grpc.aio.server(
            interceptors=[
                *(UntracedPublicMethods(i) for i in grpc_server_interceptors()),
                CallContextInterceptor(servicers.claims),
                *extra_interceptors,
            ],
            options=options,
        )
        self.service_names = list(servicers.add(self.server))
        # Every served RPC declares its policy, and a mutating one needs somewhere to keep its claims.
        check_declared(self.service_names)
        if servicers.claims is None and any(p.mutating for p in policies_served(self.service_names)):
            raise ValueError("a service with mutating RPCs needs Servicers.claims")
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [
                *self.service_names,
                *contracts,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            self.server,
        )
        self.port = 0
        self.serving = False
        self._stopping = False

    async def set_serving(self, serving: bool) -> None:
        """Turns every health status SERVING or NOT_SERVING (while a dependency such as the database is
        down), so load balancers and probes route around this replica until it recovers."""
        if self._stopping or self.port == 0 or serving == self.serving:
            return
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self.service_names]:
            await self.health.set(name, status)
        self.serving = serving
        log.warning("health changed", extra={"serving": serving})

    async def start(self, address: str | None = None) -> int:
        """Binds (``host:0`` picks a free port), starts and marks every service SERVING; returns the port."""
        self.port = self.server.add_insecure_port(address or self.cfg.address)
        if self.port == 0:
            raise OSError(f"cannot bind {address or self.cfg.address}")
        await self.server.start()
        for name in ["", *self.service_names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.serving = True
        log.info("serving", extra={"port": self.port, "services": ",".join(self.service_names)})
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING first, so load balancers stop sending, then stop accepting and drain."""
        self._stopping = True
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.cfg.grace_seconds if grace is None else grace)

    async def serve_until_signalled(self, started: asyncio.Event | None = None) -> None:
        """Runs until SIGTERM or SIGINT, then shuts down gracefully. ``started`` is set once serving."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        if started is not None:
            started.set()
        waiter = asyncio.create_task(self.server.wait_for_termination())
        signalled = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, signalled}, return_when=asyncio.FIRST_COMPLETED)
        log.info("shutting down", extra={"grace_seconds": self.cfg.grace_seconds})
        await self.stop()
        waiter.cancel()
        signalled.cancel()
