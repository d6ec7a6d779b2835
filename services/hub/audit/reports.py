"""What IG leads ask of the ledger: a filtered list of decisions, and a
reconciliation of allow decisions against what recipients actually received.

Reconciliation trusts only what the hub signed (``wire.hub_signing``): a
message on a shared topic that is not signed by the hub's key, or a signed
share that names another recipient or event type than its topic (a copy), is
a forgery. Forgeries are counted per topic, apart from the match, and never
count as shared. Forged audit records never reach the ledger (it rejects
them), so they never count as allows; how many it rejected is reported too."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer
from sqlalchemy import Engine, func, select

from hub.audit.ledger import INDEXED, entries, rejects
from wire.audit import AuditRecord, SharedIds
from wire.canonical import ContractError
from wire.hub_signing import CODES as FORGERY_CODES
from wire.hub_signing import HubKeys, HubSignatureError
from wire.kafka_client import ClientSettings
from wire.reading import partitions, read_to_end
from wire.shares import Share
from wire.topics import TopicNameError, TopicNames

#: Columns shown by ``audit query`` (all of them are in the JSON output).
COLUMNS = ("seq", *INDEXED)


@dataclass(frozen=True)
class Filters:
    source: str | None = None
    recipient: str | None = None
    agreement: str | None = None
    event_type: str | None = None
    decision: str | None = None
    since: str | None = None  # ISO date or time, inclusive
    until: str | None = None  # ISO date or time, exclusive
    subject: str | None = None
    limit: int | None = None
    shared_id: str | None = None  # an id a recipient holds (see wire.audit.SharedIds)


#: What a recipient-scoped id looks like (UUIDs and hex pseudonyms): nothing a
#: SQL LIKE pattern treats specially.
SHARED_ID = re.compile(r"^[0-9a-f-]{8,128}$")


def query(engine: Engine, filters: Filters) -> list[AuditRecord]:
    """Matching ledger records (with their ``seq``), oldest first."""
    statement = select(entries.c.record).order_by(entries.c.seq)
    for column, value in (
        (entries.c.source_authority, filters.source),
        (entries.c.recipient, filters.recipient),
        (entries.c.agreement_id, filters.agreement),
        (entries.c.event_type, filters.event_type.upper() if filters.event_type else None),
        (entries.c.decision, filters.decision),
        (entries.c.subject_pseudonym, filters.subject),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if filters.since:
        statement = statement.where(entries.c.decided_at >= filters.since)
    if filters.until:
        statement = statement.where(entries.c.decided_at < filters.until)
    if filters.shared_id is not None:
        if not SHARED_ID.fullmatch(filters.shared_id):
            raise ValueError(f"{filters.shared_id!r} is not an id a share carries")
        statement = statement.where(entries.c.record.like(f'%"{filters.shared_id}"%'))
    if filters.limit and filters.shared_id is None:
        statement = statement.limit(filters.limit)
    with engine.connect() as conn:
        found = [
            AuditRecord.from_bytes(text.encode(), sequenced=True)
            for (text,) in conn.execute(statement)
        ]
    if filters.shared_id is not None:
        found = [r for r in found if r.shared_ids and filters.shared_id in _ids(r.shared_ids)]
        found = found[: filters.limit] if filters.limit else found
    return found


def _ids(shared: SharedIds) -> set[str]:
    return {value for value in shared.to_dict().values() if value is not None}


def render(records: list[AuditRecord], form: str) -> str:
    """``table``, ``csv`` or ``json`` (JSON Lines, every field)."""
    if form == "json":
        return "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records)
    if form == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*COLUMNS, "reasons", "fields_released"])
        for r in records:
            writer.writerow(
                [
                    *(getattr(r, c) for c in COLUMNS),
                    "; ".join(map(str, r.reasons)),
                    " ".join(r.fields_released),
                ]
            )
        return out.getvalue()
    rows = [
        [str(value) if (value := getattr(r, c)) is not None else "" for c in COLUMNS]
        for r in records
    ]
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines) + f"\n({len(records)} records)\n"


@dataclass
class Reconciled:
    """One recipient: allow decisions in the ledger against shares in its topics."""

    allowed: int = 0
    shared: int = 0  # distinct decision ids in the recipient's topics
    duplicates: int = 0  # the same share delivered more than once (at-least-once)
    not_shared: set[str] = field(default_factory=set)  # allowed, but no share found
    not_allowed: set[str] = field(default_factory=set)  # shared, but no allow decision
    unreadable: int = 0  # hub-signed messages in its topics that are not valid shares
    forged: Counter[str] = field(default_factory=Counter)  # topic -> forgeries in it

    @property
    def exact(self) -> bool:
        """Allow decisions and the hub's shares match (forgeries aside)."""
        return not self.not_shared and not self.not_allowed and not self.unreadable


