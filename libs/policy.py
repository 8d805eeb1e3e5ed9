"""Per-RPC policy, declared in the contracts and enforced in one place.

Every RPC carries ``option (shop.common.v1.policy) = {roles, idempotency, creates}``. The server
interceptor (``libs.grpc_server``) looks the policy up by the call's full method name and, before the
handler runs, checks the caller's roles and, for a mutating RPC given a ``request_id``, claims the id:

- TRANSACTIONAL: the claim opens the call's transaction and the handler's own ``database.transaction()``
  joins it (``libs.db.joined``), so the claim, the change and the stored answer commit together. A retry
  gets the first answer; a concurrent duplicate waits on the claim's key until the first commits.
- RESUMABLE (sagas): the claim commits first, the handler's steps run in their own transactions, and the
  answer is stored when they are done. A retry after a crash finds no answer and runs the steps again,
  which resume where they stopped, because each step is idempotent on its own.

Keys belong to their caller (the token's subject): the same id from another caller is another request.
The same id with a different request is refused with ALREADY_EXISTS naming ``request_id``. A request
without an id is a new request (AIP-155).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from shop.common.v1 import policy_pb2

from libs import identity
from libs.db import Database, joined
from libs.idempotency import check_request_id, claim, store_answer

Idempotency = policy_pb2.Idempotency
READ_ONLY = policy_pb2.IDEMPOTENCY_READ_ONLY
TRANSACTIONAL = policy_pb2.IDEMPOTENCY_TRANSACTIONAL
RESUMABLE = policy_pb2.IDEMPOTENCY_RESUMABLE
REQUEST_ID = "request_id"


@dataclass(frozen=True)
class MethodPolicy:
    """One RPC's declared policy, read from its descriptor."""

    method: str  # "/shop.orders.v1.OrdersService/SubmitOrder"
    roles: frozenset[str]
    idempotency: Idempotency.ValueType
    creates: bool
    response_type: type[Message]

    @property
    def mutating(self) -> bool:
        return self.idempotency != READ_ONLY


class UndeclaredPolicy(Exception):
    """A served RPC whose contract declares no valid policy: a service refuses to start with one."""


