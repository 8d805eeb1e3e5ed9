"""The garbage collector as a server process sets it (``libs.service_main.tune_collector``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from libs.service_main import GC_GEN0_THRESHOLD, tune_collector


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector")
def test_a_server_moves_its_start_up_objects_out_of_the_collectors_sight_and_collects_less_often() -> None:
    made_at_start_up = [object() for _ in range(10)]
    gc.unfreeze()
    _, middle, oldest = gc.get_threshold()

    tune_collector()

    assert gc.get_freeze_count() >= len(made_at_start_up)
    assert gc.get_threshold() == (GC_GEN0_THRESHOLD, middle, oldest)


@pytest.mark.usefixtures("collector")
def test_cycles_made_after_start_up_are_still_collected() -> None:
    tune_collector()

    class Node:
        peer: object = None

    a, b = Node(), Node()
    a.peer, b.peer = b, a
    before = sum(1 for o in gc.get_objects() if isinstance(o, Node))
    del a, b
    gc.collect()

    assert before == 2
    assert not any(isinstance(o, Node) for o in gc.get_objects())
