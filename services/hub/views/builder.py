"""The view builder: the shared streams into the view tables (``hub.views.tables``).

A :class:`ViewBuilder` is a sink (``hub.sink``) over every
``svd.shared.<recipient>.<type>`` topic of the view recipients. It verifies
the hub's signature on each message (``wire.hub_signing``: a share that is
unsigned or signed by any other key is a forgery), reads it through the
share contract (``wire.shares.Share``) and also refuses, as rejects
recorded in ``view_rejects``, a share that sits on another recipient's or
another event type's topic, and one whose fields do not fit the view
columns (a value of the wrong type, or longer than its column): the views
never trust more than the contract, and the database never refuses a row.

Each share is kept in ``view_shares`` (one row per share_id, so a replayed
share changes nothing). Two agreements may each release part of one event to
the same recipient (the ED incident and the ED linkage agreements both reach
the VRP): the fact row keeps, for each field, the value some share gave it.
A retraction or a newer version (``supersedes``) marks the earlier event's
row ``retracted`` or ``superseded``, whichever arrives first.

Everything in the tables is a function of the set of shares, not of the order
they came in, so replaying from the beginning (``svdhub views rebuild``)
produces identical tables. Offsets are stored in the same transaction as the
rows they change.

**Batches.** The builder applies up to :attr:`ViewBuilder.batch_messages`
shares in one transaction (a rebuild reads thousands at once; a builder that
keeps up applies what arrived). It writes rows through the driver's bulk
path (``hub.sink.insert_rows``), and reads back only the shares of
events it had rows for before the batch: an event whose every share is in the
batch gets its fact rows from the shares in hand. The garbage collector is
paused while a batch is applied, since a batch makes many objects that
outlive it only briefly and none that need a cycle collected early.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Column, Connection, Engine, String, delete, insert, select, update

from hub.sink import Message, Outcome, Sink, insert_rows
from hub.views import tables
from hub.views.cellkey import RecordKeys, load_secret
from hub.views.freshness import beat
from hub.views.tables import FACTS, incidents, outcomes, referrals, shares, withdrawn
from wire.canonical import UUID_PATTERN, ContractError
from wire.hub_signing import HubKeys
from wire.shares import Share
from wire.topics import TopicNameError, TopicNames

LONDON = ZoneInfo("Europe/London")

log = logging.getLogger(__name__)

#: Seconds between heartbeats while the builder runs.
BEAT_SECONDS = 2.0

#: The recipient whose shares are published aggregates, not view input.
PUBLIC = "public"


class UnusableShare(ContractError):
    """A valid share the views cannot use: on the wrong topic, or with fields
    that do not fit the view columns."""

    contract = "share for the views"


@dataclass
class Applied(Outcome):
    shares: int = 0
    replayed: int = 0


class ViewBuilder(Sink[Share, Applied]):
    """Applies batches of shares to the view tables of one database."""

    name = "view"

    #: Shares per transaction, at most.
    batch_messages = 5000

    #: An analyst waits on these rows, so a batch waits only briefly for more.
    batch_wait_ms = 50.0

    def __init__(
        self,
        engine: Engine,
        names: TopicNames | None = None,
        recipients: Collection[str] | None = None,
        *,
        keys: HubKeys,
        record_keys: RecordKeys | None = None,
    ) -> None:
        super().__init__(engine, tables.offsets, tables.rejects)
        self.keys = keys
        #: Each fact row's record key, for cell-key perturbation (hub.views.cellkey).
        self.record_keys = record_keys or RecordKeys(load_secret())
        self.names = names or TopicNames.from_env()
        self.recipients = None if recipients is None else frozenset(recipients)
        if tables.outdated(engine):
            log.warning(
                "the view tables predate this version's layout; dropping them, so that "
                "they are rebuilt from the start of the shared topics"
            )
            tables.drop(engine)
        tables.create(engine)
        self._beaten = float("-inf")
        #: The fact columns of each share parsed in the current batch, by the
        #: share object's id: an event with one share needs no other.
        self._facts: dict[int, dict[str, Any]] = {}
        #: The (recipient, event type) of each shared topic read.
        self._topics: dict[str, tuple[str, str]] = {}

    # The heartbeat: the builder has applied everything it read (at most every 2 s).

    def _beat(self, force: bool = False) -> None:
        if force or time.monotonic() - self._beaten > BEAT_SECONDS:
            beat(self.engine, datetime.now(UTC))
            self._beaten = time.monotonic()

    def committed(self, result: Applied) -> None:
        self._beat()

    def idle(self) -> Applied | None:
        self._beat()
        return None

    def finish(self) -> Applied | None:
        self._beat(force=True)
        return None

    def topics(self, available: Collection[str]) -> list[str]:
        """Every shared topic of the view recipients: the ones asked for, or all
        but ``public``."""
        found = []
        for topic in available:
            try:
                recipient, _ = self.names.parse_shared(topic)
            except TopicNameError:
                continue
            wanted = (
                recipient != PUBLIC if self.recipients is None else recipient in self.recipients
            )
            if wanted:
                found.append(topic)
        return sorted(found)

    def signature(self, message: Message) -> None:
        """The hub signed the share (:meth:`Sink.signature`)."""
        self.keys.verify(message.value, message.headers)

    def parse(self, message: Message) -> Share:
        """The share, signed by the hub (:meth:`signature`), if it belongs on its
        topic: its recipient and event type are the topic's (a signed share
        copied to another recipient's topic still verifies, so this check binds it)."""
        share = Share.from_bytes(message.value)
        found = self._topics.get(message.topic)
        if found is None:
            try:
                found = self.names.parse_shared(message.topic)
            except TopicNameError as exc:
                raise UnusableShare("(topic)", "wrong_topic", str(exc)) from exc
            self._topics[message.topic] = found
        recipient, kind = found
        if (share.recipient, share.event_type.lower()) != (recipient, kind):
            raise UnusableShare(
                "recipient",
                "wrong_topic",
                f"a {share.event_type} share for {share.recipient} on {message.topic}",
            )
        if share.record_type == "Retraction":
            _retracted(share.fields)
        else:
            # Every value fits its column; kept for the event's fact row.
            self._facts[id(share)] = _fact(share.record_type, [share])
        return share

    def apply(self, messages: Sequence[Message]) -> Applied:
        """One batch, with the garbage collector paused (see the module's doc)."""
        paused = gc.isenabled()
        gc.disable()
        self._facts.clear()
        try:
            return super().apply(messages)
        finally:
            self._facts.clear()
            if paused:
                gc.enable()

    def write(self, conn: Connection, items: Sequence[tuple[Message, Share]]) -> Applied:
        """The new shares, and the facts they change."""
        result = Applied()
        known = _known(conn, [share.share_id for _, share in items])
        fresh: dict[str, Share] = {}
        new_rows = []
        touched: set[tuple[str, str, str]] = set()
        withdrawals: list[tuple[str, str, str]] = []
        for message, share in items:
            if share.share_id in known:
                result.replayed += 1
                continue
            known.add(share.share_id)
            fresh[share.share_id] = share
            new_rows.append(
                (
                    share.share_id,
                    share.recipient,
                    share.event_id,
                    share.record_type,
                    share.agreement_id,
                    share.supersedes,
                    (message.value or b"").decode(),  # canonical, as sent
                )
            )
            if share.record_type == "Retraction":
                retracted = _retracted(share.fields)
                if retracted:
                    withdrawals.append((share.recipient, retracted, "retracted"))
            elif share.record_type in FACTS:
                touched.add((share.record_type, share.recipient, share.event_id))
                if share.supersedes:
                    withdrawals.append((share.recipient, share.supersedes, "superseded"))
        events = {event_id for _, _, event_id in touched}
        events.update(event_id for _, event_id, _ in withdrawals)
        earlier = _with_shares(conn, events)  # before this batch's shares are written
        insert_rows(conn, shares, SHARE_COLUMNS, new_rows)
        result.shares = len(new_rows)
        for recipient, event_id, status in withdrawals:
            _withdraw(conn, recipient, event_id, status, touched)
        _rebuild_facts(conn, events, earlier, fresh, self.record_keys, parsed=self._facts)
        return result


