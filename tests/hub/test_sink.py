"""The sink contract, run against every sink (the audit ledger, the view builder)
on SQLite and on PostgreSQL.

Each concrete suite supplies only how to make its sink and a valid message;
everything a sink promises is tested here once: rows and offsets in one
transaction, offsets as the next offset to read that never move back,
replays that change nothing, unusable messages recorded with their code and
a bounded excerpt (once, however often they are read), messages the hub did
not sign rejected and counted as forged, and a failed batch that leaves
nothing behind.
"""

from __future__ import annotations

import abc
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from sqlalchemy import Connection, Engine, create_engine, func, select

from hub.access.plan import LEDGER
from hub.audit.ledger import Appended, Ledger, entries
from hub.sink import (
    REJECT_EXCERPT_BYTES,
    WAIT_FOR_BYTES,
    Message,
    Outcome,
    Sink,
    _poll,
    consume,
    fetch_options,
    new_consumer,
)
from hub.views.builder import Applied, ViewBuilder
from hub.views.tables import shares
from tests.fixtures.kafka import Principals
from tests.fixtures.records import (
    HUB_KEYS,
    HUB_SIGNER,
    OTHER_SIGNER,
    a_share,
    audit_record,
    hub_message,
    signed,
)
from wire.audit import AuditBatch, AuditRecord
from wire.kafka_client import ClientSettings
from wire.shares import Share
from wire.signing import generate_signer
from wire.topics import TopicNames

NAMES = TopicNames("t")


