"""The re-identification risk report: k per stream, from what recipients received.

:func:`assess` measures every stream of the shares it is given (see
``hub.risk.classes``) and, when it is given the audit records too, what the
enforcer did under each agreement's ``min_k`` (:class:`Decisions`: records
released, held back and withheld).

Where the shares come from:

* :func:`read_shares` reads every shared topic, ``svd.shared.<recipient>.*``:
  exactly what recipients received, whoever reads it and whatever any view
  keeps. Only what the hub signed counts (``wire.hub_signing``), and a signed
  share on another recipient's or event type's topic is left out too, as
  ``svdhub audit reconcile`` does: a forgery is no disclosure by the hub. This
  is what ``svdhub risk report`` measures.
* :func:`views_shares` reads the views database's ``view_shares``, which
  keeps every share the view builder took in (each verified the same way),
  one row per share. The API serves the report from there, since it reads no
  topic; the views do not read the ``public`` recipient's stream, so the API
  cannot measure it.

Audit records come from the audit topic (:func:`read_decisions`) or the
ledger (:func:`ledger_decisions`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer
from sqlalchemy import Engine, select

from hub.risk.classes import (
    K_ANONYMITY,
    K_ANONYMITY_HELD,
    K_BANDS,
    REPORT_K,
    Counts,
    StreamRisk,
    holdings,
    measure,
)
from wire.audit import ALLOW, DENY, AuditRecord, decision_id, read_audit_message
from wire.canonical import ContractError, iso
from wire.hub_signing import HubKeys, HubSignatureError
from wire.kafka_client import ClientSettings
from wire.reading import partitions, read_to_end
from wire.shares import Share
from wire.topics import TopicNameError, TopicNames


@dataclass
class Decisions:
    """What the enforcer did with the records of one (recipient, agreement) under
    its min_k, over the whole audit log: released, still held back, withheld."""

    released: int = 0
    held: int = 0
    withheld: int = 0

    @property
    def share_withheld(self) -> float | None:
        total = self.released + self.held + self.withheld
        return self.withheld / total if total else None


@dataclass
class Report:
    """Every stream's risk, and what was left out of the reading."""

    window_days: int
    streams: list[StreamRisk]
    decisions: dict[tuple[str, str], Decisions] | None = None
    #: Messages in the shared topics that were not counted: forged or unreadable.
    skipped: int = 0

    @property
    def failing(self) -> list[StreamRisk]:
        """Streams with a record whose k is below its agreement's min_k."""
        return [risk for risk in self.streams if risk.failing]

    def decided(self, risk: StreamRisk) -> Decisions | None:
        if self.decisions is None or risk.min_k is None:
            return None
        key = (risk.stream.recipient, risk.stream.agreement_id)
        return self.decisions.get(key, Decisions())


def assess(
    shares: Iterable[Share],
    window_days: int,
    min_ks: Mapping[str, int | None],
    *,
    records: Iterable[AuditRecord] | None = None,
    recipient: str | None = None,
) -> Report:
    """Measure every stream of ``shares`` (only ``recipient``'s, when given) over
    ``window_days``; ``min_ks`` gives each agreement's min_k (None or absent:
    none). Retraction streams carry no quasi-identifier and are not measured."""
    held = holdings(s for s in shares if recipient is None or s.recipient == recipient)
    streams = [
        measure(stream, kept, window_days, min_ks.get(stream.agreement_id))
        for stream, kept in sorted(held.items())
    ]
    decisions = None
    if records is not None:
        wanted = {a for a, k in min_ks.items() if k is not None}
        decisions = count_decisions(
            r for r in records if recipient is None or r.recipient == recipient
        )
        decisions = {pair: found for pair, found in decisions.items() if pair[1] in wanted}
    return Report(window_days, streams, decisions)


