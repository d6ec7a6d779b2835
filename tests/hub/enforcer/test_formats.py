"""Real public formats end to end: the sample config of a format, its fixture
(written from the published layout; no real data), the connector as a
process, the enforcer as a process on the secured broker and OPA, and what
each recipient receives.

The formats share one pipeline (one set of topics, one enforcer), each test
reading the shares of its own events: the samples' connectors run, then
police.uk's outcomes files arrive and the force moves from the street
sample to the outcomes sample for its next run, then the enforcer runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.formats import ecds, workbooks
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import Pipeline, pair_id, payload
from wire.envelope import EventReader
from wire.kafka_client import ClientSettings
from wire.shares import Share
from wire.signing import Verifier

pytestmark = pytest.mark.slow

FORMATS = Path(__file__).resolve().parents[2] / "fixtures" / "formats"
CONFIGS = helpers.POLICIES.parent / "connectors" / "config" / "formats"
OUTCOMES = "police-uk-outcomes.yaml"
#: The samples of the first runs, each with its fixture (_extracts).
SAMPLES = (
    "police-uk-street.yaml",
    "council-referrals-xlsx.yaml",
    "ecds-sql.yaml",
    "istv-xml.yaml",
)


@dataclass
class Shared:
    """What the shared pipeline's connectors published and the enforcer shared."""

    messages: list[Any]  # every shared message
    events: dict[str, int]  # config -> how many events its connector published
    outcomes_run: str  # what the run of the outcomes sample printed
    checks: dict[str, str]  # config -> what `connector check` printed before any key existed
    runs: dict[str, str]  # config -> what its first run printed
    systems: dict[str, str]  # event id, as a recipient sees it -> its config's source_system

    def of(self, config: str) -> list[Any]:
        """The shared messages of the events ``config``'s connector published."""
        system = _source_system(config)
        return [m for m in self.messages if self.systems[payload(m).event_id] == system]


def _source_system(config: str) -> str:
    for line in (CONFIGS / config).read_text(encoding="utf-8").splitlines():
        if line.startswith("source_system:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{config} has no source_system")


def _extracts(authorities: Path) -> None:
    """Every single-run sample's fixture, where its config reads it."""
    police = authorities / "wmp" / "extracts" / "police-uk"
    police.mkdir(parents=True)
    shutil.copy(FORMATS / "police-uk-street.csv", police / "2026-06-west-midlands-street.csv")
    referrals = authorities / "bcc-youth" / "extracts" / "referrals"
    referrals.mkdir(parents=True)
    workbooks.council_referrals(referrals / "2026-11.xlsx")
    ecds.ecds_extract(authorities / "uhb-ed" / "extracts" / "ecds" / "ecds.sqlite")
    istv = authorities / "uhb-ed" / "extracts" / "istv"
    (istv / "schema").mkdir(parents=True)
    shutil.copy(FORMATS / "istv.xml", istv / "2026-11-RRK15.xml")
    shutil.copy(FORMATS / "istv.xsd", istv / "schema" / "istv.xsd")


def _wait_for_decisions(pipeline: Pipeline) -> None:
    """Wait until the enforcer has made every decision on what is in the raw topics."""
    expected = pipeline.expected(pipeline.raw_messages())
    helpers.wait_until(
        lambda: set(expected) <= {pair_id(r) for r in pipeline.audit()}, 120, "every decision"
    )