class SinkContract(abc.ABC):
    """What every sink promises. Subclasses say how to make one and its messages."""

    @abc.abstractmethod
    def sink(self, engine: Engine) -> Sink[Any, Any]: ...

    @abc.abstractmethod
    def topic(self) -> str: ...

    @abc.abstractmethod
    def value(self, n: int) -> bytes:
        """A valid message value; different n, different records."""

    @abc.abstractmethod
    def rows(self, engine: Engine) -> int:
        """How many records the sink holds."""

    def batch(self, first: int, count: int, partition: int = 0) -> list[Message]:
        return [
            hub_message(self.topic(), n, self.value(n), partition, 1_700_000_000_000 + n)
            for n in range(first, first + count)
        ]

    def rejects(self, sink: Sink[Any, Any]) -> list[dict[str, Any]]:
        table = sink.rejects_table
        with sink.engine.connect() as conn:
            found = conn.execute(select(table).order_by(table.c.offset)).mappings()
            return [dict(row) for row in found]

    # ------------------------------------------------------------------ the contract

    def test_a_batch_is_applied_with_its_offsets(self, sql_engine: Engine) -> None:
        sink = self.sink(sql_engine)
        done = sink.apply(self.batch(0, 5) + self.batch(0, 3, partition=1))
        assert done.rejected == 0
        assert self.rows(sql_engine) == 5
        assert sink.stored_offsets() == {(self.topic(), 0): 5, (self.topic(), 1): 3}

    def test_a_replayed_batch_changes_nothing(self, sql_engine: Engine) -> None:
        sink = self.sink(sql_engine)
        sink.apply(self.batch(0, 6))
        before = self.rows(sql_engine)
        again = self.sink(sql_engine)  # as after a restart
        again.apply(self.batch(0, 6))
        assert self.rows(sql_engine) == before == 6
        assert again.stored_offsets() == {(self.topic(), 0): 6}

    def test_offsets_are_the_next_to_read_and_never_move_back(self, sql_engine: Engine) -> None:
        sink = self.sink(sql_engine)
        sink.apply(self.batch(10, 5))
        assert sink.stored_offsets() == {(self.topic(), 0): 15}
        sink.apply(self.batch(0, 4))  # an earlier batch delivered again
        assert sink.stored_offsets() == {(self.topic(), 0): 15}
        sink.forget_offset(self.topic(), 0)  # the topic was made anew
        sink.apply(self.batch(0, 2))
        assert sink.stored_offsets() == {(self.topic(), 0): 2}

    def test_unusable_messages_are_recorded_once_and_skipped(self, sql_engine: Engine) -> None:
        sink = self.sink(sql_engine)
        huge = b"[" * (1024 * 1024)
        poison = [
            hub_message(self.topic(), 0, b"not json"),
            hub_message(self.topic(), 1, None),
            hub_message(self.topic(), 2, huge),
            hub_message(self.topic(), 3, b'{"a": 1}'),
        ]
        done = sink.apply([*poison, *self.batch(4, 2)])
        assert done.rejected == 4
        assert self.rows(sql_engine) == 2
        assert sink.stored_offsets() == {(self.topic(), 0): 6}
        found = self.rejects(sink)
        assert [r["offset"] for r in found] == [0, 1, 2, 3]
        assert [r["code"] for r in found] == ["not_json", "empty", "too_large", "not_canonical"]
        assert all(r["message"] and len(r["excerpt"]) <= REJECT_EXCERPT_BYTES for r in found)
        assert found[2]["size"] == len(huge) and found[2]["excerpt"] == huge[:REJECT_EXCERPT_BYTES]
        sink.apply(poison)  # read again after a crash: not recorded twice
        assert len(self.rejects(sink)) == 4
        assert sink.reject_count() == 4

    def test_what_the_hub_did_not_sign_is_rejected_as_forged(self, sql_engine: Engine) -> None:
        sink = self.sink(sql_engine)
        valid = [self.value(n) for n in range(6)]
        unsigned = Message(self.topic(), 0, 0, 0, valid[0])
        by_another_key = signed(Message(self.topic(), 0, 1, 0, valid[1]), OTHER_SIGNER)
        key_id, signature = HUB_SIGNER.sign(valid[2])
        over_other_bytes = Message(
            self.topic(), 0, 2, 0, valid[2], (key_id, (signature[0], HUB_SIGNER.sign(b"x")[1][1]))
        )
        twice = Message(self.topic(), 0, 3, 0, valid[3], (key_id, key_id, signature))
        garbage = Message(self.topic(), 0, 4, 0, valid[4], (key_id, (signature[0], b"\x00" * 10)))
        forgeries = [unsigned, by_another_key, over_other_bytes, twice, garbage]
        done = sink.apply([*forgeries, hub_message(self.topic(), 5, valid[5])])
        assert (done.rejected, done.forged) == (5, 5)
        assert self.rows(sql_engine) == 1
        assert [r["code"] for r in self.rejects(sink)] == [
            "unsigned",
            "unknown_key",
            "bad_signature",
            "duplicate_header",
            "bad_header",
        ]
        assert sink.stored_offsets() == {(self.topic(), 0): 6}

    @pytest.mark.parametrize("threads", [1, 2, 3])
    def test_signatures_checked_in_threads_reject_the_same_messages(
        self, sql_engine: Engine, threads: int
    ) -> None:
        """A batch large enough to be checked in several threads rejects exactly the
        forgeries, wherever they fall in it, and keeps the rest in order."""
        sink = self.sink(sql_engine)
        sink.verify_threads = threads
        count = 3 * sink.PARALLEL_FROM + 7
        forged_at = {0, 5, count // 2, count // 2 + 1, count - 1}
        messages = [
            Message(self.topic(), 0, n, 0, self.value(n))
            if n in forged_at
            else hub_message(self.topic(), n, self.value(n))
            for n in range(count)
        ]
        done = sink.apply(messages)
        assert (done.rejected, done.forged) == (len(forged_at), len(forged_at))
        assert self.rows(sql_engine) == count - len(forged_at)
        assert [r["offset"] for r in self.rejects(sink)] == sorted(forged_at)

    def test_a_failed_batch_leaves_nothing_behind(self, sql_engine: Engine) -> None:
        sink = self.sink(sql_engine)
        sink.apply(self.batch(0, 2))
        original = sink.write

        def broken(conn: Connection, items: Sequence[tuple[Message, Any]]) -> Outcome:
            original(conn, items)  # the rows are written, then the database fails
            raise RuntimeError("the database went away")

        sink.write = broken  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            sink.apply([hub_message(self.topic(), 2, b"poison"), *self.batch(3, 3)])
        assert self.rows(sql_engine) == 2
        assert self.rejects(sink) == []
        assert sink.stored_offsets() == {(self.topic(), 0): 2}
        sink.write = original  # type: ignore[method-assign]
        recovered = self.sink(sql_engine)
        recovered.apply(self.batch(2, 4))
        assert self.rows(sql_engine) == 6


class TestLedgerSink(SinkContract):
    signer = generate_signer("hub-audit-1", "hub")

    def sink(self, engine: Engine) -> Ledger:
        return Ledger(
            engine,
            self.signer,
            every_records=1000,
            every_seconds=3600,
            names=NAMES,
            keys=HUB_KEYS,
        )

    def topic(self) -> str:
        return NAMES.audit_decisions

    def value(self, n: int) -> bytes:
        return audit_record(n).to_bytes()

    def rows(self, engine: Engine) -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(entries)).scalar() or 0)

    def test_its_tree_moves_only_when_a_batch_commits(self, sql_engine: Engine) -> None:
        ledger = self.sink(sql_engine)
        ledger.apply(self.batch(0, 3))
        root = ledger.frontier.root()
        original = ledger.write

        def broken(
            conn: Connection, items: Sequence[tuple[Message, tuple[AuditRecord, ...]]]
        ) -> Appended:
            original(conn, items)
            raise RuntimeError("the database went away")

        ledger.write = broken  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            ledger.apply(self.batch(3, 2))
        assert (ledger.size, ledger.frontier.root()) == (3, root)

    def test_a_batch_is_one_leaf_per_record_and_single_records_still_count(
        self, sql_engine: Engine
    ) -> None:
        """An AuditBatch (the enforcer's decisions for one raw event) adds a leaf
        per record, in order; records already sealed, one per message or in
        another batch, are replays; an unsigned batch seals nothing."""
        ledger = self.sink(sql_engine)
        ledger.apply(self.batch(0, 2))  # records 0 and 1, one per message
        value = AuditBatch(tuple(audit_record(n) for n in range(1, 5))).to_bytes()
        result = ledger.apply([hub_message(self.topic(), 2, value, 0, 1_700_000_000_002)])
        assert (result.added, result.replayed, ledger.size) == (3, 1, 5)
        with sql_engine.connect() as conn:
            ids = [
                row[0]
                for row in conn.execute(select(entries.c.decision_id).order_by(entries.c.seq))
            ]
        assert ids == [audit_record(n).decision_id for n in range(5)]
        forged = AuditBatch(tuple(audit_record(n) for n in range(5, 8))).to_bytes()
        unsigned = Message(self.topic(), 0, 3, 1_700_000_000_003, forged)
        assert ledger.apply([unsigned]).added == 0
        assert ledger.size == 5 and len(self.rejects(ledger)) == 1


