"""The mapping language for extracts without ids or with split values: composite
values (``first_of``, ``concat``), record keys hashed from several columns,
and value maps shared in a file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edge.cli import connector_app
from edge.config import ConfigError, ConnectorConfig
from edge.mapping import Mapper, RowError
from edge.pseudonymise import Pseudonymiser
from tests.edge.helpers import prepare
from tests.edge.test_mapping import crime
from wire import schemas
from wire.geography import GeographyLookup

CONFIGS = Path(__file__).parents[2] / "connectors" / "config"
LOOKUP = GeographyLookup.synthetic_sample()
LSOA = LOOKUP.lsoas("E08000026")[0]
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PSEUDO = Pseudonymiser(bytes(range(32)), "test-1")
#: An ISTV-like extract with no record id: the key is every column that
#: describes the assault.
KEY = ["SiteCode", "ArrivalDate", "ArrivalTime", "AssaultDateTime", "AssaultMethod", "LSOA21"]


def istv(tmp_path: Path, **change: Any) -> ConnectorConfig:
    """The UHB ISTV sample reshaped: no attendance id and no names (so the
    incident pseudonym is the hashed key's), arrival date and time in two
    columns, the assault method mapped from a shared file."""
    raw = yaml.safe_load((CONFIGS / "uhb-ed-istv.yaml").read_text(encoding="utf-8"))
    (tmp_path / "methods.csv").write_text(
        "code,symbol\nBody part,BODY_PART\nKnife/sharp,KNIFE_SHARP\nOther,OTHER\n",
        encoding="utf-8",
    )
    raw.update(
        never_share=["Notes"],
        record_key={"hash": KEY},
        pseudonyms={"incident_pseudo_id": {"record_key": True}},
        recorded_at={"concat": ["ArrivalDate", "ArrivalTime"], "datetime": "%Y-%m-%d %H:%M"},
    )
    fields = raw["fields"]
    fields["arrival_datetime"] = raw["recorded_at"]
    fields["assault_method"] = {
        "column": "AssaultMethod",
        "map_file": "methods.csv",
        "map": {"Not known": "UNKNOWN"},
    }
    fields["victim_sex"] = {
        "first_of": ["Sex", "GenderCode"],
        "map": {"Male": "MALE", "Female": "FEMALE", "M": "MALE", "F": "FEMALE"},
        "default": "UNKNOWN",
    }
    fields["victim_age_band"] = {"age_band": {"age": "Age"}}
    raw.update(change)
    path = tmp_path / "istv.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return ConnectorConfig.load(path)


def row(**cells: str) -> dict[str, str]:
    values = {
        "SiteCode": "RRK15",
        "ArrivalDate": "2026-11-06",
        "ArrivalTime": "23:40",
        "AssaultDateTime": "2026-11-06 23:05",
        "AssaultMethod": "Knife/sharp",
        "LocationType": "Street/public place",
        "LSOA21": LSOA,
        "Sex": "",
        "GenderCode": "F",
        "Age": "19",
        "Notes": "free text",
    }
    values.update(cells)
    return values


def mapper(config: ConnectorConfig) -> Mapper:
    return Mapper(config, schemas.current(), PSEUDO, LOOKUP)


def test_composites_a_shared_map_and_a_hashed_key(tmp_path: Path) -> None:
    m = mapper(istv(tmp_path))
    assert set(KEY) | {"Sex", "GenderCode"} <= m.columns()
    mapped = m.map(row(), NOW)
    record = mapped.record
    # 23:40 on 6 November (GMT) from two columns.
    assert record["arrival_datetime"] == datetime(2026, 11, 6, 23, 40, tzinfo=UTC)
    assert record["envelope"]["recorded_at"] == record["arrival_datetime"]
    assert record["assault_method"] == "KNIFE_SHARP"  # from the file
    assert m.map(row(AssaultMethod="Not known"), NOW).record["assault_method"] == "UNKNOWN"
    assert record["victim_sex"] == "FEMALE"  # Sex blank: the first non-blank is GenderCode
    assert m.map(row(Sex="Male"), NOW).record["victim_sex"] == "MALE"
    assert m.map(row(Sex="", GenderCode=""), NOW).record["victim_sex"] == "UNKNOWN"
    # The incident pseudonym is the hashed key's; the same cells, the same id.
    assert record["incident_pseudo_id"] == PSEUDO.hashed_record("uhb-ed", [row()[c] for c in KEY])
    assert m.map(row(Notes="other text"), NOW).event_id == mapped.event_id
    # Any key cell changed: another record.
    changes = {
        "SiteCode": "RRK99",
        "ArrivalDate": "2026-11-07",
        "ArrivalTime": "23:41",
        "AssaultDateTime": "2026-11-06 23:06",
        "AssaultMethod": "Other",
        "LSOA21": LOOKUP.lsoas()[1],
    }
    assert set(changes) == set(KEY)
    for column, value in changes.items():
        assert m.map(row(**{column: value}), NOW).event_id != mapped.event_id, column


def test_a_hashed_key_cannot_be_confused_with_joined_cells_or_a_plain_key(tmp_path: Path) -> None:
    """Each cell is written with its length, so text moved between two cells,
    a separator inside a cell or a change of case gives another key; and a
    hashed key is in a domain of its own, so it never equals the pseudonym of
    a one-column key holding the same text."""
    m = mapper(istv(tmp_path))
    key = m._record_key
    assert key(row(SiteCode="RRK1", AssaultMethod="5Knife/sharp")) != key(row(SiteCode="RRK15"))
    assert key(row(SiteCode="RRK15\x1f2026-11-06")) != key(row())
    assert key(row(AssaultMethod="knife/sharp")) != key(row())
    assert key(row()) == PSEUDO.hashed_record("uhb-ed", [row()[c] for c in KEY])
    for plain in ("\x1f".join(row()[c] for c in KEY), "".join(row()[c] for c in KEY)):
        assert key(row()) != PSEUDO.record("uhb-ed", plain)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(max_size=6), min_size=2, max_size=4),
    st.lists(st.text(max_size=6), min_size=2, max_size=4),
)
def test_distinct_cells_give_distinct_hashed_keys(one: list[str], two: list[str]) -> None:
    """The encoding under the MAC is one-to-one: equal pseudonyms only for equal cells."""
    same = PSEUDO.hashed_record("uhb-ed", one) == PSEUDO.hashed_record("uhb-ed", two)
    assert same == (one == two)


def test_blank_composites_and_keys_are_named(tmp_path: Path) -> None:
    m = mapper(istv(tmp_path))
    with pytest.raises(RowError, match=r"recorded_at: columns 'ArrivalDate', 'ArrivalTime' are"):
        m.map(row(ArrivalDate="", ArrivalTime=""), NOW)
    with pytest.raises(RowError, match=r"recorded_at: '2026-11-06' is not a date in the format"):
        m.map(row(ArrivalTime=""), NOW)  # concat leaves a blank part out
    blank = row(**{column: "" for column in KEY})
    with pytest.raises(RowError, match=r"record_key: columns 'SiteCode', .* are all blank"):
        m._record_key(blank)
    assert m._record_key(row(SiteCode="")) != m._record_key(row())  # some blank: still a key


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"record_key": {"hash": ["SiteCode"]}}, r"record_key\.hash: must list two or more"),
        ({"record_key": {"hash": ["A", "A"]}}, r"record_key\.hash: names a column twice"),
        ({"record_key": {"columns": ["A", "B"]}}, r"record_key: a mapping must be \{hash"),
        ({"record_key": ""}, r"record_key: must be a column name or \{hash"),
        (
            {"fields": {"assault_method": {"first_of": "Sex"}}},
            r"fields\.assault_method\.first_of: must list two or more column names",
        ),
        (
            {"fields": {"assault_method": {"first_of": ["A", "B"], "separator": "-"}}},
            r"fields\.assault_method\.separator: is only for concat",
        ),
        (
            {"fields": {"assault_method": {"concat": ["Notes", "Sex"]}}},
            r"fields\.assault_method: copies never_share column\(s\) Notes",
        ),
        (
            {"fields": {"assault_method": {"column": "A", "map_file": "absent.yaml"}}},
            r"fields\.assault_method\.map_file: cannot read .*absent\.yaml",
        ),
        (
            {"pseudonyms": {"incident_pseudo_id": {"record_key": True, "optional": True}}},
            r"record_key: true takes no other keys",
        ),
    ],
)
def test_errors_name_the_setting(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        istv(tmp_path, **change)


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("code,symbol\nA,\n", "m.csv", r"m\.csv: row 2: needs a value and a symbol"),
        ("code,symbol\nA,X\nA,Y\n", "m.csv", r"m\.csv: row 3: 'A' is mapped twice"),
        ("code,symbol\n", "m.csv", r"m\.csv: holds no values"),
        ("[a, b]\n", "m.yaml", r"m\.yaml: must be a non-empty mapping"),
        ("a: [unclosed\n", "m.yaml", r"m\.yaml: not valid YAML"),
    ],
)
def test_a_bad_map_file_names_the_file_and_row(
    tmp_path: Path, text: str, name: str, message: str
) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    field = {"column": "AssaultMethod", "map_file": name}
    with pytest.raises(ConfigError, match=message):
        istv(tmp_path, fields={"assault_method": field, "incident_source": {"const": "ED_ISTV"}})


def test_a_yaml_map_file_with_bom_and_numbers(tmp_path: Path) -> None:
    (tmp_path / "snomed.yaml").write_text(
        "\ufeff52684005: ASSAULT\n276853009: SELF_HARM\n", encoding="utf-8"
    )
    config = istv(tmp_path)
    raw = yaml.safe_load(config.file.read_text(encoding="utf-8"))
    raw["fields"]["assault_method"] = {"column": "AssaultMethod", "map_file": "snomed.yaml"}
    config.file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    spec = ConnectorConfig.load(config.file).fields["assault_method"]
    assert spec.value_map == {"52684005": "ASSAULT", "276853009": "SELF_HARM"}


# ------------------------------------------------------------------ a whole run


def test_two_different_rows_with_one_hashed_key_are_refused_not_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rows alike in every key column but different in another column the
    config reads would share an event id, and the hub would keep the first:
    the second is rejected, naming the first, so the config can be fixed. The
    same line twice is the same record, published once."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SVDHUB_HOME", str(home / "hub"))
    monkeypatch.setenv("SVDHUB_AUTHORITIES", str(home / "authorities"))
    monkeypatch.delenv("SVDHUB_AUTHORITY_HOME", raising=False)
    config = istv(tmp_path)
    rows = [
        row(),
        row(ArrivalTime="23:55"),
        row(LocationType="Home"),  # not in the key: a different record, the same key
        row(),  # the first line again
    ]
    source = tmp_path / "istv.csv"
    header = list(rows[0])
    source.write_text(
        "\n".join([",".join(header), *(",".join(r[c] for c in header) for r in rows)]) + "\n",
        encoding="utf-8",
    )
    raw = yaml.safe_load(config.file.read_text(encoding="utf-8"))
    raw["fields"]["assault_method"]["map_file"] = str(tmp_path / "methods.csv")
    setup = prepare(
        home,
        "uhb-ed-istv",
        source=source,
        **{k: v for k, v in raw.items() if k not in ("source", "keys", "authority")},
    )
    result = CliRunner().invoke(connector_app, ["run", str(setup.config_file), "--dry-run"])
    assert result.exit_code == 4, result.output
    published = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    # Rows 2, 3 and 5 (a dry run keeps no checkpoint, so the repeated line is
    # printed again, under the first one's id); row 4 is refused.
    ids = [r["record"]["envelope"]["event_id"] for r in published]
    assert len(ids) == 3 and ids[0] == ids[2] != ids[1]
    assert f"reject: {source}: row 4: record_key: the same record key as {source} row 2" in (
        result.output
    )
    assert "rejected: 1" in result.output


# ------------------------------------------------------------------ precision


def police_uk(tmp_path: Path, **change: Any) -> Mapper:
    """The WMP crime sample reading police.uk's Month column for the time."""
    raw = yaml.safe_load((CONFIGS / "wmp-crime.yaml").read_text(encoding="utf-8"))
    month = {"column": "Month", "datetime": "%Y-%m", "precision": "month"}
    raw.update(occurred_at=month, recorded_at=month)
    raw["fields"]["assault_datetime"] = month
    raw.update(change)
    path = tmp_path / "police-uk.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return mapper(ConnectorConfig.load(path))


def test_a_month_is_its_first_instant_in_utc_whatever_the_clocks(tmp_path: Path) -> None:
    """police.uk's "2024-06" is 1 June 00:00 UTC, not the local midnight of
    1 June in summer time (31 May 23:00 UTC, the month before)."""
    m = police_uk(tmp_path)
    for month, expected in (
        ("2024-06", datetime(2024, 6, 1, tzinfo=UTC)),  # summer time
        ("2024-01", datetime(2024, 1, 1, tzinfo=UTC)),
    ):
        record = m.map({**crime(), "Month": month}, NOW).record
        assert record["assault_datetime"] == expected
        assert record["envelope"]["occurred_at"] == expected
        assert record["occurred_precision"] == "MONTH"


@pytest.mark.parametrize(
    ("spec", "text", "expected"),
    [
        ({"datetime": "%d/%m/%Y %H:%M", "precision": "day"}, "06/07/2026 23:30", (2026, 7, 6, 0)),
        ({"datetime": "%d/%m/%Y %H:%M", "precision": "hour"}, "06/07/2026 23:30", (2026, 7, 6, 22)),
        (
            {"datetime": "%d/%m/%Y %H:%M", "precision": "minute"},
            "06/07/2026 23:30",
            (2026, 7, 6, 22),
        ),
    ],
)
def test_day_hour_and_minute_precision(
    tmp_path: Path, spec: dict[str, str], text: str, expected: tuple[int, ...]
) -> None:
    """A day is a calendar day in UTC; an hour or a minute is local time,
    converted (23:30 BST on 6 July is 22:30 UTC), then cut."""
    when = {"column": "CommittedDateTime", **spec}
    m = police_uk(tmp_path, occurred_at=when, recorded_at=when)
    record = m.map({**crime(CommittedDateTime=text), "Month": "2026-07"}, NOW).record
    assert record["envelope"]["occurred_at"].timetuple()[:4] == expected
    assert record["occurred_precision"] == spec["precision"].upper()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"column": "M", "precision": "month"}, r"precision: needs a datetime or date format"),
        ({"column": "M", "datetime": "%Y-%m", "precision": "year"}, r"precision: must be one of"),
        ({"column": "M", "date": "%Y-%m-%d", "precision": "hour"}, r"at most precise to the day"),
    ],
)
def test_precision_errors_name_the_setting(
    tmp_path: Path, spec: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        police_uk(tmp_path, occurred_at=spec)
