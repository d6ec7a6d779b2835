"""Applying decision obligations to one event for one recipient."""

import copy
import hashlib
import hmac
import stat
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from hub.enforcer.anonymise import AnonymiseError, Anonymiser, RecipientKeys
from wire.geography import GeographyLookup

LOOKUP = GeographyLookup.synthetic_sample()
LSOA = LOOKUP.lsoas("E08000025")[0]
AREA = LOOKUP.area(LSOA)
UNKNOWN_LSOA = "E01999999"
REGION_CODE = LOOKUP.partnership.area_code

# A Wednesday, mid-afternoon, in UTC.
WEDNESDAY = datetime(2026, 10, 14, 15, 42, 17, 123000, tzinfo=UTC)
# A Wednesday whose week starts in the previous month.
FIRST_OF_APRIL = datetime(2026, 4, 1, 9, 5, tzinfo=UTC)


def geo(**codes: str | None) -> dict[str, str | None]:
    base: dict[str, str | None] = {
        "lsoa21cd": AREA.lsoa21cd,
        "msoa21cd": AREA.msoa21cd,
        "lad_cd": AREA.lad_cd,
        "ward_cd": "E05011118",
    }
    base.update(codes)
    return base


def incident() -> dict[str, Any]:
    return {
        "envelope": {"event_id": "0b7c1f7e-0000-5000-8000-000000000001"},
        "incident_pseudo_id": "a" * 64,
        "subject_pseudo_id": None,
        "assault_datetime": WEDNESDAY,
        "assault_method": "KNIFE_SHARP",
        "location_type": "PUBLIC_PLACE",
        "victim_age_band": "AGE_18_24",
        "geo": geo(),
    }


@pytest.fixture
def keys(tmp_path: Path) -> RecipientKeys:
    return RecipientKeys(tmp_path / "keys")


@pytest.fixture
def anonymiser(keys: RecipientKeys) -> Anonymiser:
    return Anonymiser(LOOKUP, keys)


def one(anonymiser: Anonymiser, value: Any, recipient: str = "vrp", **obligation: str) -> Any:
    """Apply one obligation to one field called ``f``."""
    return anonymiser.apply({"f": value}, {"f": obligation}, recipient)["f"]


def test_the_sample_dates_are_wednesdays() -> None:
    assert WEDNESDAY.weekday() == FIRST_OF_APRIL.weekday() == 2


# ------------------------------------------------------------------ apply


def test_only_named_fields_are_released(anonymiser: Anonymiser) -> None:
    released = anonymiser.apply(
        incident(), {"assault_method": {"action": "keep"}, "geo": {"action": "drop"}}, "vrp"
    )
    assert released == {"assault_method": "KNIFE_SHARP"}


def test_a_named_field_missing_from_the_record_is_skipped(anonymiser: Anonymiser) -> None:
    released = anonymiser.apply(incident(), {"knife_flag": {"action": "keep"}}, "vrp")
    assert released == {}


def test_none_stays_none_for_every_action(anonymiser: Anonymiser) -> None:
    obligations = {
        "a": {"action": "keep"},
        "b": {"action": "generalise", "level": "lsoa"},
        "c": {"action": "band", "scheme": "age_svd"},
        "d": {"action": "truncate", "unit": "week"},
        "e": {"action": "pseudonymise", "scope": "recipient"},
        "f": {"action": "drop"},
    }
    record = dict.fromkeys("abcdef")
    assert anonymiser.apply(record, obligations, "vrp") == dict.fromkeys("abcde")


def test_the_input_is_not_mutated(anonymiser: Anonymiser) -> None:
    record = incident()
    record["ids"] = ["x", "y"]
    before = copy.deepcopy(record)
    obligations = {
        "geo": {"action": "generalise", "level": "msoa"},
        "assault_datetime": {"action": "truncate", "unit": "hour"},
        "incident_pseudo_id": {"action": "pseudonymise", "scope": "recipient"},
        "ids": {"action": "pseudonymise", "scope": "recipient"},
        "assault_method": {"action": "keep"},
        "location_type": {"action": "drop"},
    }
    released = anonymiser.apply(record, obligations, "vrp")
    assert record == before
    assert released["geo"] is not record["geo"]


