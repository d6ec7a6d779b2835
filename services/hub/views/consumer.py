"""``svdhub views run``: the shared streams into the view tables.

Reads, by assignment (no consumer group), every partition of every
``svd.shared.<recipient>.<type>`` topic of the view recipients (every
recipient but ``public`` unless told otherwise), from the offsets stored with
the tables, and looks for new topics every ``discover_every`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from kafka import KafkaConsumer, TopicPartition

from hub.views.store import Applied, Message, ViewBuilder, beat, stored_offsets
from wire.topics import TopicNameError, TopicNames


def view_topics(
    consumer: KafkaConsumer, names: TopicNames, recipients: Collection[str] | None
) -> list[str]:
    found = []
    for topic in consumer.topics():
        try:
            recipient, _ = names.parse_shared(topic)
        except TopicNameError:
            continue
        if (recipients is None and recipient != "public") or (
            recipients is not None and recipient in recipients
        ):
            found.append(topic)
    return sorted(found)


def consume(
    builder: ViewBuilder,
    bootstrap: str,
    names: TopicNames,
    *,
    recipients: Collection[str] | None = None,
    once: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[Applied], None] = lambda _: None,
    discover_every: float = 10.0,
) -> None:
    """Apply shares until stopped; with ``once``, until the ends seen at start."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="svdhub-views",
        enable_auto_commit=False,
        max_poll_records=1000,
    )
    assigned: list[TopicPartition] = []
    try:
        ends: dict[TopicPartition, int] = {}
        discovered = beaten = 0.0
        while not should_stop():
            if time.monotonic() - discovered > discover_every:
                discovered = time.monotonic()
                assigned = _reassign(consumer, builder, names, recipients, assigned)
                if once and not ends and assigned:
                    ends = consumer.end_offsets(assigned)
            if not assigned:
                if once:
                    return
                time.sleep(1)
                continue
            polled = consumer.poll(timeout_ms=500)
            batch = [
                Message(m.topic, m.partition, m.offset, m.timestamp, m.value)
                for records in polled.values()
                for m in records
            ]
            if batch:
                on_batch(builder.apply(batch))
            if time.monotonic() - beaten > 2.0:  # caught up with what was read
                beat(builder.engine, datetime.now(UTC))
                beaten = time.monotonic()
            if once and all(consumer.position(tp) >= end for tp, end in ends.items()):
                beat(builder.engine, datetime.now(UTC))
                return
    finally:
        consumer.close()


def _reassign(
    consumer: KafkaConsumer,
    builder: ViewBuilder,
    names: TopicNames,
    recipients: Collection[str] | None,
    assigned: list[TopicPartition],
) -> list[TopicPartition]:
    """Assign every partition of the view topics, from the stored offsets."""
    parts = [
        TopicPartition(t, p)
        for t in view_topics(consumer, names, recipients)
        for p in sorted(consumer.partitions_for_topic(t) or ())
    ]
    if set(parts) == set(assigned):
        return assigned
    consumer.assign(parts)
    stored = stored_offsets(builder.engine)
    for tp in parts:
        if (tp.topic, tp.partition) in stored:
            consumer.seek(tp, stored[(tp.topic, tp.partition)])
        else:
            consumer.seek_to_beginning(tp)
    return parts
