"""SQL tables kept from Kafka topics: the one base of the audit ledger and the view builder.

A :class:`Sink` owns some tables in one database and keeps them from some
topics. :func:`consume` drives it:

1. it assigns every partition of the sink's topics (no consumer group) and
   seeks each to the offset stored with the tables, or to the beginning;
2. it polls, and hands each batch to :meth:`Sink.apply`: what one poll
   brought, and what later polls bring at once (without waiting), up to
   :attr:`Sink.batch_messages` messages. A consumer made for the sink
   (:func:`new_consumer` with its :attr:`Sink.batch_wait_ms`) has the broker
   hold each fetch a while for more, so messages that come one at a time are
   applied together;
3. ``apply`` parses every message through the sink's typed contract, and in
   **one transaction** writes the rows (:meth:`Sink.write`), records every
   message it could not use in ``<prefix>_rejects`` and stores the offsets
   in ``<prefix>_offsets``.

So after a crash a sink resumes exactly where its last transaction ended,
and a message is either applied, recorded as a reject, or read again.

**Offsets** have one meaning: the next offset to read in that partition.
They never move back, except when the stored offset is beyond the end of the
partition (the topic was deleted and created again), when the sink logs a
warning and starts that partition from the beginning. When the stored offset
is before the first offset the broker still holds, retention deleted
messages the sink never read: it logs an error naming how many, and
continues from the first one held.

**Poison.** Nothing a producer writes can stop a sink: a message that does
not parse (any :class:`~wire.canonical.ContractError`) is recorded with its
topic, partition, offset, the error code, the message (naming the field),
the SHA-256 and size of its value and a bounded excerpt, counted, and
skipped. Only an error in the sink's own code or the database stops it,
before its offsets move, so the batch is read again after a restart.

**Forgeries.** The hub's sinks read the enforcer's output, which carries the
hub's signature (:mod:`wire.hub_signing`). Their :meth:`Sink.signature`
verifies it before the message is parsed, so a message that is unsigned or
not signed by the hub's key is a reject like any other (codes ``unsigned``,
``unknown_key``, ``bad_signature``...), and is also counted in
:attr:`Outcome.forged`. The signatures of a batch are checked in
:attr:`Sink.verify_threads` threads at once (``cryptography``'s Ed25519
verify releases the GIL), each taking a run of the batch; the outcome and
its order are those of one thread.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from kafka import KafkaConsumer, TopicPartition
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
    delete,
    func,
    insert,
    select,
    update,
)

from wire.audit import Reason
from wire.canonical import ContractError, iso
from wire.hub_signing import HubSignatureError
from wire.kafka_client import ClientSettings
from wire.quarantine import describe

log = logging.getLogger(__name__)

#: The most bytes of a rejected value a sink keeps.
REJECT_EXCERPT_BYTES = 1024

#: Rejects logged one by one before only every 1000th is.
QUIET_AFTER = 20


@dataclass(frozen=True)
class Message:
    """One consumed message. ``headers`` are as the Kafka client gave them,
    (name, value) pairs, and are not to be trusted: any producer chose them."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class Outcome:
    """What one batch did; sinks add their own counts."""

    rejected: int = 0
    forged: int = 0  # of the rejected: not signed by the hub's key


Item = TypeVar("Item")
Result = TypeVar("Result", bound=Outcome)


def offsets_table(metadata: MetaData, prefix: str) -> Table:
    return Table(
        f"{prefix}_offsets",
        metadata,
        Column("topic", String(255), primary_key=True),
        Column("partition", Integer, primary_key=True, autoincrement=False),
        Column("next_offset", BigInteger, nullable=False),  # the next offset to read
        Column("latest_ms", BigInteger, nullable=False),  # broker time of the newest applied
    )


