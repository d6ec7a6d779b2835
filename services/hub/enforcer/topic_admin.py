"""Create and list the hub's Kafka topics (the broker does not auto-create them).

Used by the enforcer at start and whenever it meets a topic it has not
produced to yet, so the first share to a new recipient never waits for a
missing topic. Creating a topic that exists is not an error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


class TopicAdmin:
    """Knows which topics exist; creates missing ones. Thread-safe."""

    def __init__(self, bootstrap: str, partitions: int = 3, client_id: str = "svdhub-hub") -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.client_id = client_id
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def _client(self) -> KafkaAdminClient:
        return KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self.client_id)

    def topics(self) -> set[str]:
        """Every topic on the broker (and remember them as existing)."""
        client = self._client()
        try:
            names = set(client.list_topics())
        finally:
            client.close()
        with self._lock:
            self._known |= names
        return names

    def ensure(self, names: Iterable[str]) -> list[str]:
        """Create those of ``names`` not known to exist; return the ones created."""
        with self._lock:
            wanted = sorted(set(names) - self._known)
        if not wanted:
            return []
        missing = sorted(set(wanted) - self.topics())
        created: list[str] = []
        if missing:
            client = self._client()
            try:
                for name in missing:
                    try:
                        client.create_topics(
                            [NewTopic(name, num_partitions=self.partitions, replication_factor=1)]
                        )
                        created.append(name)
                    except TopicAlreadyExistsError:
                        pass  # made by someone else meanwhile
            finally:
                client.close()
        with self._lock:
            self._known |= set(wanted)
        return created
