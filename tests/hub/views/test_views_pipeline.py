"""The views on a real pipeline: synthetic extracts -> connectors -> enforcer ->
`svdhub views run`, checked against an independent count from the raw events,
then rebuilt from the beginning into identical tables.

Each component connects as its own principal of the pipeline's namespace:
the connectors as ``connector-<authority>``, the enforcer as ``enforcer``, the
view builder as ``views``."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from kafka import KafkaProducer
from sqlalchemy import create_engine, select

from hub.access.plan import VIEWS
from hub.views import figures, queries
from hub.views.catalogue import period_of
from hub.views.tables import incidents, rejects, shares
from tests.fixtures.records import OTHER_SIGNER, a_share
from tests.fixtures.views import snapshot
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import Pipeline
from wire.audit import AuditRecord
from wire.envelope import EventReader
from wire.geography import GeographyLookup
from wire.kafka_client import ClientSettings
from wire.signing import Verifier

# The first test builds the pipeline (about 60 s alone, more on a busy machine).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CONFIGS = sorted((helpers.POLICIES.parent / "connectors" / "config").glob("*.yaml"))
LONDON = ZoneInfo("Europe/London")
LOOKUP = GeographyLookup.synthetic_sample()
CSP_AREAS = {
    party: str(details["area"])
    for party, details in yaml.safe_load(
        (helpers.POLICIES / "parties.yaml").read_text(encoding="utf-8")
    )["recipients"].items()
    if party.startswith("csp-")
}


@pytest.fixture(scope="module")
def pipeline(
    kafka_admin: ClientSettings,
    opa_url: str,
    opa_token: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    made = Pipeline(kafka_admin, opa_url, opa_token, tmp_path_factory.mktemp("views") / "home")
    try:
        made.publish_samples(CONFIGS, "--days", "14", "--seed", "5")
        made.start_enforcer()
        made.wait_for_expected(made.expected(made.raw_messages()), timeout=300)
    finally:
        made.stop()
    yield made


def views(pipeline: Pipeline, database: str, *args: str, timeout: float = 300) -> str:
    """``svdhub views ARGS`` over ``database``, as the views' principal; its output."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "views",
            *args,
            "--database",
            database,
            "--credentials",
            str(pipeline.credentials(VIEWS)),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=pipeline.env,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def raw_incidents(pipeline: Pipeline) -> list[dict[str, object]]:
    """Every current incident in the raw topics: (authority, LAD, week), counted
    straight from the signed events, once per event id, with superseded and
    retracted versions left out."""
    reader = EventReader(helpers.CODEC, Verifier(pipeline.keys.registry()))
    by_id = {}
    for message in pipeline.raw_messages():
        event = reader.read(message.value or b"")
        by_id[event.event_id] = event  # a row sent twice is one event
    events = list(by_id.values())
    replaced = {str(e.envelope["supersedes"]) for e in events if e.envelope["supersedes"]}
    replaced |= {
        str(e.record["retracted_event_id"]) for e in events if e.record_type == "Retraction"
    }
    found = []
    for event in events:
        if event.record_type != "Incident" or event.event_id in replaced:
            continue
        record = event.record
        geo = record["geo"] or {}
        lad = geo.get("lad_cd") or (
            LOOKUP.area(geo["lsoa21cd"]).lad_cd if geo.get("lsoa21cd") else None
        )
        moment = (record["assault_datetime"] or record["arrival_datetime"]).astimezone(LONDON)
        week = (moment.date() - timedelta(days=moment.weekday())).isoformat()
        found.append(
            {
                "authority": event.envelope["source_authority"],
                "lad": lad,
                "week": week,
                "source": record["incident_source"],
                "subject": record.get("subject_pseudo_id"),
                "quarter": period_of(week, "quarter"),
            }
        )
    return found


