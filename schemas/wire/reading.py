"""Reading a topic to its end: the one loop every reader of "everything so far" uses.

Connectors read their own topic back to find what a crashed run already
published; the hub's reports, the demo and the tests read shared and audit
topics from the beginning. They all need the same thing: every message
from a starting offset (default: the beginning) up to the end offsets as
they were when the read began, then stop, even if more is being written.

The caller makes the consumer, so its client settings (addresses, security)
are the caller's; :func:`read_to_end` only assigns, seeks and polls.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def partitions(consumer: KafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of ``topics`` (a topic that does not exist has none)."""
    return [
        TopicPartition(topic, p)
        for topic in sorted(set(topics))
        for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]


def read_to_end(
    consumer: KafkaConsumer,
    parts: Iterable[TopicPartition],
    start: Mapping[TopicPartition, int] | None = None,
    poll_ms: int = 1000,
    stall_seconds: float = 60.0,
) -> Iterator[Any]:
    """Every message (kafka-python ``ConsumerRecord``) of ``parts`` from ``start``
    (per partition; the beginning where not given) up to the end offsets as they
    are now. Assigns the consumer to those partitions. Raises TimeoutError when
    no partition moves for ``stall_seconds`` (the broker stopped answering)."""
    todo = list(parts)
    if not todo:
        return
    ends = consumer.end_offsets(todo)
    begins = consumer.beginning_offsets(todo)
    first = {tp: max((start or {}).get(tp, 0), int(begins[tp])) for tp in todo}
    pending = {tp: int(end) for tp, end in ends.items() if end > first[tp]}
    if not pending:
        return
    consumer.assign(list(pending))
    for tp in pending:
        consumer.seek(tp, first[tp])
    moved = time.monotonic()
    while pending:
        for tp, records in consumer.poll(timeout_ms=poll_ms).items():
            for record in records:
                if record.offset < pending.get(tp, 0):
                    moved = time.monotonic()
                    yield record
        pending = {tp: end for tp, end in pending.items() if consumer.position(tp) < end}
        if pending and time.monotonic() - moved > stall_seconds:
            raise TimeoutError(
                f"no message from {', '.join(f'{tp.topic}[{tp.partition}]' for tp in pending)} "
                f"for {stall_seconds:.0f} s before reaching the end"
            )
