"""Consistency proofs between two sizes of the ledger, and what a partner who
kept one checkpoint catches with them when the operator rewrites the log.

Each attack is what the hub's operator, holding the database and the audit
key, can do; each test names what detects it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, delete, select, update

from hub.audit import merkle, proofs
from hub.audit.checkpoints import Checkpoint, CheckpointError
from hub.audit.ledger import Ledger, checkpoints, entries
from hub.audit.note import Verifier, raw_public_key
from hub.audit.proofs import ProofError
from hub.audit.verify import verify
from hub.sink import Message
from tests.fixtures.records import HUB_KEYS, OTHER_SIGNER, audit_record, signed
from tests.hub.audit.test_ledger import SIGNER, TOPIC, messages
from tests.hub.audit.test_witness import ORIGIN, ledger_at, verifier
from wire.audit import AuditRecord
from wire.signing import generate_signer


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def at(engine: Engine, size: int) -> Checkpoint:
    return next(
        c
        for c in Ledger(engine, SIGNER, keys=HUB_KEYS, origin=ORIGIN).checkpoints()
        if c.tree_size == size
    )


def proof_text(engine: Engine, old: int, new: int) -> str:
    return proofs.to_lines(proofs.consistency(engine, old, new))


# ---------------------------------------------------------------------- streaming


@settings(max_examples=60)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_streamed_proofs_equal_the_recursive_definition(n: int, data: st.DataObject) -> None:
    hashes = [merkle.leaf_hash(f"record {i}".encode()) for i in range(n)]
    m = data.draw(st.integers(min_value=1, max_value=n))
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    assert merkle.stream_proof(iter(hashes), merkle.consistency_ranges(m, n)) == (
        merkle.consistency_proof(hashes, m)
    )
    assert merkle.stream_proof(iter(hashes), merkle.inclusion_ranges(index, n)) == (
        merkle.inclusion_proof(hashes, index)
    )


def test_a_proof_from_the_database_checks_between_its_checkpoints(engine: Engine) -> None:
    ledger_at(engine, 45)
    for old in (14, 28, 42):
        old_cp, new_cp = at(engine, old), at(engine, 45)
        said = proofs.check_consistency(old_cp, new_cp, proof_text(engine, old, 45))
        assert "append-only" in said
    # Equal sizes: the empty proof.
    assert proofs.consistency(engine, 45, 45) == []
    with pytest.raises(ProofError, match="fewer than 46 rows"):
        proofs.consistency(engine, 14, 46)
    with pytest.raises(ProofError, match="0 < from <= to"):
        proofs.consistency(engine, 20, 10)


def test_a_proof_for_other_sizes_or_bent_is_invalid(engine: Engine) -> None:
    ledger_at(engine, 45)
    old, new = at(engine, 14), at(engine, 45)
    good = proofs.consistency(engine, 14, 45)
    with pytest.raises(ProofError, match="does not extend"):
        proofs.check_consistency(old, new, proofs.to_lines([bytes(32), *good[1:]]))
    with pytest.raises(ProofError, match="does not extend"):
        proofs.check_consistency(at(engine, 28), new, proofs.to_lines(good))
    labelled = json.dumps(proofs.to_json(28, 45, good))
    with pytest.raises(ProofError, match="the proof is from 28 to 45"):
        proofs.check_consistency(old, new, labelled)
    for junk in ("not base64!\n", "AAAA\n", '{"format": "other"}'):
        with pytest.raises(ProofError):
            proofs.check_consistency(old, new, junk)


# ---------------------------------------------------------------------- attacks


def test_truncation_is_caught_by_the_checkpoint_a_partner_kept(engine: Engine) -> None:
    """The operator drops the newest rows and signs a checkpoint of the rest: the
    newer checkpoint is smaller than the one the partner kept."""
    ledger_at(engine, 100)
    kept = at(engine, 100)
    with engine.begin() as conn:
        conn.execute(delete(entries).where(entries.c.seq >= 90))
        conn.execute(delete(checkpoints).where(checkpoints.c.tree_size > 90))
    Ledger(engine, SIGNER, keys=HUB_KEYS, origin=ORIGIN).checkpoint()
    offered = at(engine, 90)
    with pytest.raises(ProofError, match="smaller than the older"):
        proofs.check_consistency(kept, offered, "")
    problems = verify(engine, [kept]).problems
    assert any("holds only 90 rows (rows were deleted)" in p for p in problems), problems


def test_a_decision_erased_and_every_checkpoint_re_signed_is_caught(
    tmp_path: Path, engine: Engine
) -> None:
    """The operator rebuilds the log without one decision, renumbered, re-signed
    with the hub's own key, and longer so no size shrinks. Every stored
    checkpoint verifies and is consistent with the others; the checkpoint the
    partner kept is not."""
    ledger_at(engine, 60)
    kept = at(engine, 60)
    rewritten = create_engine(f"sqlite:///{tmp_path / 'rewritten.sqlite'}")
    forged = Ledger(
        rewritten, SIGNER, every_records=10, every_seconds=3600, keys=HUB_KEYS, origin=ORIGIN
    )
    forged.apply([m for m in messages(0, 61) if m.offset != 30])
    forged.apply(messages(61, 20))
    forged.checkpoint()
    alone = verify(rewritten)
    assert alone.ok and alone.consistent == alone.checkpoints - 1, alone.problems
    newest = forged.checkpoints()[-1]
    with pytest.raises(ProofError, match="does not extend the tree of 60"):
        proofs.check_consistency(kept, newest, proof_text(rewritten, 60, newest.tree_size))
    problems = verify(rewritten, [kept]).problems
    assert any("given checkpoint of size 60" in p for p in problems), problems


def test_re_signing_with_the_operators_own_key_fails_the_pinned_key(engine: Engine) -> None:
    """With a new key the operator controls, the rewritten checkpoints do not
    verify under the key partners pinned."""
    ledger_at(engine, 30)
    kept = at(engine, 28)
    own = generate_signer("operator-own", "hub")
    rewritten = Checkpoint.issue(own, 40, bytes(32).hex(), kept.issued_at, ORIGIN)
    with pytest.raises(CheckpointError, match="not the pinned key"):
        proofs.check_consistency(kept, rewritten, "", kept.public_key)


def test_verify_names_a_stored_checkpoint_that_does_not_extend_the_one_before(
    engine: Engine,
) -> None:
    """An operator who can sign re-issues one old checkpoint over another root."""
    ledger_at(engine, 40)
    bad = Checkpoint.issue(
        SIGNER, 14, merkle.leaf_hash(b"other").hex(), "2026-12-06T00:00:00Z", ORIGIN
    )
    with engine.begin() as conn:
        conn.execute(
            update(checkpoints)
            .where(checkpoints.c.tree_size == 14)
            .values(root=bad.root, signature=bad.signature, issued_at=bad.issued_at)
        )
    problems = verify(engine).problems
    assert any("checkpoint of size 14" in p and "altered" in p for p in problems), problems
    assert any("size 28 is not consistent with the one of size 14" in p for p in problems), problems


def test_a_forged_record_sent_first_never_blocks_the_genuine_one(engine: Engine) -> None:
    """Decision ids are predictable, so a forger can send a record with the id
    of a genuine one before it. The forgery is rejected and the id stays free:
    the genuine record, arriving later, is sealed."""
    ledger = Ledger(engine, SIGNER, every_records=1000, every_seconds=3600, keys=HUB_KEYS)
    genuine = messages(0, 3)
    taken = audit_record(1).decision_id
    impostor = audit_record(7, decision_id=taken)  # another event, under the genuine id
    first = [
        Message(TOPIC, 1, 0, 0, impostor.to_bytes()),  # unsigned
        signed(Message(TOPIC, 1, 1, 0, impostor.to_bytes()), OTHER_SIGNER),  # another key
    ]
    done = ledger.apply(first)
    assert (done.added, done.rejected, done.forged) == (0, 2, 2)
    done = ledger.apply(genuine)
    assert done.added == 3 and done.replayed == 0
    with engine.connect() as conn:
        sealed = conn.execute(
            select(entries.c.record).where(entries.c.decision_id == taken)
        ).scalar_one()
    record = AuditRecord.from_bytes(sealed.encode(), sequenced=True)
    assert record.event_id == audit_record(1).event_id != impostor.event_id


# ---------------------------------------------------------------------- the CLI


def test_the_cli_prints_a_proof_and_checks_it_offline(tmp_path: Path, engine: Engine) -> None:
    ledger_at(engine, 45)
    url = str(engine.url)
    env = {**os.environ, "SVDHUB_HOME": str(tmp_path / "hub")}

    def svdhub(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", "audit", *args],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=120,
        )

    old, new = tmp_path / "14.note", tmp_path / "45.note"
    for size, path in ((14, old), (45, new)):
        made = svdhub("checkpoint", "--database", url, "--size", str(size), "--out", str(path))
        assert made.returncode == 0, made.stderr
    lines = svdhub("consistency", "--database", url, "--from", "14")
    assert lines.returncode == 0, lines.stderr
    assert lines.stdout.split() == proof_text(engine, 14, 45).split()
    proof = tmp_path / "proof.json"
    made = svdhub(
        "consistency",
        "--database",
        url,
        "--from",
        "14",
        "--to",
        "45",
        "--format",
        "json",
        "--out",
        str(proof),
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(proof.read_text())["from"] == 14
    pinned = str(verifier())
    ok = svdhub("check-consistency", str(old), str(new), str(proof), "--verifier-key", pinned)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("VALID: the checkpoint of 45 records")
    # Swapped: the older one is offered as the newer.
    swapped = svdhub("check-consistency", str(new), str(old), str(proof), "--verifier-key", pinned)
    assert swapped.returncode == 1 and "INVALID" in swapped.stderr
    stranger = Verifier(ORIGIN, raw_public_key(Ed25519PrivateKey.generate().public_key()))
    other = svdhub(
        "check-consistency", str(old), str(new), str(proof), "--verifier-key", str(stranger)
    )
    assert other.returncode == 1 and "no valid signature" in other.stderr
    beyond = svdhub("consistency", "--database", url, "--from", "14", "--to", "99")
    assert beyond.returncode == 1 and "fewer than 99 rows" in beyond.stderr
