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

How long each topic keeps data is decided here too, never by the broker's
default (7 days), because the ledger, the views and any replay rebuild from
the topics (:func:`topic_configs`, :class:`TopicPlan`):

* raw, audit, quarantine and policy-revisions topics keep everything
  indefinitely, or for the period the service that creates them is given
  (``--keep-days`` / ``SVDHUB_KEEP_DAYS``);
* a shared topic keeps what it holds for the longest ``retention_days`` of the
  agreements that name its recipient and its event type, and a shared topic
  no agreement covers for :data:`UNCOVERED_SHARED_DAYS` (1 day).
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wire.schemas import PAYLOADS

AUDIT_DECISIONS = "svd.audit.decisions"
QUARANTINE = "svd.quarantine"
POLICY_REVISIONS = "svd.policy.revisions"

#: The enforcer's consumer groups all start with this (``svdhub enforcer run
#: --group``); a connector may see those groups' positions on its own topics.
ENFORCER_GROUP = "svdhub-enforcer"

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

    def kind(self, topic: str) -> TopicKind | None:
        """What ``topic`` is in this namespace; None when it is not one of the hub's topics."""
        internal = {
            self.audit_decisions: TopicKind.AUDIT,
            self.quarantine: TopicKind.QUARANTINE,
            self.policy_revisions: TopicKind.POLICY_REVISIONS,
        }
        if topic in internal:
            return internal[topic]
        for kind, parse in ((TopicKind.RAW, self.parse_raw), (TopicKind.SHARED, self.parse_shared)):
            try:
                parse(topic)
            except TopicNameError:
                continue
            return kind
        return None


# ------------------------------------------------------------------ retention

#: Read by the services that create raw and hub-internal topics (the enforcer
#: and the connectors): a number of days, or unset to keep data indefinitely.
KEEP_DAYS_ENV = "SVDHUB_KEEP_DAYS"

#: How long a shared topic that no agreement covers keeps data. Nothing is
#: shared to such a topic under the policy in force; what it still holds was
#: shared under an agreement since withdrawn (or narrowed), so it is kept just
#: long enough for the recipient's subscribers to finish reading it.
UNCOVERED_SHARED_DAYS = 1

MS_PER_DAY = 86_400_000

#: Kafka deletes whole log segments, and never the one being written, so data
#: can outlive ``retention.ms`` by up to ``segment.ms``. A topic with a finite
#: retention rolls its segments at least this often (the broker's default),
#: and at least once per retention period.
MAX_SEGMENT_MS = 7 * MS_PER_DAY

#: Raw topics take their messages' timestamps from the broker, as it appends
#: each one, never from the producer: that time is when the hub received the
#: event, and it decides whether a revoked key still vouches for it
#: (:meth:`wire.signing.Verifier.verify`). A producer could claim any time.
BROKER_TIME = {"message.timestamp.type": "LogAppendTime"}


class TopicKind(enum.StrEnum):
    """The hub's kinds of topic; each kind has its own retention rule."""

    RAW = "raw"
    SHARED = "shared"
    AUDIT = "audit"
    QUARANTINE = "quarantine"
    POLICY_REVISIONS = "policy-revisions"


class TopicConfigError(ValueError):
    """A retention that cannot be a topic's, or agreements of the wrong shape."""


