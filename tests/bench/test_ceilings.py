"""The ceilings beside the benchmark's goals: what a signature per message leaves."""

from __future__ import annotations

import pytest

from tests.bench.ceilings import ceiling_of, with_ceilings
from tests.bench.harness import Result

#: 20,000 verifies/s (50 us) and 40,000 signatures/s (25 us).
RATES = [
    Result("wire", "Ed25519 verify, libsodium (what the wire uses)", 20_000.0, "openssl", 1.0),
    Result("wire", "Ed25519 sign, libsodium (what the wire uses)", 40_000.0, "openssl", 1.0),
]


def note_of(result: Result) -> str:
    (found,) = [r for r in with_ceilings([*RATES, result]) if r.name == result.name]
    return found.note


def test_a_ceiling_is_the_baseline_time_over_the_baseline_and_the_signature_time() -> None:
    assert ceiling_of(10_000.0, 100e-6) == pytest.approx(0.5)  # 100 us + 100 us
    assert ceiling_of(1_000.0, 0.0) == pytest.approx(1.0)


def test_wire_verify_ceiling_is_one_verify_beside_the_decode() -> None:
    # decode 25 us, verify 50 us: at best 25 / 75
    note = note_of(
        Result("wire", "unframe + verify + decode (Incident)", 10_000.0, "fastavro", 40_000.0)
    )
    assert note.startswith("ceiling with a signature per message: 0.33x")
    assert "goal 0.3x: the goal leaves 10% of the time for the rest" in note


def test_enforcer_ceiling_counts_one_verify_and_four_signatures_per_event() -> None:
    # copier 250 us per event; 50 + 4 x 25 = 150 us of signatures: 250 / 400
    name = "events/s, 5,000 events x (3 shares + 9 decisions in one audit batch)"
    note = note_of(Result("enforcer", name, 300.0, "bare copier", 4_000.0))
    assert note.startswith("ceiling with a signature per message: 0.62x")
    assert "goal 0.8x: the goal is above the ceiling" in note


def test_a_note_already_there_is_kept() -> None:
    name = "rebuild from 1,000,000 shared events"
    note = note_of(Result("views", name, 5_000.0, "consume", 50_000.0, note="kept"))
    # consume 20 us, verify 50 us over two threads: 20 / 45
    assert note.startswith("kept; ceiling with a signature per message: 0.44x")


def test_ledger_ceiling_only_beside_plain_inserts() -> None:
    name = "ledger append, 100,000 rows (checkpoint every 1,000)"
    plain = Result("audit", name, 8_000.0, "plain SQL inserts of the same rows", 30_000.0)
    witnessed = Result("audit", "ledger append, 100,000 rows, two witnesses", 1.0, "ledger", 2.0)
    (ours, theirs) = with_ceilings([*RATES, plain, witnessed])[2:]
    assert "ceiling" in ours.note
    assert theirs.note == ""


def test_other_figures_and_a_run_without_the_signature_rates_are_left_alone() -> None:
    two = Result("enforcer", "events/s, 2 enforcer processes in one group", 1.0, "copier", 2.0)
    latency = Result("enforcer", "p99 raw -> shared latency", 200.0, "copier p99", 6.0, "ms")
    assert [r.note for r in with_ceilings([*RATES, two, latency])[2:]] == ["", ""]
    alone = Result("wire", "unframe + verify + decode (Incident)", 1.0, "fastavro", 4.0)
    assert with_ceilings([alone]) == [alone]
