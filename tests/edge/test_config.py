from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edge.cli import connector_app
from edge.config import ConfigError, ConnectorConfig, SqlSource

SAMPLES = sorted((Path(__file__).parents[2] / "connectors" / "config").glob("*.yaml"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_config_loads(path: Path) -> None:
    config = ConnectorConfig.load(path)
    assert config.never_share, "a sample config must list its identifier and free-text columns"
    assert "${" not in str(config.keys.signing_key)


def edited(tmp_path: Path, change: dict[str, object], drop: tuple[str, ...] = ()) -> Path:
    raw = yaml.safe_load(SAMPLES[-1].read_text(encoding="utf-8"))  # the outcomes config
    raw.update(change)
    for key in drop:
        raw.pop(key)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"authority": "YOS Birmingham"}, r"authority: 'YOS Birmingham' must be lower-case"),
        ({"record_type": "Crime"}, r"record_type: must be one of Incident"),
        ({"colour": "blue"}, r"unknown keys: colour"),
        (
            {"source": {"csv": {"path": "x.csv", "encoding": "klingon"}}},
            r"source\.csv\.encoding: unknown encoding 'klingon'",
        ),
        ({"source": {"csv": {}, "sql": {}}}, r"source: must hold exactly one of"),
        ({"source": {"xlsx": {"path": "a.xlsx", "tab": 1}}}, r"source\.xlsx: unknown keys: tab"),
        ({"source": {"xlsx": {"path": "a.xlsx", "sheet": ""}}}, r"source\.xlsx\.sheet: must be"),
        (
            {"source": {"xlsx": {"path": "a.xlsx", "header_row": 0}}},
            r"header_row: must be a positive whole number",
        ),
        ({"source": {"xml": {"path": "a.xml"}}}, r"source\.xml\.record: must be a non-empty"),
        (
            {"source": {"xml": {"path": "a.xml", "record": "a/b"}}},
            r"source\.xml\.record: 'a/b' is not an element's local name",
        ),
        (
            {"source": {"xml": {"path": "a.xml", "record": "R", "context": {"S": "//x"}}}},
            r"source\.xml\.context\.S: must be a path of element names",
        ),
        (
            {"fields": {"outcome_type": {"column": "ChildSurname"}}},
            r"fields\.outcome_type: copies never_share column\(s\) ChildSurname",
        ),
        (
            {"fields": {"outcome_type": {"const": "X", "column": "Y"}}},
            r"fields\.outcome_type: needs exactly one of",
        ),
        (
            {
                "pseudonyms": {
                    "subject_pseudo_id": {"person": {"name": ["A"], "dob": "B", "nhs_number": "C"}}
                }
            },
            r"needs either 'name' \(with 'dob'\) or 'nhs_number'",
        ),
    ],
)
def test_errors_name_the_file_and_the_setting(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = edited(tmp_path, change)
    with pytest.raises(ConfigError, match=message) as caught:
        ConnectorConfig.load(path)
    assert str(caught.value).startswith(str(path))


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        ConnectorConfig.load(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("authority: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        ConnectorConfig.load(bad)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_sample_keys_and_state_are_in_the_authoritys_folder_never_the_hubs(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = tmp_path / "hub"
    monkeypatch.setenv("SVDHUB_HOME", str(hub))
    monkeypatch.setenv("SVDHUB_AUTHORITIES", str(tmp_path / "authorities"))
    monkeypatch.delenv("SVDHUB_AUTHORITY_HOME", raising=False)
    config = ConnectorConfig.load(path)
    folder = tmp_path / "authorities" / config.authority
    assert config.authority_home == folder
    source = config.source.url if isinstance(config.source, SqlSource) else config.source.path
    for where in (
        config.keys.signing_key,
        config.keys.linkage_key,
        config.state_dir,
        config.public_key_file,
        Path(source.removeprefix("sqlite:///")),
    ):
        assert where.is_relative_to(folder), where
        assert not where.is_relative_to(hub), where


def test_svdhub_authority_home_names_the_authoritys_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVDHUB_AUTHORITIES", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("SVDHUB_AUTHORITY_HOME", str(tmp_path / "police"))
    config = ConnectorConfig.load(SAMPLES[0])
    assert config.keys.signing_key == tmp_path / "police" / "keys" / "signing.pem"
    assert config.keys.linkage_key == tmp_path / "police" / "keys" / "linkage.key"
    assert config.state_dir == tmp_path / "police" / "connector"


def test_paths_still_expand_svdhub_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path / "home"))
    geography = {"lookup": "${SVDHUB_HOME}/lookup.csv", "partnership": "partnership.yaml"}
    loaded = ConnectorConfig.load(edited(tmp_path, {"geography": geography})).geography
    assert loaded.lookup == tmp_path / "home" / "lookup.csv"
    assert loaded.partnership == tmp_path / "partnership.yaml"


def test_a_config_that_still_sets_partitions_is_told_the_hub_makes_topics(
    tmp_path: Path,
) -> None:
    raw = yaml.safe_load(SAMPLES[0].read_text(encoding="utf-8"))
    raw["partitions"] = 3
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="svdhub access apply"):
        ConnectorConfig.load(path)