@pytest.fixture(scope="module")
def shared(
    kafka_admin: ClientSettings,
    opa_url: str,
    opa_token: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Shared]:
    pipeline = Pipeline(kafka_admin, opa_url, opa_token, tmp_path_factory.mktemp("formats"))
    try:
        _extracts(pipeline.authorities)
        checks = {
            c: pipeline.svdhub("connector", "check", str(CONFIGS / c), "--rows", "1000").stdout
            for c in SAMPLES
        }
        printed = pipeline.publish_samples([CONFIGS / c for c in SAMPLES], "--days", "1")
        runs = {c: printed[str(CONFIGS / c)] for c in SAMPLES}
        pipeline.start_enforcer()
        _wait_for_decisions(pipeline)
        # A month on, the outcomes files arrive (an earlier version read after
        # its correction would not be shared: the first versions go first).
        police = pipeline.authorities / "wmp" / "extracts" / "police-uk"
        for month in ("07", "08"):
            shutil.copy(
                FORMATS / f"police-uk-outcomes-2026-{month}.csv",
                police / f"2026-{month}-west-midlands-outcomes.csv",
            )
        outcomes_run = pipeline.svdhub("connector", "run", str(CONFIGS / OUTCOMES)).stderr
        _wait_for_decisions(pipeline)
        reader = EventReader(helpers.CODEC, Verifier(pipeline.keys.registry()))
        systems = {}
        for message in pipeline.raw_messages():
            assert message.value is not None
            event = reader.read(message.value)
            systems[event.event_id] = str(event.envelope["source_system"])
        events = {
            c: sum(s == _source_system(c) for s in systems.values()) for c in (*SAMPLES, OUTCOMES)
        }
        messages = pipeline.shares()
        # Each recipient sees its own id of an event: map those back.
        scoped = pipeline.scoped_ids(systems, {payload(m).recipient for m in messages})
        yield Shared(
            messages,
            events,
            outcomes_run,
            checks,
            runs,
            {k: systems[v] for k, v in scoped.items()},
        )
    finally:
        pipeline.stop()


def to_vrp(shared: Shared, config: str, events: int, kind: str = "") -> list[Share]:
    """The VRP's shares of ``config``'s events, after checking its connector
    published ``events``."""
    assert shared.events[config] == events
    return [payload(m) for m in shared.of(config) if f".svd.shared.vrp.{kind}" in m.topic]


#: What `connector check` says a run would take of each fixture, and the run takes.
COUNTS = {
    "police-uk-street.yaml": (3, 3, 0),  # ASB, a burglary, a crime across the border
    "council-referrals-xlsx.yaml": (3, 1, 0),  # a test record
    "ecds-sql.yaml": (3, 3, 0),  # self-harm, an accident, an assault across the border
    "istv-xml.yaml": (3, 0, 0),
}


@pytest.mark.parametrize("config", SAMPLES)
def test_check_says_what_the_run_then_does(shared: Shared, config: str) -> None:
    """Each format's fixture through `connector check` (throwaway keys, before
    any key existed), then `connector run`: the same rows accepted, skipped
    and rejected."""
    accepted, skipped, rejected = COUNTS[config]
    check, run = shared.checks[config], shared.runs[config]
    assert f"  accepted: {accepted} (would publish {accepted}, already published 0)" in check
    assert f"accepted: {accepted} (published {accepted}, already published 0)" in run
    for said in (check, run):
        assert f"rejected: {rejected}" in said
        if skipped:
            assert f"skipped: {skipped} (not for the hub, as the config says)" in said
        else:
            assert "skipped:" not in said
    assert shared.events[config] == accepted
    # The enforcer starts after the first runs: nothing reads the topic yet.
    assert "warning: no consumer group has read t-" in run


def test_police_uk_street_crime_reaches_the_vrp_by_month(shared: Shared) -> None:
    """Six police.uk rows: three violent crimes inside the partnership are
    published; anti-social behaviour (no Crime ID), a burglary and a crime
    placed across the border are skipped. The VRP receives the three with
    their month, never a time of day, and the combined category as it is."""
    vrp = to_vrp(shared, "police-uk-street.yaml", 3)
    assert len(vrp) == 3
    assert {s.fields["offence_group"] for s in vrp} == {
        "VIOLENCE_AND_SEXUAL_OFFENCES",
        "ROBBERY",
        "POSSESSION_OF_WEAPONS",
    }
    # The agreement says truncate: hour; the source gave a month, so a month it is.
    assert {s.fields["assault_datetime"] for s in vrp} == {"2026-06-01T00:00:00Z"}
    assert {s.fields["occurred_precision"] for s in vrp} == {"MONTH"}
    assert {s.fields["police_outcome"] for s in vrp} == {
        "UNDER_INVESTIGATION",
        "NO_SUSPECT_IDENTIFIED",
        "CHARGED",
    }
    assert {s.fields["geo"]["lad_cd"] for s in vrp} == {"E08000025", "E08000026", "E08000029"}
    text = b"".join(m.value for m in shared.messages)  # to anyone, of any format
    for never in (b"Synthetic Street", b"52.48", b"Under investigation"):
        assert never not in text


