"""What IG leads ask of the ledger: a filtered list of decisions, and a
reconciliation of allow decisions against what recipients actually received."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field

from kafka import KafkaConsumer
from sqlalchemy import Engine, select

from hub.audit.ledger import INDEXED, entries
from wire.audit import AuditRecord
from wire.canonical import ContractError
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
    if filters.limit:
        statement = statement.limit(filters.limit)
    with engine.connect() as conn:
        return [
            AuditRecord.from_bytes(text.encode(), sequenced=True)
            for (text,) in conn.execute(statement)
        ]


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
    unreadable: int = 0  # messages in its topics that are not valid shares

    @property
    def exact(self) -> bool:
        return not self.not_shared and not self.not_allowed and not self.unreadable


def reconcile(engine: Engine, kafka: ClientSettings, names: TopicNames) -> dict[str, Reconciled]:
    """Per recipient, compare the ledger's allow decisions with the share ids of
    every message in ``svd.shared.<recipient>.*``."""
    allowed: dict[str, set[str]] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(entries.c.recipient, entries.c.decision_id).where(entries.c.decision == "allow")
        )
        for recipient, decision_id in rows:
            allowed.setdefault(str(recipient), set()).add(str(decision_id))
    shared: dict[str, Counter[str]] = {}
    unreadable: Counter[str] = Counter()
    for topic, share_id in _shared_decisions(kafka, names):
        recipient, _ = names.parse_shared(topic)
        if share_id is None:
            unreadable[recipient] += 1
        else:
            shared.setdefault(recipient, Counter())[share_id] += 1
    result: dict[str, Reconciled] = {}
    for recipient in sorted(set(allowed) | set(shared) | set(unreadable)):
        ids, seen = allowed.get(recipient, set()), shared.get(recipient, Counter())
        result[recipient] = Reconciled(
            allowed=len(ids),
            shared=len(seen),
            duplicates=sum(seen.values()) - len(seen),
            not_shared=ids - set(seen),
            not_allowed=set(seen) - ids,
            unreadable=unreadable[recipient],
        )
    return result


def _shared_decisions(kafka: ClientSettings, names: TopicNames) -> list[tuple[str, str | None]]:
    """(topic, share id) of every message in the shared topics; None for a message
    that is not a valid share."""
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
            try:
                found.append((message.topic, Share.from_bytes(message.value).share_id))
            except ContractError:
                found.append((message.topic, None))
        return found
    finally:
        consumer.close()
