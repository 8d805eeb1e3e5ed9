"""The contracts declare, on every RPC, an HTTP binding (AIP-127) and a policy the kit can enforce, and the
two agree: a GET changes nothing, a PUT, PATCH or DELETE is mutating and takes a request_id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.api import annotations_pb2
from google.protobuf.descriptor import MethodDescriptor
from shop.inventory.v1 import inventory_pb2
from shop.logistics.v1 import logistics_pb2
from shop.ops.v1 import dead_letters_pb2
from shop.orders.v1 import orders_pb2
from shop.payroll.v1 import payroll_pb2
from shop.returns.v1 import returns_pb2

from libs.contracts import DEAD_LETTERS, SERVICES
from libs.openapi import markdown_role_table
from libs.policy import READ_ONLY, policy_of_method
from tests.conftest import REPO

CONTRACTS = (inventory_pb2, orders_pb2, dead_letters_pb2, logistics_pb2, returns_pb2, payroll_pb2)


def every_method() -> Iterator[MethodDescriptor]:
    for module in CONTRACTS:
        for service in module.DESCRIPTOR.services_by_name.values():
            yield from service.methods


METHODS = list(every_method())


def verb(method: MethodDescriptor) -> str:
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    kind = rule.WhichOneof("pattern")
    assert kind is not None, f"{method.full_name} has no HTTP binding"
    return kind


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.full_name)
def test_every_rpc_declares_a_valid_policy_and_an_http_binding(method):
    policy = policy_of_method(method)  # raises UndeclaredPolicy naming what is missing
    kind = verb(method)
    if kind == "get":
        assert policy.idempotency == READ_ONLY, f"{method.full_name}: a GET changes nothing"
    elif kind != "post":
        # A POST may be a read whose question is too big for a query string (QuoteCart); PUT, PATCH and
        # DELETE always change something.
        assert policy.mutating, f"{method.full_name}: a {kind.upper()} is mutating, so it takes a request_id"
    if policy.creates:
        assert kind == "post", f"{method.full_name}: creation is a POST"


def test_no_two_rpcs_share_a_binding():
    seen: dict[tuple[str, str], str] = {}
    for method in METHODS:
        rule = method.GetOptions().Extensions[annotations_pb2.http]
        for binding in (rule, *rule.additional_bindings):
            kind = binding.WhichOneof("pattern")
            assert kind is not None
            key = (kind, getattr(binding, kind))
            assert key not in seen, f"{method.full_name} and {seen[key]} both bind {key}"
            seen[key] = method.full_name


def test_readme_role_table_is_current():
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- role table:")
    start = readme.index("\n", start) + 1
    end = readme.index("<!-- end of role table -->")
    expected = markdown_role_table([*SERVICES, DEAD_LETTERS])
    assert readme[start:end].strip() == expected.strip(), "run `make roles` and paste it into the README"


def test_only_reads_may_stream_and_no_request_may():
    from google.protobuf import descriptor_pb2, descriptor_pool
    from shop.common.v1 import policy_pb2

    from libs.policy import UndeclaredPolicy

    def options(idempotency: policy_pb2.Idempotency.ValueType) -> descriptor_pb2.MethodOptions:
        declared = descriptor_pb2.MethodOptions()
        declared.Extensions[policy_pb2.policy].roles.append("integrator")
        declared.Extensions[policy_pb2.policy].idempotency = idempotency
        return declared

    def rpc(
        name: str, idempotency: policy_pb2.Idempotency.ValueType, **streams: bool
    ) -> descriptor_pb2.MethodDescriptorProto:
        return descriptor_pb2.MethodDescriptorProto(
            name=name, input_type=".policytest.v1.Req", output_type=".policytest.v1.Req",
            options=options(idempotency), **streams,
        )  # fmt: skip

    file = descriptor_pb2.FileDescriptorProto(
        name="policytest/v1/streams.proto",
        package="policytest.v1",
        dependency=["shop/common/v1/policy.proto"],
        message_type=[
            descriptor_pb2.DescriptorProto(
                name="Req",
                field=[
                    descriptor_pb2.FieldDescriptorProto(
                        name="request_id",
                        number=1,
                        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
                    )
                ],
            )
        ],
        service=[
            descriptor_pb2.ServiceDescriptorProto(
                name="Streams",
                method=[
                    rpc("Watch", READ_ONLY, server_streaming=True),
                    rpc("Push", policy_pb2.IDEMPOTENCY_TRANSACTIONAL, server_streaming=True),
                    rpc("Upload", READ_ONLY, client_streaming=True),
                ],
            )
        ],
    )
    pool = descriptor_pool.Default()
    try:
        service = pool.FindServiceByName("policytest.v1.Streams")
    except KeyError:
        pool.Add(file)
        service = pool.FindServiceByName("policytest.v1.Streams")
    assert policy_of_method(service.methods_by_name["Watch"]).idempotency == READ_ONLY
    with pytest.raises(UndeclaredPolicy, match="streams its answer, so it must be IDEMPOTENCY_READ_ONLY"):
        policy_of_method(service.methods_by_name["Push"])
    with pytest.raises(UndeclaredPolicy, match="streams its requests"):
        policy_of_method(service.methods_by_name["Upload"])