def count_decisions(records: Iterable[AuditRecord]) -> dict[tuple[str, str], Decisions]:
    """Per (recipient, agreement): allowed records, records held back with no
    decision yet, and records withheld (``k_anonymity``). A record delivered
    twice counts once (by decision id)."""
    final: dict[str, tuple[tuple[str, str], str]] = {}  # decision id -> (pair, outcome)
    held: dict[str, tuple[str, str]] = {}  # the held record's decision id -> pair
    for record in records:
        if record.recipient is None or record.agreement_id is None or record.event_id is None:
            continue
        pair = (record.recipient, record.agreement_id)
        codes = {reason.code for reason in record.reasons}
        if record.decision == DENY and K_ANONYMITY_HELD in codes:
            held[decision_id(record.event_id, *pair)] = pair
        elif record.decision == ALLOW:
            final[record.decision_id] = (pair, "released")
        elif record.decision == DENY:
            final[record.decision_id] = (pair, "withheld" if K_ANONYMITY in codes else "denied")
    out: dict[tuple[str, str], Decisions] = {}
    for pair, outcome in final.values():
        found = out.setdefault(pair, Decisions())
        if outcome == "released":
            found.released += 1
        elif outcome == "withheld":
            found.withheld += 1
    for the_id, pair in held.items():
        if the_id not in final:
            out.setdefault(pair, Decisions()).held += 1
    return out


# ---------------------------------------------------------------------- sources


def read_shares(kafka: ClientSettings, names: TopicNames, keys: HubKeys) -> tuple[list[Share], int]:
    """Every share the hub signed in the shared topics, each on its own recipient's
    and event type's topic; and how many messages were left out (forged, or
    not a valid share)."""
    consumer = KafkaConsumer(
        **kafka.kafka_python(), client_id="svdhub-risk", enable_auto_commit=False
    )
    shares: list[Share] = []
    skipped = 0
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
                keys.verify(message.value, message.headers)
                share = Share.from_bytes(message.value)
            except (HubSignatureError, ContractError):
                skipped += 1
                continue
            if (share.recipient, share.event_type.lower()) != names.parse_shared(message.topic):
                skipped += 1
                continue
            shares.append(share)
    finally:
        consumer.close()
    return shares, skipped


def read_decisions(kafka: ClientSettings, names: TopicNames, keys: HubKeys) -> list[AuditRecord]:
    """Every audit record the hub signed on the audit topic."""
    consumer = KafkaConsumer(
        **kafka.kafka_python(), client_id="svdhub-risk", enable_auto_commit=False
    )
    found: list[AuditRecord] = []
    try:
        for message in read_to_end(consumer, partitions(consumer, [names.audit_decisions])):
            try:
                keys.verify(message.value, message.headers)
                found.extend(read_audit_message(message.value))
            except (HubSignatureError, ContractError):
                continue
    finally:
        consumer.close()
    return found


def views_shares(engine: Engine, recipients: Iterable[str] | None = None) -> list[Share]:
    """The shares the views database keeps (``view_shares``), for ``recipients``
    (all when None). Rows that are not valid shares are left out."""
    from hub.views.tables import shares as view_shares  # noqa: PLC0415 - only for the API

    statement = select(view_shares.c.payload)
    if recipients is not None:
        statement = statement.where(view_shares.c.recipient.in_(list(recipients)))
    found: list[Share] = []
    with engine.connect() as conn:
        for (payload,) in conn.execute(statement):
            try:
                found.append(Share.from_bytes(str(payload).encode()))
            except ContractError:
                continue
    return found


def ledger_decisions(engine: Engine, recipients: Iterable[str] | None = None) -> list[AuditRecord]:
    """The ledger's allow and deny records (for ``recipients``, all when None)."""
    from hub.audit.ledger import entries  # noqa: PLC0415 - only for the API

    statement = select(entries.c.record).where(entries.c.decision.in_([ALLOW, DENY]))
    if recipients is not None:
        statement = statement.where(entries.c.recipient.in_(list(recipients)))
    found: list[AuditRecord] = []
    with engine.connect() as conn:
        for (text,) in conn.execute(statement):
            try:
                found.append(AuditRecord.from_bytes(str(text).encode(), sequenced=True))
            except ContractError:
                continue
    return found


