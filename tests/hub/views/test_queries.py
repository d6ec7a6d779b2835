"""The figures over a recipient's facts: counts, hotspots, ED vs police, the
referral funnel, and the shares, each built from published cells. Counts that
are multiples of 5 (10 and more) publish as themselves whatever the noise."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine

from hub.views import figures, queries
from hub.views.builder import ViewBuilder
from hub.views.catalogue import CatalogueError
from hub.views.catalogue import load as load_catalogue
from tests.fixtures.records import HUB_KEYS, INCIDENT_FIELDS, a_retraction, a_share, share_messages
from wire.shares import Share
from wire.topics import TopicNames

NAMES = TopicNames("t")
share = a_share

BIRMINGHAM, COVENTRY = "E08000025", "E08000026"
CATALOGUE = load_catalogue()


def geo(lad: str, n: int) -> dict[str, Any]:
    return {"lsoa21cd": f"E0190{n:04d}", "msoa21cd": None, "lad_cd": lad, "region_cd": "E12000005"}


def load(engine: Engine, shares: list[Share]) -> None:
    ViewBuilder(engine, NAMES, keys=HUB_KEYS).apply(share_messages(shares, NAMES))


def referral(n: int, programme: str) -> Share:
    return replace(
        share(10_000 + n),
        record_type="Referral",
        event_type="REFERRAL",
        fields={
            "referral_pseudo_id": f"r{n}",
            "programme_code": programme,
            "referral_datetime": "2026-11-02T00:00:00Z",
            "age_band": "AGE_10_17",
        },
    )


def outcome(n: int, outcome_type: str, day: str = "2026-11-20") -> Share:
    return replace(
        share(20_000 + n),
        record_type="Outcome",
        event_type="OUTCOME",
        fields={
            "referral_pseudo_id": f"r{n}",
            "outcome_type": outcome_type,
            "outcome_date": day,
        },
    )


def test_counts_and_hotspots(sql_engine: Engine) -> None:
    shares = [share(n, geo=geo(BIRMINGHAM, n % 20)) for n in range(100)]
    shares += [share(100 + n, geo=geo(COVENTRY, 50)) for n in range(30)]  # one hot LSOA
    load(sql_engine, shares)
    by_lad = queries.incident_counts(sql_engine, "vrp", ["lad"])
    assert by_lad == [{"lad": BIRMINGHAM, "count": 100}, {"lad": COVENTRY, "count": 30}]
    assert queries.finest_level(sql_engine, "vrp") == "lsoa"
    hot = figures.hotspots(sql_engine, "vrp", CATALOGUE, "lsoa", queries.Filters())
    # Every Birmingham LSOA holds 5 incidents: suppressed, so neither ranked nor
    # named; the published total is the Coventry hotspot alone.
    assert hot["areas_with_a_published_count"] == 1 and hot["top_tenth_areas"] == 1
    assert hot["rows"] == [{"area": "E01900050", "count": 30}]
    assert (hot["total"], hot["top_tenth_share"]) == (30, 1.0)
    assert "top tenth" in hot["disclosure"]["concentration"]
    assert queries.incident_counts(sql_engine, "csp-birmingham", ["lad"]) == []


def test_ed_vs_police_linked_by_pseudonym(sql_engine: Engine) -> None:
    ed = [share(n, incident_source="ED_ISTV", subject_pseudo_id=f"p{n}") for n in range(40)]
    police = [share(100 + n, subject_pseudo_id=f"p{n}") for n in range(30)]  # 30 of 40 reported
    load(sql_engine, ed + police)
    found = figures.ed_vs_police(sql_engine, "vrp", queries.Filters())
    assert found["available"] and found["method"].startswith("linked")
    assert (found["ed_attendances"], found["not_in_police_records"]) == (40, 10)
    assert found["unreported_share"] == 0.25
    assert "true_counts" not in found


def test_ed_attendances_without_an_incident_source_count_by_their_discloser(
    sql_engine: Engine,
) -> None:
    """The VRP's linkage agreement releases no incident_source: an ED trust's
    share is an ED attendance by its discloser's type (and k-anonymity may
    have withheld the share under another agreement that carried the source)."""
    fields = {k: v for k, v in INCIDENT_FIELDS.items() if k != "incident_source"}
    ed = [
        replace(
            share(n),
            source_authority="uhb-ed",
            source_authority_type="ICB_ED",
            fields={**fields, "subject_pseudo_id": f"p{n}"},
        )
        for n in range(40)
    ]
    police = [
        replace(share(100 + n), fields={**fields, "subject_pseudo_id": f"p{n}"}) for n in range(30)
    ]
    load(sql_engine, ed + police)
    found = figures.ed_vs_police(sql_engine, "vrp", queries.Filters())
    assert found["available"]
    assert (found["ed_attendances"], found["not_in_police_records"]) == (40, 10)


def test_ed_vs_police_is_not_available_without_linkage(sql_engine: Engine) -> None:
    """Never a 0 that means "unknown": without linkage there is no figure."""
    ed = [share(n, incident_source="ED_ISTV") for n in range(40)]
    police = [share(100 + n) for n in range(25)]
    load(sql_engine, ed + police)
    found = figures.ed_vs_police(sql_engine, "vrp", queries.Filters())
    assert found["available"] is False and "not available" in found["reason"]
    assert found["rows"] == [] and "unreported_share" not in found


def test_referral_funnel_and_outcomes(sql_engine: Engine) -> None:
    refs = [referral(n, "MENTOR") for n in range(20)]
    outs = [outcome(n, "ENGAGED") for n in range(10)]
    outs += [
        replace(
            outcome(n + 50, "COMPLETED", "2026-12-01"),
            fields={
                "referral_pseudo_id": f"r{n}",
                "outcome_type": "COMPLETED",
                "outcome_date": "2026-12-01",
            },
        )
        for n in range(5)
    ]
    load(sql_engine, refs + outs)
    # Engaged: the 10 ENGAGED and the 5 COMPLETED (of the same referrals) = 10;
    # completed: 5, suppressed.
    assert figures.referral_funnel(sql_engine, "vrp")["rows"] == [
        {"programme": "MENTOR", "referred": 20, "engaged": 10, "completed": None}
    ]
    found = figures.outcomes(sql_engine, "vrp")
    assert found["rows"] == [{"outcome_type": "ENGAGED", "intervention": None, "count": 10}]
    assert found["total"] == 10  # the suppressed COMPLETED cell is not listed nor counted


def test_under_25_and_night_shares(sql_engine: Engine) -> None:
    young = [
        share(n, victim_age_band="10-17", assault_datetime="2026-11-06T22:00:00Z")
        for n in range(20)
    ]
    older = [
        share(100 + n, victim_age_band="25+", assault_datetime="2026-11-06T12:00:00Z")
        for n in range(20)
    ]
    load(sql_engine, young + older)
    under = figures.share_by_lad(sql_engine, "vrp", CATALOGUE, "under25", queries.Filters())
    assert (under["incidents"], under["under25"], under["share"]) == (40, 20, 0.5)
    night = figures.share_by_lad(sql_engine, "vrp", CATALOGUE, "night", queries.Filters())
    assert night["share"] == 0.5


def test_retracted_events_do_not_count(sql_engine: Engine) -> None:
    shares = [share(n) for n in range(12)]
    retraction = a_retraction(99, shares[0].event_id)
    load(sql_engine, [*shares, retraction])
    assert queries.incident_counts(sql_engine, "vrp", ["lad"])[0]["count"] == 11


def month_only(n: int, month: str, outcome: str, lad: str = BIRMINGHAM) -> Share:
    """A police.uk crime: known only by its month, with its latest outcome."""
    return share(
        n,
        assault_datetime=f"{month}-01T00:00:00Z",
        occurred_precision="MONTH",
        police_outcome=outcome,
        geo=geo(lad, n % 7),
    )


def test_crimes_known_only_by_month_count_in_their_month_quarter_and_year(
    sql_engine: Engine,
) -> None:
    """police.uk's crimes have no week: they count in the tables by month,
    quarter or year, in the calendar month they happened (never in the
    previous one, where their first instant falls in UTC in summer), and in
    no table by week."""
    load(
        sql_engine,
        [month_only(n, "2026-06", "CHARGED") for n in range(20)]
        + [month_only(100 + n, "2026-07", "UNDER_INVESTIGATION") for n in range(15)],
    )
    by_month = figures.table(sql_engine, "vrp", CATALOGUE.get("lad"), queries.Filters())
    assert by_month["total"] == 35
    category = CATALOGUE.get("lad-month-category")
    rows = figures.table(sql_engine, "vrp", category, queries.Filters())["rows"]
    assert {(r["month"], r["count"]) for r in rows} == {("2026-06", 20), ("2026-07", 15)}
    outcome = CATALOGUE.get("lad-quarter-outcome")
    rows = figures.table(sql_engine, "vrp", outcome, queries.Filters())["rows"]
    assert {(r["police_outcome"], r["quarter"], r["count"]) for r in rows} == {
        ("CHARGED", "2026-Q2", 20),
        ("UNDER_INVESTIGATION", "2026-Q3", 15),
    }
    weekly = figures.table(sql_engine, "vrp", CATALOGUE.get("weekly-trend"), queries.Filters())
    assert weekly["total"] == 0
    # A range of whole months takes a month-only crime by its month: July alone.
    july = queries.Filters(week_from="2026-07-06", week_to="2026-07-27")
    assert figures.table(sql_engine, "vrp", category, july)["total"] == 15
    charged = queries.Filters(police_outcome="CHARGED")
    assert figures.table(sql_engine, "vrp", outcome, charged)["total"] == 20


def test_injury_intent_is_a_dimension_of_its_own_table(sql_engine: Engine) -> None:
    ed = [share(n, incident_source="ECDS", injury_intent="ASSAULT") for n in range(25)]
    ed += [share(100 + n, incident_source="ECDS", injury_intent="UNKNOWN") for n in range(10)]
    load(sql_engine, ed)
    intent = CATALOGUE.get("lad-month-intent")
    rows = figures.table(sql_engine, "vrp", intent, queries.Filters())["rows"]
    assert {(r["injury_intent"], r["count"]) for r in rows} == {("ASSAULT", 25), ("UNKNOWN", 10)}
    assaults = queries.Filters(injury_intent="ASSAULT")
    assert figures.table(sql_engine, "vrp", intent, assaults)["total"] == 25
    # A filter on a dimension the table does not have is refused.
    with pytest.raises(CatalogueError, match="no injury_intent dimension"):
        figures.table(sql_engine, "vrp", CATALOGUE.get("lad"), assaults)