def test_keep_copies_rather_than_aliases(anonymiser: Anonymiser) -> None:
    record = {"geo": geo()}
    released = anonymiser.apply(record, {"geo": {"action": "keep"}}, "vrp")
    assert released["geo"] == record["geo"]
    released["geo"]["lsoa21cd"] = None
    assert record["geo"]["lsoa21cd"] == AREA.lsoa21cd


def test_a_decision_shaped_example(anonymiser: Anonymiser) -> None:
    obligations = {
        "geo": {"action": "generalise", "level": "msoa"},
        "assault_datetime": {"action": "truncate", "unit": "hour"},
        "incident_pseudo_id": {"action": "pseudonymise", "scope": "recipient"},
        "assault_method": {"action": "keep"},
    }
    released = anonymiser.apply(incident(), obligations, "csp-birmingham")
    assert set(released) == set(obligations)
    assert released["geo"] == {
        "lsoa21cd": None,
        "msoa21cd": AREA.msoa21cd,
        "lad_cd": AREA.lad_cd,
        "region_cd": REGION_CODE,
    }
    assert released["assault_datetime"] == datetime(2026, 10, 14, 15, tzinfo=UTC)
    assert released["assault_method"] == "KNIFE_SHARP"


def test_an_unknown_action_names_the_field(anonymiser: Anonymiser) -> None:
    with pytest.raises(AnonymiseError, match=r"'assault_method'.*'blur'"):
        anonymiser.apply(incident(), {"assault_method": {"action": "blur"}}, "vrp")


def test_an_obligation_without_an_action_names_the_field(anonymiser: Anonymiser) -> None:
    with pytest.raises(AnonymiseError, match="'assault_method'"):
        anonymiser.apply(incident(), {"assault_method": {"level": "lsoa"}}, "vrp")


# ------------------------------------------------------------------ generalise


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("lsoa", (AREA.lsoa21cd, AREA.msoa21cd, AREA.lad_cd)),
        ("msoa", (None, AREA.msoa21cd, AREA.lad_cd)),
        ("lad", (None, None, AREA.lad_cd)),
        ("region", (None, None, None)),
    ],
)
def test_generalise_each_level(
    anonymiser: Anonymiser, level: str, expected: tuple[str | None, ...]
) -> None:
    released = one(anonymiser, geo(), action="generalise", level=level)
    assert released == {
        "lsoa21cd": expected[0],
        "msoa21cd": expected[1],
        "lad_cd": expected[2],
        "region_cd": REGION_CODE,
    }


@pytest.mark.parametrize("level", ["lsoa", "msoa", "lad", "region"])
def test_generalise_never_releases_the_ward(anonymiser: Anonymiser, level: str) -> None:
    released = one(anonymiser, geo(), action="generalise", level=level)
    assert set(released) == {"lsoa21cd", "msoa21cd", "lad_cd", "region_cd"}


def test_generalise_fills_missing_msoa_and_lad_from_the_lookup(anonymiser: Anonymiser) -> None:
    value = {"lsoa21cd": LSOA, "msoa21cd": None, "ward_cd": None}
    released = one(anonymiser, value, action="generalise", level="lsoa")
    assert released == {
        "lsoa21cd": LSOA,
        "msoa21cd": AREA.msoa21cd,
        "lad_cd": AREA.lad_cd,
        "region_cd": REGION_CODE,
    }


def test_generalise_without_an_lsoa_uses_what_is_given(anonymiser: Anonymiser) -> None:
    value = geo(lsoa21cd=None, msoa21cd=None)
    released = one(anonymiser, value, action="generalise", level="lsoa")
    assert released == {
        "lsoa21cd": None,
        "msoa21cd": None,
        "lad_cd": AREA.lad_cd,
        "region_cd": REGION_CODE,
    }


