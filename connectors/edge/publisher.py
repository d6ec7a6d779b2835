"""Publisher: idempotent, acknowledged produce to the authority's raw topic.

The connector's principal (``connector-<authority>``) may write and describe
its own raw topics and nothing else: it cannot create a topic, read one, or
touch another authority's. The hub creates the raw topics (``svdhub access
apply``); a missing one is an error that says so.

It uses kafka-python with ``acks=all`` and the idempotent producer, and
sends each message to the partition its key gives (Kafka's own murmur2
partitioner, worked out here so the checkpoint can record it), then waits for
every acknowledgement. With the end offsets it can list (DESCRIBE), that is
enough to tell after a crash which messages of a batch landed, without
reading the topic (see :mod:`edge.checkpoint`). The end offsets are read
before every batch, so one consumer (made on first use, closed with the
publisher) serves them all; it never joins a group, reads no record and
commits nothing.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAuthorizationFailedError
from kafka.producer.future import FutureRecordMetadata

from wire.kafka_client import ClientSettings

log = logging.getLogger(__name__)


class PublishError(Exception):
    """Kafka did not take a batch; nothing in it may be marked published."""


@dataclass(frozen=True)
class Message:
    key: bytes
    value: bytes
    event_id: str
    record_type: str
    key_hash: int | None = None  # murmur2_words(key), when worked out already


class Publisher:
    def __init__(self, kafka: ClientSettings, topic: str, client_id: str) -> None:
        self.kafka = kafka
        self.bootstrap = kafka.bootstrap_servers
        self.topic = topic
        self.client_id = client_id
        _check_reachable(self.bootstrap)
        try:
            self._producer = KafkaProducer(
                **kafka.kafka_python(),
                client_id=client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=20,
                batch_size=256 * 1024,
                max_request_size=4 * 1024 * 1024,
                request_timeout_ms=30_000,
            )
        except KafkaError as exc:
            raise PublishError(
                f"cannot connect to Kafka at {self.bootstrap} as {kafka.principal}: {exc}"
            ) from exc
        self._partition_count = 0
        self._offsets: KafkaConsumer | None = None

    def ensure_topic(self) -> None:
        """Check that the raw topic exists and this principal may write it;
        raise PublishError saying what to ask the hub for when not."""
        try:
            found = self._producer.partitions_for(self.topic)
        except TopicAuthorizationFailedError as exc:
            raise PublishError(
                f"Kafka refused {self.kafka.principal} access to topic {self.topic}: "
                "ask the hub to run `svdhub access apply`"
            ) from exc
        except KafkaError as exc:
            raise PublishError(
                f"topic {self.topic} is not available on Kafka at {self.bootstrap}: {exc}; "
                "the hub creates raw topics (`svdhub access apply`)"
            ) from exc
        if not found:
            raise PublishError(
                f"topic {self.topic} does not exist on Kafka at {self.bootstrap}; "
                "the hub creates raw topics (`svdhub access apply`)"
            )
        self._partition_count = len(found)

    def partition(self, key: bytes, key_hash: int | None = None) -> int:
        """The partition of ``key``: Kafka's default partitioner (murmur2 of the
        key, as every Kafka client computes it). ``key_hash``: the key's
        :func:`murmur2_words`, when worked out already (in a worker)."""
        if not self._partition_count:
            self.ensure_topic()
        if key_hash is None:
            key_hash = murmur2_words(key)
        return (key_hash & 0x7FFFFFFF) % self._partition_count

    def end_offsets(self) -> dict[int, int]:
        """The topic's end offset per partition (needs only DESCRIBE), for the
        partitions :meth:`partition` sends to."""
        if not self._partition_count:
            self.ensure_topic()
        parts = [TopicPartition(self.topic, p) for p in range(self._partition_count)]
        try:
            if self._offsets is None:
                self._offsets = KafkaConsumer(
                    **self.kafka.kafka_python(),
                    client_id=self.client_id,
                    enable_auto_commit=False,
                )
            ends = self._offsets.end_offsets(parts)
        except KafkaError as exc:
            self._close_offsets()  # the next batch starts from a fresh connection
            raise PublishError(f"cannot read the end offsets of {self.topic}: {exc}") from exc
        return {tp.partition: int(offset) for tp, offset in ends.items()}

    def send(self, messages: Sequence[Message], partitions: Sequence[int] | None = None) -> None:
        """Produce every message and wait until Kafka has acknowledged all of them.
        ``partitions``: each message's :meth:`partition`, when already worked out."""
        self.wait(self.submit(messages, partitions))

    def submit(
        self, messages: Sequence[Message], partitions: Sequence[int] | None = None
    ) -> list[FutureRecordMetadata]:
        """Hand every message to the producer, which sends them in the
        background; :meth:`wait` for the acknowledgements."""
        if partitions is None:
            partitions = [self.partition(m.key) for m in messages]
        try:
            return [
                self._producer.send(
                    self.topic,
                    partition=partition,
                    key=m.key,
                    value=m.value,
                    headers=[
                        ("event_id", m.event_id.encode()),
                        ("record_type", m.record_type.encode()),
                    ],
                )
                for m, partition in zip(messages, partitions, strict=True)
            ]
        except KafkaError as exc:
            raise PublishError(f"Kafka at {self.bootstrap} did not take the batch: {exc}") from exc

    def wait(self, futures: Sequence[FutureRecordMetadata]) -> None:
        """Wait until Kafka has acknowledged every message :meth:`submit` gave."""
        try:
            self._producer.flush(timeout=120)
            for future in futures:
                future.get(timeout=60)
        except KafkaError as exc:
            raise PublishError(
                f"Kafka at {self.bootstrap} did not acknowledge the batch: {exc}"
            ) from exc

    def readers(self, group_prefix: str) -> dict[str, int]:
        """The consumer groups named ``group_prefix...`` (the hub's enforcer)
        that have read this topic: each with the events it has read, the sum
        of its committed offsets. Needs DESCRIBE on those groups; Kafka gives
        a group's offsets only for topics the principal may describe, so a
        connector sees the enforcer's position on its own topics alone.
        Raises KafkaError."""
        from kafka import KafkaAdminClient  # noqa: PLC0415 - only at the end of a run

        if not self._partition_count:
            self.ensure_topic()
        parts = [TopicPartition(self.topic, p) for p in range(self._partition_count)]
        admin = KafkaAdminClient(**self.kafka.kafka_python(), client_id=self.client_id)
        try:
            groups = sorted(
                str(group["group_id"])
                for group in admin.list_groups()
                if str(group["group_id"]).startswith(group_prefix)
            )
            found = admin.list_group_offsets({group: parts for group in groups}) if groups else {}
        finally:
            admin.close()
        read = {}
        for group, offsets in found.items():
            committed = [meta.offset for meta in offsets.values() if meta.offset >= 0]
            if committed:
                read[group] = sum(committed)
        return read

    def close(self) -> None:
        try:
            self._producer.close(timeout=30)
        finally:
            self._close_offsets()

    def _close_offsets(self) -> None:
        consumer, self._offsets = self._offsets, None
        if consumer is not None:
            consumer.close(autocommit=False)


_MASK = 0xFFFFFFFF
_M = 0x5BD1E995


def murmur2_words(data: bytes) -> int:
    """Kafka's murmur2 of ``data``, the same value as kafka-python's
    ``murmur2`` (Java's ``Utils.murmur2``), reading four bytes at a time."""
    length = len(data)
    h = 0x9747B28C ^ length
    for word in struct.unpack_from(f"<{length // 4}I", data):
        k = (word * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    if tail:
        rest = data[length - tail :]
        if tail >= 3:
            h ^= rest[2] << 16
        if tail >= 2:
            h ^= rest[1] << 8
        h = ((h ^ rest[0]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


def _check_reachable(bootstrap: str, timeout: float = 3.0) -> None:
    """Fail fast, with the reason, when no bootstrap server accepts a connection
    (the Kafka client would otherwise retry for half a minute)."""
    reasons = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "localhost", int(port)), timeout=timeout):
                return
        except (OSError, ValueError) as exc:
            reasons.append(f"{server.strip()}: {exc}")
    raise PublishError(f"cannot connect to Kafka at {bootstrap} ({'; '.join(reasons)})")
