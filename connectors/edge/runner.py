"""The connector run: extract -> map -> pseudonymise -> validate -> sign -> publish.

Per row, in order: the source parses it, the Mapper maps and pseudonymises it
(identifiers and free text are left behind), the codec validates it against
the schema while encoding, the Signer signs it, and the Publisher produces it
to ``svd.raw.<authority>.<event_type>``. A row that fails any step goes to the
reject file in the authority's own state folder with its row number, field,
reason and raw content, and never to Kafka. One bad row never stops a run.
A row the config's filters (``include_if``, ``skip_if``) leave out, or one
placed outside the partnership, is *skipped*: counted by reason, neither
published nor rejected.

A row the config's ``withdrawn`` column marks withdrawn, and each row of an
SQL source's ``deleted_rows`` query, becomes a Retraction instead, published
on ``svd.raw.<authority>.retraction`` through the same pipeline. Each
acknowledged batch is then one checkpoint batch per topic, records first;
an SQL watermark advances only once every topic's batch has finished.

With ``--workers N`` (:mod:`edge.workers`), worker processes map, validate
and sign chunks of rows; everything that depends on the order of rows stays
here and happens in row order, so the events, rejects and checkpoint are
the same.

The last checkpoint batch of each batch stays in flight (written ahead and
handed to the producer) while the next rows are read, mapped and signed, and
is acknowledged and finished before the next checkpoint batch begins: so at
most one checkpoint batch is ever pending, as before, and the wait for Kafka
overlaps the work on the next rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from edge.checkpoint import Checkpoint
from edge.config import ConnectorConfig, CsvSource, FileSource, SqlSource, XlsxSource
from edge.mapping import RETRACTION, Mapped
from edge.pseudonymise import Pseudonymiser
from edge.publisher import Message, Publisher, PublishError
from edge.sources import Notice, Problem, SourceError, SourceRow
from edge.sources.csv import CsvReader, raw_row
from edge.sources.join import Joined
from edge.sources.sql import SqlReader
from edge.sources.xlsx import XlsxReader
from edge.sources.xml import XmlReader
from edge.versions import Versions
from edge.workers import CHUNK_ROWS, MapPool, Outcome, Refused, Signed, build, sign_row
from wire.kafka_client import ClientSettings
from wire.private_files import append_private
from wire.signing import KeyRegistry, Signer, generate_signer
from wire.topics import ENFORCER_GROUP, TopicNames

log = logging.getLogger(__name__)


@dataclass
class Summary:
    """What a run did; printed at the end and used for the exit code."""

    read: int = 0
    published: int = 0
    retractions: int = 0  # of the published: Retractions (withdrawn or deleted rows)
    already_published: int = 0
    recovered: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # filtered out, by reason
    file_errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # worth saying; reject nothing
    reject_file: Path | None = None
    seconds: float = 0.0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def clean(self) -> bool:
        return not self.rejected and not self.file_errors

    def lines(self, dry_run: bool) -> list[str]:
        rate = self.read / self.seconds if self.seconds else 0.0
        verb = "would publish" if dry_run else "published"
        out = [
            f"rows read: {self.read}",
            f"accepted: {self.published + self.already_published} ({verb} "
            f"{self.published}, already published {self.already_published})",
        ]
        if self.retractions:
            out.append(f"  retractions: {self.retractions} of the {self.published} {verb}")
        if self.skipped:
            out.append(f"skipped: {self.skipped_total} (not for the hub, as the config says)")
            out += [f"  {count:>6}  {reason}" for reason, count in self.skipped.most_common()]
        out.append(f"rejected: {self.rejected_total}")
        out += [f"  {count:>6}  {reason}" for reason, count in self.rejected.most_common()]
        if self.recovered:
            out.append(
                f"recovered from an interrupted run: {self.recovered} events were already in Kafka"
            )
        out += [f"file error: {error}" for error in self.file_errors]
        out += [f"note: {notice}" for notice in self.notices]
        if self.reject_file is not None:
            out.append(f"reject file: {self.reject_file}")
        out.append(f"time: {self.seconds:.1f} s ({rate:,.0f} rows/s)")
        return out


@dataclass
class InFlight:
    """A checkpoint batch written ahead and handed to the producer, not yet
    acknowledged."""

    publisher: Publisher
    batch: int
    futures: list[FutureRecordMetadata]
    rows: set[tuple[str, str]]  # (source, row_hash)
    retractions: bool
    watermark: tuple[str, str] | None


class RejectFile:
    """JSON Lines in the authority's state folder, opened on the first reject."""

    def __init__(self, folder: Path, enabled: bool) -> None:
        self.path = folder / f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.jsonl"
        self.enabled = enabled
        self._handle: TextIO | None = None

    def write(self, file: str, row: int, field_name: str, reason: str, raw: Any) -> None:
        if not self.enabled:
            return
        if self._handle is None:
            self._handle = append_private(self.path)  # raw rows: owner-only
        entry = {"file": file, "row": row, "field": field_name, "reason": reason, "raw": raw}
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> Path | None:
        if self._handle is None:
            return None
        self._handle.close()
        return self.path