def test_generalise_an_unknown_lsoa_without_msoa_is_refused(anonymiser: Anonymiser) -> None:
    value = geo(lsoa21cd=UNKNOWN_LSOA, msoa21cd=None)
    with pytest.raises(AnonymiseError, match=rf"'geo'.*{UNKNOWN_LSOA}"):
        anonymiser.apply({"geo": value}, {"geo": {"action": "generalise", "level": "msoa"}}, "vrp")


def test_generalise_an_unknown_lsoa_with_its_msoa_passes(anonymiser: Anonymiser) -> None:
    value = geo(lsoa21cd=UNKNOWN_LSOA)
    released = one(anonymiser, value, action="generalise", level="msoa")
    assert released["msoa21cd"] == AREA.msoa21cd


def test_generalise_refuses_codes_that_contradict_the_lookup(anonymiser: Anonymiser) -> None:
    other_msoa = next(m for m in LOOKUP.msoas() if m != AREA.msoa21cd)
    with pytest.raises(AnonymiseError, match=rf"'f'.*msoa21cd.*{other_msoa}"):
        one(anonymiser, geo(msoa21cd=other_msoa), action="generalise", level="lad")


def test_generalise_refuses_an_unknown_level(anonymiser: Anonymiser) -> None:
    with pytest.raises(AnonymiseError, match=r"'f'.*level.*'ward'"):
        one(anonymiser, geo(), action="generalise", level="ward")


@pytest.mark.parametrize("value", ["E01900001", {"lsoa21cd": 1}])
def test_generalise_refuses_a_value_that_is_not_a_geography(
    anonymiser: Anonymiser, value: Any
) -> None:
    with pytest.raises(AnonymiseError, match="'f'"):
        one(anonymiser, value, action="generalise", level="lad")


# ------------------------------------------------------------------ band

AGE_SVD = {
    "AGE_0_9": "0-9",
    "AGE_10_17": "10-17",
    "AGE_18_24": "18-24",
    "AGE_25_34": "25+",
    "AGE_35_44": "25+",
    "AGE_45_54": "25+",
    "AGE_55_64": "25+",
    "AGE_65_PLUS": "25+",
    "UNKNOWN": "UNKNOWN",
}


@pytest.mark.parametrize(("symbol", "band"), AGE_SVD.items())
def test_band_age_svd(anonymiser: Anonymiser, symbol: str, band: str) -> None:
    assert one(anonymiser, symbol, action="band", scheme="age_svd") == band


@pytest.mark.parametrize("symbol", AGE_SVD)
def test_band_age5_keeps_the_wire_band(anonymiser: Anonymiser, symbol: str) -> None:
    assert one(anonymiser, symbol, action="band", scheme="age5") == symbol


def test_band_refuses_an_unknown_scheme(anonymiser: Anonymiser) -> None:
    with pytest.raises(AnonymiseError, match=r"'f'.*scheme.*'age10'"):
        one(anonymiser, "AGE_0_9", action="band", scheme="age10")


@pytest.mark.parametrize("value", ["AGE_30", 42])
def test_band_refuses_a_value_that_is_not_an_age_band(anonymiser: Anonymiser, value: Any) -> None:
    with pytest.raises(AnonymiseError, match=r"'f'.*AgeBand"):
        one(anonymiser, value, action="band", scheme="age_svd")


# ------------------------------------------------------------------ truncate


@pytest.mark.parametrize(
    ("moment", "unit", "expected"),
    [
        (WEDNESDAY, "hour", datetime(2026, 10, 14, 15, tzinfo=UTC)),
        (WEDNESDAY, "day", datetime(2026, 10, 14, tzinfo=UTC)),
        (WEDNESDAY, "week", datetime(2026, 10, 12, tzinfo=UTC)),
        (WEDNESDAY, "month", datetime(2026, 10, 1, tzinfo=UTC)),
        (FIRST_OF_APRIL, "week", datetime(2026, 3, 30, tzinfo=UTC)),
        (FIRST_OF_APRIL, "month", datetime(2026, 4, 1, tzinfo=UTC)),
    ],
)
def test_truncate_datetime(
    anonymiser: Anonymiser, moment: datetime, unit: str, expected: datetime
) -> None:
    released = one(anonymiser, moment, action="truncate", unit=unit)
    assert released == expected
    assert released.tzinfo is UTC


