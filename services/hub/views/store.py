"""The view tables, and the builder that keeps them from the shared streams.

Every share a recipient receives is kept in ``view_shares`` (one row per
share_id, so a replayed share changes nothing). The fact tables hold one row
per (recipient, event), merged from every share of that event the recipient
received: two agreements may each release part of one event to the same
recipient (the ED incident and the ED linkage agreements both reach the VRP),
and the merged row keeps, for each field, the value a share gave it. A
retraction or a newer version (``supersedes``) marks the earlier event's row
``retracted`` or ``superseded``, whichever arrives first. Aggregate views
(``hub.views.queries``) count only ``current`` rows.

Everything in the tables is a function of the set of shares, not of the order
they came in, so replaying from the beginning (``svdhub views rebuild``)
produces identical tables. Consumer offsets are stored in the same
transaction as the rows they change.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    inspect,
    select,
    update,
)

LONDON = ZoneInfo("Europe/London")

log = logging.getLogger(__name__)

metadata = MetaData()

shares = Table(
    "view_shares",
    metadata,
    Column("share_id", String(64), primary_key=True),
    Column("recipient", String(64), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("record_type", String(16), nullable=False),
    Column("agreement_id", String(64), nullable=False),
    Column("supersedes", String(64)),
    Column("payload", Text, nullable=False),
    # The shares of one event for one recipient (an event id is the selective part).
    Index("ix_view_shares_event", "event_id", "recipient"),
)

incidents = Table(
    "view_incidents",
    metadata,
    # Event id first: each batch recomputes its events' rows by event id.
    Column("event_id", String(64), primary_key=True),
    Column("recipient", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # current/retracted/superseded
    Column("source_authority", String(64), nullable=False),
    Column("incident_source", String(32)),
    Column("lsoa", String(16)),
    Column("msoa", String(16)),
    Column("lad", String(16), index=True),
    Column("week", String(10), index=True),  # Monday, ISO date (England)
    Column("hour", Integer),  # 0-23, England
    Column("dow", Integer),  # 0 Monday .. 6 Sunday
    Column("category", String(64)),
    Column("method", String(32)),
    Column("age_band", String(16)),
    Column("knife", Boolean),
    Column("subject", String(64), index=True),  # the recipient-scoped pseudonym
    Index("ix_view_incidents_recipient_status", "recipient", "status"),
)

referrals = Table(
    "view_referrals",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("recipient", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("referral", String(64), index=True),
    Column("programme", String(64)),
    Column("week", String(10)),
    Column("age_band", String(16)),
    Column("msoa", String(16)),
)

outcomes = Table(
    "view_outcomes",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("recipient", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("referral", String(64), index=True),
    Column("outcome_type", String(32)),
    Column("intervention", String(32)),
    Column("week", String(10)),
)

withdrawn = Table(
    "view_withdrawn",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("recipient", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # retracted or superseded
)

offsets = Table(
    "view_offsets",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("next_offset", BigInteger, nullable=False),
    Column("latest_ms", BigInteger, nullable=False),  # broker time of the newest share applied
)

heartbeat = Table(
    "view_heartbeat",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("checked_at", String(40), nullable=False),  # the builder was caught up then
)

FACTS = {"Incident": incidents, "Referral": referrals, "Outcome": outcomes}


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes | None


@dataclass
class Applied:
    shares: int = 0
    replayed: int = 0
    skipped: int = 0  # not a share the views use (unreadable, or of another kind)


def create(engine: Engine) -> None:
    metadata.create_all(engine)


def drop(engine: Engine) -> None:
    metadata.drop_all(engine)


def outdated(engine: Engine) -> bool:
    """Whether the tables predate the current layout (fact rows keyed by
    recipient first). They are derived, so the builder rebuilds them."""
    found = inspect(engine)
    if not found.has_table(incidents.name):
        return False
    key = found.get_pk_constraint(incidents.name)["constrained_columns"]
    return list(key) != [column.name for column in incidents.primary_key.columns]


class ViewBuilder:
    """Applies batches of shared messages to the view tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if outdated(engine):
            log.warning(
                "the view tables predate this version's layout; dropping them, so that "
                "they are rebuilt from the start of the shared topics"
            )
            drop(engine)
        create(engine)

    def apply(self, messages: Sequence[Message]) -> Applied:
        """One transaction: the new shares, the facts they change, the offsets."""
        result = Applied()
        parsed = []  # (the share, its text as sent: canonical JSON)
        for message in messages:
            found = _parse(message.value)
            if found is None:
                result.skipped += 1
            else:
                parsed.append(found)
        with self.engine.begin() as conn:
            known = _known(conn, [share["share_id"] for share, _ in parsed])
            fresh: dict[str, dict[str, Any]] = {}
            new_rows = []
            touched: set[tuple[str, str, str]] = set()
            withdrawals: list[tuple[str, str, str]] = []
            for share, text in parsed:
                if share["share_id"] in known:
                    result.replayed += 1
                    continue
                known.add(share["share_id"])
                fresh[share["share_id"]] = share
                new_rows.append(
                    {
                        "share_id": share["share_id"],
                        "recipient": share["recipient"],
                        "event_id": share["event_id"],
                        "record_type": share["record_type"],
                        "agreement_id": share["agreement_id"],
                        "supersedes": share.get("supersedes"),
                        "payload": text,
                    }
                )
                recipient = share["recipient"]
                if share["record_type"] == "Retraction":
                    retracted = share["fields"].get("retracted_event_id")
                    if retracted:
                        withdrawals.append((recipient, str(retracted), "retracted"))
                elif share["record_type"] in FACTS:
                    touched.add((share["record_type"], recipient, share["event_id"]))
                    if share.get("supersedes"):
                        withdrawals.append((recipient, share["supersedes"], "superseded"))
            if new_rows:
                conn.execute(insert(shares), new_rows)
            result.shares = len(new_rows)
            for recipient, event_id, status in withdrawals:
                _withdraw(conn, recipient, event_id, status, touched)
            _rebuild_facts(conn, {event_id for _, _, event_id in touched}, fresh)
            _store_offsets(conn, messages)
        return result


