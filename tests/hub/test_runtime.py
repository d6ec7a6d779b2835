"""hub.runtime: the collector settled for a long run."""

from __future__ import annotations

import gc

from hub.runtime import GC_THRESHOLDS, settle_heap


def test_settling_freezes_what_start_up_made_and_collects_less_often() -> None:
    made_at_start = [object() for _ in range(10)]
    settle_heap()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() >= len(made_at_start)
    assert GC_THRESHOLDS[0] > 700  # CPython's default


def test_cycles_made_after_settling_are_still_collected() -> None:
    settle_heap()

    class Node:
        partner: object = None

    first, second = Node(), Node()
    first.partner, second.partner = second, first
    del first, second
    assert gc.collect() >= 2


def test_a_test_that_settled_the_heap_leaves_the_collector_as_it_found_it() -> None:
    # Runs after the tests above (file order): the autouse fixture undid them.
    assert gc.get_threshold() != GC_THRESHOLDS
    assert gc.get_freeze_count() == 0
