"""Create the hub's Kafka topics and keep their settings (the broker does not auto-create them).

Used by the enforcer at start, whenever a new policy revision is in force, and
whenever it meets a topic it has not produced to yet, so the first share to a
new recipient never waits for a missing topic. Every topic gets the configs
its :class:`~wire.topics.TopicPlan` gives (retention above all, see
:func:`wire.topics.topic_configs`):

* a missing topic is created with them (creating a topic that exists
  meanwhile is not an error);
* an existing topic's configs are described, and those that differ are altered
  with IncrementalAlterConfigs, which changes only the configs it names (the
  older AlterConfigs resets every config it does not name to the broker's
  default). Each change is logged, old value and new.

A topic the plan does not know (not one of the hub's, in its namespace) is
created with the broker's defaults and otherwise left alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import kafka.errors
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from wire.kafka_client import ClientSettings
from wire.topics import TopicPlan

log = logging.getLogger("svdhub.enforcer.topics")

#: How long to wait for the broker to show configs it has accepted.
CONFIG_WAIT_SECONDS = 10.0


class TopicAdminError(Exception):
    """The broker refused to change a topic's configs; the message names the topic."""


@dataclass(frozen=True)
class TopicChange:
    """What :meth:`TopicAdmin.ensure` did to one topic: created it with
    ``configs``, or altered them. ``configs`` maps each config set to
    ``(before, after)``; ``before`` is None for a topic just created."""

    topic: str
    created: bool
    configs: Mapping[str, tuple[str | None, str]]

    def __str__(self) -> str:
        if self.created:
            settings = ", ".join(f"{k}={after}" for k, (_, after) in sorted(self.configs.items()))
            return f"created topic {self.topic} ({settings or 'broker defaults'})"
        changed = ", ".join(
            f"{k} {before} -> {after}" for k, (before, after) in sorted(self.configs.items())
        )
        return f"corrected topic {self.topic}: {changed}"