def full_method_name(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def declared_policy(method: MethodDescriptor) -> policy_pb2.MethodPolicy | None:
    """The ``shop.common.v1.policy`` option as written on an RPC, or None when it has none."""
    options = method.GetOptions()
    return options.Extensions[policy_pb2.policy] if options.HasExtension(policy_pb2.policy) else None


def declared_produces(method: MethodDescriptor) -> tuple[str, ...]:
    """The media types an RPC that returns ``google.api.HttpBody`` declares it answers with
    (``shop.common.v1.produces``), in their declared order; empty when it declares none."""
    return tuple(method.GetOptions().Extensions[policy_pb2.produces])


def policy_of_method(method: MethodDescriptor) -> MethodPolicy:
    """The policy ``method`` declares; UndeclaredPolicy when it is missing or incomplete."""
    name = full_method_name(method)
    declared = declared_policy(method)
    if declared is None:
        raise UndeclaredPolicy(f"{name}: no (shop.common.v1.policy) option")
    unknown = sorted(set(declared.roles) - identity.ROLES)
    problems = [
        *(["declares no roles"] if not declared.roles else []),
        *([f"unknown role(s) {', '.join(unknown)}"] if unknown else []),
        *(["declares no idempotency"] if declared.idempotency == policy_pb2.IDEMPOTENCY_UNSPECIFIED else []),
    ]
    if declared.idempotency not in (READ_ONLY, policy_pb2.IDEMPOTENCY_UNSPECIFIED):
        field = method.input_type.fields_by_name.get(REQUEST_ID)
        if field is None or field.type != field.TYPE_STRING or field.is_repeated:
            problems.append("is mutating but its request has no string request_id")
    if method.client_streaming:  # type: ignore[attr-defined]
        problems.append("streams its requests, which the kit cannot check one by one")
    if method.server_streaming and declared.idempotency != READ_ONLY:  # type: ignore[attr-defined]
        # A retried stream cannot be answered from a stored reply, so only reads may stream.
        problems.append("streams its answer, so it must be IDEMPOTENCY_READ_ONLY")
    if problems:
        raise UndeclaredPolicy(f"{name}: {'; '.join(problems)}")
    return MethodPolicy(
        method=name,
        roles=frozenset(declared.roles),
        idempotency=declared.idempotency,
        creates=declared.creates,
        response_type=message_factory.GetMessageClass(method.output_type),
    )


@cache
def policy_of(method: str) -> MethodPolicy:
    """The policy of the RPC named ``/package.Service/Method``; UndeclaredPolicy when it has none."""
    service_name, _, method_name = method.strip("/").partition("/")
    try:
        service = descriptor_pool.Default().FindServiceByName(service_name)
    except KeyError:
        raise UndeclaredPolicy(f"{method}: not a service of the contracts") from None
    found = service.methods_by_name.get(method_name)
    if found is None:
        raise UndeclaredPolicy(f"{method}: not a method of {service_name}")
    return policy_of_method(found)


def check_declared(services: Iterable[str]) -> None:
    """Refuses to serve a service with an RPC that declares no valid policy (raised at start-up)."""
    problems = []
    for name in services:
        service: ServiceDescriptor = descriptor_pool.Default().FindServiceByName(name)
        for method in service.methods:
            try:
                policy_of(full_method_name(method))
            except UndeclaredPolicy as err:
                problems.append(str(err))
    if problems:
        raise UndeclaredPolicy("; ".join(problems))


def policies(services: Sequence[ServiceDescriptor]) -> list[MethodPolicy]:
    """The policy of every RPC of ``services``, in declaration order."""
    return [policy_of(full_method_name(m)) for s in services for m in s.methods]


def policies_served(service_names: Iterable[str]) -> list[MethodPolicy]:
    """The policy of every RPC of the services named (full names, as a server registers them)."""
    pool = descriptor_pool.Default()
    return policies([pool.FindServiceByName(name) for name in service_names])


@dataclass(frozen=True)
class Claims:
    """Where a service keeps the idempotency claims of its mutating RPCs: its database's kit table."""

    database: Database
    table: sa.Table

    async def once(
        self, policy: MethodPolicy, request: Message, handler: Callable[[], Awaitable[Message]]
    ) -> Message:
        """Runs ``handler`` under ``policy``'s idempotency for ``request``'s id; see the module doc."""
        request_id = getattr(request, REQUEST_ID, "") if policy.mutating else ""
        if not request_id:
            return await handler()
        check_request_id(request_id)
        # Keys are the caller's own: another caller's request with the same id is a request of its own,
        # never answered from the first caller's (which could be another shop's data).
        request_id = f"{identity.current().subject}\x1f{request_id}"
        if policy.idempotency == RESUMABLE:
            return await self._resumable(policy, request_id, request, handler)
        async with self.database.transaction() as conn:
            first = await claim(conn, self.table, policy.method, request_id, request, policy.response_type)
            if first is not None:
                return first
            with joined(self.database, conn):
                answer = await handler()
            await store_answer(conn, self.table, policy.method, request_id, answer)
            return answer

    async def _resumable(
        self,
        policy: MethodPolicy,
        request_id: str,
        request: Message,
        handler: Callable[[], Awaitable[Message]],
    ) -> Message:
        async with self.database.transaction() as conn:
            first = await claim(
                conn, self.table, policy.method, request_id, request, policy.response_type, resumed=True
            )
        if first is not None:
            return first
        answer = await handler()
        async with self.database.transaction() as conn:
            await store_answer(conn, self.table, policy.method, request_id, answer)
        return answer


def check_roles(policy: MethodPolicy) -> identity.Identity:
    """The current caller if it holds one of ``policy``'s roles; PermissionDenied otherwise."""
    return identity.require_role(*policy.roles)
