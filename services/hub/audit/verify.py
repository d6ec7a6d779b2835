"""Checking the ledger, and proving (or checking a proof) that one decision is in it.

:func:`verify` reads every row in order and recomputes the tree. It reports:

* a row whose record does not hash to its stored leaf, or whose copied
  columns disagree with its record (a row was **modified**);
* a gap in the sequence (a row was **deleted**);
* a row whose record names another position (rows were **inserted** or
  **reordered**);
* a stored or given checkpoint whose signature does not verify (**forged**),
  or whose root the rows no longer reproduce at its size (the rows it covers
  were altered, even if the stored leaf hashes were rewritten to match), or
  which covers more rows than the ledger holds (rows were deleted at the end).

Each stored checkpoint is compared with the root recomputed at its size, and
each is checked against the one before it with an RFC 6962 consistency proof
built in the same pass, as a partner holding only the two would check it: so
every checkpoint that passes is consistent with every other, all prefixes of
one history. The first problem found is named first. It runs in
one pass, in time linear in the number of rows, holding only the tree's
frontier in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from sqlalchemy import Engine, select

from hub.audit import merkle
from hub.audit.checkpoints import Checkpoint, CheckpointError
from hub.audit.ledger import INDEXED, entries, load_checkpoints
from hub.audit.proofs import ProofError, inclusion
from wire.audit import AuditRecord, AuditRecordError

PROOF_FORMAT = "svdhub-audit-inclusion-proof/v1"


@dataclass
class Report:
    rows: int = 0
    root: str = merkle.EMPTY_ROOT.hex()
    checkpoints: int = 0
    consistent: int = 0  # pairs of successive checkpoints shown consistent by a proof
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    engine: Engine,
    given: Iterable[Checkpoint] = (),
    public_key: str | None = None,
    progress: Any = None,
) -> Report:
    """Check every row and checkpoint; ``given`` are checkpoints a partner kept."""
    report = Report()
    stored = load_checkpoints(engine)
    pending: dict[int, list[tuple[str, Checkpoint]]] = {}
    for label, checkpoint in [("checkpoint", c) for c in stored] + [
        ("given checkpoint", c) for c in given
    ]:
        try:
            checkpoint.verify(public_key)
        except CheckpointError as exc:
            report.problems.append(f"forged {label}: {exc}")
            continue
        pending.setdefault(checkpoint.tree_size, []).append((label, checkpoint))
    report.checkpoints = len(stored)
    # Successive checkpoints (stored and given, by size), each pair to be shown
    # consistent by a proof built from this same pass over the rows.
    chain = [pending[size][0][1] for size in sorted(pending)]
    pairs = list(pairwise(chain))
    nodes = merkle.Nodes(
        r for old, new in pairs for r in merkle.consistency_ranges(old.tree_size, new.tree_size)
    )

    frontier = merkle.Frontier(nodes.seen)
    expected = 0
    query = select(entries).order_by(entries.c.seq)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=10_000).execute(query).mappings():
            seq = int(row["seq"])
            if seq != expected:
                report.problems.append(
                    f"row {expected}: missing (deleted): the next row is {seq}"
                    if seq > expected
                    else f"row {seq}: out of order"
                )
                expected = seq
            report.problems.extend(_check_row(seq, row))
            frontier.append(merkle.leaf_hash(str(row["record"]).encode()))
            expected += 1
            _compare(frontier, pending, report)
            if progress is not None:
                progress(1)
    report.rows = frontier.size
    report.root = frontier.root().hex()
    for old, new in pairs:
        if new.tree_size > frontier.size:
            break  # reported below: rows were deleted
        proof = [
            nodes.hash(start, end)
            for start, end in merkle.consistency_ranges(old.tree_size, new.tree_size)
        ]
        if merkle.verify_consistency(
            old.tree_size, new.tree_size, bytes.fromhex(old.root), bytes.fromhex(new.root), proof
        ):
            report.consistent += 1
        else:
            report.problems.append(
                f"the checkpoint of size {new.tree_size} is not consistent with the one of "
                f"size {old.tree_size}: the consistency proof from the rows fails"
            )
    for size in sorted(pending):
        for label, _ in pending[size]:
            report.problems.append(
                f"{label} of size {size}: the ledger holds only {frontier.size} rows "
                "(rows were deleted)"
            )
    return report


def _check_row(seq: int, row: Any) -> list[str]:
    text = str(row["record"])
    if merkle.leaf_hash(text.encode()).hex() != row["leaf_hash"]:
        return [
            f"row {seq} (decision {row['decision_id']}): modified: the record does not "
            "match its leaf hash"
        ]
    try:
        record = AuditRecord.from_bytes(text.encode(), sequenced=True)
    except AuditRecordError as exc:
        return [f"row {seq}: modified: the record is not a valid audit record: {exc}"]
    if record.seq != seq:
        return [
            f"row {seq} (decision {row['decision_id']}): inserted or reordered: its "
            f"record was written as row {record.seq}"
        ]
    for name in INDEXED:
        value = getattr(record, name)
        if value != row[name]:
            return [
                f"row {seq} (decision {record.decision_id}): modified: column "
                f"{name} is {row[name]!r} but the record says {value!r}"
            ]
    return []


def _compare(
    frontier: merkle.Frontier,
    pending: dict[int, list[tuple[str, Checkpoint]]],
    report: Report,
) -> None:
    for label, checkpoint in pending.pop(frontier.size, []):
        root = frontier.root().hex()
        if root != checkpoint.root:
            report.problems.append(
                f"{label} of size {checkpoint.tree_size} ({checkpoint.issued_at}): the rows "
                f"give root {root[:16]}…, the checkpoint says {checkpoint.root[:16]}…: "
                f"a row at or before row {checkpoint.tree_size - 1} was altered"
            )


# ---------------------------------------------------------------------- proofs


def prove(engine: Engine, decision_id: str, size: int | None = None) -> dict[str, Any]:
    """An inclusion proof of one decision against the checkpoint of ``size`` rows
    (one a partner holds), or else the latest checkpoint, which covers every row
    checkpointed so far."""
    with engine.connect() as conn:
        row = (
            conn.execute(select(entries).where(entries.c.decision_id == decision_id))
            .mappings()
            .first()
        )
    if row is None:
        raise ProofError(f"decision {decision_id} is not in the ledger")
    seq = int(row["seq"])
    covering = [
        c for c in load_checkpoints(engine) if c.tree_size > seq and size in {None, c.tree_size}
    ]
    if not covering and size is not None:
        raise ProofError(f"no checkpoint of {size} rows covers decision {decision_id} (row {seq})")
    if not covering:
        raise ProofError(
            f"decision {decision_id} (row {seq}) is not covered by a checkpoint yet; "
            "run `svdhub audit checkpoint` or wait for the next one"
        )
    checkpoint = covering[-1]
    path = inclusion(engine, seq, checkpoint.tree_size)
    return {
        "format": PROOF_FORMAT,
        "decision_id": decision_id,
        "leaf_index": seq,
        "tree_size": checkpoint.tree_size,
        "record": row["record"],
        "audit_path": [node.hex() for node in path],
        "checkpoint_root": checkpoint.root,
    }


def check_proof(proof: Any, checkpoint: Checkpoint, public_key: str | None = None) -> str:
    """Check a proof against a checkpoint; return what it proves, or raise ProofError."""
    checkpoint.verify(public_key)
    if not isinstance(proof, dict) or proof.get("format") != PROOF_FORMAT:
        raise ProofError(f"not an {PROOF_FORMAT} proof")
    try:
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        record = str(proof["record"])
        path = [bytes.fromhex(node) for node in proof["audit_path"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"the proof is malformed: {exc}") from exc
    if size != checkpoint.tree_size:
        raise ProofError(
            f"the proof is for a tree of {size} rows, the checkpoint for {checkpoint.tree_size}"
        )
    try:
        decision = AuditRecord.from_bytes(record.encode(), sequenced=True)
    except AuditRecordError as exc:
        raise ProofError(f"the proof's record is not a valid audit record: {exc}") from exc
    if decision.decision_id != proof.get("decision_id") or decision.seq != index:
        raise ProofError("the record does not match the proof's decision id and position")
    leaf = merkle.leaf_hash(record.encode())
    if not merkle.verify_inclusion(leaf, index, size, path, bytes.fromhex(checkpoint.root)):
        raise ProofError("the audit path does not lead to the checkpoint's root")
    return (
        f"decision {decision.decision_id} ({decision.decision}, "
        f"{decision.source_authority} -> {decision.recipient}) is row {index} "
        f"of the ledger checkpointed at {size} rows on {checkpoint.issued_at}, "
        f"signed by {checkpoint.key_id}"
    )
