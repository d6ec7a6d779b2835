"""Every Kafka topic name the hub uses, spelt once.

* ``svd.raw.<authority>.<event_type>``: written only by that authority's connector.
* ``svd.shared.<recipient>.<event_type>``: written by the enforcer, read by the recipient.
* ``svd.audit.decisions``, ``svd.quarantine``, ``svd.policy.revisions``: hub-internal.

Authority and recipient ids are short lower-case names (``wmp``, ``uhb-ed``,
``csp-birmingham``): letters, digits and hyphens, starting with a letter or
digit. Event types are the lower-case envelope event types.

A deployment may put every name under a namespace (``TopicNames``), so that
several hubs (staging beside production, or parallel test runs) share one
Kafka cluster: with namespace ``staging`` the raw topics are
``staging.svd.raw.<authority>.<event_type>``. Connectors and the hub read it
from ``SVDHUB_TOPIC_NAMESPACE``; unset, names are exactly as above.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from wire.schemas import PAYLOADS

AUDIT_DECISIONS = "svd.audit.decisions"
QUARANTINE = "svd.quarantine"
POLICY_REVISIONS = "svd.policy.revisions"

RAW_PREFIX = "svd.raw."
SHARED_PREFIX = "svd.shared."

PARTY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
EVENT_TYPES = tuple(event_type.lower() for event_type in PAYLOADS)


class TopicNameError(ValueError):
    """An authority, recipient or event type that cannot form a topic name."""


def party_id(value: str, role: str = "party") -> str:
    """Return ``value`` if it is a valid authority or recipient id, else raise."""
    if not PARTY_ID.fullmatch(value):
        raise TopicNameError(
            f"{role} id {value!r} must be 1-40 lower-case letters, digits or "
            "hyphens, starting with a letter or digit"
        )
    return value


def event_type(value: str) -> str:
    """Normalise ``INCIDENT``/``incident`` to the topic form, else raise."""
    lowered = value.lower()
    if lowered not in EVENT_TYPES:
        raise TopicNameError(f"event type {value!r} is not one of {', '.join(EVENT_TYPES)}")
    return lowered


def raw_topic(authority: str, kind: str) -> str:
    """``svd.raw.<authority>.<event_type>``: the topic an authority's connector writes."""
    return f"{RAW_PREFIX}{party_id(authority, 'authority')}.{event_type(kind)}"


def shared_topic(recipient: str, kind: str) -> str:
    """``svd.shared.<recipient>.<event_type>``: the enforcer's output for one recipient."""
    return f"{SHARED_PREFIX}{party_id(recipient, 'recipient')}.{event_type(kind)}"


def parse_raw_topic(topic: str) -> tuple[str, str]:
    """``(authority, event_type)`` of a raw topic name, else raise."""
    return _parse(topic, RAW_PREFIX, "authority")


def parse_shared_topic(topic: str) -> tuple[str, str]:
    """``(recipient, event_type)`` of a shared topic name, else raise."""
    return _parse(topic, SHARED_PREFIX, "recipient")


def _parse(topic: str, prefix: str, role: str) -> tuple[str, str]:
    if not topic.startswith(prefix) or topic.count(".") != 3:
        raise TopicNameError(f"{topic!r} is not a {prefix}<{role}>.<event_type> topic")
    party, kind = topic.removeprefix(prefix).split(".")
    return party_id(party, role), event_type(kind)


NAMESPACE_ENV = "SVDHUB_TOPIC_NAMESPACE"


@dataclass(frozen=True)
class TopicNames:
    """Every topic name, under an optional namespace (empty: none)."""

    namespace: str = ""

    def __post_init__(self) -> None:
        if self.namespace and not PARTY_ID.fullmatch(self.namespace):
            raise TopicNameError(
                f"topic namespace {self.namespace!r} must be 1-40 lower-case letters, "
                "digits or hyphens, starting with a letter or digit"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TopicNames:
        """The names under ``$SVDHUB_TOPIC_NAMESPACE`` (none when unset or empty)."""
        return cls((os.environ if environ is None else environ).get(NAMESPACE_ENV, ""))

    @property
    def prefix(self) -> str:
        return f"{self.namespace}." if self.namespace else ""

    @property
    def audit_decisions(self) -> str:
        return self.prefix + AUDIT_DECISIONS

    @property
    def quarantine(self) -> str:
        return self.prefix + QUARANTINE

    @property
    def policy_revisions(self) -> str:
        return self.prefix + POLICY_REVISIONS

    def raw(self, authority: str, kind: str) -> str:
        return self.prefix + raw_topic(authority, kind)

    def shared(self, recipient: str, kind: str) -> str:
        return self.prefix + shared_topic(recipient, kind)

    def is_raw(self, topic: str) -> bool:
        """Whether ``topic`` is a well-formed raw topic in this namespace."""
        try:
            self.parse_raw(topic)
        except TopicNameError:
            return False
        return True

    def parse_raw(self, topic: str) -> tuple[str, str]:
        """``(authority, event_type)`` of a raw topic in this namespace, else raise."""
        return parse_raw_topic(self._strip(topic))

    def parse_shared(self, topic: str) -> tuple[str, str]:
        """``(recipient, event_type)`` of a shared topic in this namespace, else raise."""
        return parse_shared_topic(self._strip(topic))

    def _strip(self, topic: str) -> str:
        if not topic.startswith(self.prefix):
            raise TopicNameError(f"{topic!r} is not in topic namespace {self.namespace!r}")
        return topic.removeprefix(self.prefix)