def forged_audit_records(engine: Engine) -> int:
    """How many messages on the audit topic the ledger rejected as not signed by the hub."""
    with engine.connect() as conn:
        found = conn.execute(
            select(func.count()).select_from(rejects).where(rejects.c.code.in_(FORGERY_CODES))
        ).scalar()
    return int(found or 0)


def reconcile(
    engine: Engine, kafka: ClientSettings, names: TopicNames, keys: HubKeys
) -> dict[str, Reconciled]:
    """Per recipient, compare the ledger's allow decisions with the share ids of
    every message in ``svd.shared.<recipient>.*`` that the hub signed, and count
    the forgeries in each of those topics. A share carries the recipient's own
    share id, which each allow record names beside its decision id
    (``shared_ids``), so the two are compared through the record."""
    allowed: dict[str, set[str]] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(entries.c.recipient, entries.c.record).where(entries.c.decision == "allow")
        )
        for recipient, text in rows:
            record = AuditRecord.from_bytes(text.encode(), sequenced=True)
            the_id = record.shared_ids.share_id if record.shared_ids else record.decision_id
            allowed.setdefault(str(recipient), set()).add(the_id)
    shared: dict[str, Counter[str]] = {}
    unreadable: Counter[str] = Counter()
    forged: dict[str, Counter[str]] = {}
    for topic, share_id in _shared_decisions(kafka, names, keys):
        recipient, _ = names.parse_shared(topic)
        if share_id == FORGED:
            forged.setdefault(recipient, Counter())[topic] += 1
        elif share_id is None:
            unreadable[recipient] += 1
        else:
            shared.setdefault(recipient, Counter())[share_id] += 1
    result: dict[str, Reconciled] = {}
    for recipient in sorted(set(allowed) | set(shared) | set(unreadable) | set(forged)):
        ids, seen = allowed.get(recipient, set()), shared.get(recipient, Counter())
        result[recipient] = Reconciled(
            allowed=len(ids),
            shared=len(seen),
            duplicates=sum(seen.values()) - len(seen),
            not_shared=ids - set(seen),
            not_allowed=set(seen) - ids,
            unreadable=unreadable[recipient],
            forged=forged.get(recipient, Counter()),
        )
    return result


#: What :func:`_shared_decisions` gives for a forged message.
FORGED = "(forged)"


def _share_id(message: Any, keys: HubKeys, names: TopicNames) -> str | None:
    """The share id of a message on a shared topic; :data:`FORGED` if the hub did
    not sign it or it names another recipient or event type than its topic;
    None if the hub signed it but it is not a valid share."""
    try:
        keys.verify(message.value, message.headers)
    except HubSignatureError:
        return FORGED
    try:
        share = Share.from_bytes(message.value)
    except ContractError:
        return None
    if (share.recipient, share.event_type.lower()) != names.parse_shared(message.topic):
        return FORGED
    return share.share_id


def _shared_decisions(
    kafka: ClientSettings, names: TopicNames, keys: HubKeys
) -> list[tuple[str, str | None]]:
    """(topic, :func:`_share_id`) of every message in the shared topics."""
    consumer = KafkaConsumer(
        **kafka.kafka_python(), client_id="svdhub-audit", enable_auto_commit=False
    )
    found: list[tuple[str, str | None]] = []
    try:
        topics = []
        for topic in consumer.topics():
            try:
                names.parse_shared(topic)
            except TopicNameError:
                continue
            topics.append(topic)
        for message in read_to_end(consumer, partitions(consumer, topics)):
            found.append((message.topic, _share_id(message, keys, names)))
        return found
    finally:
        consumer.close()
