"""Classes, holdings and k over a window (hub.risk.classes), and the report built on
them (hub.risk.report), from shares made here. No services."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.risk.classes import (
    K_ANONYMITY,
    K_ANONYMITY_HELD,
    Stream,
    band,
    class_key,
    event_time,
    holdings,
    measure,
    quasi_identifiers,
)
from hub.risk.report import assess, count_decisions, to_json, to_table
from tests.fixtures.records import an_id, audit_record
from wire.audit import Reason, decision_id
from wire.canonical import canonical_json
from wire.shares import Share

GEO = {"lad_cd": "E08000025", "lsoa21cd": None, "msoa21cd": "E02900001", "region_cd": "E12000005"}


def share(
    n: int,
    *,
    hour: int = 21,
    day: int = 6,
    recipient: str = "csp-birmingham",
    agreement: str = "wmp-csps",
    source: str = "wmp",
    supersedes: str | None = None,
    **fields: Any,
) -> Share:
    released: dict[str, Any] = {
        "assault_datetime": f"2026-11-{day:02d}T{hour:02d}:00:00Z",
        "geo": GEO,
        "location_type": "PUBLIC_PLACE",
        "victim_age_band": "18-24",
        "knife_flag": n % 2 == 0,  # not a quasi-identifier: never splits a class
        **fields,
    }
    return Share(
        share_id=an_id(f"share-{recipient}-{n}"),
        event_id=an_id(f"event-{recipient}-{n}"),
        event_type="INCIDENT",
        record_type="Incident",
        source_authority=source,
        source_authority_type="POLICE",
        supersedes=supersedes,
        recipient=recipient,
        agreement_id=agreement,
        policy_revision="sha256:abc",
        fields=released,
    )


def retraction(n: int, target: str, recipient: str = "csp-birmingham") -> Share:
    return Share(
        share_id=an_id(f"retraction-{n}"),
        event_id=an_id(f"retraction-event-{n}"),
        event_type="RETRACTION",
        record_type="Retraction",
        source_authority="wmp",
        source_authority_type="POLICE",
        supersedes=None,
        recipient=recipient,
        agreement_id="wmp-csps",
        policy_revision="sha256:abc",
        fields={"retracted_event_id": target, "reason": "DUPLICATE"},
    )


def test_quasi_identifiers_come_from_the_wire_classifications() -> None:
    assert quasi_identifiers("Incident") == {
        "assault_datetime",
        "arrival_datetime",
        "location_type",
        "victim_age_band",
        "victim_sex",
        "suspect_age_band",
        "suspect_sex",
        "geo",
    }
    assert quasi_identifiers("Outcome") == {"outcome_date"}
    assert quasi_identifiers("Retraction") == frozenset()


def test_the_class_key_is_the_released_quasi_identifiers_only() -> None:
    one, two = share(1), share(2)
    assert class_key("Incident", one.fields) == class_key("Incident", two.fields)
    msoa = share(3, geo={**GEO, "msoa21cd": None})
    assert class_key("Incident", msoa.fields) != class_key("Incident", one.fields)
    assert json.loads(class_key("Incident", one.fields)) == {
        "assault_datetime": "2026-11-06T21:00:00Z",
        "geo": GEO,
        "location_type": "PUBLIC_PLACE",
        "victim_age_band": "18-24",
    }
    assert event_time("Incident", one.fields) is not None
    assert event_time("Outcome", {"outcome_date": "2026-11-02"}) is not None
    assert event_time("Incident", {}) is None


@settings(max_examples=200)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "assault_datetime": st.datetimes(timezones=st.just(UTC)),
            "location_type": st.one_of(st.none(), st.text(max_size=20)),
            "victim_age_band": st.one_of(st.none(), st.text(max_size=8)),
            "geo": st.fixed_dictionaries({"lad_cd": st.text(max_size=9), "msoa21cd": st.none()}),
            "weapon_type": st.one_of(
                st.none(), st.integers(), st.floats(allow_nan=False, allow_infinity=False)
            ),
            "incident_date": st.dates(),
        },
    )
)
def test_the_class_key_of_values_is_the_key_of_their_json(fields: dict[str, Any]) -> None:
    """The enforcer keys a record's class from its values (times as datetimes);
    the risk report from the share's JSON. The two keys are the same."""
    assert class_key("Incident", fields) == class_key(
        "Incident", json.loads(canonical_json(fields))
    )


