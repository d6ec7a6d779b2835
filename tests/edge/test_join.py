"""``join:``: columns from files that update a source's rows (police.uk's
monthly outcomes, for the street files' crimes), the latest value winning."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from edge.cli import connector_app
from edge.config import ConfigError, ConnectorConfig, CsvSource, Join
from edge.mapping import Mapper, RowSkipped
from edge.pseudonymise import Pseudonymiser
from edge.sources import Problem, SourceError, SourceRow, row_hash
from edge.sources.csv import CsvReader
from edge.sources.join import Joined
from edge.workers import load_geography
from wire import schemas

FORMATS = Path(__file__).parents[1] / "fixtures" / "formats"
SAMPLE = Path(__file__).parents[2] / "connectors" / "config" / "formats" / "police-uk-outcomes.yaml"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHARGED = "9f1c27e0c0b4a1d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c"
SENTENCED = "4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"
NO_SUSPECT = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"


@pytest.fixture
def extracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The police.uk folder of an authority home, holding the street sample."""
    home = tmp_path / "wmp"
    monkeypatch.setenv("SVDHUB_AUTHORITY_HOME", str(home))
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path / "hub"))
    folder = home / "extracts" / "police-uk"
    folder.mkdir(parents=True)
    shutil.copy(FORMATS / "police-uk-street.csv", folder / "2026-06-west-midlands-street.csv")
    return folder


def outcomes(folder: Path) -> None:
    for month in ("07", "08"):
        shutil.copy(
            FORMATS / f"police-uk-outcomes-2026-{month}.csv",
            folder / f"2026-{month}-west-midlands-outcomes.csv",
        )


def join(folder: Path) -> Join:
    return Join(CsvSource(str(folder / "*-outcomes.csv")), "Crime ID", {"Outcome type": "Latest"})


def street_rows(folder: Path) -> list[SourceRow]:
    reader = CsvReader(CsvSource(str(folder / "*-street.csv")))
    (path,) = reader.files()
    return [r for r in reader.rows(path, {"Crime ID"}) if isinstance(r, SourceRow)]


def extended(joined: Joined, folder: Path) -> list[SourceRow]:
    """The street sample's rows with ``joined``'s columns."""
    return [r for r in joined.extend(iter(street_rows(folder))) if isinstance(r, SourceRow)]


def test_the_last_outcome_read_wins_and_a_crime_without_one_is_blank(extracts: Path) -> None:
    outcomes(extracts)
    joined = Joined.read(join(extracts))
    assert joined.files == 2 and joined.rows == 4 and not joined.problems
    # The August file is read after July's: its outcome for the same crime wins.
    assert joined.values[SENTENCED] == ("Offender given suspended prison sentence",)
    rows = {r.values["Crime ID"]: r for r in extended(joined, extracts)}
    assert rows[CHARGED].values["Latest"] == "Suspect charged"
    assert rows[NO_SUSPECT].values["Latest"] == ""
    assert rows[""].values["Latest"] == ""  # the ASB row: no key, no match
    assert "join: 3 Crime ID value(s) from 4 row(s) in 2 file(s)" in joined.notice.message


def test_a_row_whose_joined_values_changed_is_not_already_published(extracts: Path) -> None:
    """The checkpoint knows a row by its hash: a new outcome must change it,
    and a row with nothing joined keeps the hash it had before any join."""
    before = {r.values["Crime ID"]: r.row_hash for r in street_rows(extracts)}
    none_yet = Joined.read(join(extracts))
    assert none_yet.files == 0 and not none_yet.values
    unchanged = {r.values["Crime ID"]: r.row_hash for r in extended(none_yet, extracts)}
    assert unchanged == before
    outcomes(extracts)
    joined = Joined.read(join(extracts))
    after = {r.values["Crime ID"]: r.row_hash for r in extended(joined, extracts)}
    assert after[CHARGED] != before[CHARGED]
    assert after[NO_SUSPECT] == before[NO_SUSPECT]
    assert after[CHARGED] == row_hash([before[CHARGED], "Suspect charged"])