def _days(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TopicConfigError(f"{what} must be a whole number of days, at least 1: {value!r}")
    return value


def topic_configs(kind: TopicKind, retention_days: int | None) -> dict[str, str]:
    """The Kafka topic configs for a topic of ``kind`` that keeps data ``retention_days``.

    ``retention_days`` None keeps data indefinitely (``retention.ms`` and
    ``retention.bytes`` -1); a shared topic always has a period (its
    agreements', or :data:`UNCOVERED_SHARED_DAYS`), so None for
    :attr:`TopicKind.SHARED` raises TopicConfigError. Every topic deletes
    (never compacts: compaction would keep only each key's last event, and
    keys are subject pseudonyms) and has no size limit. A finite retention
    also sets ``segment.ms`` (see :data:`MAX_SEGMENT_MS`). A raw topic's
    messages carry the broker's time (:data:`BROKER_TIME`).

    The creators of topics (the enforcer's TopicAdmin, a connector's
    publisher) pass the result as the topic's configs on creation; the
    enforcer also compares it with an existing topic's and alters what differs.
    """
    kind = TopicKind(kind)
    if retention_days is None:
        if kind is TopicKind.SHARED:
            raise TopicConfigError(
                "a shared topic keeps data for a period (its agreements' retention_days)"
            )
        retention_ms = -1
    else:
        retention_ms = _days(retention_days, f"the retention of a {kind} topic") * MS_PER_DAY
    configs = {
        "cleanup.policy": "delete",
        "retention.ms": str(retention_ms),
        "retention.bytes": "-1",
    }
    if retention_ms > 0:
        configs["segment.ms"] = str(min(retention_ms, MAX_SEGMENT_MS))
    if kind is TopicKind.RAW:
        configs |= BROKER_TIME
    return configs


def shared_retention(agreements: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """``(recipient, event_type) -> days``: the longest ``retention_days`` of the
    agreements that name that recipient and that event type.

    ``agreements`` are as in the policy bundle (``data.svd.agreements``
    values): each with ``recipients``, ``event_types`` (``INCIDENT`` or
    ``incident``) and ``retention_days``. A pair no agreement names is absent
    (its topic keeps data :data:`UNCOVERED_SHARED_DAYS`). Raises
    TopicConfigError for an agreement of the wrong shape."""
    longest: dict[tuple[str, str], int] = {}
    for agreement in agreements:
        name = agreement.get("id", "?") if isinstance(agreement, Mapping) else "?"
        try:
            recipients = agreement["recipients"]
            kinds = agreement["event_types"]
            days = _days(agreement["retention_days"], f"agreement {name}: retention_days")
            if not all(
                isinstance(value, list) and all(isinstance(item, str) for item in value)
                for value in (recipients, kinds)
            ):
                raise TypeError("recipients and event_types must be lists of strings")
            pairs = [
                (party_id(recipient, "recipient"), event_type(kind))
                for recipient in recipients
                for kind in kinds
            ]
        except (KeyError, TypeError, TopicNameError) as exc:
            raise TopicConfigError(f"agreement {name}: {exc}") from exc
        for pair in pairs:
            longest[pair] = max(days, longest.get(pair, 0))
    return longest


@dataclass(frozen=True)
class TopicPlan:
    """The configs every hub topic of one namespace should have.

    Built by the enforcer from the policy bundle in force (and rebuilt when a
    new revision is), and by a connector for its raw topic. ``keep_days``
    applies to raw and hub-internal topics (None: indefinitely);
    ``shared_days`` is :func:`shared_retention` of the agreements."""

    names: TopicNames = field(default_factory=TopicNames)
    keep_days: int | None = None
    shared_days: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.keep_days is not None:
            _days(self.keep_days, "keep_days")

    @classmethod
    def from_agreements(
        cls,
        names: TopicNames,
        agreements: Iterable[Mapping[str, Any]],
        keep_days: int | None = None,
    ) -> TopicPlan:
        """The plan under these agreements. Raises TopicConfigError."""
        return cls(names, keep_days, shared_retention(agreements))

    def retention_days(self, topic: str) -> int | None:
        """How many days ``topic`` keeps data (None: indefinitely). Raises
        TopicNameError for a topic that is not the hub's in this namespace."""
        kind = self.names.kind(topic)
        if kind is None:
            raise TopicNameError(
                f"{topic!r} is not a hub topic in namespace {self.names.namespace!r}"
            )
        if kind is TopicKind.SHARED:
            return self.shared_days.get(self.names.parse_shared(topic), UNCOVERED_SHARED_DAYS)
        return self.keep_days

    def configs(self, topic: str) -> dict[str, str] | None:
        """The configs ``topic`` should have; None when it is not one of the hub's
        topics in this namespace (its settings are then left alone)."""
        kind = self.names.kind(topic)
        if kind is None:
            return None
        return topic_configs(kind, self.retention_days(topic))