def incident_places(pipeline: Pipeline) -> dict[str, tuple[str | None, str]]:
    """Every incident version in the raw topics: event id -> (LAD, week)."""
    reader = EventReader(helpers.CODEC, Verifier(pipeline.keys.registry()))
    found = {}
    for message in pipeline.raw_messages():
        event = reader.read(message.value or b"")
        if event.record_type != "Incident":
            continue
        geo = event.record["geo"] or {}
        lsoa = geo.get("lsoa21cd")
        lad = geo.get("lad_cd") or (LOOKUP.area(lsoa).lad_cd if lsoa else None)
        moment = event.record["assault_datetime"].astimezone(LONDON)
        week = (moment.date() - timedelta(days=moment.weekday())).isoformat()
        found[event.event_id] = (lad, week)
    return found


def current_for(recipient: str, records: list[AuditRecord]) -> set[str]:
    """The incidents (hub event ids) ``recipient`` holds by the audit: those shared
    to it, less those a version shared to it later supersedes and those a
    retraction shared to it withdraws."""
    allowed = [r for r in records if r.decision == "allow" and r.recipient == recipient]
    shared = {r.event_id for r in allowed if r.record_type == "Incident" and r.event_id}
    gone = {r.supersedes for r in allowed if r.record_type == "Incident" and r.supersedes}
    gone |= {r.retracts for r in allowed if r.record_type == "Retraction" and r.retracts}
    return shared - gone


def moved_incidents(pipeline: Pipeline) -> list[str]:
    """The event ids of corrections that move an incident to another local authority."""
    reader = EventReader(helpers.CODEC, Verifier(pipeline.keys.registry()))
    events = {}
    for message in pipeline.raw_messages():
        event = reader.read(message.value or b"")
        if event.record_type == "Incident":
            events[event.event_id] = event

    def lad(event_id: str) -> str | None:
        geo = events[event_id].record["geo"] or {}
        lsoa = geo.get("lsoa21cd")
        return geo.get("lad_cd") or (LOOKUP.area(lsoa).lad_cd if lsoa else None)

    return [
        event_id
        for event_id, event in events.items()
        if event.envelope["supersedes"]
        and str(event.envelope["supersedes"]) in events
        and lad(event_id) != lad(str(event.envelope["supersedes"]))
    ]


def test_views_equal_a_recount_from_the_raw_events_and_rebuild_identically(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'views.sqlite'}"
    out = views(pipeline, database, "run", "--once")
    assert "shares applied" in out
    engine = create_engine(database)
    truth = raw_incidents(pipeline)

    # The VRP receives every police, ED and ambulance incident (LSOA, to the hour).
    expected = Counter((t["lad"], t["week"]) for t in truth)
    got = {
        (r["lad"], r["week"]): r["count"]
        for r in queries.incident_counts(engine, "vrp", ["lad", "week"])
    }
    assert got == dict(expected)

    # Each CSP receives police and ED incidents in its own area only, and counts
    # each once: an incident a correction moved to another area is withdrawn
    # from the first area's view (the hub sends that CSP a retraction). Their
    # agreements set min_k, so a CSP holds what the audit says it was sent
    # (some incidents are held back or withheld): its current versions.
    moved = moved_incidents(pipeline)
    print(f"incidents moved to another area by a correction: {len(moved)}")
    assert moved, "the synthetic data moves no incident between areas"
    places = incident_places(pipeline)
    audit_records = pipeline.audit()
    for csp, area in CSP_AREAS.items():
        held = current_for(csp, audit_records)
        local = Counter(places[event_id][1] for event_id in held if event_id in places)
        assert {places[event_id][0] for event_id in held if event_id in places} <= {area}
        rows = queries.incident_counts(engine, csp, ["lad", "week"])
        assert {r["lad"] for r in rows} <= {area}
        assert {r["week"]: r["count"] for r in rows} == dict(local), csp
        truth_local = sum(1 for t in truth if t["lad"] == area and t["authority"] != "wmas")
        print(f"{csp}: {sum(local.values())} of {truth_local} incidents in its area shared")

    # The VRP can link ED attendances to police records. Its true cells equal a
    # recount from the raw events (same person: the partnership pseudonym), and
    # the published figure stays within the noise and rounding of the cells.
    police = {t["subject"] for t in truth if t["source"] == "POLICE_CRIME" and t["subject"]}
    ed = [t for t in truth if t["source"] in {"ED_ISTV", "ECDS"}]
    recount_ed = Counter((t["lad"], t["quarter"]) for t in ed)
    recount_missing = Counter((t["lad"], t["quarter"]) for t in ed if t["subject"] not in police)
    cells = queries.ed_police_cells(engine, "vrp", "quarter")
    assert cells is not None
    assert {c.key: c.count for c in cells[0]} == dict(recount_ed)
    assert {c.key: c.count for c in cells[1]} == dict(recount_missing)
    linked = figures.ed_vs_police(engine, "vrp", queries.Filters())
    assert linked["available"] and linked["method"].startswith("linked")
    truth_share = sum(recount_missing.values()) / sum(recount_ed.values())
    print(
        f"ED not in police records: {linked['unreported_share']} published, {truth_share:.3f} true"
    )
    assert abs((linked["unreported_share"] or 0) - truth_share) < 0.08
    # A CSP cannot link: it is told so, never given a 0.
    unlinked = figures.ed_vs_police(engine, "csp-birmingham", queries.Filters())
    assert unlinked["available"] is False

    before = snapshot(engine)
    engine.dispose()
    views(pipeline, database, "rebuild")
    assert snapshot(create_engine(database)) == before