def test_a_bad_join_row_is_reported_with_its_file_and_line_and_joins_nothing(
    extracts: Path,
) -> None:
    outcomes(extracts)
    with (extracts / "2026-08-west-midlands-outcomes.csv").open("a", encoding="utf-8") as f:
        f.write(f"{CHARGED},2026-08,short row\n")
    joined = Joined.read(join(extracts))
    (problem,) = joined.problems
    assert isinstance(problem, Problem)
    assert problem.source.endswith("2026-08-west-midlands-outcomes.csv") and problem.number == 3
    assert "expected 10 columns, found 3" in problem.reason
    assert joined.values[CHARGED] == ("Suspect charged",)  # July's still stands


def test_a_join_file_without_its_columns_is_refused_naming_it(extracts: Path) -> None:
    (extracts / "2026-07-west-midlands-outcomes.csv").write_text(
        "Crime ID,Month\nabc,2026-07\n", encoding="utf-8"
    )
    with pytest.raises(SourceError, match=r"2026-07-west-midlands-outcomes.csv: missing column"):
        Joined.read(join(extracts))


def test_a_joined_column_may_not_overwrite_a_source_column(extracts: Path) -> None:
    clash = Join(
        CsvSource(str(extracts / "*-outcomes.csv")), "Crime ID", {"Outcome type": "Crime type"}
    )
    outcomes(extracts)
    with pytest.raises(SourceError, match=r"already has column.s. Crime type, which join.columns"):
        list(Joined.read(clash).extend(iter(street_rows(extracts))))


def test_the_police_uk_sample_takes_each_crimes_latest_outcome(extracts: Path) -> None:
    outcomes(extracts)
    config = ConnectorConfig.load(SAMPLE)
    assert config.join is not None
    mapper = Mapper(
        config,
        schemas.current(),
        Pseudonymiser(bytes(range(32)), "test-1"),
        load_geography(config),
        None,
    )
    joined = Joined.read(config.join)
    found: dict[str, Any] = {}
    for row in extended(joined, extracts):
        try:
            found[str(row.values["Crime ID"])] = mapper.map(row.values, NOW).record
        except RowSkipped:
            continue
    assert {k: v["police_outcome"] for k, v in found.items()} == {
        CHARGED: "CHARGED",  # July: "Suspect charged"
        NO_SUSPECT: "NO_SUSPECT_IDENTIFIED",  # no outcome row: the street file's
        SENTENCED: "CONVICTED",  # August's suspended sentence wins over July's
    }


def test_check_reports_what_the_join_read(extracts: Path) -> None:
    outcomes(extracts)
    result = CliRunner().invoke(connector_app, ["check", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "accepted: 3 (would publish 3, already published 0)" in result.output
    assert "join: 3 Crime ID value(s) from 4 row(s) in 2 file(s)" in result.output


def _config(tmp_path: Path, change: dict[Any, Any] | None = None) -> Path:
    raw = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    for key, value in (change or {}).items():
        raw["join"][key] = value
    raw["geography"] = "synthetic"
    groups = SAMPLE.parent / "police-uk-outcome-groups.csv"
    raw["fields"]["police_outcome"]["map_file"] = str(groups)
    path = tmp_path / "outcomes.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"columns": {}}, "join.columns: must map each join file column"),
        ({"columns": {"Outcome type": "Crime ID"}}, "each new column name must be distinct"),
        ({"by": "Location"}, "join: reads never_share column.s. Location"),
        ({True: "Crime ID"}, "YAML reads the key 'on' as true"),
        ({"how": "left"}, "join: unknown keys: how"),
        ({"csv": {"path": "x.csv", "sep": ";"}}, "join.csv: unknown keys: sep"),
    ],
)
def test_join_config_errors(tmp_path: Path, change: dict[Any, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ConnectorConfig.load(_config(tmp_path, change))


def test_an_sql_source_joins_in_its_query(tmp_path: Path) -> None:
    raw = yaml.safe_load(_config(tmp_path).read_text(encoding="utf-8"))
    raw["source"] = {
        "sql": {
            "url": "sqlite:///x.db",
            "query": "SELECT * FROM c WHERE m > :watermark",
            "watermark": "Month",
        }
    }
    path = tmp_path / "sql.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="join: is for file sources; join in the SQL query"):
        ConnectorConfig.load(path)
