"""The audit ledger: one row per decision, in a Merkle tree, with signed checkpoints.

``svdhub audit run`` feeds :meth:`Ledger.append` with batches of messages from
``svd.audit.decisions``. In one transaction a batch:

* adds a row per decision_id not yet in the ledger (a replayed decision is
  counted and skipped, so replays are harmless; the first record wins);
* stores anything that is not a readable audit record in ``audit_rejects``
  with the reason, so nothing is lost;
* moves the stored consumer offsets past the batch;
* issues a signed checkpoint when ``every_records`` rows or ``every_seconds``
  have passed since the last one.

A row's ``record`` is the audit record plus its position ``seq``, as canonical
JSON; its leaf in the RFC 6962 tree is ``SHA-256(0x00 || record)``. The
columns beside it (recipient, agreement, dates...) are copies for queries;
``verify`` checks that they agree with the record.

One process writes a ledger at a time. SQLite is the default; PostgreSQL works
the same way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from hub.audit import merkle
from hub.audit.checkpoints import Checkpoint
from hub.enforcer.records import canonical_json, iso
from wire.signing import Signer

log = logging.getLogger(__name__)

metadata = MetaData()

#: The columns copied out of each record for queries (column name = record field).
INDEXED = (
    "decision_id",
    "decided_at",
    "decision",
    "source_authority",
    "recipient",
    "agreement_id",
    "event_type",
    "event_id",
    "subject_pseudonym",
)

entries = Table(
    "audit_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", String(64), nullable=False),
    Column("record", Text, nullable=False),
    Column("decision_id", String(64), nullable=False, unique=True),
    Column("decided_at", String(40), nullable=False, index=True),
    Column("decision", String(16), nullable=False, index=True),
    Column("source_authority", String(64), index=True),
    Column("recipient", String(64), index=True),
    Column("agreement_id", String(64), index=True),
    Column("event_type", String(16), index=True),
    Column("event_id", String(64), index=True),
    Column("subject_pseudonym", String(128), index=True),
)

checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", String(64), nullable=False),
    Column("issued_at", String(40), nullable=False),
    Column("key_id", String(128), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
)

offsets = Table(
    "audit_offsets",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("next_offset", BigInteger, nullable=False),
)

rejects = Table(
    "audit_rejects",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("offset", BigInteger, primary_key=True, autoincrement=False),
    Column("reason", Text, nullable=False),
    Column("value", LargeBinary),
)


@dataclass(frozen=True)
class Message:
    """One message from the audit topic."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class Appended:
    """What one batch did."""

    added: int = 0
    replayed: int = 0
    rejected: int = 0
    checkpoint: Checkpoint | None = None


@dataclass
class _Row:
    seq: int
    values: dict[str, Any] = field(default_factory=dict)


def parse_record(value: bytes | None) -> dict[str, Any]:
    """An audit record from the topic, or ValueError saying what is wrong with it."""
    if not value:
        raise ValueError("the message has no value")
    try:
        record = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    for name in ("decision_id", "decided_at", "decision"):
        if not isinstance(record.get(name), str) or not record[name]:
            raise ValueError(f"{name} is missing or not a string")
    if "seq" in record:
        raise ValueError("a record from the topic must not carry seq")
    return record


