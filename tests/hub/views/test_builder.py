"""The view builder on SQLite and PostgreSQL: idempotent by share id, merges the
shares of one event, applies retractions and supersedes in either order, and a
rebuild in another order gives identical tables."""

from __future__ import annotations

import random
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

from hub.sink import Message
from hub.views.builder import ViewBuilder
from hub.views.tables import incidents, outdated, rejects
from tests.fixtures.records import (
    HUB_KEYS,
    OTHER_SIGNER,
    a_retraction,
    a_share,
    an_id,
    hub_message,
    share_messages,
    signed,
)
from tests.fixtures.views import snapshot
from wire.shares import Share
from wire.topics import TopicNames

NAMES = TopicNames("t")


def event_id(n: int) -> str:
    return an_id(f"event-{n}")


def messages(shares: list[Share], first_offset: int = 0) -> list[Message]:
    return share_messages(shares, NAMES, first_offset)


def builder(engine: Engine) -> ViewBuilder:
    return ViewBuilder(engine, NAMES, keys=HUB_KEYS)


def rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(select(incidents)).mappings().all()
    return {row["event_id"]: dict(row) for row in found}


def test_a_share_becomes_a_fact_and_a_replay_changes_nothing(sql_engine: Engine) -> None:
    views = builder(sql_engine)
    done = views.apply(messages([a_share(1), a_share(2)]))
    assert (done.shares, done.replayed) == (2, 0)
    fact = rows(sql_engine)[event_id(1)]
    assert fact["status"] == "current"
    assert (fact["lad"], fact["msoa"], fact["lsoa"]) == ("E08000025", "E02900001", "E01900001")
    assert (fact["week"], fact["hour"], fact["dow"]) == ("2026-11-02", 23, 4)  # Friday 23:00
    before = snapshot(sql_engine)
    again = views.apply(messages([a_share(1), a_share(2)]))
    assert (again.shares, again.replayed) == (0, 2)
    assert snapshot(sql_engine) == before


def test_shares_of_one_event_under_two_agreements_merge(sql_engine: Engine) -> None:
    views = builder(sql_engine)
    linkage = a_share(
        3,
        agreement="ed-istv-vrp-linkage",
        subject_pseudo_id="abc",
        geo={"lsoa21cd": None, "msoa21cd": "E02900001", "lad_cd": "E08000025"},
    )
    views.apply(messages([a_share(3, incident_source="ED_ISTV"), linkage]))
    fact = rows(sql_engine)[event_id(3)]
    assert fact["subject"] == "abc"
    assert fact["lsoa"] == "E01900001"  # from the share that had it
    assert len(rows(sql_engine)) == 1


def test_retractions_and_supersedes_in_either_order(sql_engine: Engine) -> None:
    views = builder(sql_engine)
    retraction = a_retraction(90, event_id(4), reason="ENTERED_IN_ERROR")
    newer = a_share(6, supersedes=event_id(5))
    views.apply(messages([retraction, newer]))  # before the events they withdraw
    views.apply(messages([a_share(4), a_share(5)], first_offset=2))
    facts = rows(sql_engine)
    assert facts[event_id(4)]["status"] == "retracted"
    assert facts[event_id(5)]["status"] == "superseded"
    assert facts[event_id(6)]["status"] == "current"


def test_a_rebuild_in_another_order_gives_identical_tables(
    sql_engine: Engine, tmp_path: Any
) -> None:
    all_shares = [a_share(n, assault_datetime=f"2026-11-06T{n:02d}:00:00Z") for n in range(20)] + [
        a_retraction(90, event_id(7)),
        a_share(21, supersedes=event_id(8)),
    ]
    ordered = messages(all_shares)
    builder(sql_engine).apply(ordered)
    other = create_engine(f"sqlite:///{tmp_path / 'rebuilt.sqlite'}")
    shuffled = ordered[:]
    random.Random(4).shuffle(shuffled)  # noqa: S311 - an order, not a secret
    rebuilt = builder(other)
    for start in range(0, len(shuffled), 5):
        rebuilt.apply(shuffled[start : start + 5])
    assert snapshot(other) == snapshot(sql_engine)


