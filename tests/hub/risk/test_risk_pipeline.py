"""k-anonymity end to end, on the real stack: incidents through the enforcer (a
process, as in production), then ``svdhub risk report`` over what recipients
received, checked against a recount done here from the shares alone. No CSP
or public record-level stream holds a record with k below its agreement's
min_k; a record that cannot reach min_k even at the coarsest level is
withheld, audited with the code ``k_anonymity``; and the report's exit codes
gate on it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaProducer

from tests.fixtures.records import an_id
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import Pipeline, pair_id, payload
from wire.audit import AuditRecord, decision_id
from wire.geography import GeographyLookup
from wire.kafka_client import ClientSettings
from wire.shares import Share

pytestmark = pytest.mark.slow

LOOKUP = GeographyLookup.synthetic_sample()
BIRMINGHAM, COVENTRY = "E08000025", "E08000026"
#: Monday 5 October 2026, 09:10 BST.
MONDAY = datetime(2026, 10, 5, 8, 10, tzinfo=UTC)
LATER = MONDAY + timedelta(days=10)
MIN_K = 5
AVRO = helpers.POLICIES.parent / "schemas" / "wire" / "avro" / "Incident.avsc"


def geo(lsoa: str) -> dict[str, Any]:
    return {"lsoa21cd": lsoa, "msoa21cd": None, "lad_cd": LOOKUP.area(lsoa).lad_cd, "ward_cd": None}


def incidents() -> tuple[list[dict[str, Any]], int]:
    """The incidents, and the number of the one that can never reach min_k."""
    birmingham = LOOKUP.lsoas(BIRMINGHAM)
    coventry = LOOKUP.lsoas(COVENTRY)
    made = []
    # Seven in one LSOA in one hour: shared as agreed.
    made += [helpers.incident("wmp", n, geo=geo(birmingham[0]), when=MONDAY) for n in range(1, 8)]
    # Five in the five LSOAs of another MSOA, one an hour: generalised before they go.
    msoa = LOOKUP.area(birmingham[5]).msoa21cd
    one_msoa = [lsoa for lsoa in birmingham if LOOKUP.area(lsoa).msoa21cd == msoa]
    assert msoa != LOOKUP.area(birmingham[0]).msoa21cd and len(one_msoa) == 5
    made += [
        helpers.incident("wmp", 10 + n, geo=geo(lsoa), when=MONDAY + timedelta(hours=n))
        for n, lsoa in enumerate(one_msoa[:5])
    ]
    # One in Coventry, at a school: nothing like it that week.
    lone = 20
    made.append(
        helpers.incident("wmp", lone, geo=geo(coventry[0]), when=MONDAY, location_type="SCHOOL")
    )
    # Ten days on, six more in each city: every class of that Monday has closed.
    made += [helpers.incident("wmp", 30 + n, geo=geo(birmingham[1]), when=LATER) for n in range(6)]
    made += [helpers.incident("wmp", 40 + n, geo=geo(coventry[1]), when=LATER) for n in range(6)]
    return made, lone


@pytest.fixture(scope="module")
def pipeline(
    kafka_admin: ClientSettings,
    opa_url: str,
    opa_token: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    made = Pipeline(kafka_admin, opa_url, opa_token, tmp_path_factory.mktemp("risk") / "home")
    records, lone = incidents()
    try:
        # The Monday first, so the later ones find its classes still open.
        monday = [r for r in records if r["assault_datetime"] < LATER]
        made.publish("Incident", monday)
        made.start_enforcer()
        made.wait_for_audit(len(made.expected()))
        made.publish("Incident", [r for r in records if r["assault_datetime"] >= LATER])
        withheld = decision_id(
            helpers.the_event_id("wmp", f"wmp-incident-{lone}"), "csp-coventry", "wmp-csps"
        )
        helpers.wait_until(
            lambda: withheld in {r.decision_id for r in made.audit()},
            120,
            "the lone record's decision",
        )
        made.wait_for_audit(len(made.expected()))
    finally:
        made.stop()
    yield made


def risk(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "risk",
            "report",
            "--credentials",
            str(pipeline.admin_credentials()),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=pipeline.env,
        timeout=300,
    )


def quasi_identifiers() -> set[str]:
    """Incident fields classified quasi_identifier, read from the Avro schema itself."""
    schema = json.loads(AVRO.read_text(encoding="utf-8"))
    return {f["name"] for f in schema["fields"] if f.get("classification") == "quasi_identifier"}


def recount(shares: list[Share]) -> dict[tuple[str, str], Counter[str]]:
    """Per (recipient, agreement): the size of each class of the incidents held,
    counted here without the hub's code (no retractions or corrections here)."""
    qi = quasi_identifiers()
    classes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for share in {s.share_id: s for s in shares}.values():
        if share.record_type != "Incident":
            continue
        key = json.dumps({k: v for k, v in share.fields.items() if k in qi}, sort_keys=True)
        classes[(share.recipient, share.agreement_id)][key] += 1
    return classes


