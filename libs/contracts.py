"""The suite's gRPC contracts in one place: what the gateway transcodes, and what the OpenAPI document and
the README's role table (``python -m libs.contracts roles``) describe."""

from __future__ import annotations

import argparse
import json

from google.protobuf.descriptor import ServiceDescriptor
from shop.inventory.v1 import inventory_pb2
from shop.logistics.v1 import logistics_pb2
from shop.ops.v1 import dead_letters_pb2
from shop.orders.v1 import orders_pb2
from shop.payroll.v1 import payroll_pb2
from shop.returns.v1 import returns_pb2

#: Each service's own contract, served by the service its package names.
SERVICES: tuple[ServiceDescriptor, ...] = (
    inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"],
    orders_pb2.DESCRIPTOR.services_by_name["OrdersService"],
    logistics_pb2.DESCRIPTOR.services_by_name["LogisticsService"],
    returns_pb2.DESCRIPTOR.services_by_name["ReturnsService"],
    payroll_pb2.DESCRIPTOR.services_by_name["PayrollService"],
)
#: Served by every service for its own event consumers; the gateway fans these routes out by hand.
DEAD_LETTERS: ServiceDescriptor = dead_letters_pb2.DESCRIPTOR.services_by_name["DeadLetterService"]


def owner_of(service: ServiceDescriptor) -> str:
    """The service that serves a contract: ``shop.orders.v1.OrdersService`` is served by ``orders``."""
    return service.full_name.split(".")[1]


def main(argv: list[str] | None = None) -> None:
    from libs.openapi import Comments, markdown_role_table, openapi_document

    parser = argparse.ArgumentParser(prog="python -m libs.contracts", description=__doc__)
    parser.add_argument("what", choices=["roles", "openapi"], help="the README's role table, or OpenAPI")
    args = parser.parse_args(argv)
    if args.what == "roles":
        print(markdown_role_table([*SERVICES, DEAD_LETTERS]))
    else:
        document = openapi_document(SERVICES, comments=Comments.beside_generated_code())
        print(json.dumps(document, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
