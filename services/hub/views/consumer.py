"""``svdhub views run``: the shared streams into the view tables.

Reads, by assignment (no consumer group), every partition of every
``svd.shared.<recipient>.<type>`` topic of the view recipients (every
recipient but ``public`` unless told otherwise), from the offsets stored with
the tables, and looks for new topics every ``discover_every`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from kafka import KafkaConsumer, TopicPartition

from hub.views.store import Applied, Message, ViewBuilder, stored_offsets
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
        discovered = 0.0
        while not should_stop():
            if time.monotonic() - discovered > discover_every:
                discovered = time.monotonic()
                parts = [
                    TopicPartition(t, p)
                    for t in view_topics(consumer, names, recipients)
                    for p in sorted(consumer.partitions_for_topic(t) or ())
                ]
                if set(parts) != set(assigned):
                    assigned = parts
                    consumer.assign(assigned)
                    stored = stored_offsets(builder.engine)
                    for tp in assigned:
                        if (tp.topic, tp.partition) in stored:
                            consumer.seek(tp, stored[(tp.topic, tp.partition)])
                        else:
                            consumer.seek_to_beginning(tp)
                    if once and not ends:
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
            if once and all(consumer.position(tp) >= end for tp, end in ends.items()):
                return
    finally:
        consumer.close()