def test_an_event_gets_the_same_rows_from_one_batch_or_from_many(
    sql_engine: Engine, tmp_path: Any
) -> None:
    """Events new to a batch get their rows from the shares in hand; events with
    earlier shares from what is kept. Both give the same rows, whatever the
    batches: the shares of an event merged in share id order, corrections,
    retractions and newer versions applied, record keys and types kept."""
    all_shares: list[Share] = []
    for n in range(30, 36):
        all_shares += [
            a_share(n, offence_group="ROBBERY", geo={"lsoa21cd": None, "lad_cd": "E08000026"}),
            a_share(n, agreement="ed-istv-vrp-linkage", subject_pseudo_id=f"s{n}"),
        ]
    all_shares += [
        a_retraction(91, event_id(31)),
        a_share(36, supersedes=event_id(32)),
        a_retraction(92, event_id(37)),  # before its event, in a later batch
        a_share(37),
    ]
    ordered = messages(all_shares)
    builder(sql_engine).apply(ordered)
    expected = snapshot(sql_engine)
    facts = rows(sql_engine)
    assert facts[event_id(31)]["status"] == "retracted"
    assert facts[event_id(32)]["status"] == "superseded"
    assert facts[event_id(37)]["status"] == "retracted"
    assert {fact["subject"] for fact in facts.values()} >= {f"s{n}" for n in range(30, 36)}
    assert all(fact["source_type"] == "POLICE" for fact in facts.values())
    assert all(isinstance(fact["record_key"], int) for fact in facts.values())
    for size, order in ((1, ordered), (3, ordered[::-1]), (7, ordered[3:] + ordered[:3])):
        other = create_engine(f"sqlite:///{tmp_path / f'by-{size}.sqlite'}")
        rebuilt = builder(other)
        for start in range(0, len(order), size):
            rebuilt.apply(order[start : start + size])
        assert snapshot(other) == expected, f"batches of {size}"


def test_unusable_messages_are_recorded_not_fatal(sql_engine: Engine) -> None:
    topic = NAMES.shared("vrp", "incident")
    elsewhere = a_share(4, recipient="csp-coventry")  # valid, but not on its own topic
    too_long = a_share(5, offence_group="X" * 65)  # valid share, longer than its column
    done = builder(sql_engine).apply(
        [
            hub_message(topic, 0, b"not json"),
            hub_message(topic, 1, b"{}"),
            hub_message(topic, 2, a_share(2).to_bytes().decode().encode("utf-16")),
            hub_message(topic, 3, elsewhere.to_bytes()),
            hub_message(topic, 4, too_long.to_bytes()),
            *messages([a_share(1)], 5),
        ]
    )
    assert (done.shares, done.rejected) == (1, 5)
    with sql_engine.connect() as conn:
        found = conn.execute(select(rejects.c.offset, rejects.c.code).order_by("offset")).all()
    assert [tuple(row) for row in found] == [
        (0, "not_json"),
        (1, "missing"),
        (2, "not_utf8"),
        (3, "wrong_topic"),
        (4, "too_long"),
    ]