def test_forged_shares_are_rejected_recorded_and_never_counted(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Runs last in this module: it writes to the pipeline's shared topics, as
    anyone able to write to the broker could. A share the hub did not sign (none,
    or another key's) and the hub's own share for the VRP copied to Coventry's
    topic are each a reject with its code, counted, and change no view."""
    names = pipeline.names
    vrp, coventry = names.shared("vrp", "incident"), names.shared("csp-coventry", "incident")
    real = next(m for m in pipeline.shares() if m.topic == vrp)  # signed by the hub
    forged = a_share(900001, recipient="vrp")  # valid JSON, claims vrp
    producer = KafkaProducer(**pipeline.admin.kafka_python(), acks="all")
    sent = {}
    for topic, value, headers, code in [
        (vrp, forged.to_bytes(), [], "unsigned"),
        (vrp, forged.to_bytes(), OTHER_SIGNER.sign(forged.to_bytes()), "unknown_key"),
        (coventry, forged.to_bytes(), [], "unsigned"),
        (coventry, real.value, list(real.headers), "wrong_topic"),
    ]:
        meta = producer.send(topic, value=value, headers=headers).get(timeout=30)
        sent[(meta.topic, meta.partition, meta.offset)] = code
    producer.close()

    database = f"sqlite:///{tmp_path / 'views.sqlite'}"
    out = views(pipeline, database, "run", "--once")
    assert "4 rejected (3 not signed by the hub" in out
    engine = create_engine(database)
    with engine.connect() as conn:
        found = {
            (row.topic, row.partition, row.offset): row.code
            for row in conn.execute(
                select(rejects.c.topic, rejects.c.partition, rejects.c.offset, rejects.c.code)
            )
        }
        kept = set(conn.execute(select(shares.c.share_id)).scalars())
        events = set(conn.execute(select(incidents.c.event_id)).scalars())
    assert found == sent
    assert forged.share_id not in kept and forged.event_id not in events
    truth = Counter((t["lad"], t["week"]) for t in raw_incidents(pipeline))
    got = {
        (r["lad"], r["week"]): r["count"]
        for r in queries.incident_counts(engine, "vrp", ["lad", "week"])
    }
    assert got == dict(truth)
    engine.dispose()
