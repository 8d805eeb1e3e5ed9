"""An RPC that returns ``google.api.HttpBody`` answers over HTTP with a document (a PDF pick list, a label,
a CSV manifest), not JSON, so its contract names the media types it produces (``shop.common.v1.produces``)
for the OpenAPI document; every other RPC answers JSON and names none. Checked on every service of every
generated contract, the test contracts included, so a new RPC is covered without a new test."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator

import pytest
import shop
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from libs.policy import declared_policy, declared_produces
from libs.transcoding import returns_http_body

# RFC 9110 type "/" subtype, parameters allowed.
MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;\s*\S+)*")


def every_service() -> Iterator[ServiceDescriptor]:
    """Every service declared by a generated contract module (``*_pb2``) of the ``shop`` package."""
    for module in pkgutil.walk_packages(shop.__path__, prefix="shop."):
        if module.name.endswith("_pb2"):
            contract = importlib.import_module(module.name)
            yield from contract.DESCRIPTOR.services_by_name.values()


METHODS = [method for service in every_service() for method in service.methods]
DOCUMENTS = [method for method in METHODS if returns_http_body(method)]


def test_the_contracts_have_rpcs_that_answer_documents() -> None:
    # With none, the tests below would pass without checking a single declaration.
    assert DOCUMENTS, "no RPC returns google.api.HttpBody; the echo test contract should have one"


@pytest.mark.parametrize("method", DOCUMENTS, ids=lambda m: m.full_name)
def test_an_rpc_answering_a_document_declares_the_media_types_it_produces(method: MethodDescriptor) -> None:
    produces = declared_produces(method)
    assert produces, f'{method.full_name} returns HttpBody: add option (shop.common.v1.produces) = "..."'
    bad = [media for media in produces if not MEDIA_TYPE.fullmatch(media)]
    assert not bad, f"{method.full_name}: {bad} are not media types (type/subtype)"
    assert len(set(produces)) == len(produces), f"{method.full_name} names a media type twice"
    policy = declared_policy(method)
    # A document is answered 200, as grpc-gateway does: there is no `created` to tell 201 from 200.
    assert policy is None or not policy.creates, f"{method.full_name}: a document answer cannot be 201"


@pytest.mark.parametrize(
    "method", [m for m in METHODS if not returns_http_body(m)], ids=lambda m: m.full_name
)
def test_an_rpc_answering_json_declares_no_media_types(method: MethodDescriptor) -> None:
    assert not declared_produces(method), (
        f"{method.full_name} answers JSON ({method.output_type.full_name}); only an RPC returning "
        "google.api.HttpBody may declare (shop.common.v1.produces)"
    )