@pytest.mark.parametrize(
    ("day", "unit", "expected"),
    [
        (date(2026, 10, 14), "hour", date(2026, 10, 14)),
        (date(2026, 10, 14), "day", date(2026, 10, 14)),
        (date(2026, 10, 14), "week", date(2026, 10, 12)),
        (date(2026, 10, 14), "month", date(2026, 10, 1)),
        (date(2026, 4, 1), "week", date(2026, 3, 30)),
        (date(2026, 4, 1), "month", date(2026, 4, 1)),
    ],
)
def test_truncate_date(anonymiser: Anonymiser, day: date, unit: str, expected: date) -> None:
    released = one(anonymiser, day, action="truncate", unit=unit)
    assert released == expected
    assert type(released) is date


@pytest.mark.parametrize(
    ("precision", "unit", "expected"),
    [
        (None, "hour", datetime(2026, 6, 1, tzinfo=UTC)),
        ("MINUTE", "hour", datetime(2026, 6, 1, tzinfo=UTC)),
        ("DAY", "hour", datetime(2026, 6, 1, tzinfo=UTC)),
        ("MONTH", "hour", datetime(2026, 6, 1, tzinfo=UTC)),
        ("MONTH", "week", datetime(2026, 6, 1, tzinfo=UTC)),
        ("DAY", "week", datetime(2026, 6, 1, tzinfo=UTC)),
    ],
)
def test_a_time_is_never_released_finer_than_the_source_gave_it(
    anonymiser: Anonymiser, precision: str | None, unit: str, expected: datetime
) -> None:
    """police.uk gives a month: an agreement's ``truncate: hour`` releases it by
    month, so no share shows a time of day the source never had. Other time
    fields (arrival) follow their own obligation."""
    record = {
        "assault_datetime": datetime(2026, 6, 1, tzinfo=UTC),
        "arrival_datetime": datetime(2026, 6, 17, 14, 40, tzinfo=UTC),
        "occurred_precision": precision,
    }
    obligations = {
        "assault_datetime": {"action": "truncate", "unit": unit},
        "arrival_datetime": {"action": "truncate", "unit": "hour"},
        "occurred_precision": {"action": "keep"},
    }
    released = anonymiser.apply(record, obligations, "vrp")
    assert released["assault_datetime"] == expected
    assert released["arrival_datetime"] == datetime(2026, 6, 17, 14, tzinfo=UTC)
    assert released["occurred_precision"] == precision
    # What the obligation does to a time precise to the day: hour -> that day.
    day = anonymiser.apply(
        {"assault_datetime": datetime(2026, 6, 17, tzinfo=UTC), "occurred_precision": "DAY"},
        {"assault_datetime": {"action": "truncate", "unit": "hour"}},
        "vrp",
    )
    assert day["assault_datetime"] == datetime(2026, 6, 17, tzinfo=UTC)
    month = anonymiser.apply(
        {"assault_datetime": datetime(2026, 6, 17, tzinfo=UTC), "occurred_precision": "MONTH"},
        {"assault_datetime": {"action": "truncate", "unit": "day"}},
        "vrp",
    )
    assert month["assault_datetime"] == datetime(2026, 6, 1, tzinfo=UTC)


