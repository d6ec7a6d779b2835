"""Which rows a connector publishes at all: row filters (``include_if``,
``skip_if``) and the partnership's geography. A row left out is skipped and
counted by reason, never rejected, and never published."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from edge.cli import connector_app
from edge.config import ConfigError, ConnectorConfig
from edge.mapping import Mapper, RowError, RowSkipped
from edge.pseudonymise import Pseudonymiser
from edge.runner import Summary
from tests.edge.helpers import prepare
from tests.edge.test_mapping import crime, referral
from wire import schemas
from wire.geography import GeographyLookup
from wire.partnership import Partnership

CONFIGS = Path(__file__).parents[2] / "connectors" / "config"
POLICIES = Path(__file__).parents[2] / "policies"
SYNTHETIC = GeographyLookup.synthetic_sample()
BIRMINGHAM = SYNTHETIC.lsoas("E08000025")[:3]
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PSEUDO = Pseudonymiser(bytes(range(32)), "test-1")
#: LSOAs in a district outside the West Midlands partnership (Shropshire).
SHROPSHIRE = ["E01028801", "E01028802"]


def ons_lookup(folder: Path) -> Path:
    """An ONS-shaped lookup: three Birmingham LSOAs (the synthetic sample's
    codes), a Coventry one, and two in Shropshire, outside the partnership."""
    lines = ["LSOA21CD,LSOA21NM,MSOA21CD,MSOA21NM,LAD22CD,LAD22NM"]
    for code in BIRMINGHAM:
        area = SYNTHETIC.area(code)
        lines.append(f"{code},{area.lsoa21nm},{area.msoa21cd},{area.msoa21nm},E08000025,Birmingham")
    coventry = SYNTHETIC.area(SYNTHETIC.lsoas("E08000026")[0])
    lines.append(f"{coventry.lsoa21cd},C,{coventry.msoa21cd},C,E08000026,Coventry")
    lines += [
        f"{code},Shropshire 0{n}A,E02005901,Shropshire 0{n},E06000051,Shropshire"
        for n, code in enumerate(SHROPSHIRE)
    ]
    path = folder / "lookup.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def lookup(folder: Path) -> GeographyLookup:
    return GeographyLookup.load_ons(
        ons_lookup(folder), Partnership.load(POLICIES / "partnership.yaml")
    )


def config_with(tmp_path: Path, sample: str = "wmp-crime", **change: Any) -> ConnectorConfig:
    raw = yaml.safe_load((CONFIGS / f"{sample}.yaml").read_text(encoding="utf-8"))
    raw.update(change)
    path = tmp_path / f"{sample}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return ConnectorConfig.load(path)


def mapper(config: ConnectorConfig, geography: GeographyLookup = SYNTHETIC) -> Mapper:
    return Mapper(config, schemas.current(), PSEUDO, geography)


# ------------------------------------------------------------------ config


def test_sample_configs_ask_for_the_synthetic_sample_by_name() -> None:
    for path in sorted(CONFIGS.glob("*.yaml")):
        spec = ConnectorConfig.load(path).geography
        assert spec.synthetic and spec.partnership is None, path


@pytest.mark.parametrize(
    ("geography", "message"),
    [
        (None, r"geography: missing: set geography: \{lookup: FILE, partnership: FILE\}"),
        ("lookup.csv", r"geography: must be a mapping or 'synthetic'"),
        ({"lookup": "lookup.csv"}, r"geography\.partnership: missing: an ONS lookup needs"),
        ({"lookup": ""}, r"geography\.lookup: must be a non-empty string"),
        ({"lookup": "synthetic", "colour": 1}, r"geography: unknown keys: colour"),
        ({"lookup": "x.csv", "partnership": 3}, r"geography\.partnership: must be a file name"),
    ],
)
def test_a_config_must_say_where_its_geography_comes_from(
    tmp_path: Path, geography: object, message: str
) -> None:
    raw = yaml.safe_load((CONFIGS / "wmp-crime.yaml").read_text(encoding="utf-8"))
    raw.pop("geography")
    if geography is not None:
        raw["geography"] = geography
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        ConnectorConfig.load(path)
    assert str(caught.value).startswith(str(path))


def test_an_ons_geography_resolves_both_files_beside_the_config(tmp_path: Path) -> None:
    config = config_with(
        tmp_path, geography={"lookup": "geo/lookup.csv", "partnership": "partnership.yaml"}
    )
    assert config.geography.lookup == tmp_path / "geo" / "lookup.csv"
    assert config.geography.partnership == tmp_path / "partnership.yaml"
    assert not config.geography.synthetic


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"include_if": {"column": "OffenceGroup"}}, r"include_if: needs exactly one of in"),
        (
            {"skip_if": [{"column": "Status", "in": ["X"], "blank": True}]},
            r"skip_if\[0\]: needs exactly one of",
        ),
        ({"skip_if": {"column": "Status", "in": []}}, r"skip_if\.in: must be a non-empty list"),
        ({"skip_if": {"column": "Status", "blank": "yes"}}, r"skip_if\.blank: must be true"),
        (
            {"include_if": {"column": "MOText", "blank": True}},
            r"'MOText' is listed under never_share",
        ),
        ({"include_if": {"column": "X", "in": ["a"], "or": 1}}, r"include_if: unknown keys: or"),
        ({"include_if": "OffenceGroup"}, r"include_if: must be a mapping"),
    ],
)
def test_filter_errors_name_the_setting(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        config_with(tmp_path, **change)


# ------------------------------------------------------------------ mapping


def test_include_if_and_skip_if_skip_rows_with_reasons(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        include_if={"column": "OffenceGroup", "in": ["Violence with injury", "Robbery"]},
        skip_if=[{"column": "Status", "in": ["Test"]}, {"column": "LSOA21", "blank": True}],
    )
    m = mapper(config)
    assert "LSOA21" in m.columns() and "Status" in m.columns()
    assert m.map(crime(OffenceGroup="Robbery"), NOW).record["offence_group"] == "ROBBERY"
    cases = {
        "include_if: OffenceGroup is 'Homicide', not included": crime(OffenceGroup="Homicide"),
        "include_if: OffenceGroup is blank, not included": crime(OffenceGroup=" "),
        "skip_if: Status is 'Test'": crime(Status="Test"),
        "skip_if: LSOA21 is blank": crime(LSOA21=""),
    }
    for reason, row in cases.items():
        with pytest.raises(RowSkipped) as caught:
            m.map(row, NOW)
        assert f"{caught.value.field}: {caught.value.reason}" == reason
    # Filters come before the withdrawn column: a deleted row they leave out is
    # skipped, not published as a Retraction; one they keep is withdrawn.
    with pytest.raises(RowSkipped, match="'Homicide', not included"):
        m.map(crime(Status="Deleted", OffenceGroup="Homicide"), NOW)
    assert m.map(crime(Status="Deleted"), NOW).record_type == "Retraction"
    long = "x" * 100
    with pytest.raises(RowSkipped, match=r"'x{40}\.\.\.', not included"):
        m.map(crime(OffenceGroup=long), NOW)


def test_a_row_placed_outside_the_partnership_is_skipped_not_rejected(tmp_path: Path) -> None:
    m = mapper(config_with(tmp_path), lookup(tmp_path))
    assert m.map(crime(LSOA21=BIRMINGHAM[0]), NOW).record["geo"]["lad_cd"] == "E08000025"
    with pytest.raises(RowSkipped) as caught:
        m.map(crime(LSOA21=SHROPSHIRE[0]), NOW)
    assert (caught.value.field, caught.value.reason) == (
        "geo",
        "outside the partnership (Shropshire, E06000051)",
    )
    # A code the lookup does not list at all is still an error in the row.
    with pytest.raises(RowError, match=r"LSOA 'E01999999' is not in the geography lookup"):
        m.map(crime(LSOA21="E01999999"), NOW)


def test_a_home_outside_the_partnership_is_left_out_not_the_row(tmp_path: Path) -> None:
    """A child living outside the partnership can still be referred inside it:
    the (nullable) home area is left out rather than the referral skipped."""
    m = mapper(config_with(tmp_path, "bcc-youth-referrals"), lookup(tmp_path))
    row = referral(reasons="Knife carrying", home_lsoa21=SHROPSHIRE[1], linked_attendance_id="")
    assert m.map(row, NOW).record["home_geo"] is None
    inside = m.map({**row, "home_lsoa21": BIRMINGHAM[1]}, NOW).record["home_geo"]
    assert inside["lsoa21cd"] == BIRMINGHAM[1]


def test_the_summary_counts_skips_apart_from_rejects() -> None:
    summary = Summary(read=5, published=2)
    summary.skipped["include_if: OffenceGroup is 'Homicide', not included"] += 2
    summary.skipped["geo: outside the partnership (Shropshire, E06000051)"] += 1
    assert summary.clean and summary.skipped_total == 3
    lines = summary.lines(dry_run=True)
    assert "skipped: 3 (not for the hub, as the config says)" in lines
    assert "       2  include_if: OffenceGroup is 'Homicide', not included" in lines
    assert lines.index("rejected: 0") > lines.index(
        "skipped: 3 (not for the hub, as the config says)"
    )


# ------------------------------------------------------------------ a whole run


def test_a_dry_run_skips_counts_and_still_exits_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run over an ONS lookup and the project's partnership file: rows of
    other offence groups and rows in Shropshire are skipped by reason, the
    rest published; nothing is rejected, so the exit code is 0."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SVDHUB_HOME", str(home / "hub"))
    monkeypatch.setenv("SVDHUB_AUTHORITIES", str(home / "authorities"))
    monkeypatch.delenv("SVDHUB_AUTHORITY_HOME", raising=False)
    rows = [
        crime(CrimeReference="CR-1", LSOA21=BIRMINGHAM[0]),
        crime(CrimeReference="CR-2", LSOA21=SHROPSHIRE[0]),
        crime(CrimeReference="CR-3", LSOA21=BIRMINGHAM[1], OffenceGroup="Homicide"),
        crime(CrimeReference="CR-4", LSOA21=SHROPSHIRE[1]),
        crime(CrimeReference="CR-5", LSOA21=BIRMINGHAM[2], OffenceGroup="Robbery"),
    ]
    source = tmp_path / "crime.csv"
    header = list(rows[0])
    source.write_text(
        "\n".join([",".join(header), *(",".join(r[c] for c in header) for r in rows)]) + "\n",
        encoding="utf-8",
    )
    setup = prepare(
        home,
        "wmp-crime",
        source=source,
        geography={
            "lookup": str(ons_lookup(tmp_path)),
            "partnership": str(POLICIES / "partnership.yaml"),
        },
        include_if={"column": "OffenceGroup", "in": ["Violence with injury", "Robbery"]},
    )
    result = CliRunner().invoke(connector_app, ["run", str(setup.config_file), "--dry-run"])
    assert result.exit_code == 0, result.output
    published = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["record"]["geo"]["lsoa21cd"] for r in published) == [
        BIRMINGHAM[0],
        BIRMINGHAM[2],
    ]
    assert "skipped: 3 (not for the hub, as the config says)" in result.output
    assert "2  geo: outside the partnership (Shropshire, E06000051)" in result.output
    assert "1  include_if: OffenceGroup is 'Homicide', not included" in result.output
    assert "rejected: 0" in result.output
    assert "reject:" not in result.output
    # The lookup leaves five districts out: the run says so.
    assert "warning:" in result.output and "5 of the partnership's 7 districts" in result.output


def test_a_2011_lsoa_is_translated_and_the_event_says_so(tmp_path: Path) -> None:
    best_fit = tmp_path / "best-fit.csv"
    best_fit.write_text(
        "LSOA11CD,LSOA21CD\n" + f"E01008881,{BIRMINGHAM[1]}\n" + "E01008882,E01028801\n",
        encoding="utf-8",
    )
    m = mapper(config_with(tmp_path), lookup(tmp_path).with_lsoa11(best_fit))
    geo = m.map(crime(LSOA21="E01008881"), NOW).record["geo"]
    assert (geo["lsoa21cd"], geo["lsoa11cd"]) == (BIRMINGHAM[1], "E01008881")
    assert m.map(crime(LSOA21=BIRMINGHAM[1]), NOW).record["geo"]["lsoa11cd"] is None
    # A 2011 code whose 2021 LSOA is across the border is skipped like any other.
    with pytest.raises(RowSkipped, match="Shropshire"):
        m.map(crime(LSOA21="E01008882"), NOW)
    with pytest.raises(RowError, match=r"nor a 2011 LSOA in .*best-fit\.csv"):
        m.map(crime(LSOA21="E01000404"), NOW)
    plain = mapper(config_with(tmp_path), lookup(tmp_path))
    with pytest.raises(RowError, match=r"a 2011 code\? give geography\.lsoa11"):
        plain.map(crime(LSOA21="E01008881"), NOW)
    config = config_with(
        tmp_path,
        geography={"lookup": "synthetic", "lsoa11": "best-fit.csv"},
    )
    assert config.geography.lsoa11 == best_fit