def rejects_table(metadata: MetaData, prefix: str) -> Table:
    return Table(
        f"{prefix}_rejects",
        metadata,
        Column("topic", String(255), primary_key=True),
        Column("partition", Integer, primary_key=True, autoincrement=False),
        Column("offset", BigInteger, primary_key=True, autoincrement=False),
        Column("code", String(64), nullable=False),
        Column("message", Text, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("size", BigInteger, nullable=False),
        Column("excerpt", LargeBinary, nullable=False),
        Column("rejected_at", String(40), nullable=False),
    )


class Sink(abc.ABC, Generic[Item, Result]):
    """Tables kept from topics. Subclasses give the contract and the rows.

    One process writes a sink's tables at a time."""

    #: Prefix of the offsets and rejects tables, and the consumer's client id.
    name: str = "sink"

    #: The most messages :func:`consume` hands to one :meth:`apply` (one
    #: transaction).
    batch_messages: int = 1000

    #: How long the broker holds a fetch for more messages (ms; the consumer's
    #: ``fetch_max_wait_ms``, see :func:`fetch_options`). At 0 a fetch returns
    #: at the first message, so a sink that keeps up with messages that come
    #: one at a time fetches, and commits a transaction, once for each.
    #: Waiting adds at most this to any message's latency, and saves a fetch
    #: and a transaction (for the ledger, a commit that reaches the disk) on
    #: every message that comes in the meantime.
    batch_wait_ms: float = 0.0

    #: Threads that check a batch's signatures at once (1: the caller's only).
    verify_threads: int = 2
    #: The smallest batch worth handing to more than one thread.
    PARALLEL_FROM = 64

    def __init__(self, engine: Engine, offsets: Table, rejects: Table) -> None:
        self.engine = engine
        self.offsets_table = offsets
        self.rejects_table = rejects
        self.rejected_total = 0
        self._pool: ThreadPoolExecutor | None = None

    # -------------------------------------------------------------- the contract

    def signature(self, message: Message) -> None:
        """Raise a ContractError (a HubSignatureError) unless the message carries
        a signature this sink trusts. Called before :meth:`parse`, possibly in
        another thread, so it must only read the sink's state. Default: none."""

    @abc.abstractmethod
    def parse(self, message: Message) -> Item:
        """The message as this sink's typed record, its signature already checked.
        Raise a ContractError (naming the field and the reason) for anything
        unusable: it is recorded and skipped."""

    @abc.abstractmethod
    def write(self, conn: Connection, items: Sequence[tuple[Message, Item]]) -> Result:
        """Write the rows for ``items`` in the open transaction ``conn``; say what it did.

        Called by :meth:`apply`, once per batch, with the parsed messages in
        the order they were consumed. Must be idempotent: a message may come
        again after a crash. An exception aborts the transaction, so no row,
        reject or offset of the batch is stored."""

    def committed(self, result: Result) -> None:
        """Called after the batch's transaction committed (e.g. to move in-memory state)."""

    def idle(self) -> Result | None:
        """Called when a poll brought nothing; may do timed work and say what."""
        return None

    def finish(self) -> Result | None:
        """Called once when consuming stops."""
        return None

    @abc.abstractmethod
    def topics(self, available: Collection[str]) -> list[str]:
        """The topics to read, of those that exist."""

    # -------------------------------------------------------------- applying

    def apply(self, messages: Sequence[Message]) -> Result:
        """One transaction: the rows, the rejects and the offsets of one batch."""
        good: list[tuple[Message, Item]] = []
        bad: list[tuple[Message, Reason]] = []
        forged = 0
        for message, problem in zip(messages, self._signatures(messages), strict=True):
            try:
                if problem is not None:
                    raise problem
                good.append((message, self.parse(message)))
            except ContractError as exc:
                bad.append((message, Reason.bounded(exc.code, str(exc))))
                forged += isinstance(exc, HubSignatureError)
        with self.engine.begin() as conn:
            result = self.write(conn, good)
            if bad:
                self._reject(conn, bad)
            self._store_offsets(conn, messages)
        result.rejected = len(bad)
        result.forged = forged
        self.committed(result)
        return result

    def _signatures(self, messages: Sequence[Message]) -> list[ContractError | None]:
        """Each message's signature problem (None: signed), in order; runs of a
        large batch are checked in :attr:`verify_threads` threads at once."""
        threads = min(self.verify_threads, len(messages) // self.PARALLEL_FROM)
        if threads <= 1:
            return self._check_run(messages)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self.verify_threads - 1, thread_name_prefix=f"{self.name}-verify"
            )
        size = -(-len(messages) // threads)
        runs = [messages[start : start + size] for start in range(0, len(messages), size)]
        others = [self._pool.submit(self._check_run, run) for run in runs[1:]]
        found = self._check_run(runs[0])
        for other in others:
            found += other.result()
        return found

    def _check_run(self, messages: Sequence[Message]) -> list[ContractError | None]:
        found: list[ContractError | None] = []
        for message in messages:
            try:
                self.signature(message)
            except ContractError as exc:
                found.append(exc)
            else:
                found.append(None)
        return found

    def _reject(self, conn: Connection, bad: list[tuple[Message, Reason]]) -> None:
        table = self.rejects_table
        now = iso(datetime.now(UTC))
        rows = []
        for message, reason in bad:
            where = (
                (table.c.topic == message.topic)
                & (table.c.partition == message.partition)
                & (table.c.offset == message.offset)
            )
            if conn.execute(select(table.c.offset).where(where)).first() is not None:
                continue  # read again after a crash: recorded already
            described = describe(message.value, REJECT_EXCERPT_BYTES)
            rows.append(
                {
                    "topic": message.topic,
                    "partition": message.partition,
                    "offset": message.offset,
                    "code": reason.code,
                    "message": reason.message,
                    "sha256": described.sha256,
                    "size": described.size,
                    "excerpt": described.excerpt,
                    "rejected_at": now,
                }
            )
            self.rejected_total += 1
            if self.rejected_total <= QUIET_AFTER or self.rejected_total % 1000 == 0:
                log.warning(
                    "%s rejected %s[%d]@%d: %s%s",
                    self.name,
                    message.topic,
                    message.partition,
                    message.offset,
                    reason.message,
                    " (from now on every 1000th reject is logged)"
                    if self.rejected_total == QUIET_AFTER
                    else "",
                )
        if rows:
            conn.execute(insert(table), rows)

    def _store_offsets(self, conn: Connection, messages: Sequence[Message]) -> None:
        table = self.offsets_table
        ends: dict[tuple[str, int], tuple[int, int]] = {}
        for m in messages:
            end, latest = ends.get((m.topic, m.partition), (0, 0))
            ends[(m.topic, m.partition)] = (max(end, m.offset + 1), max(latest, m.timestamp_ms))
        for (topic, partition), (end, latest) in ends.items():
            where = (table.c.topic == topic) & (table.c.partition == partition)
            found = conn.execute(
                select(table.c.next_offset, table.c.latest_ms).where(where)
            ).first()
            if found is None:
                conn.execute(
                    insert(table).values(
                        topic=topic, partition=partition, next_offset=end, latest_ms=latest
                    )
                )
            elif end > found[0] or latest > found[1]:
                conn.execute(
                    update(table)
                    .where(where)
                    .values(next_offset=max(found[0], end), latest_ms=max(found[1], latest))
                )

    # -------------------------------------------------------------- reading

    def stored_offsets(self) -> dict[tuple[str, int], int]:
        """The next offset to read, per (topic, partition)."""
        table = self.offsets_table
        with self.engine.connect() as conn:
            rows = conn.execute(select(table.c.topic, table.c.partition, table.c.next_offset))
            return {(topic, partition): int(end) for topic, partition, end in rows}

    def forget_offset(self, topic: str, partition: int) -> None:
        """Start one partition again from the beginning (its topic was made anew)."""
        table = self.offsets_table
        with self.engine.begin() as conn:
            conn.execute(
                delete(table).where((table.c.topic == topic) & (table.c.partition == partition))
            )

    def reject_count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(self.rejects_table)).scalar() or 0
            )


