"""The audit ledger: one row per decision, in a Merkle tree, with signed checkpoints.

``svdhub audit run`` keeps the ledger from ``svd.audit.decisions`` through the
sink base (``hub.sink``). In one transaction a batch:

* verifies each message's hub signature (:mod:`wire.hub_signing`): an audit
  record not signed by the hub's key is rejected, never sealed;
* adds a row per decision_id not yet in the ledger (a replayed decision is
  counted and skipped, so replays are harmless; the first record wins). A
  message holds the decisions for one raw event as an
  :class:`~wire.audit.AuditBatch`, or one record as the enforcer wrote them
  before batches; either way each record is a leaf of its own;
* records anything that is not a valid audit record (``wire.audit``) in
  ``audit_rejects``, with the error code, the field and the reason, the
  hash, size and an excerpt of the value, so nothing stops the ledger;
* stores the next offset to read of each partition;
* issues a signed checkpoint when ``every_records`` rows or ``every_seconds``
  have passed since the last one.

A row's ``record`` is the audit record with its position ``seq``, as
canonical JSON (:meth:`wire.audit.AuditRecord.sequenced`); its leaf in the
RFC 6962 tree is ``SHA-256(0x00 || record)``. The columns beside it
(``wire.audit.QUERY_COLUMNS``: recipient, agreement, dates...) are copies for
queries; ``verify`` checks that they agree with the record.

One process writes a ledger at a time. SQLite is the default; PostgreSQL works
the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    inspect,
    select,
)

from hub.audit import merkle
from hub.audit.checkpoints import Checkpoint, check_verifier, log_origin
from hub.sink import Message, Outcome, Sink, insert_rows, offsets_table, rejects_table
from wire.audit import QUERY_COLUMNS, AuditRecord, read_audit_message
from wire.canonical import iso
from wire.hub_signing import HubKeys
from wire.signing import Signer
from wire.topics import TopicNames

log = logging.getLogger(__name__)

metadata = MetaData()

#: The columns copied out of each record for queries (column name = record field).
INDEXED = tuple(name for name, _ in QUERY_COLUMNS)

_REQUIRED = {"decision_id", "decided_at", "decision"}

entries = Table(
    "audit_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", String(64), nullable=False),
    Column("record", Text, nullable=False),
    *(
        Column(
            name,
            String(length),
            nullable=name not in _REQUIRED,
            unique=name == "decision_id",
            index=name != "decision_id",
        )
        for name, length in QUERY_COLUMNS
    ),
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
    # The log's origin line; null for a checkpoint from before the note format.
    Column("origin", String(255), nullable=True),
)

#: Witnesses' cosignatures of checkpoints (``hub.audit.witness``): each is one
#: C2SP signature line, kept as the witness handed it over; ``audit verify
#: --witness ... --quorum N`` checks them against the checkpoint's note.
cosignatures = Table(
    "audit_cosignatures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tree_size", BigInteger, nullable=False, index=True),
    Column("line", Text, nullable=False),
    Column("received_at", String(40), nullable=False),
)

#: The columns of a new row, in the order :meth:`Ledger.write` gives them.
_ENTRY_COLUMNS = ("seq", "leaf_hash", "record", *INDEXED)

offsets = offsets_table(metadata, "audit")
rejects = rejects_table(metadata, "audit")


@dataclass
class Appended(Outcome):
    """What one batch did."""

    added: int = 0
    replayed: int = 0
    checkpoint: Checkpoint | None = None


def upgrade(engine: Engine) -> None:
    """Rename bookkeeping tables of an older layout out of the way (their rows
    are kept), so the current ones can be made, and give an older checkpoints
    table its origin column. Entries and checkpoints are never changed."""
    found = inspect(engine)
    if found.has_table(checkpoints.name) and "origin" not in {
        column["name"] for column in found.get_columns(checkpoints.name)
    }:
        log.warning("the ledger's checkpoints gain an origin column (checkpoints as notes)")
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {checkpoints.name} ADD COLUMN origin VARCHAR(255)")
    for table in (offsets, rejects):
        if not found.has_table(table.name):
            continue
        columns = {column["name"] for column in found.get_columns(table.name)}
        if columns != {column.name for column in table.columns}:
            old = f"{table.name}_old"
            log.warning("the ledger's %s table has an older layout; kept as %s", table.name, old)
            with engine.begin() as conn:
                conn.exec_driver_sql(f'ALTER TABLE {table.name} RENAME TO "{old}"')


class Ledger(Sink[tuple[AuditRecord, ...], Appended]):
    """The ledger in one database (SQLAlchemy engine), kept from the audit topic."""

    name = "audit"

    #: Nobody waits on one decision's row (checkpoints come every few seconds),
    #: so each fetch waits a while for more (:attr:`Sink.batch_wait_ms`): at a
    #: steady rate the ledger commits (durably) a few times a second instead
    #: of once per raw event.
    batch_wait_ms = 200.0

    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        *,
        every_records: int = 1000,
        every_seconds: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        names: TopicNames | None = None,
        keys: HubKeys,
        origin: str | None = None,
    ) -> None:
        super().__init__(engine, offsets, rejects)
        self.signer = signer
        #: The log's origin line (``hub.audit.checkpoints.log_origin``).
        self.origin = origin or log_origin(signer)
        check_verifier(signer, self.origin)  # the key partners pinned, or refuse to start
        self.keys = keys
        self.every_records = every_records
        self.every_seconds = every_seconds
        self.clock = clock
        self.names = names or TopicNames.from_env()
        upgrade(engine)
        metadata.create_all(engine)
        self.frontier = merkle.Frontier()
        self._pending = self.frontier
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
            # Checkpoints from before the note format do not count: the tree gets
            # a note checkpoint at once, which witnesses can read.
            latest = conn.execute(
                select(func.max(checkpoints.c.tree_size)).where(checkpoints.c.origin.is_not(None))
            ).scalar()
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

    # ------------------------------------------------------------------ the sink

    def topics(self, available: Collection[str]) -> list[str]:
        topic = self.names.audit_decisions
        return [topic] if topic in available else []

    def signature(self, message: Message) -> None:
        """The hub's key signed the message (:meth:`Sink.signature`)."""
        self.keys.verify(message.value, message.headers)

    def parse(self, message: Message) -> tuple[AuditRecord, ...]:
        """The audit records in the message (an :class:`~wire.audit.AuditBatch`, or
        one record as written before batches), signed by the hub (:meth:`signature`)."""
        return read_audit_message(message.value)

    def write(
        self, conn: Connection, items: Sequence[tuple[Message, tuple[AuditRecord, ...]]]
    ) -> Appended:
        """Rows for the records not in the ledger yet, one leaf each in the order
        they came, and a checkpoint if one is due."""
        result = Appended()
        frontier = self.frontier.copy()
        flat = [record for _, records in items for record in records]
        known = self._known_ids(conn, [record.decision_id for record in flat])
        rows = []
        for record in flat:
            if record.decision_id in known:
                result.replayed += 1
                continue
            known.add(record.decision_id)
            seq = frontier.size
            text = record.sequenced_bytes(seq)
            leaf = merkle.leaf_hash(text)
            frontier.append(leaf)
            fields = record.__dict__
            rows.append((seq, leaf.hex(), text.decode(), *[fields[name] for name in INDEXED]))
        insert_rows(conn, entries, _ENTRY_COLUMNS, rows)
        result.added = len(rows)
        result.checkpoint = self._maybe_checkpoint(conn, frontier)
        self._pending = frontier
        return result

    def committed(self, result: Appended) -> None:
        self.frontier = self._pending
        if result.checkpoint is not None:
            self.checkpointed = result.checkpoint.tree_size
            self._last_checkpoint = time.monotonic()

    def idle(self) -> Appended | None:
        checkpoint = self.checkpoint(force=False)
        return None if checkpoint is None else Appended(checkpoint=checkpoint)

    def finish(self) -> Appended | None:
        checkpoint = self.checkpoint()
        return None if checkpoint is None else Appended(checkpoint=checkpoint)

    # ------------------------------------------------------------------ checkpoints

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
            self.signer, frontier.size, frontier.root().hex(), iso(self.clock()), self.origin
        )
        # A checkpoint from before the note format at this size, of the same root,
        # gives way to the note one (the same tree, signed in the new format).
        conn.execute(
            delete(checkpoints).where(
                (checkpoints.c.tree_size == checkpoint.tree_size)
                & checkpoints.c.origin.is_(None)
                & (checkpoints.c.root == checkpoint.root)
            )
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

    # ------------------------------------------------------------------ reading

    def checkpoints(self) -> list[Checkpoint]:
        return load_checkpoints(self.engine)


def load_checkpoints(engine: Engine) -> list[Checkpoint]:
    """Every stored checkpoint, smallest tree first."""
    with engine.connect() as conn:
        rows = conn.execute(select(checkpoints).order_by(checkpoints.c.tree_size)).mappings()
        return [Checkpoint.from_dict(dict(row), "audit_checkpoints") for row in rows]


def load_cosignatures(engine: Engine) -> dict[int, list[str]]:
    """Tree size -> the cosignature lines witnesses handed over for its checkpoint."""
    found: dict[int, list[str]] = {}
    with engine.connect() as conn:
        for size, line in conn.execute(
            select(cosignatures.c.tree_size, cosignatures.c.line).order_by(cosignatures.c.id)
        ):
            found.setdefault(int(size), []).append(str(line))
    return found