#: The columns of a row of ``view_shares``, in the order ``write`` gives them.
SHARE_COLUMNS = (
    "share_id",
    "recipient",
    "event_id",
    "record_type",
    "agreement_id",
    "supersedes",
    "payload",
)

#: How many ids one ``IN (...)`` lists.
CHUNK = 500


def _known(conn: Connection, share_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(share_ids), CHUNK):
        chunk = share_ids[start : start + CHUNK]
        found.update(
            row[0]
            for row in conn.execute(select(shares.c.share_id).where(shares.c.share_id.in_(chunk)))
        )
    return found


def _with_shares(conn: Connection, event_ids: set[str]) -> set[str]:
    """Of these events, those with a fact share kept already."""
    ids = sorted(event_ids)
    found: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found.update(
            row[0]
            for row in conn.execute(
                select(shares.c.event_id)
                .where(shares.c.event_id.in_(chunk) & shares.c.record_type.in_(tuple(FACTS)))
                .distinct()
            )
        )
    return found


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


def _rebuild_facts(
    conn: Connection,
    event_ids: set[str],
    earlier: set[str],
    fresh: dict[str, Share],
    record_keys: RecordKeys,
    *,
    parsed: dict[int, dict[str, Any]],
) -> None:
    """Recompute every fact row of these events, for every recipient, from their
    shares: a few statements per batch, whatever its size. ``fresh`` holds the
    shares of this batch, already parsed, and ``earlier`` the events that had
    shares before it: only those have fact rows to delete and shares to read
    back; the others have only the shares in ``fresh``. ``parsed`` holds the
    fact columns of single shares, by the id of the share object."""
    grouped: dict[tuple[str, str, str], list[Share]] = {}
    for share in fresh.values():
        if share.record_type in FACTS and share.event_id not in earlier:
            grouped.setdefault((share.record_type, share.recipient, share.event_id), []).append(
                share
            )
    again = sorted(earlier)
    for start in range(0, len(again), CHUNK):
        chunk = again[start : start + CHUNK]
        found = conn.execute(
            select(
                shares.c.share_id,
                shares.c.record_type,
                shares.c.recipient,
                shares.c.event_id,
                shares.c.payload,
            ).where(shares.c.event_id.in_(chunk) & shares.c.record_type.in_(tuple(FACTS)))
        )
        for share_id, record_type, recipient, event_id, text in found:
            kept = fresh.get(share_id)
            if kept is None:
                kept = Share.from_bytes(text.encode())  # kept only after it parsed
            grouped.setdefault((record_type, recipient, event_id), []).append(kept)
        for table in FACTS.values():
            conn.execute(delete(table).where(table.c.event_id.in_(chunk)))
    status: dict[tuple[str, str], str] = {}
    ids = sorted(event_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        status.update(
            ((recipient, event_id), found)
            for recipient, event_id, found in conn.execute(
                select(withdrawn.c.recipient, withdrawn.c.event_id, withdrawn.c.status).where(
                    withdrawn.c.event_id.in_(chunk)
                )
            )
        )
    new: dict[str, list[tuple[Any, ...]]] = {name: [] for name in FACTS}
    columns: dict[str, tuple[str, ...]] = {}
    for (record_type, recipient, event_id), found_shares in sorted(grouped.items()):
        found_shares.sort(key=lambda share: share.share_id)  # the same order, however batched
        one = parsed.get(id(found_shares[0])) if len(found_shares) == 1 else None
        row = one if one is not None else _fact(record_type, found_shares)
        row = row | {
            "recipient": recipient,
            "event_id": event_id,
            "status": status.get((recipient, event_id), "current"),
            "record_key": record_keys(recipient, event_id),
        }
        columns.setdefault(record_type, tuple(row))
        new[record_type].append(tuple(row.values()))
    for record_type, facts in new.items():
        if facts:
            insert_rows(conn, FACTS[record_type], columns[record_type], facts)


# ---------------------------------------------------------------------- facts
#
# What the views read of a share's fields, each value checked against the
# column it goes to, so that a share the database could not store is refused
# when it is read (``ViewBuilder.parse``), never when it is written.


def _fact(record_type: str, found: list[Share]) -> dict[str, Any]:
    """The fact columns of one event, from every share of it."""
    fields = _merge(share.fields for share in found)
    if record_type == "Incident":
        return _incident(found[0].source_authority, found[0].source_authority_type, fields)
    if record_type == "Referral":
        geo = _geo(fields, "home_geo")
        return {
            "referral": _text(fields, "referral_pseudo_id", referrals.c.referral),
            "programme": _text(fields, "programme_code", referrals.c.programme),
            "week": _week(_text(fields, "referral_datetime")),
            "age_band": _text(fields, "age_band", referrals.c.age_band),
            "msoa": _code(geo, "msoa21cd", referrals.c.msoa),
        }
    return {
        "referral": _text(fields, "referral_pseudo_id", outcomes.c.referral),
        "outcome_type": _text(fields, "outcome_type", outcomes.c.outcome_type),
        "intervention": _text(fields, "intervention_type", outcomes.c.intervention),
        "week": _week(_text(fields, "outcome_date")),
    }


#: Which parts of an incident's time a source's precision leaves unknown: a
#: time known only by its day has no hour, one known only by its month has no
#: week or weekday either (its value is the month's first instant).
_UNKNOWN_AT = {"DAY": {"hour"}, "MONTH": {"hour", "dow", "week"}}


def _incident(source: str, source_type: str, fields: dict[str, Any]) -> dict[str, Any]:
    geo = _geo(fields, "geo")
    moment = _local(_text(fields, "assault_datetime") or _text(fields, "arrival_datetime"))
    precision = _text(fields, "occurred_precision")
    if precision is not None and precision not in ("MINUTE", "HOUR", "DAY", "MONTH", "UNKNOWN"):
        raise UnusableShare("fields.occurred_precision", "bad_value", "not a time precision")
    unknown = _UNKNOWN_AT.get(precision or "", set())
    if "assault_datetime" not in fields:
        unknown = set()  # the arrival's time, which the precision does not describe
    return {
        "source_authority": source,
        "source_type": _text(
            {"source_authority_type": source_type},
            "source_authority_type",
            incidents.c.source_type,
            within="share",
        ),
        "incident_source": _text(fields, "incident_source", incidents.c.incident_source),
        "lsoa": _code(geo, "lsoa21cd", incidents.c.lsoa),
        "msoa": _code(geo, "msoa21cd", incidents.c.msoa),
        "lad": _code(geo, "lad_cd", incidents.c.lad),
        "week": (moment.date() - timedelta(days=moment.weekday())).isoformat()
        if moment and "week" not in unknown
        else None,
        "month": f"{moment.year:04d}-{moment.month:02d}" if moment else None,
        "hour": moment.hour if moment and "hour" not in unknown else None,
        "dow": moment.weekday() if moment and "dow" not in unknown else None,
        "category": _text(fields, "offence_group", incidents.c.category),
        "method": _text(fields, "assault_method", incidents.c.method),
        "age_band": _text(fields, "victim_age_band", incidents.c.age_band),
        "knife": _flag(fields, "knife_flag", incidents.c.knife),
        "injury_intent": _text(fields, "injury_intent", incidents.c.injury_intent),
        "police_outcome": _text(fields, "police_outcome", incidents.c.police_outcome),
        "subject": _text(fields, "subject_pseudo_id", incidents.c.subject),
    }


def _retracted(fields: dict[str, Any]) -> str | None:
    """The id of the event a retraction withdraws."""
    found = fields.get("retracted_event_id")
    if found is not None and not (isinstance(found, str) and UUID_PATTERN.fullmatch(found)):
        raise UnusableShare("fields.retracted_event_id", "bad_value", "not an event id")
    return found


def _text(
    fields: dict[str, Any], name: str, column: Column[Any] | None = None, within: str = "fields"
) -> str | None:
    found = fields.get(name)
    if found is None:
        return None
    where = f"{within}.{name}"
    if not isinstance(found, str):
        raise UnusableShare(where, "wrong_type", "not a string")
    limit = column.type.length if column is not None and isinstance(column.type, String) else None
    if limit is not None and len(found) > limit:
        raise UnusableShare(where, "too_long", f"{len(found)} characters is more than {limit}")
    return found


def _flag(fields: dict[str, Any], name: str, column: Column[Any]) -> bool | None:
    found = fields.get(name)
    if found is not None and not (isinstance(column.type, Boolean) and isinstance(found, bool)):
        raise UnusableShare(f"fields.{name}", "wrong_type", "not true, false or null")
    return found


def _geo(fields: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """The area codes of a geography field, and where they are."""
    found = fields.get(name)
    if found is not None and not isinstance(found, dict):
        raise UnusableShare(f"fields.{name}", "wrong_type", "not an object of area codes")
    return f"fields.{name}", found or {}


def _code(geo: tuple[str, dict[str, Any]], name: str, column: Column[Any]) -> str | None:
    within, codes = geo
    return _text(codes, name, column, within)


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


def _local(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(LONDON)
    except (ValueError, OverflowError):  # not a time, or one England's calendar cannot hold
        return None


def _week(value: str | None) -> str | None:
    if value is None:
        return None
    moment = _local(value) if "T" in value else None
    try:
        day = moment.date() if moment else date.fromisoformat(value)
    except ValueError:
        return None
    return (day - timedelta(days=day.weekday())).isoformat()