# ------------------------------------------------------------------ the loop


def consume(
    sink: Sink[Item, Result],
    consumer: KafkaConsumer,
    *,
    once: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[Result], None] = lambda _: None,
    discover_every: float = 10.0,
    wait_for_topics: float = 0.0,
) -> None:
    """Apply batches until stopped; with ``once``, until the ends the topics had at start.

    Looks for new topics every ``discover_every`` seconds. With
    ``wait_for_topics`` > 0, raises RuntimeError if none of the sink's topics
    exists after that long; otherwise, with ``once`` and no topics, returns."""
    assigned: list[TopicPartition] = []
    ends: dict[TopicPartition, int] = {}
    started = time.monotonic()
    discovered = float("-inf")
    try:
        while not should_stop():
            if time.monotonic() - discovered > discover_every:
                discovered = time.monotonic()
                assigned = _reassign(sink, consumer, assigned)
                if once and not ends and assigned:
                    ends = consumer.end_offsets(assigned)
            if not assigned:
                if time.monotonic() - started < wait_for_topics:
                    log.info("%s: waiting for its topics", sink.name)
                elif wait_for_topics > 0:
                    raise RuntimeError(
                        f"{sink.name}: no topic to read after {wait_for_topics:.0f} s; "
                        "start the enforcer (it creates them) first"
                    )
                elif once:
                    break
                time.sleep(1)
                discovered = float("-inf")
                continue
            batch = _poll(consumer, sink.batch_messages)
            done = sink.apply(batch) if batch else sink.idle()
            if done is not None:
                on_batch(done)
            if once and all(consumer.position(tp) >= end for tp, end in ends.items()):
                break
        if (done := sink.finish()) is not None:
            on_batch(done)
    finally:
        consumer.close()


def _poll(consumer: KafkaConsumer, most: int) -> list[Message]:
    """What one poll brings (waiting up to 500 ms), and what later polls bring
    without waiting, up to ``most`` messages."""
    batch = _messages(consumer.poll(timeout_ms=500, max_records=most))
    while batch and len(batch) < most:
        more = _messages(consumer.poll(timeout_ms=0, max_records=most - len(batch)))
        if not more:
            break
        batch += more
    return batch