def _known(conn: Connection, share_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(share_ids), 500):
        chunk = share_ids[start : start + 500]
        found.update(
            row[0]
            for row in conn.execute(select(shares.c.share_id).where(shares.c.share_id.in_(chunk)))
        )
    return found


def _parse(value: bytes | None) -> tuple[dict[str, Any], str] | None:
    """The share and its text (UTF-8, as the enforcer writes it), or None."""
    try:
        text = (value or b"").decode()
        share = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    needed = ("share_id", "recipient", "event_id", "record_type", "agreement_id", "fields")
    if not isinstance(share, dict) or any(name not in share for name in needed):
        return None
    return share, text


def _withdraw(
    conn: Connection, recipient: str, event_id: str, status: str, touched: set[tuple[str, str, str]]
) -> None:
    """Mark an event withdrawn for a recipient; a retraction beats a supersede."""
    where = (withdrawn.c.recipient == recipient) & (withdrawn.c.event_id == event_id)
    found = conn.execute(select(withdrawn.c.status).where(where)).scalar()
    if found is None:
        conn.execute(
            insert(withdrawn).values(recipient=recipient, event_id=event_id, status=status)
        )
    elif found != "retracted" and status == "retracted":
        conn.execute(update(withdrawn).where(where).values(status=status))
    for record_type in FACTS:
        touched.add((record_type, recipient, event_id))


