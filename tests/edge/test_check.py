"""``svdhub connector check``: the config, the record's required fields, the
geography, and the first rows through the whole mapping, with throwaway keys
and without touching the authority's state."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edge.cli import connector_app
from tests.edge.test_mapping import crime

CONFIGS = Path(__file__).parents[2] / "connectors" / "config"


@pytest.fixture
def authorities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "authorities"
    monkeypatch.setenv("SVDHUB_AUTHORITIES", str(folder))
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path / "hub"))
    monkeypatch.delenv("SVDHUB_AUTHORITY_HOME", raising=False)
    return folder


def config(tmp_path: Path, sample: str, **change: object) -> Path:
    raw = yaml.safe_load((CONFIGS / f"{sample}.yaml").read_text(encoding="utf-8"))
    raw.update(change)
    path = tmp_path / f"{sample}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def crimes(tmp_path: Path, *rows: dict[str, str]) -> Path:
    header = list(rows[0])
    path = tmp_path / "crime.csv"
    path.write_text(
        "\n".join([",".join(header), *(",".join(r[c] for c in header) for r in rows)]) + "\n",
        encoding="utf-8",
    )
    return path


def test_a_config_the_mapping_refuses_fails_check_naming_the_file_once(
    tmp_path: Path, authorities: Path
) -> None:
    """A required field left out is found by check, not first by a run."""
    raw = yaml.safe_load((CONFIGS / "yos-birmingham-outcomes.yaml").read_text(encoding="utf-8"))
    raw["pseudonyms"].pop("subject_pseudo_id")
    path = tmp_path / "outcomes.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = CliRunner().invoke(connector_app, ["check", "--rows", "0", str(path)])
    assert result.exit_code == 1, result.output
    assert f"error: {path}: fields: Outcome needs subject_pseudo_id" in result.output
    assert result.output.count(str(path)) == 1


def test_check_reads_the_first_rows_as_a_run_would_and_writes_nothing(
    tmp_path: Path, authorities: Path
) -> None:
    rows = [
        crime(CrimeReference="CR-1"),
        crime(CrimeReference="CR-2", OffenceGroup="Homicide"),
        crime(CrimeReference="CR-3", HOOffenceCode="not a code"),
        crime(CrimeReference="CR-4", CommittedDateTime="31/02/2026 10:00"),
        crime(CrimeReference="CR-5"),
    ]
    source = crimes(tmp_path, *rows)
    path = config(
        tmp_path,
        "wmp-crime",
        source={"csv": {"path": str(source)}},
        include_if={"column": "OffenceGroup", "in": ["Violence with injury"]},
    )
    result = CliRunner().invoke(connector_app, ["check", "--rows", "4", str(path)])
    assert result.exit_code == 4, result.output
    out = result.output
    assert f"ok: {path} (wmp -> Incident, Retraction)" in out
    assert "  the first 4 rows, as a run would take them:" in out
    assert "  rows read: 4" in out
    assert "  accepted: 1 (would publish 1, already published 0)" in out
    assert "       1  include_if: OffenceGroup is 'Homicide', not included" in out
    assert "  rejected: 2" in out
    assert f"reject: {source}: row 4: offence_code_ho: value is 10 characters long" in out
    assert f"reject: {source}: row 5: occurred_at: '31/02/2026 10:00' is not a date" in out
    assert "CR-5" not in out and '"record"' not in out  # no record printed
    # No keys were needed and nothing was written in the authority's folder.
    assert not authorities.exists() or not any(authorities.rglob("*"))


def test_a_clean_check_exits_0_and_rows_0_reads_nothing(tmp_path: Path, authorities: Path) -> None:
    source = crimes(tmp_path, crime(CrimeReference="CR-1"), crime(CrimeReference="CR-2"))
    path = config(tmp_path, "wmp-crime", source={"csv": {"path": str(source)}})
    result = CliRunner().invoke(connector_app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "  accepted: 2 (would publish 2, already published 0)" in result.output
    result = CliRunner().invoke(connector_app, ["check", "--rows", "0", str(path)])
    assert result.exit_code == 0, result.output
    assert "rows read" not in result.output
    missing = config(tmp_path, "wmp-crime", source={"csv": {"path": str(tmp_path / "no.csv")}})
    result = CliRunner().invoke(connector_app, ["check", str(missing)])
    assert result.exit_code == 4, result.output
    assert "file error:" in result.output