# ---------------------------------------------------------------------- output


def stream_json(risk: StreamRisk, decided: Decisions | None) -> dict[str, Any]:
    """One stream of the report as JSON (the CLI's ``--format json`` and the API)."""
    counts = risk.counts
    return {
        "recipient": risk.stream.recipient,
        "agreement_id": risk.stream.agreement_id,
        "record_type": risk.stream.record_type,
        "min_k": risk.min_k,
        "window": None
        if risk.window_start is None or risk.window_end is None
        else {"days": risk.window_days, "from": iso(risk.window_start), "to": iso(risk.window_end)},
        "records": counts.records,
        "classes": risk.classes,
        "k": dict(risk.k_bands),
        "smallest_k": risk.smallest_k,
        f"below_{REPORT_K}": counts.below_report_k,
        f"share_below_{REPORT_K}": _rounded(counts.share_below_report_k),
        "below_min_k": counts.below_min_k if risk.min_k is not None else None,
        "ok": not risk.failing,
        "by_source": {
            source: _counts_json(c, risk.min_k) for source, c in sorted(risk.by_source.items())
        },
        "decisions": None
        if decided is None
        else {
            "released": decided.released,
            "held_back": decided.held,
            "withheld": decided.withheld,
            "share_withheld": _rounded(decided.share_withheld),
        },
    }


def _counts_json(counts: Counts, min_k: int | None) -> dict[str, Any]:
    return {
        "records": counts.records,
        f"below_{REPORT_K}": counts.below_report_k,
        "below_min_k": counts.below_min_k if min_k is not None else None,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def to_json(report: Report) -> str:
    """The whole report as JSON."""
    return json.dumps(
        {
            "window_days": report.window_days,
            "report_k": REPORT_K,
            "ok": not report.failing,
            "skipped_messages": report.skipped,
            "streams": [stream_json(risk, report.decided(risk)) for risk in report.streams],
        },
        indent=2,
        sort_keys=False,
    )


def to_table(report: Report) -> str:
    """The report as a table, one line per stream."""
    header = (
        "RECIPIENT",
        "AGREEMENT",
        "TYPE",
        "MIN_K",
        "RECORDS",
        *(f"K={label}" for label, _, _ in K_BANDS),
        f"K<{REPORT_K}",
        "<MIN_K",
        "WITHHELD",
        "HELD",
        "WINDOW",
    )
    rows = [header]
    for risk in report.streams:
        counts = risk.counts
        decided = report.decided(risk)
        share = counts.share_below_report_k
        rows.append(
            (
                risk.stream.recipient,
                risk.stream.agreement_id,
                risk.stream.record_type,
                "-" if risk.min_k is None else str(risk.min_k),
                str(counts.records),
                *(str(risk.k_bands[label]) for label, _, _ in K_BANDS),
                "-" if share is None else f"{share:.1%}",
                "-" if risk.min_k is None else str(counts.below_min_k),
                "-"
                if decided is None or decided.share_withheld is None
                else f"{decided.withheld} ({decided.share_withheld:.0%})",
                "-" if decided is None else str(decided.held),
                _window(risk.window_start, risk.window_end),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    failing = report.failing
    lines.append(
        f"{len(report.streams)} streams over the last {report.window_days} days of each; "
        + (
            f"{len(failing)} with records below their agreement's min_k: "
            + ", ".join(str(r.stream) for r in failing)
            if failing
            else "none below its agreement's min_k"
        )
    )
    if report.skipped:
        lines.append(
            f"{report.skipped} messages in the shared topics are not the hub's shares "
            "(forged or unreadable; not counted)"
        )
    return "\n".join(lines) + "\n"


def _window(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "all (no event time released)"
    return f"{start.date().isoformat()}..{end.date().isoformat()}"