def test_truncate_works_in_utc(anonymiser: Anonymiser) -> None:
    # 00:30 on Thursday 1 October in UTC+2 is 22:30 on Wednesday 30 September in UTC.
    local = datetime(2026, 10, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert one(anonymiser, local, action="truncate", unit="month") == datetime(
        2026, 9, 1, tzinfo=UTC
    )


@pytest.mark.parametrize("value", [datetime(2026, 10, 14, 15, 42), 1_792_000_000_000, "2026"])
def test_truncate_refuses_naive_datetimes_and_other_types(
    anonymiser: Anonymiser, value: Any
) -> None:
    with pytest.raises(AnonymiseError, match="'f'"):
        one(anonymiser, value, action="truncate", unit="day")


def test_truncate_refuses_an_unknown_unit(anonymiser: Anonymiser) -> None:
    with pytest.raises(AnonymiseError, match=r"'f'.*unit.*'year'"):
        one(anonymiser, WEDNESDAY, action="truncate", unit="year")


# ------------------------------------------------------------------ pseudonymise

SOURCE = "9f" * 32


def pseudonymise(anonymiser: Anonymiser, value: Any, recipient: str) -> Any:
    return one(anonymiser, value, recipient, action="pseudonymise", scope="recipient")


def test_pseudonymise_is_the_hmac_of_the_source_pseudonym(
    anonymiser: Anonymiser, keys: RecipientKeys
) -> None:
    expected = hmac.new(keys.key("vrp"), SOURCE.encode(), hashlib.sha256).hexdigest()
    assert pseudonymise(anonymiser, SOURCE, "vrp") == expected
    assert expected != SOURCE


def test_pseudonymise_is_deterministic_per_recipient(anonymiser: Anonymiser) -> None:
    first = pseudonymise(anonymiser, SOURCE, "csp-coventry")
    assert pseudonymise(anonymiser, SOURCE, "csp-coventry") == first
    assert pseudonymise(anonymiser, "other", "csp-coventry") != first


def test_pseudonymise_differs_across_recipients(anonymiser: Anonymiser) -> None:
    assert pseudonymise(anonymiser, SOURCE, "vrp") != pseudonymise(
        anonymiser, SOURCE, "csp-birmingham"
    )


def test_pseudonymise_handles_lists(anonymiser: Anonymiser) -> None:
    released = pseudonymise(anonymiser, [SOURCE, "other"], "vrp")
    assert released == [
        pseudonymise(anonymiser, SOURCE, "vrp"),
        pseudonymise(anonymiser, "other", "vrp"),
    ]


@pytest.mark.parametrize("value", [42, b"bytes", ["ok", 1]])
def test_pseudonymise_refuses_other_types(anonymiser: Anonymiser, value: Any) -> None:
    with pytest.raises(AnonymiseError, match=r"'f'.*string"):
        pseudonymise(anonymiser, value, "vrp")


def test_pseudonymise_refuses_another_scope(anonymiser: Anonymiser) -> None:
    with pytest.raises(AnonymiseError, match=r"'f'.*scope.*'shared'"):
        one(anonymiser, SOURCE, action="pseudonymise", scope="shared")


# ------------------------------------------------------------------ keys


def test_a_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "keys"
    first = Anonymiser(LOOKUP, RecipientKeys(folder))
    pseudonym = pseudonymise(first, SOURCE, "vrp")
    path = folder / "vrp.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    assert len(bytes.fromhex(path.read_text(encoding="ascii"))) == 32
    again = Anonymiser(LOOKUP, RecipientKeys(folder))
    assert pseudonymise(again, SOURCE, "vrp") == pseudonym


def test_keys_are_cached_after_the_first_read(keys: RecipientKeys) -> None:
    key = keys.key("vrp")
    (keys.folder / "vrp.key").unlink()
    assert keys.key("vrp") == key


def test_a_key_file_others_can_read_is_refused(keys: RecipientKeys) -> None:
    keys.folder.mkdir(mode=0o700)
    path = keys.folder / "vrp.key"
    path.write_text("ab" * 32, encoding="ascii")
    path.chmod(0o644)
    with pytest.raises(AnonymiseError, match=r"vrp\.key.*chmod 600"):
        keys.key("vrp")


def test_a_malformed_key_file_is_refused(keys: RecipientKeys) -> None:
    keys.folder.mkdir(mode=0o700)
    path = keys.folder / "vrp.key"
    path.write_text("not hex", encoding="ascii")
    path.chmod(0o600)
    with pytest.raises(AnonymiseError, match=r"vrp\.key.*32 bytes"):
        keys.key("vrp")


@pytest.mark.parametrize("recipient", ["../vrp", "VRP", ""])
def test_a_recipient_that_is_not_a_party_id_is_refused(keys: RecipientKeys, recipient: str) -> None:
    with pytest.raises(AnonymiseError, match="party id"):
        keys.key(recipient)
    assert not keys.folder.exists()
