"""Checkpoint: what this connector has published, kept in a local SQLite file.

Publishing runs in batches with a write-ahead record, so that a crash at any
point (even SIGKILL between Kafka's acknowledgement and the checkpoint's
commit) never leads to an event being published twice:

1. ``begin_batch`` records the batch's rows as *pending*, with the topic's end
   offsets before the batch, and commits;
2. the publisher produces the batch and waits for every acknowledgement;
3. ``finish_batch`` moves the rows to *published* (and advances an SQL
   watermark) in one transaction.

On the next start, ``pending_batches`` returns any batch that did not finish.
A connector may write its raw topics but never read them, so it works out
what landed from the topic's end offsets alone: each row of a batch goes to a
partition the connector chose and recorded, only this connector writes its
topic, and the idempotent producer keeps each partition in order, so in each
partition exactly the first ``end - start`` rows of the batch landed.
``resolve_batch`` marks those as published; the rest are published again by
the normal run.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wire.private_files import create_private

_SCHEMA = """
CREATE TABLE IF NOT EXISTS published (
    source TEXT NOT NULL, row_hash TEXT NOT NULL, event_id TEXT NOT NULL,
    PRIMARY KEY (source, row_hash));
CREATE TABLE IF NOT EXISTS batches (
    batch INTEGER PRIMARY KEY, topic TEXT NOT NULL, start_offsets TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    batch INTEGER NOT NULL, source TEXT NOT NULL, row_hash TEXT NOT NULL,
    event_id TEXT NOT NULL, partition INTEGER);
CREATE TABLE IF NOT EXISTS watermarks (source TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    record_key TEXT PRIMARY KEY, version INTEGER NOT NULL, digest TEXT NOT NULL);
"""

#: Row hashes looked up in one query (SQLite allows 999 parameters before 3.32).
_LOOKUP_ROWS = 500


@dataclass(frozen=True)
class PendingBatch:
    batch: int
    topic: str
    start_offsets: dict[int, int]
    rows: list[tuple[str, str, str, int | None]]  # (source, row_hash, event_id, partition)

    def landed(self, end_offsets: dict[int, int]) -> set[str] | None:
        """The event ids of the rows that reached the topic, given its end
        offsets now; None when the offsets do not fit this batch (another
        writer, or rows recorded without a partition), so nothing can be
        told and the whole batch must be sent again."""
        by_partition: dict[int, list[str]] = {}
        for _source, _hash, event_id, partition in self.rows:
            if partition is None:
                return None
            by_partition.setdefault(partition, []).append(event_id)
        present: set[str] = set()
        for partition in set(end_offsets) | set(self.start_offsets) | set(by_partition):
            count = end_offsets.get(partition, 0) - self.start_offsets.get(partition, 0)
            sent = by_partition.get(partition, [])
            if not 0 <= count <= len(sent):
                return None
            present.update(sent[:count])
        return present


class Checkpoint:
    def __init__(self, path: Path) -> None:
        create_private(path)  # 0600, so its -wal and -shm files are too
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(pending)")}
        if "partition" not in columns:  # a checkpoint from before partitions were recorded
            self._db.execute("ALTER TABLE pending ADD COLUMN partition INTEGER")

    def close(self) -> None:
        self._db.close()

    def is_published(self, source: str, row_hash: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM published WHERE source = ? AND row_hash = ?", (source, row_hash)
        ).fetchone()
        return found is not None

    def published_of(self, source: str, row_hashes: Iterable[str]) -> set[str]:
        """Those of ``row_hashes`` (of ``source``) that are published: one query
        for many rows, where :meth:`is_published` makes one a row."""
        wanted = list(row_hashes)
        found: set[str] = set()
        for start in range(0, len(wanted), _LOOKUP_ROWS):
            part = wanted[start : start + _LOOKUP_ROWS]
            marks = ", ".join("?" * len(part))
            found.update(
                str(row[0])
                for row in self._db.execute(
                    f"SELECT row_hash FROM published WHERE source = ? AND row_hash IN ({marks})",  # noqa: S608 - only placeholders
                    (source, *part),
                )
            )
        return found

    def published_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM published").fetchone()[0])

    def watermark(self, source: str) -> str | None:
        row = self._db.execute(
            "SELECT value FROM watermarks WHERE source = ?", (source,)
        ).fetchone()
        return None if row is None else str(row[0])

    def version(self, record_key: str) -> tuple[int, str] | None:
        """The latest version given to a record whose version comes from its
        content, and that content's digest (None: never seen)."""
        found = self._db.execute(
            "SELECT version, digest FROM versions WHERE record_key = ?", (record_key,)
        ).fetchone()
        return (int(found[0]), str(found[1])) if found else None

    def set_versions(self, versions: Iterable[tuple[str, int, str]]) -> None:
        """Record (record key, version, digest)s, in one transaction, before the
        batch that carries them is begun."""
        with self._transaction():
            self._db.executemany(
                "INSERT INTO versions (record_key, version, digest) VALUES (?, ?, ?) "
                "ON CONFLICT (record_key) DO UPDATE SET version = excluded.version, "
                "digest = excluded.digest WHERE excluded.version > versions.version",
                list(versions),
            )

    def begin_batch(
        self,
        topic: str,
        start_offsets: dict[int, int],
        rows: Iterable[tuple[str, str, str, int]],
    ) -> int:
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO batches (topic, start_offsets) VALUES (?, ?)",
                (topic, json.dumps(start_offsets)),
            )
            batch = int(cursor.lastrowid or 0)
            self._db.executemany(
                "INSERT INTO pending (batch, source, row_hash, event_id, partition) "
                "VALUES (?, ?, ?, ?, ?)",
                [(batch, *row) for row in rows],
            )
        return batch

    def finish_batch(self, batch: int, watermark: tuple[str, str] | None = None) -> None:
        with self._transaction():
            self._promote(batch, None)
            if watermark is not None:
                self._db.execute(
                    "INSERT INTO watermarks VALUES (?, ?) ON CONFLICT (source) "
                    "DO UPDATE SET value = excluded.value",
                    watermark,
                )

    def pending_batches(self) -> list[PendingBatch]:
        batches = []
        for batch, topic, offsets in self._db.execute(
            "SELECT batch, topic, start_offsets FROM batches ORDER BY batch"
        ).fetchall():
            rows = self._db.execute(
                "SELECT source, row_hash, event_id, partition FROM pending "
                "WHERE batch = ? ORDER BY rowid",
                (batch,),
            ).fetchall()
            batches.append(
                PendingBatch(
                    int(batch),
                    str(topic),
                    {int(k): int(v) for k, v in json.loads(offsets).items()},
                    [tuple(r) for r in rows],
                )
            )
        return batches

    def resolve_batch(self, batch: int, present: set[str]) -> int:
        """Mark as published the rows of an unfinished batch whose event ids are
        in the topic; forget the rest. Returns how many were found."""
        with self._transaction():
            return self._promote(batch, present)

    def _promote(self, batch: int, only: set[str] | None) -> int:
        rows = self._db.execute(
            "SELECT source, row_hash, event_id FROM pending WHERE batch = ?", (batch,)
        ).fetchall()
        keep = [r for r in rows if only is None or r[2] in only]
        self._db.executemany("INSERT OR IGNORE INTO published VALUES (?, ?, ?)", keep)
        self._db.execute("DELETE FROM pending WHERE batch = ?", (batch,))
        self._db.execute("DELETE FROM batches WHERE batch = ?", (batch,))
        return len(keep)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