def test_holdings_are_current_versions_once() -> None:
    shares = [share(n) for n in range(6)]
    corrected = share(10, supersedes=shares[0].event_id, hour=22)
    withdrawn = retraction(1, shares[1].event_id)
    other = share(0, recipient="csp-coventry")  # another recipient: its own stream
    held = holdings([*shares, shares[2], corrected, withdrawn, other])
    stream = Stream("csp-birmingham", "wmp-csps", "Incident")
    assert sorted(r.event_id for r in held[stream]) == sorted(
        [s.event_id for s in shares[2:]] + [corrected.event_id]
    )
    assert len(held[Stream("csp-coventry", "wmp-csps", "Incident")]) == 1
    # A correction read before the version it replaces still replaces it.
    assert len(holdings([corrected, *shares])[stream]) == 6


def test_k_is_counted_in_the_window_and_banded() -> None:
    shares = [share(n) for n in range(5)]  # a class of 5 on the 6th
    shares += [share(10 + n, hour=3) for n in range(3)]  # a class of 3
    shares += [share(20, hour=4)]  # alone
    shares += [share(30 + n, day=1) for n in range(2)]  # a class of 2, before the window
    shares += [share(40, day=19, source="uhb-ed", location_type="HOME")]  # the newest, alone
    stream = Stream("csp-birmingham", "wmp-csps", "Incident")
    risk = measure(stream, holdings(shares)[stream], 14, 5)
    assert risk.window_end is not None and risk.window_end.day == 19
    assert risk.counts.records == 10  # the two of the 1st are out of the window
    assert risk.k_bands == {"1": 2, "2-4": 3, "5-9": 5, "10+": 0}
    assert risk.counts.below_report_k == risk.counts.below_min_k == 5
    assert risk.by_source["uhb-ed"].below_min_k == 1
    assert risk.smallest_k == 1 and risk.failing
    assert measure(stream, holdings(shares)[stream], 30, None).counts.records == 12
    assert not measure(stream, holdings(shares)[stream], 30, None).failing
    assert [band(k) for k in (1, 2, 4, 5, 9, 10, 99)] == [
        "1",
        "2-4",
        "2-4",
        "5-9",
        "5-9",
        "10+",
        "10+",
    ]


def test_decisions_count_released_held_and_withheld() -> None:
    base = audit_record(1)  # an allow for csp-birmingham under wmp-vrp
    assert base.recipient is not None and base.event_id is not None
    event = base.event_id

    def denial(code: str, the_id: str) -> Any:
        return audit_record(
            1,
            decision="deny",
            decision_id=the_id,
            reasons=(Reason(code, "..."),),
            fields_released=(),
            shared_topic=None,
            payload_sha256=None,
            shared_ids=None,
        )

    pair_id = decision_id(event, base.recipient, "wmp-vrp")
    held = denial(K_ANONYMITY_HELD, an_id("held-1"))
    withheld = denial(K_ANONYMITY, pair_id)
    assert count_decisions([held])[(base.recipient, "wmp-vrp")].held == 1
    counts = count_decisions([held, withheld, withheld])
    assert (
        counts[(base.recipient, "wmp-vrp")].held,
        counts[(base.recipient, "wmp-vrp")].withheld,
    ) == (0, 1)
    released = count_decisions([held, base])[(base.recipient, "wmp-vrp")]
    assert (released.released, released.held, released.withheld) == (1, 0, 0)


def test_the_report_fails_only_below_an_agreements_min_k() -> None:
    shares = [share(n) for n in range(5)] + [share(9, recipient="vrp", agreement="wmp-vrp")]
    report = assess(shares, 28, {"wmp-csps": 5, "wmp-vrp": None})
    assert not report.failing
    document = json.loads(to_json(report))
    assert [s["recipient"] for s in document["streams"]] == ["csp-birmingham", "vrp"]
    assert document["streams"][1]["below_min_k"] is None
    assert document["streams"][1]["share_below_5"] == 1.0
    assert "none below its agreement's min_k" in to_table(report)
    worse = assess(shares, 28, {"wmp-csps": 6})
    assert [r.stream.recipient for r in worse.failing] == ["csp-birmingham"]
    assert "1 with records below their agreement's min_k" in to_table(worse)
    only = assess(shares, 28, {}, recipient="vrp")
    assert [r.stream.recipient for r in only.streams] == ["vrp"]
