"""Real public formats end to end: the sample config of a format, its fixture
(written from the published layout; no real data), the connector as a
process, the enforcer as a process on the secured broker and OPA, and what
each recipient receives."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.formats import ecds, workbooks
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import Pipeline, pair_id, payload

pytestmark = pytest.mark.slow

FORMATS = Path(__file__).resolve().parents[2] / "fixtures" / "formats"
CONFIGS = helpers.POLICIES.parent / "connectors" / "config" / "formats"


def shared_from(pipeline: Pipeline, config: str, events: int) -> list[Any]:
    """Run a sample config's connector (its extract already in the authority's
    folder), check it published ``events``, run the enforcer until every
    decision is made; the shared messages."""
    pipeline.publish_samples([CONFIGS / config], "--days", "1")
    raw = pipeline.raw_messages()
    assert len(raw) == events
    expected = pipeline.expected(raw)
    pipeline.start_enforcer()
    helpers.wait_until(
        lambda: set(expected) <= {pair_id(r) for r in pipeline.audit()}, 120, "every decision"
    )
    return pipeline.shares()


def test_police_uk_street_crime_reaches_the_vrp_by_month(pipeline: Pipeline) -> None:
    """Six police.uk rows: three violent crimes inside the partnership are
    published; anti-social behaviour (no Crime ID), a burglary and a crime
    placed across the border are skipped. The VRP receives the three with
    their month, never a time of day, and the combined category as it is."""
    extracts = pipeline.authorities / "wmp" / "extracts" / "police-uk"
    extracts.mkdir(parents=True)
    shutil.copy(FORMATS / "police-uk-street.csv", extracts / "2026-06-west-midlands-street.csv")
    shared = shared_from(pipeline, "police-uk-street.yaml", 3)
    to_vrp = [payload(m) for m in shared if ".svd.shared.vrp." in m.topic]
    assert len(to_vrp) == 3
    assert {s.fields["offence_group"] for s in to_vrp} == {
        "VIOLENCE_AND_SEXUAL_OFFENCES",
        "ROBBERY",
        "POSSESSION_OF_WEAPONS",
    }
    # The agreement says truncate: hour; the source gave a month, so a month it is.
    assert {s.fields["assault_datetime"] for s in to_vrp} == {"2026-06-01T00:00:00Z"}
    assert {s.fields["occurred_precision"] for s in to_vrp} == {"MONTH"}
    assert {s.fields["police_outcome"] for s in to_vrp} == {
        "UNDER_INVESTIGATION",
        "NO_SUSPECT_IDENTIFIED",
        "CHARGED",
    }
    assert {s.fields["geo"]["lad_cd"] for s in to_vrp} == {"E08000025", "E08000026", "E08000029"}
    text = b"".join(m.value for m in shared)
    for never in (b"Synthetic Street", b"52.48", b"Under investigation"):
        assert never not in text


def test_a_council_referral_workbook_reaches_the_vrp(pipeline: Pipeline) -> None:
    """A referral list kept in Excel (title rows above the header, date cells,
    a test record, a formula total): three referrals reach the VRP by week and
    MSOA, the test record is skipped, and no name leaves the council."""
    extracts = pipeline.authorities / "bcc-youth" / "extracts" / "referrals"
    extracts.mkdir(parents=True)
    workbooks.council_referrals(extracts / "2026-11.xlsx")
    shared = shared_from(pipeline, "council-referrals-xlsx.yaml", 3)
    to_vrp = [payload(m) for m in shared if ".svd.shared.vrp.referral" in m.topic]
    assert len(to_vrp) == 3
    assert sorted(s.fields["referral_datetime"] for s in to_vrp) == [
        "2026-11-02T00:00:00Z",  # Monday 2 November: its own week
        "2026-11-02T00:00:00Z",
        "2026-11-09T00:00:00Z",
    ]
    assert all(s.fields["home_geo"]["lsoa21cd"] is None for s in to_vrp)
    assert sorted(r for s in to_vrp for r in s.fields["reason_codes"]) == [
        "CRIMINAL_EXPLOITATION",
        "VIOLENCE_VICTIM",
        "VIOLENT_OFFENDING",
        "WEAPON_CARRYING",
    ]
    text = b"".join(m.value for m in shared)
    for never in (b"Khan", b"2009-07-21", b"met at the ED", b"REF-X"):
        assert never not in text


def test_ecds_assaults_reach_the_vrp_placed_by_their_coordinates(pipeline: Pipeline) -> None:
    """An ECDS extract read by SQL: three assaults reach the VRP, placed in
    their areas from the coordinates of the place of injury (which never leave
    the trust), with injury intent from the shared SNOMED CT list; self-harm,
    an accident and an assault across the border are skipped."""
    ecds.ecds_extract(pipeline.authorities / "uhb-ed" / "extracts" / "ecds" / "ecds.sqlite")
    shared = shared_from(pipeline, "ecds-sql.yaml", 3)
    to_vrp = [payload(m) for m in shared if ".svd.shared.vrp.incident" in m.topic]
    assert len(to_vrp) == 3  # under the VRP's linkage agreement
    assert {s.fields["injury_intent"] for s in to_vrp} == {"ASSAULT"}
    assert {s.fields["geo"]["lad_cd"] for s in to_vrp} == {"E08000025", "E08000026", "E08000029"}
    assert sorted(s.fields["assault_datetime"] for s in to_vrp) == [
        "2026-11-06T23:00:00Z",
        "2026-11-07T00:00:00Z",
        "2026-11-08T13:00:00Z",
    ]
    text = b"".join(m.value for m in shared)
    for never in (b"52.4751", b"-1.9049", b"9990100004", b"EC-0001"):
        assert never not in text


def test_an_istv_xml_submission_reaches_the_vrp(pipeline: Pipeline) -> None:
    """The ISTV minimum data set as XML, checked against its XSD: three
    attendances (two alike but for the free-text location, so two records),
    keyed by a hash of every item, reach the VRP at the treating site's
    district; the free text never leaves the trust."""
    extracts = pipeline.authorities / "uhb-ed" / "extracts" / "istv"
    (extracts / "schema").mkdir(parents=True)
    shutil.copy(FORMATS / "istv.xml", extracts / "2026-11-RRK15.xml")
    shutil.copy(FORMATS / "istv.xsd", extracts / "schema" / "istv.xsd")
    shared = shared_from(pipeline, "istv-xml.yaml", 3)
    to_vrp = [payload(m) for m in shared if ".svd.shared.vrp.incident" in m.topic]
    assert len(to_vrp) == 3
    assert {s.fields["geo"]["lad_cd"] for s in to_vrp} == {"E08000025"}
    assert {s.fields["geo"]["msoa21cd"] for s in to_vrp} == {None}
    assert sorted(s.fields["assault_datetime"] for s in to_vrp) == [
        "2026-11-06T23:00:00Z",
        "2026-11-07T00:00:00Z",
        "2026-11-07T00:00:00Z",
    ]
    text = b"".join(m.value for m in shared)
    for never in (b"takeaway", b"same fight", b"RRK15"):
        assert never not in text
