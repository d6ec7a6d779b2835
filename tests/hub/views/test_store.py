"""The view builder on SQLite and PostgreSQL: idempotent by share id, merges the
shares of one event, applies retractions and supersedes in either order, and a
rebuild in another order gives identical tables."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)

from hub.views.store import (
    Message,
    ViewBuilder,
    incidents,
    outdated,
    snapshot,
    stored_offsets,
)

TOPIC = "t.svd.shared.vrp.incident"


def event_id(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"event-{n}"))


def share(
    n: int, recipient: str = "vrp", agreement: str = "wmp-vrp", **fields: Any
) -> dict[str, Any]:
    return {
        "share_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{n}/{recipient}/{agreement}")),
        "record_type": "Incident",
        "event_id": event_id(n),
        "event_type": "INCIDENT",
        "source_authority": "wmp",
        "source_authority_type": "POLICE",
        "supersedes": None,
        "recipient": recipient,
        "agreement_id": agreement,
        "policy_revision": "sha256:1",
        "fields": {
            "incident_source": "POLICE_CRIME",
            "assault_datetime": "2026-11-06T23:00:00Z",
            "offence_group": "VIOLENCE_WITH_INJURY",
            "assault_method": "KNIFE_SHARP",
            "victim_age_band": "18-24",
            "geo": {
                "lsoa21cd": "E01900001",
                "msoa21cd": "E02900001",
                "lad_cd": "E08000025",
                "region_cd": "E12000005",
            },
            **fields,
        },
    }


def messages(shares: list[dict[str, Any]], first_offset: int = 0) -> list[Message]:
    return [
        Message(TOPIC, 0, first_offset + i, 1_700_000_000_000 + i, json.dumps(s).encode())
        for i, s in enumerate(shares)
    ]


def rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(select(incidents)).mappings().all()
    return {row["event_id"]: dict(row) for row in found}


def test_a_share_becomes_a_fact_and_a_replay_changes_nothing(sql_engine: Engine) -> None:
    builder = ViewBuilder(sql_engine)
    done = builder.apply(messages([share(1), share(2)]))
    assert (done.shares, done.replayed) == (2, 0)
    fact = rows(sql_engine)[event_id(1)]
    assert fact["status"] == "current"
    assert (fact["lad"], fact["msoa"], fact["lsoa"]) == ("E08000025", "E02900001", "E01900001")
    assert (fact["week"], fact["hour"], fact["dow"]) == ("2026-11-02", 23, 4)  # Friday 23:00
    before = snapshot(sql_engine)
    again = builder.apply(messages([share(1), share(2)]))
    assert (again.shares, again.replayed) == (0, 2)
    assert snapshot(sql_engine) == before


def test_shares_of_one_event_under_two_agreements_merge(sql_engine: Engine) -> None:
    builder = ViewBuilder(sql_engine)
    linkage = share(3, agreement="ed-istv-vrp-linkage", subject_pseudo_id="abc")
    linkage["fields"]["geo"] = {"lsoa21cd": None, "msoa21cd": "E02900001", "lad_cd": "E08000025"}
    builder.apply(messages([share(3, incident_source="ED_ISTV"), linkage]))
    fact = rows(sql_engine)[event_id(3)]
    assert fact["subject"] == "abc"
    assert fact["lsoa"] == "E01900001"  # from the share that had it
    assert len(rows(sql_engine)) == 1


def test_retractions_and_supersedes_in_either_order(sql_engine: Engine) -> None:
    builder = ViewBuilder(sql_engine)
    retraction = {
        **share(90, agreement="wmp-vrp"),
        "record_type": "Retraction",
        "fields": {"retracted_event_id": event_id(4), "reason": "ENTERED_IN_ERROR"},
    }
    newer = {**share(6), "supersedes": event_id(5)}
    builder.apply(messages([retraction, newer]))  # before the events they withdraw
    builder.apply(messages([share(4), share(5)], first_offset=2))
    facts = rows(sql_engine)
    assert facts[event_id(4)]["status"] == "retracted"
    assert facts[event_id(5)]["status"] == "superseded"
    assert facts[event_id(6)]["status"] == "current"


def test_a_rebuild_in_another_order_gives_identical_tables(
    sql_engine: Engine, tmp_path: Any
) -> None:
    retraction = {
        **share(90),
        "record_type": "Retraction",
        "fields": {"retracted_event_id": event_id(7), "reason": "DUPLICATE"},
    }
    all_shares = [share(n, hour=n) for n in range(20)] + [
        retraction,
        {**share(21), "supersedes": event_id(8)},
    ]
    ordered = messages(all_shares)
    ViewBuilder(sql_engine).apply(ordered)
    other = create_engine(f"sqlite:///{tmp_path / 'rebuilt.sqlite'}")
    shuffled = ordered[:]
    random.Random(4).shuffle(shuffled)  # noqa: S311 - an order, not a secret
    rebuilt = ViewBuilder(other)
    for start in range(0, len(shuffled), 5):
        rebuilt.apply(shuffled[start : start + 5])
    assert snapshot(other) == snapshot(sql_engine)


def test_unusable_messages_are_counted_not_fatal(sql_engine: Engine) -> None:
    done = ViewBuilder(sql_engine).apply(
        [
            Message(TOPIC, 0, 0, 0, b"not json"),
            Message(TOPIC, 0, 1, 0, b"{}"),
            Message(TOPIC, 0, 2, 0, json.dumps(share(2)).encode("utf-16")),  # JSON, not UTF-8
            *messages([share(1)], 3),
        ]
    )
    assert (done.shares, done.skipped) == (1, 3)


def test_tables_of_the_old_layout_are_dropped_for_a_rebuild(sql_engine: Engine) -> None:
    """Fact rows were keyed by recipient first; such tables are dropped (offsets
    included), so the builder reads the shared topics again from the start."""
    old = MetaData()
    Table(
        "view_incidents",
        old,
        Column("recipient", String(64), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("status", String(16)),
    )
    offsets_then = Table(
        "view_offsets",
        old,
        Column("topic", String(255), primary_key=True),
        Column("partition", Integer, primary_key=True, autoincrement=False),
        Column("next_offset", BigInteger),
        Column("latest_ms", BigInteger),
    )
    old.create_all(sql_engine)
    with sql_engine.begin() as conn:
        conn.execute(
            insert(offsets_then).values(topic=TOPIC, partition=0, next_offset=9, latest_ms=0)
        )
    assert outdated(sql_engine)
    builder = ViewBuilder(sql_engine)
    assert not outdated(sql_engine)
    assert stored_offsets(sql_engine) == {}
    builder.apply(messages([share(1)]))
    assert set(rows(sql_engine)) == {event_id(1)}
    assert not outdated(sql_engine)  # and a current layout is left alone
    ViewBuilder(sql_engine)
    assert set(rows(sql_engine)) == {event_id(1)}
