"""Every RPC has an owner: the policy interceptor refuses, on every method of the running services, a
token with no role, a token with a role that does not exist, and a token with a real role the method does
not name. The methods are enumerated from the contracts, so a new RPC is covered without a new test."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import jwt
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from shop.inventory.v1 import inventory_pb2
from shop.orders.v1 import orders_pb2

from libs import config, identity
from libs.grpc_errors import from_rpc_error
from libs.policy import policy_of_method

SERVICES = {
    "inventory": inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"],
    "orders": orders_pb2.DESCRIPTOR.services_by_name["OrdersService"],
}


def methods() -> Iterator[tuple[str, MethodDescriptor]]:
    for name, service in SERVICES.items():
        for method in service.methods:
            yield name, method


def signed(roles: list[str]) -> str:
    """A validly signed token whose roles are not checked against the known ones, as a forger could not
    make but a misconfigured identity provider could."""
    now = int(time.time())
    claims = {
        "sub": "someone",
        "roles": roles,
        "iss": identity.ISSUER,
        "aud": identity.AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode(claims, config.jwt_secret(), algorithm=identity.ALGORITHM)


def a_role_it_does_not_name(method: MethodDescriptor) -> str:
    return sorted(identity.ROLES - policy_of_method(method).roles)[0]


async def call(
    channel: grpc.aio.Channel, method: MethodDescriptor, token: str
) -> tuple[grpc.StatusCode, str]:
    """The status and the error's reason of calling ``method`` with an empty request."""
    request_type = message_factory.GetMessageClass(method.input_type)
    response_type = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = [("authorization", f"Bearer {token}")]
    try:
        if method.server_streaming:
            # A stream let through goes on until cancelled: its first message (or its error) is the answer.
            stream = channel.unary_stream(
                path,
                request_serializer=request_type.SerializeToString,
                response_deserializer=response_type.FromString,
            )(request_type(), metadata=metadata, timeout=10)
            try:
                await stream.read()
            finally:
                stream.cancel()
        else:
            stub = channel.unary_unary(
                path,
                request_serializer=request_type.SerializeToString,
                response_deserializer=response_type.FromString,
            )
            await stub(request_type(), metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as err:
        return err.code(), from_rpc_error(err).reason
    return grpc.StatusCode.OK, ""


@pytest.fixture
def channels(inventory, orders_service) -> dict[str, grpc.aio.Channel]:
    return {"inventory": inventory.channel, "orders": orders_service.channel}


async def test_no_method_is_open_to_any_token(channels):
    wrong = []
    for service, method in methods():
        channel = channels[service]
        for label, token in (
            ("no role", signed([])),
            ("a role that does not exist", signed(["root"])),
            ("a role it does not name", signed([a_role_it_does_not_name(method)])),
        ):
            code, _ = await call(channel, method, token)
            if code != grpc.StatusCode.PERMISSION_DENIED:
                wrong.append(f"{method.full_name} with {label}: {code.name}")
    assert not wrong, "\n".join(wrong)


async def test_each_named_role_gets_past_the_policy(channels):
    """An empty request from a holder of a named role reaches the handler: whatever it answers (a handler
    may still refuse, e.g. a warehouse the caller has no access to), the policy did not refuse the role."""
    refused = []
    for service, method in methods():
        for role in sorted(policy_of_method(method).roles):
            _, reason = await call(channels[service], method, signed([role]))
            if reason == "ROLE_REQUIRED":
                refused.append(f"{method.full_name} as {role}")
    assert not refused, "\n".join(refused)