def reason_key(field_name: str, reason: str) -> str:
    """Group rejects by field and kind of reason (values quoted in it are elided)."""
    return f"{field_name}: " + re.sub(r"'[^']*'(?:\.\.\.)?", "'…'", reason)


class RevokedSigningKey(ValueError):
    """The connector's signing key is revoked: it signs nothing more."""


def check_not_revoked(config: ConnectorConfig) -> None:
    """Raise :class:`RevokedSigningKey` if the authority's exported public key
    file (``<authority home>/public/<key_id>.yaml``, where ``svdhub connector
    keys revoke`` records a revocation) says the config's signing key is
    revoked, and a ``wire.signing.KeyRegistryError`` if that file is unreadable.
    No file: nothing recorded."""
    path = config.public_key_file
    if not path.is_file():
        return
    exported = KeyRegistry.load(path)
    key_id = config.keys.signing_key_id
    if key_id not in exported:
        return
    key = exported.get(key_id)
    if key.revoked_at is None:
        return
    raise RevokedSigningKey(
        f"signing key {key_id} was {key.revocation()} (recorded in {path}), so it signs "
        "nothing more and the hub refuses what it signed. Ask your IT team for a new key "
        "with a new key id: a new keys.signing_key_id (and keys.signing_key file) in the "
        "config, then `svdhub connector keys create`, and the new public key registered "
        "with the hub (`svdhub keys register`)"
    )


class _NothingPublished(Checkpoint):
    """The checkpoint of a check (:class:`Connector` ``check_rows``): every row
    is new and every watermark at its start; nothing is written anywhere."""

    def __init__(self) -> None:  # no database
        pass

    def close(self) -> None:
        pass

    def is_published(self, source: str, row_hash: str) -> bool:
        return False

    def watermark(self, source: str) -> str | None:
        return None

    def version(self, record_key: str) -> tuple[int, str] | None:
        return None


@dataclass
class _Chunk:
    """Rows sent to a worker together: every item read, with whether it was
    sent; the number of batches begun when it was sent; the worker's answer."""

    items: list[tuple[SourceRow | Problem | Notice, bool]]
    flushes: int
    future: Future[list[Outcome]]


class _Flushed:
    """The rows of the batches begun this run, numbered from 0, for as long as
    a chunk sent before them is still out (:meth:`forget`)."""

    def __init__(self) -> None:
        self.count = 0
        self._batches: deque[set[tuple[str, str]]] = deque()  # numbered from _first
        self._first = 0
        self._last: dict[tuple[str, str], int] = {}  # row -> the last batch holding it

    def append(self, rows: set[tuple[str, str]]) -> None:
        self._batches.append(rows)
        for row in rows:
            self._last[row] = self.count
        self.count += 1

    def holds(self, source: str, row_hash: str, *, since: int) -> bool:
        """Whether a batch numbered ``since`` or later holds the row."""
        return self._last.get((source, row_hash), -1) >= since

    def forget(self, before: int) -> None:
        """Let go of the batches numbered below ``before``."""
        while self._batches and self._first < before:
            for row in self._batches.popleft():
                if self._last.get(row) == self._first:
                    del self._last[row]
            self._first += 1


