"""The ledger on SQLite and PostgreSQL: appends, replays, checkpoints, every kind
of tampering, and proofs."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete, select, text, update

from hub.audit import merkle
from hub.audit.checkpoints import Checkpoint, CheckpointError
from hub.audit.ledger import INDEXED, Ledger, checkpoints, entries, rejects
from hub.audit.note import Verifier, verifier_key
from hub.audit.proofs import ProofError
from hub.audit.verify import check_proof, prove, verify
from hub.sink import Message
from tests.fixtures.records import (
    HUB_KEYS,
    OTHER_SIGNER,
    an_id,
    audit_record,
    hub_message,
    signed,
)
from wire.signing import generate_signer

SIGNER = generate_signer("hub-audit-1", "hub")
TOPIC = "t.svd.audit.decisions"


def messages(first: int, count: int, partition: int = 0) -> list[Message]:
    return [
        hub_message(TOPIC, n, audit_record(n).to_bytes(), partition)
        for n in range(first, first + count)
    ]


def filled(engine: Engine, rows: int = 45) -> Ledger:
    ledger = Ledger(engine, SIGNER, every_records=10, every_seconds=3600, keys=HUB_KEYS)
    for start in range(0, rows, 7):
        ledger.apply(messages(start, min(7, rows - start)))
    ledger.checkpoint()
    return ledger


def problems(engine: Engine) -> list[str]:
    return verify(engine).problems


def test_appends_checkpoint_and_verify(sql_engine: Engine) -> None:
    ledger = filled(sql_engine)
    assert ledger.size == 45
    sizes = [c.tree_size for c in ledger.checkpoints()]
    assert sizes == [14, 28, 42, 45]  # every 10 rows, at batch ends, and one at the end
    report = verify(sql_engine)
    assert report.ok, report.problems
    assert report.rows == 45 and report.root == ledger.frontier.root().hex()
    assert ledger.stored_offsets() == {(TOPIC, 0): 45}


def test_a_replay_adds_no_row_and_a_reopened_ledger_continues(sql_engine: Engine) -> None:
    ledger = filled(sql_engine)
    again = Ledger(sql_engine, SIGNER, every_records=10, every_seconds=3600, keys=HUB_KEYS)
    assert again.frontier.root() == ledger.frontier.root()
    done = again.apply(messages(0, 45, partition=1))  # the same decisions, replayed
    assert (done.added, done.replayed) == (0, 45)
    with sql_engine.connect() as conn:
        assert len(conn.execute(select(entries.c.seq)).all()) == 45
    again.apply(messages(45, 5))
    assert again.size == 50
    assert verify(sql_engine).ok


def test_unreadable_messages_are_kept_with_a_reason(sql_engine: Engine) -> None:
    ledger = Ledger(sql_engine, SIGNER, keys=HUB_KEYS)
    done = ledger.apply(
        [
            hub_message(TOPIC, 0, b"not json"),
            hub_message(TOPIC, 1, b'{"decision":"allow"}'),
            *messages(2, 1),
        ]
    )
    assert (done.added, done.rejected) == (1, 2)
    with sql_engine.connect() as conn:
        found = conn.execute(
            select(rejects.c.code, rejects.c.message, rejects.c.size).order_by(rejects.c.offset)
        ).all()
    assert found[0][0] == "not_json" and found[0][1].startswith("audit record: (value): not JSON")
    assert tuple(found[1]) == (
        "missing",
        "audit record: decision_id: required, but missing",
        len(b'{"decision":"allow"}'),
    )
    assert ledger.stored_offsets() == {(TOPIC, 0): 3}


def test_forged_audit_records_are_rejected_and_never_sealed(sql_engine: Engine) -> None:
    """An allow decision the hub did not sign (unsigned, or by another key) is a
    reject with its code; the tree, its checkpoints and verify never see it."""
    ledger = Ledger(sql_engine, SIGNER, every_records=1000, every_seconds=3600, keys=HUB_KEYS)
    forged = [audit_record(n, decision_id=an_id(f"forged-{n}")) for n in (1, 2)]
    done = ledger.apply(
        [
            *messages(0, 3),
            Message(TOPIC, 0, 3, 0, forged[0].to_bytes()),
            signed(Message(TOPIC, 0, 4, 0, forged[1].to_bytes()), OTHER_SIGNER),
            *messages(5, 2),
        ]
    )
    assert (done.added, done.rejected, done.forged) == (5, 2, 2)
    checkpoint = ledger.checkpoint()
    assert checkpoint is not None and checkpoint.tree_size == 5
    with sql_engine.connect() as conn:
        ids = set(conn.execute(select(entries.c.decision_id)).scalars())
        codes = conn.execute(select(rejects.c.offset, rejects.c.code).order_by("offset")).all()
    assert not ids & {record.decision_id for record in forged}
    assert [tuple(row) for row in codes] == [(3, "unsigned"), (4, "unknown_key")]
    report = verify(sql_engine)
    assert report.ok and report.rows == 5, report.problems


def test_an_updated_record_is_named(sql_engine: Engine) -> None:
    filled(sql_engine)
    with sql_engine.begin() as conn:
        row = conn.execute(select(entries.c.record).where(entries.c.seq == 17)).scalar_one()
        forged = row.replace('"agreement_id":"wmp-vrp"', '"agreement_id":"wmp-csps"')
        assert forged != row
        conn.execute(update(entries).where(entries.c.seq == 17).values(record=forged))
    found = problems(sql_engine)
    assert found[0].startswith("row 17 (decision ")
    assert "modified: the record does not match its leaf hash" in found[0]


def test_an_updated_column_is_named(sql_engine: Engine) -> None:
    filled(sql_engine)
    with sql_engine.begin() as conn:
        conn.execute(update(entries).where(entries.c.seq == 5).values(recipient="public"))
    found = problems(sql_engine)
    assert found == [
        f"row 5 (decision {audit_record(5).decision_id}): modified: column recipient is "
        "'public' but the record says 'csp-coventry'"
    ]


def test_a_record_rewritten_with_its_leaf_fails_the_checkpoint(sql_engine: Engine) -> None:
    """Someone who rewrites the leaf hash too is caught by the signed checkpoints."""
    filled(sql_engine)
    with sql_engine.begin() as conn:
        row = conn.execute(select(entries.c.record).where(entries.c.seq == 21)).scalar_one()
        forged = row.replace('"agreement_id":"wmp-vrp"', '"agreement_id":"wmp-csps"')
        assert forged != row
        conn.execute(
            update(entries)
            .where(entries.c.seq == 21)
            .values(
                record=forged,
                leaf_hash=merkle.leaf_hash(forged.encode()).hex(),
                agreement_id="wmp-csps",
            )
        )
    found = problems(sql_engine)
    assert found[0].startswith("checkpoint of size 28 ")
    assert "a row at or before row 27 was altered" in found[0]


def test_a_deleted_row_is_named(sql_engine: Engine) -> None:
    filled(sql_engine)
    with sql_engine.begin() as conn:
        conn.execute(delete(entries).where(entries.c.seq == 30))
    assert problems(sql_engine)[0] == "row 30: missing (deleted): the next row is 31"


def test_rows_deleted_at_the_end_fail_the_last_checkpoint(sql_engine: Engine) -> None:
    filled(sql_engine)
    with sql_engine.begin() as conn:
        conn.execute(delete(entries).where(entries.c.seq >= 43))
    assert problems(sql_engine) == [
        "checkpoint of size 45: the ledger holds only 43 rows (rows were deleted)"
    ]


def test_an_inserted_row_is_named(sql_engine: Engine) -> None:
    filled(sql_engine)
    with sql_engine.begin() as conn:
        for seq in range(44, 9, -1):  # make room at row 10, from the end
            conn.execute(update(entries).where(entries.c.seq == seq).values(seq=seq + 1))
        extra = audit_record(99).sequenced(10).to_bytes().decode()
        conn.execute(
            entries.insert().values(
                seq=10,
                record=extra,
                leaf_hash=merkle.leaf_hash(extra.encode()).hex(),
                **{name: getattr(audit_record(99), name) for name in INDEXED},
            )
        )
    found = problems(sql_engine)
    assert found[0].startswith("row 11 (decision ")
    assert "inserted or reordered: its record was written as row 10" in found[0]


def test_reordered_rows_are_named(sql_engine: Engine) -> None:
    filled(sql_engine)
    columns = [c for c in entries.c if c.name != "seq"]
    with sql_engine.begin() as conn:
        three, four = (
            conn.execute(select(*columns).where(entries.c.seq == seq)).mappings().one()
            for seq in (3, 4)
        )
        conn.execute(
            update(entries).where(entries.c.seq == 3).values(**{**four, "decision_id": "swap"})
        )
        conn.execute(update(entries).where(entries.c.seq == 4).values(**dict(three)))
        conn.execute(
            update(entries).where(entries.c.seq == 3).values(decision_id=four["decision_id"])
        )
    found = problems(sql_engine)
    assert found[0].endswith("inserted or reordered: its record was written as row 4")
    assert found[0].startswith("row 3 ")


def test_a_forged_checkpoint_is_named(sql_engine: Engine) -> None:
    ledger = filled(sql_engine)
    with sql_engine.begin() as conn:
        conn.execute(
            update(checkpoints).where(checkpoints.c.tree_size == 28).values(root="00" * 32)
        )
    assert problems(sql_engine) == [
        "forged checkpoint: checkpoint of size 28 (root 0000000000000000…): "
        "the signature does not verify"
    ]
    # A checkpoint signed by another key verifies only until the hub's key is pinned.
    other = generate_signer("hub-audit-1", "hub")
    fake = Checkpoint.issue(
        other, 45, ledger.frontier.root().hex(), "2026-11-28T00:00:00Z", ledger.origin
    )
    pinned = ledger.checkpoints()[0].public_key
    found = verify(sql_engine, [fake], public_key=pinned).problems
    assert any("not the pinned key" in problem for problem in found)


def test_a_partners_checkpoint_must_match(sql_engine: Engine) -> None:
    ledger = filled(sql_engine)
    kept = ledger.checkpoints()[1]
    assert verify(sql_engine, [kept]).ok
    stale = Checkpoint.issue(SIGNER, 28, "11" * 32, "2026-11-28T00:00:00Z", ledger.origin)
    found = verify(sql_engine, [stale]).problems
    assert found[0].startswith("given checkpoint of size 28 ")


def test_proof_round_trip(sql_engine: Engine) -> None:
    ledger = filled(sql_engine)
    assert prove(sql_engine, audit_record(33).decision_id)["tree_size"] == 45  # the latest
    proof = prove(sql_engine, audit_record(33).decision_id, size=42)
    assert proof["leaf_index"] == 33 and proof["tree_size"] == 42
    checkpoint = next(c for c in ledger.checkpoints() if c.tree_size == 42)
    said = check_proof(json.loads(json.dumps(proof)), checkpoint, checkpoint.public_key)
    assert said.startswith(f"decision {audit_record(33).decision_id} (deny, wmp -> vrp) is row 33")
    bent = {**proof, "record": proof["record"].replace('"wmp-vrp"', '"wmp-csps"')}
    with pytest.raises(ProofError, match="does not lead to the checkpoint's root"):
        check_proof(bent, checkpoint)
    with pytest.raises(ProofError, match="tree of 42 rows, the checkpoint for 45"):
        check_proof(proof, ledger.checkpoints()[-1])
    with pytest.raises(ProofError, match="not in the ledger"):
        prove(sql_engine, "no-such-decision")


def test_the_cli_verifies_proves_and_checks_a_proof(tmp_path: Path) -> None:
    """As an IG lead runs it: exit codes and files, on SQLite."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = create_engine(url)
    ledger = filled(engine)

    def svdhub(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "hub.cli",
                "audit",
                *args,
                *(("--database", url) if args[0] not in {"check-proof"} else ()),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "SVDHUB_HOME": str(tmp_path)},
        )

    assert svdhub("verify").stdout.startswith(
        "OK: 45 rows, 4 checkpoints verified (3 consistency proofs); root "
    )
    proof, checkpoint = tmp_path / "proof.json", tmp_path / "checkpoint.note"
    made = svdhub("prove", audit_record(7).decision_id, "--size", "14", "--out", str(proof))
    assert made.returncode == 0, made.stderr
    assert svdhub("checkpoint", "--size", "14", "--out", str(checkpoint)).returncode == 0
    assert checkpoint.read_text().startswith(ledger.origin + "\n14\n")  # a C2SP note
    pinned = ledger.checkpoints()[0].verifier()
    checked = svdhub("check-proof", str(proof), str(checkpoint), "--verifier-key", pinned)
    assert checked.returncode == 0 and checked.stdout.startswith("VALID: decision "), checked.stderr
    unpinned = svdhub("check-proof", str(proof), str(checkpoint))
    assert unpinned.returncode == 1 and "--verifier-key" in unpinned.stderr
    as_json = tmp_path / "checkpoint.json"
    made = svdhub("checkpoint", "--size", "14", "--format", "json", "--out", str(as_json))
    assert made.returncode == 0
    assert svdhub("check-proof", str(proof), str(as_json)).returncode == 0
    listed = svdhub("query", "--recipient", "vrp", "--format", "csv")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 1 + 15
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET decided_at = '2020-01-01' WHERE seq = 2"))
    failed = svdhub("verify")
    assert failed.returncode == 1
    assert "row 2 (decision" in failed.stderr and "column decided_at" in failed.stderr


