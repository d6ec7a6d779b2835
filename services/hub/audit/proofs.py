"""Consistency proofs between two sizes of the ledger, made and checked.

A consistency proof (RFC 6962 §2.1.2; RFC 9162 §2.1.4) shows that the tree
of ``old`` records is a prefix of the tree of ``new`` records: nothing in
the first ``old`` was changed, removed or reordered when the log grew. A
partner who kept a checkpoint checks the next one against it with a proof
and nothing else; witnesses do it before they co-sign.

Proofs are built in one streaming pass over the stored leaf hashes
(``merkle.stream_proof``), holding O(log n) nodes, so a log of a million
records answers in about a second and a half.

The text form (``svdhub audit consistency``) is one base64 hash per line, as
transparency-log tools exchange them; the JSON form adds the two sizes::

    {"format": "svdhub-audit-consistency-proof/v1", "from": 1000, "to": 2000,
     "proof": ["base64...", ...]}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, func, select

from hub.audit import merkle
from hub.audit.checkpoints import Checkpoint
from hub.audit.ledger import entries

CONSISTENCY_FORMAT = "svdhub-audit-consistency-proof/v1"


class ProofError(Exception):
    """No proof can be made, or a proof does not check out."""


def leaf_hashes(engine: Engine, end: int) -> Iterator[bytes]:
    """The stored leaf hashes of rows 0..end-1, in order, streamed."""
    query = select(entries.c.leaf_hash).where(entries.c.seq < end).order_by(entries.c.seq)
    with engine.connect() as conn:
        for (leaf,) in conn.execution_options(yield_per=20_000).execute(query):
            yield bytes.fromhex(leaf)


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(entries)).scalar() or 0)


def consistency(engine: Engine, old: int, new: int) -> list[bytes]:
    """The proof that the ledger's first ``old`` rows' tree is a prefix of its
    first ``new`` rows' tree."""
    if not 0 < old <= new:
        raise ProofError(f"the sizes must satisfy 0 < from <= to (from {old}, to {new})")
    try:
        return merkle.stream_proof(leaf_hashes(engine, new), merkle.consistency_ranges(old, new))
    except ValueError as exc:
        raise ProofError(f"the ledger holds fewer than {new} rows") from exc


def inclusion(engine: Engine, index: int, size: int) -> list[bytes]:
    """The audit path of row ``index`` in the tree of the first ``size`` rows."""
    try:
        return merkle.stream_proof(leaf_hashes(engine, size), merkle.inclusion_ranges(index, size))
    except (IndexError, ValueError) as exc:
        raise ProofError(f"no path for row {index} in a tree of {size}: {exc}") from exc


def to_json(old: int, new: int, proof: list[bytes]) -> dict[str, Any]:
    return {
        "format": CONSISTENCY_FORMAT,
        "from": old,
        "to": new,
        "proof": [base64.b64encode(node).decode() for node in proof],
    }


def to_lines(proof: list[bytes]) -> str:
    return "".join(base64.b64encode(node).decode() + "\n" for node in proof)


def parse(text: str) -> tuple[list[bytes], int | None, int | None]:
    """A proof in either form: (hashes, from, to); the sizes are None in the text form."""
    try:
        if text.lstrip().startswith("{"):
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != CONSISTENCY_FORMAT:
                raise ProofError(f"not an {CONSISTENCY_FORMAT} proof")
            nodes = [_hash(str(item)) for item in data["proof"]]
            return nodes, int(data["from"]), int(data["to"])
        return [_hash(line.strip()) for line in text.splitlines() if line.strip()], None, None
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"the proof is malformed: {exc}") from exc


def _hash(text: str) -> bytes:
    try:
        node = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ProofError(f"{text[:60]!r} is not base64") from exc
    if len(node) != 32:
        raise ProofError(f"{text[:60]!r} is not a SHA-256 hash ({len(node)} bytes)")
    return node


def check_consistency(
    old: Checkpoint, new: Checkpoint, proof_text: str, public_key: str | None = None
) -> str:
    """Check both checkpoints' signatures and the proof between them; return what
    it shows, or raise ProofError (or CheckpointError for a bad signature)."""
    old.verify(public_key)
    new.verify(public_key)
    if old.origin != new.origin:
        raise ProofError(f"the checkpoints are of two logs: {old.origin!r} and {new.origin!r}")
    nodes, start, end = parse(proof_text)
    if start is not None and (start, end) != (old.tree_size, new.tree_size):
        raise ProofError(
            f"the proof is from {start} to {end}, the checkpoints are of "
            f"{old.tree_size} and {new.tree_size}"
        )
    if old.tree_size > new.tree_size:
        raise ProofError(
            f"the newer checkpoint ({new.tree_size} records) is smaller than the older "
            f"({old.tree_size}): records were removed"
        )
    if not merkle.verify_consistency(
        old.tree_size, new.tree_size, bytes.fromhex(old.root), bytes.fromhex(new.root), nodes
    ):
        raise ProofError(
            f"the tree of {new.tree_size} records does not extend the tree of "
            f"{old.tree_size}: a record in the first {old.tree_size} was changed, removed "
            "or reordered (or the proof is not for these checkpoints)"
        )
    return (
        f"the checkpoint of {new.tree_size} records ({new.issued_at}) extends the one of "
        f"{old.tree_size} ({old.issued_at}): append-only"
    )
