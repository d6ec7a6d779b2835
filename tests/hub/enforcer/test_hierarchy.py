"""The generalisation hierarchy: parts of the day in local time, the levels an
agreement's obligations give, and a record's fields at each level. No services."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.enforcer.anonymise import Anonymiser, RecipientKeys
from hub.enforcer.hierarchy import Hierarchy, bucket_end, part_of_day, truncate, truncate_date
from wire.geography import GeographyLookup

LOOKUP = GeographyLookup.synthetic_sample()

#: wmp-csps's obligations for an incident that is not sensitive.
CSP = {
    "assault_datetime": {"action": "truncate", "unit": "hour"},
    "location_type": {"action": "keep"},
    "victim_age_band": {"action": "band", "scheme": "age_svd"},
    "geo": {"action": "generalise", "level": "lsoa"},
    "knife_flag": {"action": "keep"},
}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "part"),
    [
        (utc(2026, 10, 5, 4, 59), "night"),  # 05:59 BST
        (utc(2026, 10, 5, 5, 0), "morning"),  # 06:00 BST
        (utc(2026, 12, 5, 5, 59), "night"),  # 05:59 GMT
        (utc(2026, 12, 5, 6, 0), "morning"),
        (utc(2026, 12, 5, 11, 59), "morning"),
        (utc(2026, 12, 5, 12, 0), "afternoon"),
        (utc(2026, 12, 5, 18, 0), "evening"),
        (utc(2026, 10, 5, 22, 59), "evening"),  # 23:59 BST
        (utc(2026, 10, 5, 23, 0), "night"),  # 00:00 BST the next day
    ],
)
def test_the_part_of_the_day_is_local(moment: datetime, part: str) -> None:
    assert part_of_day(moment) == part


def test_times_climb_to_local_boundaries_and_stay_in_utc() -> None:
    moment = utc(2026, 10, 7, 7, 40)  # Wednesday 08:40 BST
    assert truncate(moment, "hour", local=True) == utc(2026, 10, 7, 7)
    assert truncate(moment, "part", local=True) == utc(2026, 10, 7, 5)  # 06:00 BST
    assert truncate(moment, "day", local=True) == utc(2026, 10, 6, 23)  # midnight BST
    assert truncate(moment, "week", local=True) == utc(2026, 10, 4, 23)  # Monday, midnight
    assert truncate(moment, "week", local=False) == utc(2026, 10, 5)
    assert truncate("not a time", "day", local=True) == "not a time"
    assert truncate_date(date(2026, 10, 7), "week") == date(2026, 10, 5)
    assert truncate_date(date(2026, 10, 7), "month") == date(2026, 10, 1)


def test_buckets_end_at_the_next_boundary_across_a_clock_change() -> None:
    night = utc(2026, 10, 24, 23, 30)  # 00:30 BST on the day the clocks go back
    assert bucket_end(night, "part", local=True) == utc(2026, 10, 25, 6)  # 06:00 GMT
    assert bucket_end(night, "day", local=True) == utc(2026, 10, 26)  # a 25-hour day
    assert bucket_end(night, "week", local=True) == utc(2026, 10, 26)
    spring = utc(2026, 3, 28, 23, 30)
    assert bucket_end(spring, "week", local=True) == utc(2026, 3, 29, 23)  # Monday BST
    assert bucket_end(spring, "hour", local=True) == utc(2026, 3, 29)
    assert bucket_end(spring, "month", local=True) == utc(2026, 3, 31, 23)


def test_levels_take_age_then_time_then_place_and_the_week_last() -> None:
    levels = Hierarchy.of("Incident", CSP).levels
    assert [(lv["time"], lv["geo"]) for lv in levels] == [
        ("hour", "lsoa"),
        ("part", "lsoa"),
        ("day", "lsoa"),
        ("day", "msoa"),
        ("day", "lad"),
        ("week", "lad"),
    ]
    assert {lv["age"] for lv in levels} == {"svd"}  # the agreement bands already


def test_a_fine_age_band_is_the_first_step() -> None:
    fine = {**CSP, "victim_age_band": {"action": "keep"}}
    levels = Hierarchy.of("Incident", fine).levels
    assert [lv["age"] for lv in levels[:2]] == ["fine", "svd"]
    assert levels[1]["time"] == "hour"


def test_steps_the_agreement_already_took_are_skipped() -> None:
    public = {
        "assault_datetime": {"action": "truncate", "unit": "month"},
        "geo": {"action": "generalise", "level": "lad"},
    }
    assert Hierarchy.of("Incident", public).levels == ({"time": "month", "geo": "lad"},)
    sensitive = {**CSP, "geo": {"action": "generalise", "level": "msoa"}}
    levels = Hierarchy.of("Incident", sensitive).levels
    assert [(lv["time"], lv["geo"]) for lv in levels] == [
        ("hour", "msoa"),
        ("part", "msoa"),
        ("day", "msoa"),
        ("day", "lad"),
        ("week", "lad"),
    ]
    # A date climbs to the week; a time truncated to the (UTC) day, to the week.
    assert [
        lv["time"] for lv in Hierarchy.of("Outcome", {"outcome_date": {"action": "keep"}}).levels
    ] == [
        "day",
        "week",
    ]
    daily = {"assault_datetime": {"action": "truncate", "unit": "day"}}
    assert [lv["time"] for lv in Hierarchy.of("Incident", daily).levels] == ["day", "week"]


def test_fields_at_each_level(tmp_path: Path) -> None:
    anonymiser = Anonymiser(LOOKUP, RecipientKeys(tmp_path))
    lsoa = next(iter(LOOKUP.lsoas()))
    area = LOOKUP.area(lsoa)
    record: dict[str, Any] = {
        "assault_datetime": utc(2026, 10, 7, 21, 40),  # 22:40 BST
        "arrival_datetime": utc(2026, 10, 7, 23, 10),  # 00:10 BST the next day
        "location_type": "HOME",
        "victim_age_band": "AGE_25_34",
        "geo": {"lsoa21cd": lsoa, "msoa21cd": None, "lad_cd": area.lad_cd, "ward_cd": "E05000001"},
        "knife_flag": True,
    }
    obligations = {
        **CSP,
        "victim_age_band": {"action": "keep"},
        "arrival_datetime": {"action": "truncate", "unit": "hour"},
        "geo": {"action": "keep"},
    }
    fields = anonymiser.apply(record, obligations, "csp-birmingham")
    hierarchy = Hierarchy.of("Incident", obligations)
    at = [hierarchy.at(n, fields, record, anonymiser, "csp-birmingham") for n in range(7)]
    assert at[0] == fields
    assert at[1]["victim_age_band"] == "25+"
    assert at[2]["assault_datetime"] == utc(2026, 10, 7, 17)  # evening, 18:00 BST
    assert at[2]["arrival_datetime"] == utc(2026, 10, 7, 23)  # night, 00:00 BST
    assert at[3]["assault_datetime"] == utc(2026, 10, 6, 23)
    assert at[3]["geo"] == fields["geo"]  # still the kept geography (ward and all)
    assert at[4]["geo"] == {
        "lsoa21cd": None,
        "msoa21cd": area.msoa21cd,
        "lad_cd": area.lad_cd,
        "region_cd": "E12000005",
    }
    assert at[5]["geo"]["msoa21cd"] is None
    assert at[6]["assault_datetime"] == utc(2026, 10, 4, 23)
    for fields_at in at:  # what has no hierarchy never changes
        assert fields_at["location_type"] == "HOME"
        assert fields_at["knife_flag"] is True
    closes = hierarchy.closes(record["assault_datetime"])
    assert list(closes) == sorted(closes)
    assert closes[0] == utc(2026, 10, 7, 22)