class TopicAdmin:
    """Creates missing topics and corrects the configs of existing ones. Thread-safe.

    ``plan`` gives each topic's configs; the enforcer replaces it when a new
    policy revision is in force, then calls :meth:`ensure` again. Without a
    plan, topics are created with the broker's defaults and never altered."""

    def __init__(
        self,
        kafka: ClientSettings,
        partitions: int = 3,
        client_id: str = "svdhub-hub",
        plan: TopicPlan | None = None,
    ) -> None:
        self.kafka = kafka
        self.partitions = partitions
        self.client_id = client_id
        self.plan = plan
        # The configs each topic is known to have (None: whatever the broker gave it).
        self._settled: dict[str, dict[str, str] | None] = {}
        self._lock = threading.Lock()

    def _client(self) -> KafkaAdminClient:
        return KafkaAdminClient(**self.kafka.kafka_python(), client_id=self.client_id)

    def topics(self) -> set[str]:
        """Every topic on the broker."""
        client = self._client()
        try:
            return set(client.list_topics())
        finally:
            client.close()

    def ensure(self, names: Iterable[str]) -> list[TopicChange]:
        """Give each of ``names`` the configs of the current plan: create it if
        missing, alter the configs that differ if not; return what changed.

        Topics already given the same configs by this admin are not looked at
        again, so calling it for every topic is cheap. Raises TopicAdminError
        when the broker refuses a change, and the client's KafkaError when it
        cannot be reached; a topic not settled then is tried again next time."""
        plan = self.plan
        wanted = {name: plan.configs(name) if plan else None for name in set(names)}
        with self._lock:
            todo = {
                name: configs
                for name, configs in wanted.items()
                if name not in self._settled or self._settled[name] != configs
            }
        if not todo:
            return []
        existing = self.topics()
        client = self._client()
        try:
            created = self._create(client, {n: c for n, c in todo.items() if n not in existing})
            changes = [
                TopicChange(name, True, {k: (None, v) for k, v in (todo[name] or {}).items()})
                for name in created
            ]
            to_check = {n: c for n, c in todo.items() if c and n not in created}
            changes += self._correct(client, to_check)
        finally:
            client.close()
        for change in changes:
            log.info("%s", change)
        with self._lock:
            self._settled.update(todo)
        return changes

    def correct(self, names: Iterable[str], configs: Mapping[str, str]) -> list[TopicChange]:
        """Give the existing topics ``names`` just ``configs``, altering those
        that differ and leaving every other config as it is, whatever the
        plan says; return what changed. ``svdhub access apply`` uses it to
        give raw topics made before :data:`wire.topics.BROKER_TIME` the
        broker's time without touching the retention the enforcer gave them.
        Raises as :meth:`ensure` does."""
        wanted = {name: dict(configs) for name in set(names)}
        if not wanted or not configs:
            return []
        client = self._client()
        try:
            changes = self._correct(client, wanted)
        finally:
            client.close()
        for change in changes:
            log.info("%s", change)
        return changes

    def _create(
        self, client: KafkaAdminClient, missing: dict[str, dict[str, str] | None]
    ) -> list[str]:
        """Create the ``missing`` topics, each with its configs, and wait until the
        broker serves them; return those created (not those someone else
        created meanwhile)."""
        if not missing:
            return []
        specs = {
            name: {
                "num_partitions": self.partitions,
                "replication_factor": 1,
                "configs": dict(configs or {}),
            }
            for name, configs in missing.items()
        }
        answer = client.create_topics(specs, raise_errors=False)
        created, refused = [], {}
        for topic in answer["topics"]:
            error = kafka.errors.for_code(topic["error_code"])
            if error is kafka.errors.NoError:
                created.append(topic["name"])
            elif error is not kafka.errors.TopicAlreadyExistsError:
                refused[topic["name"]] = topic.get("error_message") or error.__name__
        if refused:
            raise TopicAdminError(
                "the broker did not create "
                + "; ".join(f"{topic}: {reason}" for topic, reason in sorted(refused.items()))
            )
        # A new topic reaches the broker's metadata a moment after the
        # controller has made it; until then it cannot be described or used.
        client.wait_for_topics(list(missing))
        return sorted(created)

    def _correct(
        self, client: KafkaAdminClient, wanted: dict[str, dict[str, str]]
    ) -> list[TopicChange]:
        """Alter the configs of existing topics that differ from ``wanted``."""
        if not wanted:
            return []
        described = self._describe(client, wanted)
        changes = []
        for name, configs in sorted(wanted.items()):
            current = described[name]
            differ = {
                key: (current.get(key), value)
                for key, value in configs.items()
                if current.get(key) != value
            }
            if differ:
                changes.append(TopicChange(name, False, differ))
        if not changes:
            return []
        result = client.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    change.topic,
                    {key: after for key, (_, after) in change.configs.items()},
                )
                for change in changes
            ],
            incremental=True,
        ).get("topic", {})
        refused = {
            change.topic: result.get(change.topic, "no answer")
            for change in changes
            if result.get(change.topic) != "OK"
        }
        if refused:
            raise TopicAdminError(
                "the broker did not change the configs of "
                + "; ".join(f"{topic}: {reason}" for topic, reason in sorted(refused.items()))
            )
        # The broker applies a change a moment after accepting it: wait, so that
        # whoever looks next (another enforcer, a test) sees the new values.
        altered = {change.topic: wanted[change.topic] for change in changes}
        deadline = time.monotonic() + CONFIG_WAIT_SECONDS
        while any(
            described[name].get(key) != value
            for name, configs in altered.items()
            for key, value in configs.items()
        ):
            if time.monotonic() > deadline:
                raise TopicAdminError(
                    f"the broker accepted new configs for {', '.join(sorted(altered))} "
                    f"but does not show them after {CONFIG_WAIT_SECONDS} s"
                )
            time.sleep(0.1)
            described = self._describe(client, altered)
        return changes

    @staticmethod
    def _describe(
        client: KafkaAdminClient, wanted: dict[str, dict[str, str]]
    ) -> dict[str, dict[str, str | None]]:
        """The current values of the configs named in ``wanted``, by topic."""
        described = client.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, name, sorted(configs))
                for name, configs in wanted.items()
            ],
            config_filter="all",
        ).get("topic", {})
        found = {}
        for name in wanted:
            current = {key: entry.get("value") for key, entry in described.get(name, {}).items()}
            if not current:  # the client leaves out the broker's error
                raise TopicAdminError(f"the broker did not describe the configs of {name}")
            found[name] = current
        return found
