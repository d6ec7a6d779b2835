"""The view tables: one row per share kept, and the fact tables built from them.

``view_shares`` keeps every share a recipient receives (one row per
share_id, as the canonical JSON it arrived as). The fact tables hold one row
per (event, recipient), merged from every share of that event the recipient
received; ``status`` is ``current``, ``retracted`` or ``superseded``, and the
aggregate views (``hub.views.queries``) count only ``current`` rows.
``view_withdrawn`` remembers which events a retraction or a newer version
withdrew, whichever arrived first. ``view_offsets`` and ``view_rejects`` are
the sink's (``hub.sink``), and ``view_heartbeat`` says when the builder last
caught up (``hub.views.freshness``).

All of it is derived from the shared topics, so it can be dropped and
rebuilt at any time (``svdhub views rebuild``).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
)

from hub.sink import offsets_table, rejects_table

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
    # The discloser's type (POLICE, ICB_ED...): what kind of record this is
    # even where an agreement does not release incident_source.
    Column("source_type", String(32)),
    Column("incident_source", String(32)),
    Column("lsoa", String(16)),
    Column("msoa", String(16)),
    Column("lad", String(16), index=True),
    Column("week", String(10), index=True),  # Monday, ISO date (England)
    # The calendar month (England), also where the week is unknown (a time
    # known only by its month, as police.uk gives it).
    Column("month", String(7)),
    Column("hour", Integer),  # 0-23, England
    Column("dow", Integer),  # 0 Monday .. 6 Sunday
    Column("category", String(64)),
    Column("method", String(32)),
    Column("age_band", String(16)),
    Column("knife", Boolean),
    Column("injury_intent", String(16)),  # ASSAULT, SELF_HARM... (ED sources)
    Column("police_outcome", String(32)),  # the crime's latest outcome, grouped (police)
    Column("subject", String(64), index=True),  # the recipient-scoped pseudonym
    Column("record_key", Integer, nullable=False),  # hub.views.cellkey
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
    Column("record_key", Integer, nullable=False),
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
    Column("record_key", Integer, nullable=False),
)

withdrawn = Table(
    "view_withdrawn",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("recipient", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # retracted or superseded
)

offsets = offsets_table(metadata, "view")
rejects = rejects_table(metadata, "view")

heartbeat = Table(
    "view_heartbeat",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("checked_at", String(40), nullable=False),  # the builder was caught up then
)

FACTS = {"Incident": incidents, "Referral": referrals, "Outcome": outcomes}


def create(engine: Engine) -> None:
    metadata.create_all(engine)


def drop(engine: Engine) -> None:
    metadata.drop_all(engine)


def outdated(engine: Engine) -> bool:
    """Whether the tables predate the current layout (fact rows keyed by event
    first, with record keys; the sink's offsets and rejects tables). They are
    derived, so the builder drops and rebuilds them."""
    found = inspect(engine)
    for table in (incidents, referrals, outcomes, offsets, rejects):
        if not found.has_table(table.name):
            continue
        if table is incidents:
            key = found.get_pk_constraint(table.name)["constrained_columns"]
            if list(key) != [column.name for column in table.primary_key.columns]:
                return True
        if {c["name"] for c in found.get_columns(table.name)} != {c.name for c in table.columns}:
            return True
    return False
