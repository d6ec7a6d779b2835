"""The views over a recipient's facts: counts, hotspots, ED vs police, the
referral funnel, and the shares, with disclosure control on every output."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from hub.views import queries
from hub.views.builder import ViewBuilder
from tests.fixtures.records import HUB_KEYS, a_retraction, a_share, share_messages
from wire.shares import Share
from wire.topics import TopicNames

NAMES = TopicNames("t")
share = a_share

BIRMINGHAM, COVENTRY = "E08000025", "E08000026"


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
    hot = queries.hotspots(sql_engine, "vrp", "lsoa")
    assert hot["areas"] == 21 and hot["top_tenth_areas"] == 3
    assert hot["top"][0] == {"area": "E01900050", "count": 30}
    # Every Birmingham LSOA holds 5 incidents: suppressed, so the published total
    # (the sum of published cells) is the Coventry hotspot alone.
    assert (hot["total"], hot["top_tenth_share"]) == (30, 1.0)
    assert all(row["count"] is None for row in hot["top"][1:])
    assert queries.incident_counts(sql_engine, "csp-birmingham", ["lad"]) == []


def test_ed_vs_police_linked_by_pseudonym(sql_engine: Engine) -> None:
    ed = [share(n, incident_source="ED_ISTV", subject_pseudo_id=f"p{n}") for n in range(40)]
    police = [share(100 + n, subject_pseudo_id=f"p{n}") for n in range(30)]  # 30 of 40 reported
    load(sql_engine, ed + police)
    found = queries.ed_vs_police(sql_engine, "vrp")
    assert found["method"].startswith("linked")
    assert (found["ed_attendances"], found["not_in_police_records"]) == (40, 10)
    assert found["unreported_share"] == 0.25


def test_ed_vs_police_by_area_and_week_without_linkage(sql_engine: Engine) -> None:
    ed = [share(n, incident_source="ED_ISTV") for n in range(40)]
    police = [share(100 + n) for n in range(25)]
    load(sql_engine, ed + police)
    found = queries.ed_vs_police(sql_engine, "vrp")
    assert found["method"].startswith("aggregate")
    assert (found["ed_attendances"], found["not_in_police_records"]) == (40, 15)


def test_referral_funnel_and_outcomes(sql_engine: Engine) -> None:
    refs = [referral(n, "MENTOR") for n in range(20)]
    outs = [outcome(n, "ENGAGED") for n in range(12)] + [
        outcome(100 + n, "COMPLETED") for n in range(0)
    ]
    outs += [
        replace(
            outcome(n + 50, "COMPLETED", "2026-12-01"),
            fields={
                "referral_pseudo_id": f"r{n}",
                "outcome_type": "COMPLETED",
                "outcome_date": "2026-12-01",
            },
        )
        for n in range(9)
    ]
    load(sql_engine, refs + outs)
    assert queries.referral_funnel(sql_engine, "vrp") == [
        {"programme": "MENTOR", "referred": 20, "engaged": 12, "completed": 9}
    ]
    assert {r["outcome_type"]: r["count"] for r in queries.outcome_counts(sql_engine, "vrp")} == {
        "ENGAGED": 12,
        "COMPLETED": 9,
    }


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
    under = queries.share_by_lad(sql_engine, "vrp", "under25")
    assert (under["incidents"], under["under25"], under["share"]) == (40, 20, 0.5)
    night = queries.share_by_lad(sql_engine, "vrp", "night")
    assert night["share"] == 0.5


def test_retracted_events_do_not_count(sql_engine: Engine) -> None:
    shares = [share(n) for n in range(12)]
    retraction = a_retraction(99, shares[0].event_id)
    load(sql_engine, [*shares, retraction])
    assert queries.incident_counts(sql_engine, "vrp", ["lad"])[0]["count"] == 11