# ------------------------------------------------------------ checkpoints as notes


def test_a_checkpoint_is_a_c2sp_note_signed_under_the_logs_origin(sql_engine: Engine) -> None:
    ledger = filled(sql_engine)
    latest = ledger.checkpoints()[-1]
    note = latest.to_note()
    verifier = Verifier.parse(latest.verifier())
    assert verifier.name == ledger.origin == note.split("\n")[0]
    assert note.split("\n")[1] == str(latest.tree_size)
    assert Checkpoint.from_note(note, verifier, latest.key_id) == latest
    other = Verifier.parse(
        verifier_key(ledger.origin, generate_signer("x", "hub").public_key().raw_bytes())
    )
    with pytest.raises(CheckpointError):
        Checkpoint.from_note(note, other)
    with pytest.raises(CheckpointError, match="no valid signature"):
        Checkpoint.from_note(note.replace(f"\n{latest.tree_size}\n", "\n1\n"), verifier)


def test_checkpoints_from_before_the_note_format_still_verify(sql_engine: Engine) -> None:
    """An older ledger: its checkpoints table has no origin column, and its
    checkpoints signed the svdhub-audit-checkpoint/v1 message."""
    ledger = filled(sql_engine, rows=30)
    with sql_engine.begin() as conn:
        for found in ledger.checkpoints():
            message = Checkpoint.message(found.tree_size, found.root, found.issued_at)
            legacy = base64.b64encode(SIGNER.sign(message)).decode()
            conn.execute(
                update(checkpoints)
                .where(checkpoints.c.tree_size == found.tree_size)
                .values(signature=legacy)
            )
        conn.execute(text("ALTER TABLE audit_checkpoints DROP COLUMN origin"))
    again = Ledger(sql_engine, SIGNER, every_records=10, every_seconds=3600, keys=HUB_KEYS)
    assert [c.origin for c in again.checkpoints()] == [None, None, None]
    assert problems(sql_engine) == []
    again.checkpoint()  # the same tree, now as a note witnesses can read
    assert [c.origin for c in again.checkpoints()] == [None, None, again.origin]
    again.apply(messages(30, 10))
    again.checkpoint()
    assert again.checkpoints()[-1].origin == again.origin
    assert problems(sql_engine) == []


def test_the_ledger_refuses_a_key_partners_did_not_pin(
    sql_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = filled(sql_engine, rows=1)
    monkeypatch.setenv(
        "SVDHUB_AUDIT_VERIFIER_KEY", verifier_key(ledger.origin, SIGNER.public_key().raw_bytes())
    )
    Ledger(sql_engine, SIGNER, keys=HUB_KEYS)  # the pinned key: starts
    thief = generate_signer("hub-audit-1", "hub")
    with pytest.raises(CheckpointError, match="pinned"):
        Ledger(sql_engine, thief, keys=HUB_KEYS, origin=ledger.origin)
    with pytest.raises(CheckpointError, match="pinned"):
        Ledger(sql_engine, SIGNER, keys=HUB_KEYS, origin="svdhub.example/other/audit")
