"""The event catalogue is declared once, on the event messages, and code, tests and the README agree with
it: every event has a subject of its publisher's package, every declared consumer has its handler, every
handler is declared, and the README shows the catalogue as it is."""

from __future__ import annotations

import importlib

import pytest

from libs.config import SERVICE_PORTS
from libs.events import catalogue
from libs.subscriptions import Subscriptions
from tests.conftest import REPO


def subscriptions_of(service: str) -> Subscriptions | None:
    try:
        module = importlib.import_module(f"services.{service}.consumers")
    except ModuleNotFoundError:
        return None
    found = module.subscriptions
    assert isinstance(found, Subscriptions) and found.service == service
    return found


def test_every_message_of_every_events_proto_is_a_declared_event():
    for service in SERVICE_PORTS:
        try:
            module = importlib.import_module(f"shop.{service}.v1.events_pb2")
        except ModuleNotFoundError:
            continue
        declared = {e.full_name for e in catalogue().published_by(service)}
        messages = {m.full_name for m in module.DESCRIPTOR.message_types_by_name.values()}
        assert messages == declared, f"{service}: events without option (shop.common.v1.event)"


def test_subjects_are_versioned_with_their_publishers_package():
    for event in catalogue().events:
        assert event.subject == f"shop.{event.publisher}.v1.{event.name}"
        assert event.full_name.startswith(f"shop.{event.publisher}.v1.")


@pytest.mark.parametrize("service", list(SERVICE_PORTS))
def test_declared_consumers_and_handlers_match(service):
    declared = {e.subject for e in catalogue().consumed_by(service)}
    subscriptions = subscriptions_of(service)
    handled = {s.spec.subject for s in subscriptions} if subscriptions else set()
    assert handled == declared


def test_a_service_cannot_subscribe_to_an_event_it_is_not_declared_to_consume():
    from shop.orders.v1 import events_pb2

    with pytest.raises(ValueError, match="does not consume"):
        Subscriptions("payroll").on(events_pb2.LargePromotionScheduled)


def test_the_readme_shows_the_catalogue_as_declared():
    readme = (REPO / "README.md").read_text()
    assert catalogue().markdown() in readme, "README's event catalogue is stale: python -m libs.events"
