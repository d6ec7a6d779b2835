"""Publisher: idempotent, acknowledged produce to the authority's raw topic.

It creates the raw topic when it is missing, with the raw-topic configs of
:func:`wire.topics.topic_configs` (data kept indefinitely, or ``keep_days``),
never the broker's default retention. An existing topic is left as it is: the
hub's enforcer owns its settings and corrects them.

It uses kafka-python with ``acks=all`` and the idempotent producer, waits for
every message of a batch to be acknowledged, and can list the event ids that
reached the topic since given offsets (read from the ``event_id`` header, so
recovery never decodes a payload).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAlreadyExistsError

from wire.reading import read_to_end
from wire.topics import TopicKind, topic_configs

log = logging.getLogger(__name__)


class PublishError(Exception):
    """Kafka did not take a batch; nothing in it may be marked published."""


@dataclass(frozen=True)
class Message:
    key: bytes
    value: bytes
    event_id: str
    record_type: str


class Publisher:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        partitions: int,
        client_id: str,
        keep_days: int | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.client_id = client_id
        self.topic_configs = topic_configs(TopicKind.RAW, keep_days)
        _check_reachable(bootstrap)
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                client_id=client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=20,
                batch_size=256 * 1024,
                max_request_size=4 * 1024 * 1024,
                request_timeout_ms=30_000,
            )
        except KafkaError as exc:
            raise PublishError(f"cannot connect to Kafka at {bootstrap}: {exc}") from exc
        self._offsets: KafkaConsumer | None = None  # reused for end offsets, made on first use
        self._topic_partitions: list[TopicPartition] = []

    def ensure_topic(self) -> None:
        """Create the raw topic with the raw-topic configs, unless it exists."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self.client_id)
        spec = {
            "num_partitions": self.partitions,
            "replication_factor": 1,
            "configs": self.topic_configs,
        }
        try:
            admin.create_topics({self.topic: spec})
            log.info("created topic %s (%s)", self.topic, self.topic_configs)
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()

    def _partitions(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        found = consumer.partitions_for_topic(self.topic) or set()
        return [TopicPartition(self.topic, p) for p in sorted(found)]

    def end_offsets(self) -> dict[int, int]:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, client_id=self.client_id, enable_auto_commit=False
        )
        try:
            ends = consumer.end_offsets(self._partitions(consumer))
            return {tp.partition: int(offset) for tp, offset in ends.items()}
        finally:
            consumer.close()

    def send(self, messages: Sequence[Message]) -> None:
        """Produce every message and wait until Kafka has acknowledged all of them."""
        try:
            futures = [
                self._producer.send(
                    self.topic,
                    key=m.key,
                    value=m.value,
                    headers=[
                        ("event_id", m.event_id.encode()),
                        ("record_type", m.record_type.encode()),
                    ],
                )
                for m in messages
            ]
            self._producer.flush(timeout=120)
            for future in futures:
                future.get(timeout=60)
        except KafkaError as exc:
            raise PublishError(
                f"Kafka at {self.bootstrap} did not acknowledge the batch: {exc}"
            ) from exc

    def event_ids_since(self, start_offsets: dict[int, int]) -> set[str]:
        """Event ids of every message from ``start_offsets`` to the current end."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, client_id=self.client_id, enable_auto_commit=False
        )
        try:
            parts = self._partitions(consumer)
            start = {tp: start_offsets.get(tp.partition, 0) for tp in parts}
            found: set[str] = set()
            for record in read_to_end(consumer, parts, start):
                headers = dict(record.headers or [])
                if "event_id" in headers:
                    found.add(headers["event_id"].decode())
            return found
        finally:
            consumer.close()

    def close(self) -> None:
        if self._offsets is not None:
            self._offsets.close()
        self._producer.close(timeout=30)


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