class Ledger:
    """The ledger in one database (SQLAlchemy engine)."""

    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        every_records: int = 1000,
        every_seconds: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.every_records = every_records
        self.every_seconds = every_seconds
        self.clock = clock
        metadata.create_all(engine)
        self.frontier = merkle.Frontier()
        self.checkpointed = 0
        self._last_checkpoint = time.monotonic()
        self._load()

    def _load(self) -> None:
        """Rebuild the tree's frontier from the stored leaf hashes."""
        frontier = merkle.Frontier()
        for leaf in self.leaf_hashes():
            frontier.append(leaf)
        self.frontier = frontier
        with self.engine.connect() as conn:
            latest = conn.execute(select(func.max(checkpoints.c.tree_size))).scalar()
        self.checkpointed = int(latest or 0)

    @property
    def size(self) -> int:
        return self.frontier.size

    def leaf_hashes(self, limit: int | None = None) -> Iterator[bytes]:
        """The stored leaf hashes in order (the first ``limit``, or all)."""
        query = select(entries.c.leaf_hash).order_by(entries.c.seq)
        if limit is not None:
            query = query.where(entries.c.seq < limit)
        with self.engine.connect() as conn:
            for (leaf,) in conn.execution_options(yield_per=10_000).execute(query):
                yield bytes.fromhex(leaf)

    # ------------------------------------------------------------------ writing

    def append(self, messages: Sequence[Message]) -> Appended:
        """Add a batch in one transaction (rows, rejects, offsets, maybe a checkpoint)."""
        result = Appended()
        frontier = self.frontier.copy()
        parsed: list[tuple[Message, dict[str, Any]]] = []
        bad: list[dict[str, Any]] = []
        for message in messages:
            try:
                parsed.append((message, parse_record(message.value)))
            except ValueError as exc:
                bad.append(
                    {
                        "topic": message.topic,
                        "partition": message.partition,
                        "offset": message.offset,
                        "reason": str(exc),
                        "value": message.value,
                    }
                )
        with self.engine.begin() as conn:
            known = self._known_ids(conn, [record["decision_id"] for _, record in parsed])
            rows = []
            for _, record in parsed:
                if record["decision_id"] in known:
                    result.replayed += 1
                    continue
                known.add(record["decision_id"])
                seq = frontier.size
                text = canonical_json({**record, "seq": seq})
                leaf = merkle.leaf_hash(text)
                frontier.append(leaf)
                row = {name: _text(record.get(name)) for name in INDEXED}
                rows.append({**row, "seq": seq, "leaf_hash": leaf.hex(), "record": text.decode()})
            if rows:
                conn.execute(insert(entries), rows)
            if bad:
                self._reject(conn, bad)
            self._store_offsets(conn, messages)
            checkpoint = self._maybe_checkpoint(conn, frontier)
        self.frontier = frontier
        result.added, result.rejected, result.checkpoint = len(rows), len(bad), checkpoint
        if checkpoint is not None:
            self.checkpointed = checkpoint.tree_size
            self._last_checkpoint = time.monotonic()
        return result

    def checkpoint(self, force: bool = True) -> Checkpoint | None:
        """Issue a checkpoint if rows were added since the last one: now
        (``force``), or only when one is due by count or time."""
        with self.engine.begin() as conn:
            checkpoint = self._maybe_checkpoint(conn, self.frontier, force=force)
        if checkpoint is not None:
            self.checkpointed = checkpoint.tree_size
            self._last_checkpoint = time.monotonic()
        return checkpoint

    def _maybe_checkpoint(
        self, conn: Connection, frontier: merkle.Frontier, force: bool = False
    ) -> Checkpoint | None:
        grown = frontier.size - self.checkpointed
        if grown <= 0:
            return None
        due = time.monotonic() - self._last_checkpoint >= self.every_seconds
        if not (force or due or grown >= self.every_records):
            return None
        checkpoint = Checkpoint.issue(
            self.signer, frontier.size, frontier.root().hex(), iso(self.clock())
        )
        conn.execute(insert(checkpoints).values(**checkpoint.__dict__))
        return checkpoint

    def _known_ids(self, conn: Connection, ids: list[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found = conn.execute(
                select(entries.c.decision_id).where(entries.c.decision_id.in_(chunk))
            )
            known.update(row[0] for row in found)
        return known

    def _reject(self, conn: Connection, bad: list[dict[str, Any]]) -> None:
        for row in bad:
            key = (rejects.c.topic == row["topic"]) & (rejects.c.partition == row["partition"])
            exists = conn.execute(
                select(rejects.c.offset).where(key & (rejects.c.offset == row["offset"]))
            ).first()
            if exists is None:
                conn.execute(insert(rejects).values(**row))
            log.warning(
                "rejected %s[%d]@%d: %s",
                row["topic"],
                row["partition"],
                row["offset"],
                row["reason"],
            )

    def _store_offsets(self, conn: Connection, messages: Sequence[Message]) -> None:
        ends: dict[tuple[str, int], int] = {}
        for message in messages:
            place = (message.topic, message.partition)
            ends[place] = max(ends.get(place, 0), message.offset + 1)
        for (topic, partition), end in ends.items():
            where = (offsets.c.topic == topic) & (offsets.c.partition == partition)
            changed = conn.execute(update(offsets).where(where).values(next_offset=end))
            if changed.rowcount == 0:
                conn.execute(
                    insert(offsets).values(topic=topic, partition=partition, next_offset=end)
                )

    # ------------------------------------------------------------------ reading

    def offsets(self) -> dict[tuple[str, int], int]:
        """The next offset to read, per (topic, partition)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(offsets.c.topic, offsets.c.partition, offsets.c.next_offset))
            return {(topic, partition): int(end) for topic, partition, end in rows}

    def checkpoints(self) -> list[Checkpoint]:
        return load_checkpoints(self.engine)


def load_checkpoints(engine: Engine) -> list[Checkpoint]:
    """Every stored checkpoint, smallest tree first."""
    with engine.connect() as conn:
        rows = conn.execute(select(checkpoints).order_by(checkpoints.c.tree_size)).mappings()
        return [Checkpoint.from_dict(dict(row), "audit_checkpoints") for row in rows]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
