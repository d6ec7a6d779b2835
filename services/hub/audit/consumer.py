"""``svdhub audit run``: the audit topic into the ledger.

A kafka-python consumer reads every partition of ``svd.audit.decisions`` by
assignment (no consumer group): the ledger stores the next offset of each
partition in the same transaction as the rows, so after a crash it resumes
exactly where its last transaction ended, and a replayed message is skipped
by its decision_id. While idle it still issues a checkpoint when one is due.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition

from hub.audit.ledger import Appended, Ledger, Message

log = logging.getLogger(__name__)


def consume(
    ledger: Ledger,
    bootstrap: str,
    topic: str,
    *,
    once: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[Appended], None] = lambda _: None,
    wait_for_topic: float = 60.0,
) -> None:
    """Append until stopped; with ``once``, until the end of the topic as it was at start."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="svdhub-audit",
        enable_auto_commit=False,
        max_poll_records=1000,
    )
    try:
        parts = _partitions(consumer, topic, wait_for_topic)
        consumer.assign(parts)
        stored = ledger.offsets()
        beginning = [tp for tp in parts if (tp.topic, tp.partition) not in stored]
        if beginning:
            consumer.seek_to_beginning(*beginning)
        for tp in parts:
            if (tp.topic, tp.partition) in stored:
                consumer.seek(tp, stored[(tp.topic, tp.partition)])
        ends = consumer.end_offsets(parts) if once else {}
        while not should_stop():
            polled = consumer.poll(timeout_ms=500)
            batch = [
                Message(m.topic, m.partition, m.offset, m.value)
                for records in polled.values()
                for m in records
            ]
            if batch:
                on_batch(ledger.append(batch))
            elif (checkpoint := ledger.checkpoint(force=False)) is not None:
                on_batch(Appended(checkpoint=checkpoint))
            if once and all(consumer.position(tp) >= end for tp, end in ends.items()):
                break
        if (checkpoint := ledger.checkpoint()) is not None:
            on_batch(Appended(checkpoint=checkpoint))
    finally:
        consumer.close()


def _partitions(consumer: KafkaConsumer, topic: str, wait: float) -> list[TopicPartition]:
    deadline = time.monotonic() + wait
    while True:
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"topic {topic} does not exist; start the enforcer (it creates it) first"
            )
        log.info("waiting for topic %s", topic)
        time.sleep(1)