def _messages(polled: dict[TopicPartition, list[Any]]) -> list[Message]:
    return [
        Message(m.topic, m.partition, m.offset, m.timestamp, m.value, tuple(m.headers or ()))
        for records in polled.values()
        for m in records
    ]


def _reassign(
    sink: Sink[Item, Result], consumer: KafkaConsumer, assigned: list[TopicPartition]
) -> list[TopicPartition]:
    """Assign every partition of the sink's topics, at the stored offsets."""
    parts = [
        TopicPartition(t, p)
        for t in sink.topics(consumer.topics())
        for p in sorted(consumer.partitions_for_topic(t) or ())
    ]
    if set(parts) == set(assigned):
        return assigned
    consumer.assign(parts)
    stored = sink.stored_offsets()
    begins = consumer.beginning_offsets(parts) if parts else {}
    ends = consumer.end_offsets(parts) if parts else {}
    for tp in parts:
        at = stored.get((tp.topic, tp.partition))
        first, end = int(begins[tp]), int(ends[tp])
        if at is not None and at > end:
            log.warning(
                "%s: stored offset %d of %s[%d] is beyond its end %d: the topic was made "
                "anew; reading it from the beginning",
                sink.name,
                at,
                tp.topic,
                tp.partition,
                end,
            )
            sink.forget_offset(tp.topic, tp.partition)
            at = None
        if at is not None and at < first:
            log.error(
                "%s: %d messages of %s[%d] (offsets %d to %d) were deleted by retention "
                "before they were read",
                sink.name,
                first - at,
                tp.topic,
                tp.partition,
                at,
                first - 1,
            )
        consumer.seek(tp, max(at or 0, first))
    return parts


# ------------------------------------------------------------------ bulk rows

#: INSERT statements for the driver, by (dialect, table, columns).
_INSERTS: dict[tuple[str, str, tuple[str, ...]], str] = {}

#: The placeholder of each DB-API paramstyle that takes a sequence of values.
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (values in the order of ``columns``) in the open transaction
    ``conn``, without SQLAlchemy's per-row processing: on PostgreSQL (psycopg)
    with ``COPY``, elsewhere with one statement built once and run by the
    driver's ``executemany``. Values must be what the driver takes as is (str,
    int, bool, bytes or None). A row that breaks a constraint fails the whole
    call, as an INSERT would."""
    if not rows:
        return
    dialect = conn.dialect
    placeholder = _PLACEHOLDERS.get(dialect.paramstyle)
    if placeholder is None:  # a driver that wants named parameters
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy_rows(conn, table, columns, rows)
        return
    key = (dialect.name, table.name, tuple(columns))
    sql = _INSERTS.get(key)
    if sql is None:
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(c) for c in columns)
        values = ", ".join(placeholder for _ in columns)
        # Names from the table's metadata; every value is bound.
        sql = _INSERTS[key] = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({values})"  # noqa: S608
    conn.exec_driver_sql(sql, list(rows))


def _copy_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """PostgreSQL through psycopg: ``COPY ... FROM STDIN``, in the same transaction."""
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    driver = conn.connection.driver_connection
    if driver is None:  # the connection was closed
        raise RuntimeError("no driver connection to copy rows through")
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def new_consumer(
    kafka: ClientSettings, client_id: str, batch_wait_ms: float = 0.0
) -> KafkaConsumer:
    """A consumer for :func:`consume`: no group, no auto-commit, large batches.
    With ``batch_wait_ms``, the broker holds each fetch that long for more."""
    return KafkaConsumer(
        **kafka.kafka_python(),
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1000,
        **fetch_options(batch_wait_ms),
    )


#: Bytes a fetch asks the broker for before its wait is over: more than many
#: messages come in a wait at any steady rate the hub keeps up with.
WAIT_FOR_BYTES = 512 * 1024


def fetch_options(batch_wait_ms: float) -> dict[str, int]:
    """The consumer's fetch settings for a batch wait (:attr:`Sink.batch_wait_ms`):
    the broker answers a fetch when it has :data:`WAIT_FOR_BYTES`, or when the
    wait is over, so messages that come one at a time arrive together, in one
    fetch instead of one each. With no wait, Kafka's defaults (answer at the
    first byte)."""
    wait = round(batch_wait_ms)
    if wait <= 0:
        return {}
    return {"fetch_min_bytes": WAIT_FOR_BYTES, "fetch_max_wait_ms": wait}