def _rebuild_facts(conn: Connection, event_ids: set[str], fresh: dict[str, dict[str, Any]]) -> None:
    """Recompute every fact row of these events, for every recipient, from their
    shares: a few statements per batch, whatever its size. ``fresh`` holds the
    shares of this batch, already parsed. A fact row exists only for an event
    with an earlier share, so only those events have rows to delete."""
    ids = sorted(event_ids)
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    status: dict[tuple[str, str], str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        earlier: set[str] = set()
        found = conn.execute(
            select(
                shares.c.share_id,
                shares.c.record_type,
                shares.c.recipient,
                shares.c.event_id,
                shares.c.payload,
            )
            .where(shares.c.event_id.in_(chunk) & shares.c.record_type.in_(tuple(FACTS)))
            .order_by(shares.c.share_id)
        )
        for share_id, record_type, recipient, event_id, text in found:
            share = fresh.get(share_id)
            if share is None:
                earlier.add(event_id)
                share = json.loads(text)
            grouped.setdefault((record_type, recipient, event_id), []).append(share)
        if earlier:
            for table in FACTS.values():
                conn.execute(delete(table).where(table.c.event_id.in_(sorted(earlier))))
        status.update(
            ((recipient, event_id), found)
            for recipient, event_id, found in conn.execute(
                select(withdrawn.c.recipient, withdrawn.c.event_id, withdrawn.c.status).where(
                    withdrawn.c.event_id.in_(chunk)
                )
            )
        )
    new: dict[str, list[dict[str, Any]]] = {name: [] for name in FACTS}
    for (record_type, recipient, event_id), payloads in sorted(grouped.items()):
        row = _fact(record_type, payloads)
        row |= {
            "recipient": recipient,
            "event_id": event_id,
            "status": status.get((recipient, event_id), "current"),
        }
        new[record_type].append(row)
    for record_type, facts in new.items():
        if facts:
            conn.execute(insert(FACTS[record_type]), facts)


def _fact(record_type: str, payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """The fact columns of one event, from every share of it."""
    fields = _merge(p["fields"] for p in payloads)
    if record_type == "Incident":
        return _incident(payloads[0]["source_authority"], fields)
    if record_type == "Referral":
        geo = fields.get("home_geo") or {}
        return {
            "referral": fields.get("referral_pseudo_id"),
            "programme": fields.get("programme_code"),
            "week": _week(fields.get("referral_datetime")),
            "age_band": fields.get("age_band"),
            "msoa": geo.get("msoa21cd"),
        }
    return {
        "referral": fields.get("referral_pseudo_id"),
        "outcome_type": fields.get("outcome_type"),
        "intervention": fields.get("intervention_type"),
        "week": _week(fields.get("outcome_date")),
    }


def _merge(all_fields: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Field by field, the value some share gave (geography code by code)."""
    merged: dict[str, Any] = {}
    for fields in all_fields:
        for name, value in fields.items():
            if isinstance(value, dict) and isinstance(merged.get(name), dict):
                known = merged[name]
                merged[name] = {
                    k: known.get(k) if known.get(k) is not None else value.get(k)
                    for k in sorted({*known, *value})
                }
            elif merged.get(name) is None:
                merged[name] = value
    return merged


def _incident(source: str, fields: dict[str, Any]) -> dict[str, Any]:
    geo = fields.get("geo") or {}
    moment = _local(fields.get("assault_datetime") or fields.get("arrival_datetime"))
    return {
        "source_authority": source,
        "incident_source": fields.get("incident_source"),
        "lsoa": geo.get("lsoa21cd"),
        "msoa": geo.get("msoa21cd"),
        "lad": geo.get("lad_cd"),
        "week": (moment.date() - timedelta(days=moment.weekday())).isoformat() if moment else None,
        "hour": moment.hour if moment else None,
        "dow": moment.weekday() if moment else None,
        "category": fields.get("offence_group"),
        "method": fields.get("assault_method"),
        "age_band": fields.get("victim_age_band"),
        "knife": fields.get("knife_flag"),
        "subject": fields.get("subject_pseudo_id"),
    }


def _local(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(LONDON)
    except ValueError:
        return None


def _week(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    moment = _local(value) if "T" in value else None
    try:
        day = moment.date() if moment else date.fromisoformat(value)
    except ValueError:
        return None
    return (day - timedelta(days=day.weekday())).isoformat()


def _store_offsets(conn: Connection, messages: Sequence[Message]) -> None:
    ends: dict[tuple[str, int], tuple[int, int]] = {}
    for m in messages:
        end, latest = ends.get((m.topic, m.partition), (0, 0))
        ends[(m.topic, m.partition)] = (max(end, m.offset + 1), max(latest, m.timestamp_ms))
    for (topic, partition), (end, latest) in ends.items():
        where = (offsets.c.topic == topic) & (offsets.c.partition == partition)
        found = conn.execute(
            select(offsets.c.next_offset, offsets.c.latest_ms).where(where)
        ).first()
        if found is None:
            conn.execute(
                insert(offsets).values(
                    topic=topic, partition=partition, next_offset=end, latest_ms=latest
                )
            )
        else:
            conn.execute(
                update(offsets)
                .where(where)
                .values(next_offset=max(found[0], end), latest_ms=max(found[1], latest))
            )


def stored_offsets(engine: Engine) -> dict[tuple[str, int], int]:
    with engine.connect() as conn:
        rows = conn.execute(select(offsets.c.topic, offsets.c.partition, offsets.c.next_offset))
        return {(t, p): int(o) for t, p, o in rows}


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted: two builds are identical when these are equal."""
    out = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table is heartbeat:
                continue
            out[table.name] = sorted(
                conn.execute(select(table)).all(), key=lambda row: tuple(map(str, row))
            )
    return {name: [tuple(row) for row in rows] for name, rows in out.items()}


def beat(engine: Engine, moment: datetime) -> None:
    """Record that the builder has applied everything it had read at ``moment``."""
    stamp = moment.isoformat()
    with engine.begin() as conn:
        changed = conn.execute(
            update(heartbeat).where(heartbeat.c.name == "builder").values(checked_at=stamp)
        )
        if changed.rowcount == 0:
            conn.execute(insert(heartbeat).values(name="builder", checked_at=stamp))


def freshness(engine: Engine, recipient: str, now: datetime) -> dict[str, Any]:
    """How current a recipient's views are: when the builder last caught up, the
    newest share applied, and the lag in seconds."""
    with engine.connect() as conn:
        checked = conn.execute(
            select(heartbeat.c.checked_at).where(heartbeat.c.name == "builder")
        ).scalar()
        latest_ms = max(
            (
                int(ms)
                for topic, ms in conn.execute(select(offsets.c.topic, offsets.c.latest_ms))
                if topic.split(".")[-2:-1] == [recipient]  # <...>.<recipient>.<type>
            ),
            default=None,
        )
    checked_at = datetime.fromisoformat(checked) if checked else None
    return {
        "views_checked_at": checked,
        "latest_share_at": (
            datetime.fromtimestamp(latest_ms / 1000, tz=now.tzinfo).isoformat()
            if latest_ms
            else None
        ),
        "lag_seconds": round((now - checked_at).total_seconds(), 1) if checked_at else None,
    }
