"""The Python runtime of the hub's long-running processes: the enforcer, the
ledger and the view builder (each ``run``, and ``views rebuild``).

Each handles every event with many short-lived objects, beside long-lived
ones made at start (modules, the policy bundle, the geography, k-anonymity
state and indexes read back). With CPython's default collector thresholds
(700, 10, 10) a young-generation collection runs every 700 allocations,
several per event, and every hundredth collection walks the older objects
too. :func:`settle_heap`, called once start-up is done, moves what start-up
made out of the collector's reach (``gc.freeze``) and collects less often.
Reference cycles are still collected, only in larger steps.

Measured on the 2-core benchmark machine at 200 events/s, in alternating
runs: the enforcer alone used 4.7 against 5.0 ms of CPU per event, and its
p50 raw -> shared was 24-93 ms against 423-547 ms; end to end (enforcer,
ledger and view builder, each its own process) the p99 publish -> view row
was 347-394 ms against 957 ms. At that rate one enforcer is close to a full
core, and a full collection of its heap stops its loop, so this decides
whether it keeps up.
"""

from __future__ import annotations

import gc

#: Allocations between young collections; young collections between middle
#: ones; middle collections between full ones (CPython's default: 700, 10, 10).
GC_THRESHOLDS = (20_000, 50, 100)


def settle_heap() -> None:
    """Collect what start-up left, freeze the rest, and set :data:`GC_THRESHOLDS`.
    Call it once, from a process's entry point, when start-up is done."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
