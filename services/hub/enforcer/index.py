"""What the enforcer remembers of the events it has routed: who published each,
and who received it.

Three rules need that memory:

* a correction (``supersedes``) or a retraction is accepted only from the
  authority that published the original event;
* a retraction reaches only the recipients that received the event;
* a correction that moves an event out of a recipient's scope reaches that
  recipient as a retraction of the version it holds.

:class:`EventIndex` keeps, per hub-internal event id, the publishing authority
and the (recipient, agreement) pairs the event was shared under. It is a
function of the audit records the enforcer writes (:meth:`EventIndex.apply`),
so at start the enforcer rebuilds it from ``svd.audit.decisions``
(:func:`rebuild`, which verifies the hub's signature on every record) and then
keeps it up to date as it routes. An event older than the audit topic's
retention is forgotten, and can then no longer be corrected or retracted.

A retraction can arrive before its event: each raw topic is consumed on its
own, so after an outage the retraction topic may be read ahead of the
event's. Such a retraction waits (:class:`Pending`) until the event arrives,
then is routed as if it had come after it. Waiting retractions are kept in a
file in the enforcer's state folder, because their offsets are committed
while they wait.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer

from wire.audit import ALLOW, QUARANTINE, AuditRecord, read_audit_message
from wire.canonical import ContractError
from wire.hub_signing import HubKeys, HubSignatureError
from wire.kafka_client import ClientSettings
from wire.private_files import write_private
from wire.reading import partitions, read_to_end

log = logging.getLogger(__name__)

#: The reason code of a retraction whose event has not arrived yet.
AWAITING_EVENT = "awaiting_event"

#: The most retractions from one raw topic that wait for their events at once; a
#: further one is quarantined, so an authority cannot fill the hub's memory (or
#: its state folder) with retractions of events that never come.
MAX_WAITING = 500

#: One (recipient, agreement_id) pair an event was shared under.
Pair = tuple[str, str]


@dataclass(frozen=True)
class Entry:
    """One routed event: who published it, and the pairs it was shared under."""

    authority: str
    received: frozenset[Pair]

    def recipients(self) -> frozenset[str]:
        return frozenset(recipient for recipient, _ in self.received)


@dataclass(frozen=True)
class Pending:
    """A raw retraction message that waits for the event it withdraws."""

    target: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: float | None = None

    @property
    def place(self) -> tuple[str, int, int]:
        return (self.topic, self.partition, self.offset)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": None if self.key is None else base64.b64encode(self.key).decode(),
            "value": base64.b64encode(self.value).decode(),
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Pending:
        key = value.get("key")
        timestamp = value.get("timestamp")
        return cls(
            target=str(value["target"]),
            topic=str(value["topic"]),
            partition=int(value["partition"]),
            offset=int(value["offset"]),
            key=None if key is None else base64.b64decode(key),
            value=base64.b64decode(value["value"]),
            timestamp=None if timestamp is None else float(timestamp),
        )


class EventIndex:
    """Per hub-internal event id, its authority and the pairs it was shared under.

    Pair sets repeat a great deal (most events of one kind from one authority
    reach the same recipients), so equal sets are stored once."""

    def __init__(self, pending_file: Path | None = None) -> None:
        self._entries: dict[str, Entry] = {}
        self._shapes: dict[Entry, Entry] = {}
        #: agreement id -> (lawful basis, purpose), as its decisions gave them.
        self.agreements: dict[str, tuple[str | None, str | None]] = {}
        #: The latest policy revision seen in a decision.
        self.revision: str | None = None
        #: event id -> (authority, id of the later version that superseded it), for
        #: a correction that came before the version it corrects.
        self.superseded: dict[str, tuple[str, str]] = {}
        self.pending_file = pending_file
        self._pending: dict[str, list[Pending]] = {}  # by the event they wait for
        self._kept: dict[tuple[str, int, int], Pending] = {}  # what the file holds
        # Places of retractions whose outcome the audit holds (filled by apply).
        self._settled: set[tuple[str, int, int]] = set()
        if pending_file is not None and pending_file.is_file():
            self._load_pending(pending_file)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._entries

    def get(self, event_id: str) -> Entry | None:
        return self._entries.get(event_id)

    def record(self, event_id: str, authority: str, received: Iterable[Pair] = ()) -> None:
        """Remember that ``authority`` published ``event_id`` and that it was shared
        under ``received`` (added to any pairs already known, since a replay
        or a second agreement only ever adds)."""
        known = self._entries.get(event_id)
        pairs = frozenset(received)
        if known is not None:
            if pairs <= known.received:
                return
            pairs |= known.received
            authority = known.authority  # the first publisher keeps the id
        entry = Entry(authority, pairs)
        self._entries[event_id] = self._shapes.setdefault(entry, entry)

    def apply(self, record: AuditRecord) -> None:
        """Learn from one audit record (in the order they were written)."""
        if record.policy_revision is not None:
            self.revision = record.policy_revision
        awaiting = any(reason.code == AWAITING_EVENT for reason in record.reasons)
        if not awaiting and record.source_topic.endswith(".retraction"):
            self._settled.add((record.source_topic, record.source_partition, record.source_offset))
        if record.decision == QUARANTINE or record.event_id is None:
            return
        if record.source_authority is None:
            return
        if awaiting:
            return
        if record.supersedes is not None:
            self.superseded.setdefault(
                record.supersedes, (record.source_authority, record.event_id)
            )
        if record.agreement_id is not None and record.lawful_basis is not None:
            self.agreements[record.agreement_id] = (record.lawful_basis, record.purpose)
        pairs: tuple[Pair, ...] = ()
        if record.decision == ALLOW and record.recipient and record.agreement_id:
            pairs = ((record.recipient, record.agreement_id),)
        self.record(record.event_id, record.source_authority, pairs)

    # ------------------------------------------------------------ waiting
    #
    # The file keeps every retraction that waited, even after it is routed,
    # until a start finds its outcome in the audit topic (:meth:`settle`): the
    # messages routing it made are only known to be on the broker then, so a
    # crash before they are delivered cannot lose it.

    def wait(self, pending: Pending) -> bool:
        """Keep a retraction until its event arrives (saved at once); False, and
        nothing kept, when :data:`MAX_WAITING` from the same raw topic wait already."""
        if pending.place in self._kept:
            return True
        if sum(1 for p in self.pending() if p.topic == pending.topic) >= MAX_WAITING:
            return False
        self._pending.setdefault(pending.target, []).append(pending)
        self._kept[pending.place] = pending
        self._save_pending()
        return True

    def waiting_for(self, event_id: str) -> list[Pending]:
        """The retractions waiting for ``event_id``, now to be routed (no longer waiting)."""
        return self._pending.pop(event_id, [])

    def ready(self) -> list[Pending]:
        """Waiting retractions whose event is known now (after a restart that came
        between the event and their routing), now to be routed."""
        return [
            p for target in list(self._pending) if target in self for p in self.waiting_for(target)
        ]

    def pending(self) -> Iterator[Pending]:
        """The retractions still waiting."""
        for waiting in self._pending.values():
            yield from waiting

    def settle(self) -> int:
        """After :func:`rebuild`: forget the retractions whose outcome the audit
        topic holds (routed, or quarantined), and save; return how many wait."""
        for place in self._settled:
            found = self._kept.pop(place, None)
            if found is not None and found in self._pending.get(found.target, []):
                self._pending[found.target].remove(found)
                if not self._pending[found.target]:
                    del self._pending[found.target]
        self._settled.clear()
        self._save_pending()
        return sum(1 for _ in self.pending())

    def _save_pending(self) -> None:
        if self.pending_file is None:
            return
        text = json.dumps([p.to_json() for p in self._kept.values()], sort_keys=True)
        write_private(self.pending_file, text + "\n")

    def _load_pending(self, path: Path) -> None:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            for value in loaded:
                pending = Pending.from_json(value)
                self._pending.setdefault(pending.target, []).append(pending)
                self._kept[pending.place] = pending
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: cannot read the waiting retractions: {exc}") from exc


def rebuild(index: EventIndex, kafka: ClientSettings, topic: str, keys: HubKeys) -> int:
    """Read every audit record on ``topic`` into ``index``, in order per partition;
    return how many were used. A message the hub did not sign, or that is not an
    audit record, is skipped with a warning (the ledger reports it too)."""
    consumer = KafkaConsumer(
        **kafka.kafka_python(), client_id="svdhub-enforcer-index", enable_auto_commit=False
    )
    used = skipped = 0
    try:
        for message in read_to_end(consumer, partitions(consumer, [topic])):
            try:
                keys.verify(message.value, message.headers)
                records = read_audit_message(message.value)
            except (HubSignatureError, ContractError):
                skipped += 1
                continue
            for record in records:
                index.apply(record)
            used += len(records)
    finally:
        consumer.close()
    if skipped:
        log.warning("skipped %d audit records that are unsigned or unreadable", skipped)
    return used