def test_a_council_referral_workbook_reaches_the_vrp(shared: Shared) -> None:
    """A referral list kept in Excel (title rows above the header, date cells,
    a test record, a formula total): three referrals reach the VRP by week and
    MSOA, the test record is skipped, and no name leaves the council."""
    vrp = to_vrp(shared, "council-referrals-xlsx.yaml", 3, "referral")
    assert len(vrp) == 3
    assert sorted(s.fields["referral_datetime"] for s in vrp) == [
        "2026-11-02T00:00:00Z",  # Monday 2 November: its own week
        "2026-11-02T00:00:00Z",
        "2026-11-09T00:00:00Z",
    ]
    assert all(s.fields["home_geo"]["lsoa21cd"] is None for s in vrp)
    assert sorted(r for s in vrp for r in s.fields["reason_codes"]) == [
        "CRIMINAL_EXPLOITATION",
        "VIOLENCE_VICTIM",
        "VIOLENT_OFFENDING",
        "WEAPON_CARRYING",
    ]
    text = b"".join(m.value for m in shared.messages)  # to anyone, of any format
    for never in (b"Khan", b"2009-07-21", b"met at the ED", b"REF-X"):
        assert never not in text


def test_ecds_assaults_reach_the_vrp_placed_by_their_coordinates(shared: Shared) -> None:
    """An ECDS extract read by SQL: three assaults reach the VRP, placed in
    their areas from the coordinates of the place of injury (which never leave
    the trust), with injury intent from the shared SNOMED CT list; self-harm,
    an accident and an assault across the border are skipped."""
    vrp = to_vrp(shared, "ecds-sql.yaml", 3, "incident")
    assert len(vrp) == 3  # under the VRP's linkage agreement
    assert {s.fields["injury_intent"] for s in vrp} == {"ASSAULT"}
    assert {s.fields["geo"]["lad_cd"] for s in vrp} == {"E08000025", "E08000026", "E08000029"}
    assert sorted(s.fields["assault_datetime"] for s in vrp) == [
        "2026-11-06T23:00:00Z",
        "2026-11-07T00:00:00Z",
        "2026-11-08T13:00:00Z",
    ]
    text = b"".join(m.value for m in shared.messages)  # to anyone, of any format
    for never in (b"52.4751", b"-1.9049", b"9990100004", b"EC-0001"):
        assert never not in text


def test_an_istv_xml_submission_reaches_the_vrp(shared: Shared) -> None:
    """The ISTV minimum data set as XML, checked against its XSD: three
    attendances (two alike but for the free-text location, so two records),
    keyed by a hash of every item, reach the VRP at the treating site's
    district; the free text never leaves the trust."""
    vrp = to_vrp(shared, "istv-xml.yaml", 3, "incident")
    assert len(vrp) == 3
    assert {s.fields["geo"]["lad_cd"] for s in vrp} == {"E08000025"}
    assert {s.fields["geo"]["msoa21cd"] for s in vrp} == {None}
    assert sorted(s.fields["assault_datetime"] for s in vrp) == [
        "2026-11-06T23:00:00Z",
        "2026-11-07T00:00:00Z",
        "2026-11-07T00:00:00Z",
    ]
    text = b"".join(m.value for m in shared.messages)  # to anyone, of any format
    for never in (b"takeaway", b"same fight", b"RRK15"):
        assert never not in text


def test_police_uk_outcomes_supersede_a_crime_when_its_outcome_moves_on(shared: Shared) -> None:
    """The force's next run, with the outcomes sample, after July's and
    August's outcomes files arrive: the two crimes whose outcome moved on
    (charged; a suspended sentence, August's winning over July's) are
    published as second versions superseding the first, and nothing for the
    third. Moving from the street sample to this one keeps the checkpoint."""
    assert "join: 3 Crime ID value(s) from 4 row(s) in 2 file(s)" in shared.outcomes_run
    firsts = {s.event_id: s for s in to_vrp(shared, "police-uk-street.yaml", 3)}
    seconds = to_vrp(shared, OUTCOMES, 2)
    assert len(firsts) == 3 and len(seconds) == 2
    moved = {
        firsts[str(s.supersedes)].fields["police_outcome"]: s.fields["police_outcome"]
        for s in seconds
    }
    assert moved == {"UNDER_INVESTIGATION": "CHARGED", "CHARGED": "CONVICTED"}
    text = b"".join(m.value for m in shared.messages)
    for never in (b"Suspect charged", b"suspended", b"Synthetic Close"):
        assert never not in text
