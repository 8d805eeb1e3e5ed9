"""Every element of the service contracts says what it is: the gateway's OpenAPI document takes its
descriptions from the proto comments (libs.openapi.Comments), so an element without one reaches HTTP
clients undocumented. Money in fen, quantities in units, dates in Asia/Shanghai: the comment says so."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, EnumDescriptor, EnumValueDescriptor, FileDescriptor
from grpc_tools import protoc  # type: ignore[import-untyped]

from libs.openapi import Comments, DescriptorLike
from tests.conftest import REPO

#: The six service contracts and the common messages they carry.
DOCUMENTED = (
    "shop/inventory/v1/inventory.proto",
    "shop/orders/v1/orders.proto",
    "shop/logistics/v1/logistics.proto",
    "shop/returns/v1/returns.proto",
    "shop/payroll/v1/payroll.proto",
    "shop/ops/v1/dead_letters.proto",
    "shop/common/v1/money.proto",
    "shop/common/v1/paging.proto",
    "shop/common/v1/document.proto",
)


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pb2.FileDescriptorSet:
    """The contracts as they are in protos/ now, with their comments (not the generated code in gen/,
    which may be older)."""
    out: Path = tmp_path_factory.mktemp("contracts") / "set.binpb"
    well_known = resources.files("grpc_tools") / "_proto"  # google/protobuf/*.proto
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{REPO / 'protos'}",
            f"-I{REPO / 'third_party' / 'googleapis'}",
            f"-I{well_known}",
            "--include_source_info",
            "--include_imports",
            f"--descriptor_set_out={out}",
            *(str(REPO / "protos" / name) for name in DOCUMENTED),
        ]
    )
    assert status == 0, f"protoc failed with status {status}"
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


@pytest.fixture(scope="module")
def files(descriptor_set: descriptor_pb2.FileDescriptorSet) -> list[FileDescriptor]:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_set.file:  # --include_imports lists dependencies first
        pool.Add(file)
    return [pool.FindFileByName(name) for name in DOCUMENTED]


def _enum_elements(enum: EnumDescriptor) -> Iterator[DescriptorLike]:
    yield enum
    yield from enum.values


def _message_elements(message: Descriptor) -> Iterator[DescriptorLike]:
    if message.GetOptions().map_entry:  # the key and value of a map field: protoc's, not ours
        return
    yield message
    yield from message.fields
    for nested in message.nested_types:
        yield from _message_elements(nested)
    for enum in message.enum_types:
        yield from _enum_elements(enum)


def elements(file: FileDescriptor) -> Iterator[DescriptorLike]:
    """Every service, RPC, message, field, enum and enum value the file declares."""
    for message in file.message_types_by_name.values():
        yield from _message_elements(message)
    for enum in file.enum_types_by_name.values():
        yield from _enum_elements(enum)
    for service in file.services_by_name.values():
        yield service
        yield from service.methods


def _name(element: DescriptorLike) -> str:
    # An enum value's full name drops its enum (proto scoping); say it in full.
    if isinstance(element, EnumValueDescriptor):
        return f"{element.type.full_name}.{element.name}"
    return element.full_name


def test_the_contracts_declare_elements(files: list[FileDescriptor]) -> None:
    # A file that compiled to nothing would pass the next test vacuously.
    for file in files:
        assert list(elements(file)), f"{file.name} declares nothing"


def test_every_element_of_the_contracts_has_a_comment(
    descriptor_set: descriptor_pb2.FileDescriptorSet, files: list[FileDescriptor]
) -> None:
    comments = Comments.from_descriptor_set(descriptor_set)
    missing = [
        f"{file.name}: {_name(element)}"
        for file in files
        for element in elements(file)
        if not (comments.of(element) or "").strip()
    ]
    assert not missing, (
        f"{len(missing)} contract elements have no comment; write one above each (`// ...`) saying what "
        "it is, with its unit and meaning:\n  " + "\n  ".join(missing)
    )