class TestViewSink(SinkContract):
    def sink(self, engine: Engine) -> ViewBuilder:
        return ViewBuilder(engine, NAMES, keys=HUB_KEYS)

    def topic(self) -> str:
        return NAMES.shared("vrp", "incident")

    def value(self, n: int) -> bytes:
        share: Share = a_share(n)
        return share.to_bytes()

    def rows(self, engine: Engine) -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(shares)).scalar() or 0)

    def test_its_outcome_counts_shares_and_replays(self, sql_engine: Engine) -> None:
        builder = self.sink(sql_engine)
        first: Applied = builder.apply(self.batch(0, 4))
        again: Applied = builder.apply(self.batch(2, 4))
        assert (first.shares, first.replayed) == (4, 0)
        assert (again.shares, again.replayed) == (2, 2)


# ---------------------------------------------------------------------- on Kafka


def test_consume_resumes_and_notices_a_topic_made_anew_or_cut_short(
    kafka_admin: ClientSettings,
    grant_access: Callable[[TopicNames], Principals],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Any,
) -> None:
    """The loop on a real broker, reading as the ledger's principal (no consumer
    group: read and describe the audit topic only): it reads from the stored
    offsets; a topic deleted and made again is read from its beginning;
    messages deleted before they were read are reported. The topic is made,
    written and cut short by the stack's admin."""
    names = TopicNames(unique_namespace())
    ledger_kafka = grant_access(names).settings(LEDGER)
    topic = names.audit_decisions
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger = Ledger(engine, TestLedgerSink.signer, names=names, keys=HUB_KEYS)
    admin = KafkaAdminClient(**kafka_admin.kafka_python(), client_id="svdhub-tests")
    producer = KafkaProducer(**kafka_admin.kafka_python(), acks="all")

    def make_topic() -> None:
        for _ in range(100):  # a deleted topic takes a moment to go
            try:
                admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
                return
            except TopicAlreadyExistsError:
                time.sleep(0.1)
        raise AssertionError(f"{topic} could not be made again")

    def send(first: int, count: int) -> None:
        for n in range(first, first + count):
            value = audit_record(n).to_bytes()
            producer.send(topic, value, headers=HUB_SIGNER.sign(value))
        producer.flush()

    def run() -> None:
        consume(ledger, new_consumer(ledger_kafka, "svdhub-tests"), once=True)

    try:
        make_topic()
        send(0, 5)
        run()
        assert (ledger.size, ledger.stored_offsets()) == (5, {(topic, 0): 5})
        send(5, 2)
        run()  # resumes at offset 5
        assert (ledger.size, ledger.stored_offsets()) == (7, {(topic, 0): 7})

        admin.delete_topics([topic])
        make_topic()
        send(100, 3)
        with caplog.at_level(logging.WARNING, logger="hub.sink"):
            run()
        assert "the topic was made anew" in caplog.text
        assert (ledger.size, ledger.stored_offsets()) == (10, {(topic, 0): 3})

        send(200, 4)  # offsets 3..6; retention takes 3 and 4 before they are read
        admin.delete_records({TopicPartition(topic, 0): 5})
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="hub.sink"):
            run()
        assert "2 messages of" in caplog.text and "deleted by retention" in caplog.text
        assert (ledger.size, ledger.stored_offsets()) == (12, {(topic, 0): 7})
    finally:
        producer.close()
        admin.delete_topics([topic])
        admin.close()
        engine.dispose()