class Connector:
    """One configured connector. ``run`` processes whatever is new, once.

    It refuses to start, and each run refuses to begin, while its signing key
    is revoked (:func:`check_not_revoked`).

    With ``check_rows`` it is a check (``svdhub connector check --rows N``):
    it reads the first N rows, maps, pseudonymises, validates and signs them
    as a run would, with throwaway keys (so it needs neither the authority's
    keys nor Kafka), prints no record, and touches no state: no checkpoint,
    no reject file."""

    def __init__(
        self,
        config: ConnectorConfig,
        kafka: ClientSettings | None,
        *,
        dry_run: bool = False,
        echo: Callable[[str], None] = print,
        progress: Callable[[str, int, int], None] | None = None,
        check_rows: int | None = None,
        workers: int = 1,
    ) -> None:
        self.config = config
        self.check_rows = check_rows
        self.dry_run = dry_run or check_rows is not None
        self.echo = echo
        self.progress = progress
        if check_rows is not None:
            self.pseudonymiser = Pseudonymiser(secrets.token_bytes(32), "check")
            self.signer = generate_signer(config.keys.signing_key_id, config.authority)
        else:
            self.pseudonymiser = Pseudonymiser.load(
                config.keys.linkage_key, config.keys.linkage_key_version
            )
            check_not_revoked(config)
            self.signer = Signer.load(
                config.keys.signing_key, config.keys.signing_key_id, config.authority
            )
        self.checkpoint = (
            _NothingPublished()
            if check_rows is not None
            else Checkpoint(config.state_dir / "checkpoint.sqlite")
        )
        self.versions = Versions(self.checkpoint)
        self.mapper, self.writer = build(config, self.pseudonymiser, self.signer, self.versions)
        self.workers = workers
        self.pool: MapPool | None = None  # started on the first run that uses it
        # A hashed record key's rows this run: event id -> (digest of the cells
        # the config reads, source, row), to refuse two different rows that
        # would share an id (see _clash).
        self._read = sorted(self.mapper.columns())
        self._hashed: dict[str, tuple[bytes, str, int]] = {}
        self.names = names = TopicNames.from_env()
        self.topic = names.raw(config.authority, config.event_type)
        self.retraction_topic = names.raw(config.authority, "RETRACTION")
        self.kafka = kafka
        self.publishers: dict[str, Publisher] = {}
        self.in_flight: InFlight | None = None
        # While rows are mapped in workers: the rows of each batch begun since,
        # which those rows are checked against as they are handed on.
        self.flushed: _Flushed | None = None
        if not self.dry_run:
            if kafka is None:
                raise ValueError("Kafka client settings are needed unless --dry-run")
            self._publisher(self.topic)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        for publisher in self.publishers.values():
            publisher.close()
        self.checkpoint.close()

    def readers(self) -> list[str]:
        """Whether the hub reads this authority's topic, as lines for the run's
        summary: which enforcer groups have read how much of it, or a warning
        that none has. Never raises: a broker that cannot say is a note."""
        if self.dry_run:
            return []
        publisher = self._publisher(self.topic)
        try:
            read = publisher.readers(self.names.prefix + ENFORCER_GROUP)
            total = sum(publisher.end_offsets().values())
        except (KafkaError, PublishError) as exc:
            return [f"note: cannot tell whether the hub reads {self.topic}: {exc}"]
        if not read:
            return [
                f"warning: no consumer group has read {self.topic} yet. The hub's enforcer "
                "reads a new authority's topic within seconds of the policy bundle naming "
                "it; if this stays, ask the hub whether its enforcer runs and whether the "
                f"bundle names {self.config.authority}. The events wait in the topic."
            ]
        return [
            f"hub: {group} has read {count:,} of the {total:,} events on {self.topic}"
            for group, count in sorted(read.items())
        ]

    def _publisher(self, topic: str) -> Publisher:
        """The publisher of one of this authority's raw topics, made on first use."""
        if topic not in self.publishers:
            assert self.kafka is not None  # noqa: S101 - never called on a dry run
            client_id = f"svdhub-connector-{self.config.authority}"
            self.publishers[topic] = Publisher(self.kafka, topic, client_id)
        return self.publishers[topic]

    def _topic(self, record_type: str) -> str:
        return self.retraction_topic if record_type == RETRACTION else self.topic

    def run(self) -> Summary:
        """Process whatever is new. Raises RevokedSigningKey (nothing read),
        PublishError."""
        if self.check_rows is None:
            check_not_revoked(self.config)
        started = time.monotonic()
        summary = Summary()
        self._hashed.clear()
        rejects = RejectFile(self.config.state_dir / "rejects", enabled=not self.dry_run)
        try:
            if not self.dry_run:
                self._publisher(self.topic).ensure_topic()
                if self.config.retracts:
                    self._publisher(self.retraction_topic).ensure_topic()
                summary.recovered = self._recover()
            if isinstance(self.config.source, SqlSource):
                self._run_sql(summary, rejects)
            else:
                self._run_files(self.config.source, summary, rejects)
        finally:
            summary.reject_file = rejects.close()
            summary.seconds = time.monotonic() - started
        return summary

    # -- recovery ----------------------------------------------------------

    def _recover(self) -> int:
        """Resolve the batches an interrupted run left pending, each from the end
        offsets of its own topic (records or retractions)."""
        found = 0
        for batch in self.checkpoint.pending_batches():
            present = batch.landed(self._publisher(batch.topic).end_offsets())
            if present is None:
                log.warning(
                    "%s: the end offsets do not fit interrupted batch %d; all %d of its rows "
                    "are sent again (the hub drops repeats by event id)",
                    batch.topic,
                    batch.batch,
                    len(batch.rows),
                )
                present = set()
            found += self.checkpoint.resolve_batch(batch.batch, present)
        return found

    # -- sources -----------------------------------------------------------

    def _run_files(self, source: FileSource, summary: Summary, rejects: RejectFile) -> None:
        reader: CsvReader | XlsxReader | XmlReader
        if isinstance(source, CsvSource):
            reader = CsvReader(source)
        elif isinstance(source, XlsxSource):
            reader = XlsxReader(source)
        else:
            reader = XmlReader(source)
        try:
            files = reader.files()
        except SourceError as exc:
            summary.file_errors.append(str(exc))
            return
        required = self.mapper.columns()
        joined = None
        if self.config.join is not None:
            # Without its join files a run would publish stale rows as new
            # versions: a join file that cannot be read stops the run.
            try:
                joined = Joined.read(self.config.join)
            except SourceError as exc:
                summary.file_errors.append(str(exc))
                rejects.write(self.config.join.csv.path, 0, "(join)", str(exc), None)
                return
            summary.notices.append(f"{joined.notice.source}: {joined.notice.message}")
            for problem in joined.problems:
                self._reject(summary, rejects, problem)
            required = (required - set(self.config.join.columns.values())) | {self.config.join.by}
        for path in files:
            size = path.stat().st_size

            def report(position: int, name: str = path.name, total: int = size) -> None:
                if self.progress is not None:
                    self.progress(name, position, total)

            try:
                rows = reader.rows(path, required, progress=report)
                if joined is not None:
                    rows = joined.extend(rows)
                self._publish(rows, summary, rejects, raw_of=raw_row)
            except SourceError as exc:
                summary.file_errors.append(str(exc))
                rejects.write(str(path), 0, "(file)", str(exc), None)

    def _run_sql(self, summary: Summary, rejects: RejectFile) -> None:
        """The main query, then the ``deleted_rows`` query: a record added and
        deleted between two runs is published, then withdrawn."""
        source = self.config.source
        assert isinstance(source, SqlSource)  # noqa: S101
        reader = SqlReader(source)
        start = self.checkpoint.watermark(reader.name) or source.initial_watermark
        try:
            rows = reader.rows(start, self.mapper.columns())
            self._publish(
                rows,
                summary,
                rejects,
                raw_of=lambda r: dict(r.values),
                watermark_column=source.watermark,
            )
        except SourceError as exc:
            summary.file_errors.append(str(exc))
            rejects.write(reader.name, 0, "(query)", str(exc), None)
        deleted = source.deleted_rows
        if deleted is None:
            return
        start = self.checkpoint.watermark(reader.deleted_name) or deleted.initial_watermark
        try:
            rows = reader.deleted_rows(start, self.mapper.deleted_columns())
            self._publish(
                rows,
                summary,
                rejects,
                raw_of=lambda r: dict(r.values),
                watermark_column=deleted.watermark,
                mapping=self.mapper.deleted,
            )
        except SourceError as exc:
            summary.file_errors.append(str(exc))
            rejects.write(reader.deleted_name, 0, "(query)", str(exc), None)

    # -- the pipeline ------------------------------------------------------

    def _publish(
        self,
        rows: Iterator[SourceRow | Problem | Notice],
        summary: Summary,
        rejects: RejectFile,
        *,
        raw_of: Callable[[SourceRow], Any],
        watermark_column: str | None = None,
        mapping: Callable[[dict[str, str | None], datetime], Mapped] | None = None,
    ) -> None:
        """Map, sign and publish ``rows`` (with ``mapping``, by default
        :meth:`Mapper.map`), in acknowledged batches of ``batch_size`` rows."""
        try:
            self._map_and_publish(
                rows,
                summary,
                rejects,
                raw_of=raw_of,
                watermark_column=watermark_column,
                mapping=mapping,
            )
        finally:
            self._settle(summary)

    def _map_and_publish(
        self,
        rows: Iterator[SourceRow | Problem | Notice],
        summary: Summary,
        rejects: RejectFile,
        *,
        raw_of: Callable[[SourceRow], Any],
        watermark_column: str | None,
        mapping: Callable[[dict[str, str | None], datetime], Mapped] | None,
    ) -> None:
        outcomes = (
            self._in_workers(rows, summary)
            if mapping is None and self._use_workers(summary)
            else self._in_process(rows, mapping or self.mapper.map, summary)
        )
        batch: list[tuple[SourceRow, Message]] = []
        for item, outcome in outcomes:
            if isinstance(item, Notice):
                summary.notices.append(f"{item.source}: {item.message}")
                continue
            summary.read += 1
            if isinstance(item, Problem):
                self._reject(summary, rejects, item)
                continue
            if outcome is None:
                summary.already_published += 1
                continue
            message = self._message(item, outcome, summary, rejects, raw_of)
            if message is None:
                continue
            batch.append((item, message))
            if len(batch) >= self.config.batch_size:
                self._flush(batch, summary, watermark_column)
                batch = []
        if batch:
            self._flush(batch, summary, watermark_column)

    def _in_process(
        self,
        rows: Iterator[SourceRow | Problem | Notice],
        to_record: Callable[[dict[str, str | None], datetime], Mapped],
        summary: Summary,
    ) -> Iterator[tuple[SourceRow | Problem | Notice, Outcome | None]]:
        """``rows`` in order, each row mapped and signed here as it is reached,
        with None for a row already published (:meth:`_seen`). A check stops
        once its run has read ``check_rows`` rows, over all its files."""
        for item in rows:
            if isinstance(item, Notice):
                yield item, None
                continue
            if self.check_rows is not None and summary.read >= self.check_rows:
                return
            if isinstance(item, Problem) or self._seen(item):
                yield item, None
                continue
            yield item, sign_row(to_record, self.writer, item.values, keep_record=self.dry_run)

    def _use_workers(self, summary: Summary) -> bool:
        """Whether this run maps in worker processes (starting them if need be)."""
        if self.workers < 2 or self.check_rows is not None:
            return False
        if self.config.version_by_content:
            notice = (
                f"--workers {self.workers}: records versioned by content are numbered in row "
                "order, so this config's rows are mapped in the connector's own process"
            )
            if notice not in summary.notices:
                summary.notices.append(notice)
            return False
        if self.pool is None:
            self.pool = MapPool(self.config, self.workers)
        return True

    def _in_workers(
        self, rows: Iterator[SourceRow | Problem | Notice], summary: Summary
    ) -> Iterator[tuple[SourceRow | Problem | Notice, Outcome | None]]:
        """What :meth:`_in_process` gives, with the mapping and signing done by
        the workers: rows go out in chunks, a few chunks ahead, and come back
        in order.

        A row already published, or in the batch in flight, when its chunk goes
        out is not sent (the checkpoint is asked once per chunk). One that a
        batch begun since then holds (a repeated line) is told apart as it is
        handed on, from the batches' rows kept in memory: so each row is found
        published exactly when :meth:`_seen` would find it, one row at a time."""
        pool = self.pool
        assert pool is not None  # noqa: S101 - _use_workers started it
        flushed = self.flushed = _Flushed()
        try:
            yield from self._handed_on(pool, flushed, rows)
        finally:
            self.flushed = None

    def _handed_on(
        self, pool: MapPool, flushed: _Flushed, rows: Iterator[SourceRow | Problem | Notice]
    ) -> Iterator[tuple[SourceRow | Problem | Notice, Outcome | None]]:
        queue: deque[_Chunk] = deque()
        items: list[SourceRow | Problem | Notice] = []
        count = 0

        def send() -> None:
            published = self._published_of([i for i in items if isinstance(i, SourceRow)])
            sent = [
                isinstance(i, SourceRow) and (i.source, i.row_hash) not in published for i in items
            ]
            values = [
                i.values for i, s in zip(items, sent, strict=True) if s and isinstance(i, SourceRow)
            ]
            future = pool.submit(values, keep_record=self.dry_run)
            queue.append(_Chunk(list(zip(items, sent, strict=True)), flushed.count, future))

        def handed_on() -> Iterator[tuple[SourceRow | Problem | Notice, Outcome | None]]:
            chunk = queue.popleft()
            outcomes = iter(pool.result(chunk.future))
            for item, sent in chunk.items:
                outcome = next(outcomes) if sent else None
                if (
                    outcome is not None
                    and isinstance(item, SourceRow)
                    and flushed.holds(item.source, item.row_hash, since=chunk.flushes)
                ):
                    outcome = None
                yield item, outcome
            flushed.forget(queue[0].flushes if queue else flushed.count)

        for item in rows:
            items.append(item)
            count += isinstance(item, SourceRow)
            if count >= CHUNK_ROWS:
                send()
                items, count = [], 0
                while len(queue) > pool.in_flight:
                    yield from handed_on()
        if items:
            send()
        while queue:
            yield from handed_on()

    def _published_of(self, rows: list[SourceRow]) -> set[tuple[str, str]]:
        """Which of ``rows`` are published or in the batch in flight, as
        (source, row hash)."""
        by_source: dict[str, list[str]] = {}
        for row in rows:
            by_source.setdefault(row.source, []).append(row.row_hash)
        found = {
            (source, row_hash)
            for source, hashes in by_source.items()
            for row_hash in self.checkpoint.published_of(source, hashes)
        }
        if (flight := self.in_flight) is not None:
            found |= {(row.source, row.row_hash) for row in rows} & flight.rows
        return found

    def _message(
        self,
        item: SourceRow,
        outcome: Outcome,
        summary: Summary,
        rejects: RejectFile,
        raw_of: Callable[[SourceRow], Any],
    ) -> Message | None:
        """A mapped and signed row ready to publish; None when it is skipped,
        rejected, or (a dry run) printed instead."""
        if isinstance(outcome, Refused):
            if outcome.skipped:
                summary.skipped[f"{outcome.field}: {outcome.reason}"] += 1
            else:
                problem = Problem(
                    item.source, item.number, outcome.field, outcome.reason, raw_of(item)
                )
                self._reject(summary, rejects, problem)
            return None
        if self.config.key_hash and (clash := self._clash(item, outcome)):
            problem = Problem(item.source, item.number, "record_key", clash, raw_of(item))
            self._reject(summary, rejects, problem)
            return None
        if self.dry_run:
            summary.published += 1
            summary.retractions += outcome.record_type == RETRACTION
            if self.check_rows is None:
                topic = self._topic(outcome.record_type)
                self.echo(
                    json.dumps(
                        {"topic": topic, "key": outcome.message_key, "record": outcome.record},
                        default=str,
                    )
                )
            return None
        return Message(
            outcome.message_key.encode(),
            outcome.value,
            outcome.event_id,
            outcome.record_type,
            outcome.key_hash,
        )

    def _flush(
        self, batch: list[tuple[SourceRow, Message]], summary: Summary, watermark_column: str | None
    ) -> None:
        """Publish ``batch``: one checkpoint batch per topic (each written ahead,
        sent, acknowledged, then finished), the record topic before the
        retraction topic. The watermark advances with the last one only, so a
        crash before it re-reads the rows at the old watermark, and the
        checkpoint recognises those already published. The last one is left
        in flight (:meth:`_settle` finishes it)."""
        topics = sorted(
            {self._topic(message.record_type) for _, message in batch},
            key=lambda topic: topic == self.retraction_topic,
        )
        for number, topic in enumerate(topics, start=1):
            self._settle(summary)  # its end offsets are this one's start
            publisher = self._publisher(topic)
            part = [(row, m) for row, m in batch if self._topic(m.record_type) == topic]
            partitions = [publisher.partition(m.key, m.key_hash) for _, m in part]
            rows = [
                (row.source, row.row_hash, message.event_id, partition)
                for (row, message), partition in zip(part, partitions, strict=True)
            ]
            self.versions.record()  # the versions these rows carry, before they go out
            batch_id = self.checkpoint.begin_batch(topic, publisher.end_offsets(), rows)
            futures = publisher.submit([message for _, message in part], partitions)
            watermark = None
            if watermark_column is not None and number == len(topics):
                values = [row.values.get(watermark_column) or "" for row, _ in batch]
                watermark = (batch[0][0].source, max(values))
            self.in_flight = InFlight(
                publisher,
                batch_id,
                futures,
                {(row.source, row.row_hash) for row, _ in part},
                topic == self.retraction_topic,
                watermark,
            )
            if self.flushed is not None:
                self.flushed.append(self.in_flight.rows)

    def _clash(self, row: SourceRow, mapped: Signed) -> str | None:
        """Why ``row`` may not be published under its hashed record key: an
        earlier row of this run has the same key (the same cells in every
        ``record_key.hash`` column) but differs in another column the config
        reads, so the two would share an event id and the hub would keep only
        the first. None when it is the first row with its key, or the same
        record again (a repeated line)."""
        values = "\x1e".join(f"{c}\x1f{(row.values.get(c) or '').strip()}" for c in self._read)
        digest = hashlib.sha256(values.encode("utf-8", "surrogateescape")).digest()[:16]
        key = f"{mapped.record_type}:{mapped.event_id}"
        first = self._hashed.setdefault(key, (digest, row.source, row.number))
        if first[0] == digest:
            return None
        return (
            f"the same record key as {first[1]} row {first[2]}, but a different record: "
            "record_key.hash must list every column that tells two records apart"
        )

    def _seen(self, row: SourceRow) -> bool:
        """Whether ``row`` is published, or in the batch in flight."""
        flight = self.in_flight
        if flight is not None and (row.source, row.row_hash) in flight.rows:
            return True
        return self.checkpoint.is_published(row.source, row.row_hash)

    def _settle(self, summary: Summary) -> None:
        """Wait for the acknowledgement of the batch in flight, then finish it.
        If Kafka does not acknowledge it (PublishError), it stays pending in
        the checkpoint, for the next run to resolve."""
        flight, self.in_flight = self.in_flight, None
        if flight is None:
            return
        flight.publisher.wait(flight.futures)
        self.checkpoint.finish_batch(flight.batch, flight.watermark)
        summary.published += len(flight.futures)
        summary.retractions += len(flight.futures) if flight.retractions else 0

    def _reject(self, summary: Summary, rejects: RejectFile, problem: Problem) -> None:
        summary.rejected[reason_key(problem.field, problem.reason)] += 1
        rejects.write(problem.source, problem.number, problem.field, problem.reason, problem.raw)
        if self.dry_run:
            self.echo(
                f"reject: {problem.source}: row {problem.number}: {problem.field}: {problem.reason}"
            )
