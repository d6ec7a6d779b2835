"""The best ratio a figure could reach while every message carries its own
Ed25519 signature, worked out from rates measured in the same run.

Each share, audit batch and raw event is signed on its own (the trust model:
no one can forge a hub output or an authority's event), so some figures have
a floor of signature work per message that their baseline does not pay. A
ceiling assumes everything else the figure does costs nothing:

* wire verify + decode: the decode, plus one verify on the same thread;
* enforcer throughput: the bare copier's own work per event, plus the verify
  of the raw event and the four signatures (three shares, one audit batch)
  each event needs, on one thread;
* view rebuild: the plain consume, plus one verify per share, spread over the
  sink's two verify threads;
* ledger append: the plain insert of a row, plus its share of one verify per
  signed batch of :data:`~tests.bench.bench_audit.PER_EVENT` rows, over the
  sink's two verify threads.

Every signature is costed at the rate measured over one raw event (about
1 KB); an audit batch is larger and costs more, so the enforcer's ceiling
is, if anything, too high. A goal above its ceiling cannot be met by tuning
the rest: it needs fewer signatures per message (signatures over batches, a
change of contract) or the signature work on more cores. A goal below it
says how much room the rest of the work has. The note under each figure
gives both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from hub.sink import Sink
from tests.bench.bench_audit import PER_EVENT
from tests.bench.harness import Result

#: The rows the ceilings are computed from (group, start of the name).
VERIFY = ("wire", "Ed25519 verify, libsodium")
SIGN = ("wire", "Ed25519 sign, libsodium")
#: Signatures the enforcer makes per police incident: three shares, one audit batch.
SIGNATURES_PER_EVENT = 4
#: Threads a sink (the ledger's, the view builder's) verifies a batch in.
VERIFY_THREADS = Sink.verify_threads
#: Decisions per signed audit message in the ledger benchmark.
ROWS_PER_AUDIT_MESSAGE = PER_EVENT


@dataclass(frozen=True)
class Ceiling:
    """One figure (its group, the start of its name and of its baseline's), its
    goal, and the signature work it cannot do without, per operation."""

    group: str
    name: str
    goal: float
    what: str
    verifies: float  # verifies per operation, on the measuring thread
    signs: int = 0  # signatures per operation
    baseline: str = ""
    unless: str = "\0"  # a figure whose name holds this is another one

    def matches(self, result: Result) -> bool:
        return (
            result.group == self.group
            and result.name.startswith(self.name)
            and self.unless not in result.name
            and result.baseline.startswith(self.baseline)
        )

    def seconds(self, verify: float, sign: float) -> float:
        """The signature work of one operation, given one verify's and one
        signature's seconds."""
        return self.verifies * verify + self.signs * sign


CEILINGS = (
    Ceiling("wire", "unframe + verify + decode", 0.3, "decode plus 1 verify, one thread", 1),
    Ceiling(
        "enforcer",
        "events/s, ",
        0.8,
        f"the copier's work plus 1 verify and {SIGNATURES_PER_EVENT} signatures per event, "
        "one thread",
        1,
        SIGNATURES_PER_EVENT,
        unless="processes",
    ),
    Ceiling(
        "views",
        "rebuild from",
        0.3,
        f"the consume plus 1 verify per share over {VERIFY_THREADS} threads",
        1 / VERIFY_THREADS,
    ),
    Ceiling(
        "audit",
        "ledger append",
        0.5,
        f"the insert plus 1 verify per {ROWS_PER_AUDIT_MESSAGE} rows over {VERIFY_THREADS} threads",
        1 / (ROWS_PER_AUDIT_MESSAGE * VERIFY_THREADS),
        baseline="plain SQL inserts",
    ),
)


def ceiling_of(baseline_rate: float, work_seconds: float) -> float:
    """The ratio of a figure that does its baseline's work plus ``work_seconds``
    per operation, on the same thread, to the baseline."""
    baseline_seconds = 1 / baseline_rate
    return baseline_seconds / (baseline_seconds + work_seconds)


def with_ceilings(results: Sequence[Result]) -> list[Result]:
    """``results``, with a note on each figure that has a ceiling: the ceiling
    in this run beside the goal. Unchanged if the verify or sign rate is missing."""
    verify, sign = _rate(results, *VERIFY), _rate(results, *SIGN)
    if not verify or not sign:
        return list(results)
    out = []
    for result in results:
        ceiling = next((c for c in CEILINGS if c.matches(result)), None)
        if ceiling is None or not result.baseline_rate:
            out.append(result)
            continue
        top = ceiling_of(result.baseline_rate, ceiling.seconds(1 / verify, 1 / sign))
        if ceiling.goal > top:
            verdict = "the goal is above the ceiling"
        else:
            verdict = f"the goal leaves {1 - ceiling.goal / top:.0%} of the time for the rest"
        text = (
            f"ceiling with a signature per message: {top:.2f}x ({ceiling.what}); "
            f"goal {ceiling.goal}x: {verdict}"
        )
        out.append(replace(result, note=f"{result.note}; {text}" if result.note else text))
    return out


def _rate(results: Sequence[Result], group: str, name: str) -> float | None:
    """The rate of the first figure of ``group`` whose name starts with ``name``."""
    return next((r.rate for r in results if r.group == group and r.name.startswith(name)), None)