def test_no_record_level_stream_is_below_its_min_k(pipeline: Pipeline) -> None:
    done = risk(pipeline, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    streams = {(s["recipient"], s["agreement_id"]): s for s in report["streams"]}
    shares = [payload(m) for m in pipeline.shares()]
    counted = recount(shares)
    assert set(streams) == set(counted)
    governed = {pair for pair, s in streams.items() if s["min_k"] is not None}
    assert {
        ("csp-birmingham", "wmp-csps"),
        ("csp-coventry", "wmp-csps"),
        ("public", "vrp-public"),
    } <= governed
    for pair in governed:
        sizes = counted[pair]
        # The recount: every class of every CSP and public stream has at least min_k.
        assert min(sizes.values()) >= MIN_K, (pair, sizes)
        # And the report says the same, record for record.
        stream = streams[pair]
        records = sum(sizes.values())
        assert stream["records"] == records and stream["classes"] == len(sizes)
        assert stream["below_min_k"] == 0 and stream["below_5"] == 0
        assert stream["k"]["1"] == stream["k"]["2-4"] == 0
        assert stream["k"]["5-9"] + stream["k"]["10+"] == records
        assert stream["smallest_k"] == min(sizes.values())
    # The VRP's agreement sets no min_k: its stream is measured, never failed.
    vrp = streams[("vrp", "wmp-vrp")]
    assert vrp["min_k"] is None and vrp["below_min_k"] is None
    # What min_k cost: the lone record withheld, nothing left held back.
    coventry = streams[("csp-coventry", "wmp-csps")]["decisions"]
    assert coventry == {"released": 6, "held_back": 0, "withheld": 1, "share_withheld": 0.1429}
    birmingham = streams[("csp-birmingham", "wmp-csps")]["decisions"]
    assert birmingham["withheld"] == birmingham["held_back"] == 0


def test_records_that_need_it_are_generalised(pipeline: Pipeline) -> None:
    shares = [payload(m) for m in pipeline.shares() if ".csp-birmingham." in m.topic]
    levels = Counter(
        (s.fields["geo"]["lsoa21cd"] is None, s.fields["assault_datetime"]) for s in shares
    )
    # The seven and the six as agreed (LSOA, hour); the five at MSOA, for the day.
    assert levels[(False, "2026-10-05T08:00:00Z")] == 7
    assert levels[(False, "2026-10-15T08:00:00Z")] == 6
    assert levels[(True, "2026-10-04T23:00:00Z")] == 5


def test_a_record_that_cannot_reach_min_k_is_withheld(pipeline: Pipeline) -> None:
    _, lone = incidents()
    event = helpers.the_event_id("wmp", f"wmp-incident-{lone}")
    about: list[AuditRecord] = [r for r in pipeline.audit() if r.event_id == event]
    coventry = [r for r in about if r.recipient == "csp-coventry"]
    (held,) = [r for r in coventry if r.decision_id != pair_id(r)]
    (final,) = [r for r in coventry if r.decision_id == pair_id(r)]
    assert held.reasons[0].code == "k_anonymity_held"
    assert final.decision_id == decision_id(event, "csp-coventry", "wmp-csps")
    assert (final.decision, [r.code for r in final.reasons]) == ("deny", ["k_anonymity"])
    assert final.shared_topic is None and final.fields_released == ()
    # The VRP, whose agreement sets no min_k, received it as ever.
    assert any(r.recipient == "vrp" and r.decision == "allow" for r in about)


def test_the_exit_codes(pipeline: Pipeline) -> None:
    """Runs last in this module: it writes to a shared topic."""
    table = risk(pipeline)
    assert table.returncode == 0, table.stderr
    assert "none below its agreement's min_k" in table.stdout
    for bad in (["--format", "xml"], ["--recipient", "nobody"], ["--window", "0"]):
        assert risk(pipeline, *bad).returncode == 2, bad
    # A share signed with the hub's key but made outside the enforcer (an enforcer
    # without min_k, say): alone in its class, below wmp-csps's min_k.
    stray = Share(
        share_id=an_id("stray-share"),
        event_id=an_id("stray-event"),
        event_type="INCIDENT",
        record_type="Incident",
        source_authority="wmp",
        source_authority_type="POLICE",
        supersedes=None,
        recipient="csp-birmingham",
        agreement_id="wmp-csps",
        policy_revision="sha256:stray",
        fields={
            "assault_datetime": "2026-10-15T03:00:00Z",
            "geo": {
                "lad_cd": BIRMINGHAM,
                "lsoa21cd": None,
                "msoa21cd": None,
                "region_cd": "E12000005",
            },
            "location_type": "WORK",
        },
    )
    producer = KafkaProducer(**pipeline.admin.kafka_python(), acks="all")
    value = stray.to_bytes()
    topic = pipeline.names.shared("csp-birmingham", "incident")
    producer.send(topic, value=value, headers=list(pipeline.hub_signer.sign(value))).get(timeout=30)
    producer.close()
    failing = risk(pipeline)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "1 with records below their agreement's min_k: csp-birmingham/wmp-csps/Incident" in (
        failing.stdout
    )
    only = risk(pipeline, "--recipient", "csp-coventry", "--format", "json")
    assert only.returncode == 0 and {
        s["recipient"] for s in json.loads(only.stdout)["streams"]
    } == {"csp-coventry"}