def unique_namespace() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


class PreparedPolls:
    """A consumer whose polls return prepared batches, and that records what was asked."""

    def __init__(self, *polls: int) -> None:
        self.polls = list(polls)
        self.asked: list[tuple[int, int | None]] = []
        self.offset = 0

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        self.asked.append((timeout_ms, max_records))
        count = min(self.polls.pop(0) if self.polls else 0, max_records or 1_000_000)
        records = [
            SimpleNamespace(
                topic="t", partition=0, offset=self.offset + n, timestamp=0, value=b"", headers=[]
            )
            for n in range(count)
        ]
        self.offset += count
        return {TopicPartition("t", 0): records} if records else {}


def test_a_batch_takes_what_was_fetched_up_to_the_limit_without_waiting() -> None:
    consumer = PreparedPolls(3, 3, 3, 3)
    batch = _poll(cast("KafkaConsumer", consumer), 8)
    assert [m.offset for m in batch] == list(range(8))
    assert consumer.asked == [(500, 8), (0, 5), (0, 2)]  # only the first poll waits

    consumer = PreparedPolls(3, 0, 3)
    assert len(_poll(cast("KafkaConsumer", consumer), 8)) == 3  # nothing more fetched: apply
    assert consumer.asked == [(500, 8), (0, 5)]

    assert _poll(cast("KafkaConsumer", PreparedPolls()), 8) == []


def test_a_batch_wait_has_the_broker_hold_a_fetch_that_long_for_more() -> None:
    """With a wait, the broker answers a fetch when the wait is over (or when far
    more has come than comes in a wait); with none, at the first message."""
    assert fetch_options(0) == {}
    assert fetch_options(0.4) == {}
    assert fetch_options(50) == {"fetch_min_bytes": WAIT_FOR_BYTES, "fetch_max_wait_ms": 50}
    assert fetch_options(199.6)["fetch_max_wait_ms"] == 200
    assert WAIT_FOR_BYTES >= 200 * 1024  # a second of shares at 200 events/s is ~200 KiB
