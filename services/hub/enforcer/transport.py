"""faust's aiokafka transport with a short fetch wait, and topics added while it runs.

faust's aiokafka driver builds its worker consumer with
``fetch_max_wait_ms=1500`` and no setting to change it. aiokafka keeps one
fetch request in flight per broker, and leaves out of it the partitions whose
records are still waiting to be consumed. The enforcer subscribes to every
raw topic (7 authorities x 4 event types x 3 partitions, of which a few carry
data at any time): once the agent falls a little behind, the next fetch names
only idle partitions, and the broker holds it for the whole wait while new
records queue on the busy ones. Each such fetch adds up to 1.5 s to the
latency of everything behind it.

A fetch returns as soon as any of its partitions has a record
(``fetch.min.bytes`` is 1), so a short wait costs nothing while data flows;
when every partition is idle it costs one small request per broker every
``fetch_wait_ms``. The enforcer uses 50 ms (``svdhub enforcer run
--fetch-wait-ms``).

The change is the smallest one faust allows: a consumer thread whose
``_create_worker_consumer`` sets the wait on the aiokafka consumer it builds
(aiokafka hands it to its fetcher at ``start()``), a consumer and a transport
that use that thread, and an app that uses that transport. Everything else is
faust's own code. ``tests/hub/enforcer/test_transport.py`` checks that the
wait reaches aiokafka's fetcher, so a faust or aiokafka upgrade that moves it
fails a test instead of bringing the stalls back.

:meth:`App.consume_more` adds topics to a running app (a new authority's raw
topics), which faust has no public call for; the enforcer's test of it
(``test_a_raw_topic_created_while_the_enforcer_runs_is_consumed``) runs it on
the real broker.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TopicT, TransportT

#: The default wait, in milliseconds, for a fetch with no records to return.
FETCH_WAIT_MS = 50

#: Seconds faust's conductor waits, after a change to what the app consumes,
#: before it subscribes again (its own default is 45, to gather the changes
#: of agents restarting together; the enforcer adds topics one check at a time).
RESUBSCRIBE_WAIT = 1.0


class ShortWaitConsumerThread(driver.AIOKafkaConsumerThread):
    """faust's consumer thread, building its worker consumer with the app's fetch wait."""

    def _create_worker_consumer(self, transport: driver.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        wait = getattr(self.app, "fetch_wait_ms", FETCH_WAIT_MS)
        # aiokafka keeps the argument here and passes it to its Fetcher in start().
        consumer._fetch_max_wait_ms = int(wait)
        return consumer


class ShortWaitConsumer(driver.Consumer):
    def _new_consumer_thread(self) -> ShortWaitConsumerThread:
        return ShortWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)


class ShortWaitTransport(driver.Transport):
    Consumer: ClassVar[Any] = ShortWaitConsumer


class App(faust.App):
    """A faust app whose consumer waits at most ``fetch_wait_ms`` for an empty fetch."""

    def __init__(self, *args: Any, fetch_wait_ms: int = FETCH_WAIT_MS, **kwargs: Any) -> None:
        if fetch_wait_ms < 1:
            raise ValueError(f"fetch_wait_ms must be at least 1, not {fetch_wait_ms}")
        self.fetch_wait_ms = fetch_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return ShortWaitTransport(self.conf.broker_consumer, self)

    def consume_more(self, channel: TopicT, topics: Iterable[str]) -> list[str]:
        """Add ``topics`` to a running app's ``channel`` (the topic its agent
        reads) and have the consumer subscribe to them; return those that were
        new. faust subscribes by a list of names, fixed when the app starts;
        an agent reads a clone of its channel, which the conductor holds, so
        the names go on every channel the conductor holds that reads any of
        the same topics. The conductor subscribes again when told a channel
        changed, after :data:`RESUBSCRIBE_WAIT` seconds, and the rebalance
        that follows assigns the new topics' partitions to the group, from
        their committed offsets (the earliest for a topic never read)."""
        new = [topic for topic in topics if topic not in channel.topics]
        if not new:
            return []
        known = set(channel.topics)
        conductor: Any = self.topics
        for held in list(conductor):
            if known & set(held.topics) and held is not channel:
                held.topics = [*held.topics, *(t for t in new if t not in held.topics)]
        channel.topics = [*channel.topics, *new]
        conductor._resubscribe_sleep_lock_seconds = RESUBSCRIBE_WAIT
        conductor._flag_changes()
        return new


def fetcher_wait(app: faust.App) -> int | None:
    """The fetch wait aiokafka's fetcher uses in a started ``app`` (None before it starts)."""
    thread = getattr(app.consumer, "_thread", None)
    consumer = getattr(thread, "_consumer", None)
    fetcher = getattr(consumer, "_fetcher", None)
    wait = getattr(fetcher, "_fetch_max_wait_ms", None)
    return int(wait) if wait is not None else None


__all__ = ["FETCH_WAIT_MS", "RESUBSCRIBE_WAIT", "App", "fetcher_wait"]