def test_forged_shares_are_rejected_recorded_counted_and_never_applied(
    sql_engine: Engine,
) -> None:
    """Unsigned, signed by another key, or a hub-signed share for the VRP on
    Coventry's topic: none reaches the views, each is a reject with its code."""
    coventry = NAMES.shared("csp-coventry", "incident")
    vrp = NAMES.shared("vrp", "incident")
    for_vrp = a_share(7)  # recipient vrp
    views = builder(sql_engine)
    done = views.apply(
        [
            Message(vrp, 0, 0, 0, a_share(1).to_bytes()),  # valid JSON, no signature
            signed(Message(vrp, 0, 1, 0, a_share(2).to_bytes()), OTHER_SIGNER),
            hub_message(coventry, 0, for_vrp.to_bytes()),  # claims vrp on coventry's topic
            Message(coventry, 0, 1, 0, for_vrp.to_bytes()),  # the same, unsigned
        ]
    )
    assert (done.shares, done.rejected, done.forged) == (0, 4, 3)
    with sql_engine.connect() as conn:
        found = conn.execute(
            select(rejects.c.topic, rejects.c.offset, rejects.c.code).order_by(
                rejects.c.topic, rejects.c.offset
            )
        ).all()
    assert sorted(tuple(row) for row in found) == sorted(
        [
            (vrp, 0, "unsigned"),
            (vrp, 1, "unknown_key"),
            (coventry, 0, "wrong_topic"),
            (coventry, 1, "unsigned"),
        ]
    )
    assert rows(sql_engine) == {}
    assert views.reject_count() == 4


def test_times_at_the_ends_of_the_calendar_are_kept_without_a_week(sql_engine: Engine) -> None:
    """A share may carry any time its contract allows; one that cannot be placed in
    England's calendar is kept like one that is not a time at all."""
    edges = [
        a_share(1, assault_datetime="0001-01-01T00:00:00Z"),  # before year 1 in London
        a_share(2, assault_datetime="9999-12-31T23:59:59-01:00"),  # after year 9999 in UTC
        a_share(3, assault_datetime="not a time"),
    ]
    done = builder(sql_engine).apply(messages(edges))
    assert (done.shares, done.rejected) == (3, 0)
    facts = rows(sql_engine)
    assert [(facts[event_id(n)]["week"], facts[event_id(n)]["hour"]) for n in (1, 2, 3)] == [
        (None, None)
    ] * 3


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
            insert(offsets_then).values(
                topic=NAMES.shared("vrp", "incident"), partition=0, next_offset=9, latest_ms=0
            )
        )
    assert outdated(sql_engine)
    views = builder(sql_engine)
    assert not outdated(sql_engine)
    assert views.stored_offsets() == {}
    views.apply(messages([a_share(1)]))
    assert set(rows(sql_engine)) == {event_id(1)}
    assert not outdated(sql_engine)  # and a current layout is left alone
    builder(sql_engine)
    assert set(rows(sql_engine)) == {event_id(1)}


def test_a_time_known_only_by_its_day_or_month_has_no_finer_parts(sql_engine: Engine) -> None:
    """police.uk gives a month, kept as its first instant: the views must not
    count those crimes at midnight on the 1st. A day keeps its week and
    weekday, a month neither; an unusable precision is a reject."""
    shares = [
        a_share(1, assault_datetime="2026-06-01T00:00:00Z", occurred_precision="MONTH"),
        a_share(2, assault_datetime="2026-06-17T00:00:00Z", occurred_precision="DAY"),
        a_share(3, assault_datetime="2026-06-17T14:00:00Z", occurred_precision="MINUTE"),
        a_share(4, assault_datetime="2026-06-17T14:00:00Z", occurred_precision=None),
        a_share(5, assault_datetime="2026-06-17T14:00:00Z", occurred_precision="YEAR"),
    ]
    done = builder(sql_engine).apply(messages(shares))
    assert (done.shares, done.rejected) == (4, 1)
    facts = rows(sql_engine)
    parts = {
        n: tuple(facts[event_id(n)][k] for k in ("month", "week", "dow", "hour"))
        for n in (1, 2, 3, 4)
    }
    assert parts == {
        1: ("2026-06", None, None, None),  # its calendar month (England)
        2: ("2026-06", "2026-06-15", 2, None),
        3: ("2026-06", "2026-06-15", 2, 15),  # 14:00 UTC is 15:00 in London in June
        4: ("2026-06", "2026-06-15", 2, 15),
    }