# -- withdrawn rows and deleted_rows --------------------------------------------

SQL_SAMPLE = SAMPLES[0]  # the youth service referrals, an SQL source
WITHDRAWN = {"column": "Status", "values": {"Deleted": "ENTERED_IN_ERROR"}, "current": ["Live"]}


def test_withdrawn_and_deleted_rows_load() -> None:
    config = ConnectorConfig.load(SQL_SAMPLE)
    assert isinstance(config.source, SqlSource)
    deleted = config.source.deleted_rows
    assert deleted is not None
    assert (deleted.watermark, deleted.reason_column) == ("deleted_at", "reason")
    assert deleted.reasons["consent withdrawn"] == "CONSENT_WITHDRAWN"
    assert config.retracts
    police = ConnectorConfig.load(SAMPLES[-2])
    assert police.authority == "wmp"
    assert police.withdrawn is not None
    assert police.withdrawn.reasons == {"Deleted": "ENTERED_IN_ERROR", "Duplicate": "DUPLICATE"}
    assert police.withdrawn.current == ("Active",)
    assert not ConnectorConfig.load(SAMPLES[-1]).retracts


@pytest.mark.parametrize(
    ("withdrawn", "message"),
    [
        ({**WITHDRAWN, "colour": "x"}, r"withdrawn: unknown keys: colour"),
        (
            {**WITHDRAWN, "values": {"Deleted": "GONE"}},
            r"withdrawn\.values\.Deleted: 'GONE' must be one of ENTERED_IN_ERROR",
        ),
        ({**WITHDRAWN, "values": {}}, r"withdrawn\.values: must map at least one value"),
        (
            {**WITHDRAWN, "current": ["Deleted"]},
            r"withdrawn\.current: also under withdrawn\.values: Deleted",
        ),
        ({"values": {"Deleted": "DUPLICATE"}}, r"withdrawn\.column: must be a non-empty string"),
        ("Status", r"withdrawn: must be a mapping"),
    ],
)
def test_withdrawn_errors_name_the_setting(tmp_path: Path, withdrawn: object, message: str) -> None:
    path = edited(tmp_path, {"withdrawn": withdrawn})
    with pytest.raises(ConfigError, match=message):
        ConnectorConfig.load(path)


def sql_edited(tmp_path: Path, **deleted_rows: object) -> Path:
    raw = yaml.safe_load(SQL_SAMPLE.read_text(encoding="utf-8"))
    raw["source"]["sql"]["deleted_rows"].update(deleted_rows)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


WHERE = r"source\.sql\.deleted_rows"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "x"}, rf"{WHERE}: unknown keys: colour"),
        ({"query": "SELECT * FROM referral_deletions"}, rf"{WHERE}\.query: must use :watermark"),
        (
            {"query": "DELETE FROM referrals WHERE updated_at < :watermark"},
            rf"{WHERE}\.query: must be a SELECT",
        ),
        ({"watermark": ""}, rf"{WHERE}\.watermark: must be a non-empty string"),
        ({"reason": {"const": "BORED"}}, rf"{WHERE}\.reason\.const: 'BORED' must be one of"),
        ({"reason": {"column": "reason"}}, rf"{WHERE}\.reason: needs either 'const'"),
        (
            {"reason": {"column": "reason", "values": {"x": "NOPE"}}},
            rf"{WHERE}\.reason\.values\.x: 'NOPE' must be one of",
        ),
        (
            {"recorded_at": {"column": "deleted_at"}},
            rf"{WHERE}\.recorded_at: needs 'column' and 'datetime'",
        ),
    ],
)
def test_deleted_rows_errors_name_the_setting(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ConnectorConfig.load(sql_edited(tmp_path, **change))


def test_an_sql_source_refuses_unknown_keys_and_queries_that_are_not_selects(
    tmp_path: Path,
) -> None:
    raw = yaml.safe_load(SQL_SAMPLE.read_text(encoding="utf-8"))
    raw["source"]["sql"]["deleted"] = "SELECT 1"
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"source\.sql: unknown keys: deleted"):
        ConnectorConfig.load(path)
    del raw["source"]["sql"]["deleted"]
    raw["source"]["sql"]["query"] = "UPDATE referrals SET notes = '' WHERE updated_at >= :watermark"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"source\.sql\.query: must be a SELECT"):
        ConnectorConfig.load(path)


def test_connector_check_validates_the_new_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        connector_app, ["check", "--rows", "0", str(SQL_SAMPLE), str(SAMPLES[-1])]
    )
    assert result.exit_code == 0, result.output
    assert "(bcc-youth -> Referral, Retraction)" in result.output
    assert "(yos-birmingham -> Outcome)" in result.output
    bad = edited(tmp_path, {"withdrawn": {**WITHDRAWN, "reasons": {}}})
    result = CliRunner().invoke(connector_app, ["check", str(bad)])
    assert result.exit_code == 1
    assert "withdrawn: unknown keys: reasons" in result.output
