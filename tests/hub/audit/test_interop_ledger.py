"""The ledger's own checkpoints, cosignatures and proofs, checked by the Go
reference implementations (``tests/hub/audit/interop``), and theirs by ours."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine

from hub.audit import merkle
from hub.audit.checkpoints import Checkpoint
from hub.audit.note import Note, Verifier, cosigned_at, raw_public_key
from hub.audit.verify import prove
from hub.audit.witness import DatabaseLog, Witness
from tests.fixtures.records import audit_record
from tests.hub.audit.interop import GoChecker
from tests.hub.audit.test_witness import ORIGIN, ledger_at, verifier

pytestmark = pytest.mark.slow  # the first use builds the Go program


def test_go_opens_and_parses_the_ledgers_checkpoints(go_checker: GoChecker, tmp_path: Path) -> None:
    ledger = ledger_at(create_engine(f"sqlite:///{tmp_path / 'l.sqlite'}"), 45)
    for checkpoint in ledger.checkpoints():
        note = checkpoint.to_note()
        opened = go_checker.open_note(note, [checkpoint.verifier()])
        assert opened.verified == (ORIGIN,)
        parsed = go_checker.parse_checkpoint(note, ORIGIN, checkpoint.verifier())
        assert (parsed.size, parsed.root.hex()) == (checkpoint.tree_size, checkpoint.root)
        assert parsed.extensions == (f"issued_at {checkpoint.issued_at}",)


def test_go_verifies_a_witness_cosignature_and_the_ledgers_consistency_proofs(
    go_checker: GoChecker, tmp_path: Path
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'l.sqlite'}")
    ledger = ledger_at(engine, 70)
    key = Ed25519PrivateKey.generate()
    witness = Witness("witness.wmp.example/svdhub", key, tmp_path / "w", verifier())
    witness.run(DatabaseLog(engine))
    cosigned = witness.latest_file.read_text()
    found = go_checker.verify_cosignature(
        cosigned, "witness.wmp.example/svdhub", raw_public_key(key.public_key())
    )
    assert found.timestamp > 0
    stored = ledger.checkpoints()
    log = DatabaseLog(engine)
    for old in stored:
        for new in stored:
            if 0 < old.tree_size < new.tree_size:
                proof = log.consistency(old.tree_size, new.tree_size)
                go_checker.verify_consistency(
                    old.tree_size,
                    new.tree_size,
                    bytes.fromhex(old.root),
                    bytes.fromhex(new.root),
                    proof,
                )
                assert merkle.verify_consistency(
                    old.tree_size,
                    new.tree_size,
                    bytes.fromhex(old.root),
                    bytes.fromhex(new.root),
                    proof,
                )


def test_what_go_signs_and_cosigns_reads_here(go_checker: GoChecker) -> None:
    root = bytes(range(32))
    signed = go_checker.sign_checkpoint(
        ORIGIN, 42, root, ["issued_at 2026-12-06T07:00:00Z"], names=[ORIGIN]
    )
    (key,) = signed.keys
    checkpoint = Checkpoint.from_note(signed.note, Verifier.parse(key.verifier_key))
    assert (checkpoint.tree_size, checkpoint.root, checkpoint.issued_at) == (
        42,
        root.hex(),
        "2026-12-06T07:00:00Z",
    )
    cosigned = go_checker.cosign(signed.note, name="witness.example/w1", timestamp=1679315147)
    note = Note.parse(cosigned.note)
    assert cosigned_at(note, "witness.example/w1", cosigned.public_key) == 1679315147


def test_go_verifies_the_ledgers_streamed_inclusion_proofs(
    go_checker: GoChecker, tmp_path: Path
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'l.sqlite'}")
    ledger = ledger_at(engine, 70)
    for checkpoint in ledger.checkpoints():
        for index in {0, checkpoint.tree_size // 2, checkpoint.tree_size - 1}:
            record = audit_record(index)
            proof = prove(engine, record.decision_id, checkpoint.tree_size)
            leaf = merkle.leaf_hash(str(proof["record"]).encode())
            path = [bytes.fromhex(node) for node in proof["audit_path"]]
            go_checker.verify_inclusion(
                index, checkpoint.tree_size, leaf, path, bytes.fromhex(checkpoint.root)
            )
