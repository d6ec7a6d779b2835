from pathlib import Path

import pytest
import yaml

from edge.config import ConfigError, ConnectorConfig, CsvSource

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
    source = config.source.path if isinstance(config.source, CsvSource) else config.source.url
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
    path = edited(tmp_path, {"geography": "${SVDHUB_HOME}/lookup.csv"})
    assert ConnectorConfig.load(path).geography == tmp_path / "home" / "lookup.csv"


def test_a_config_that_still_sets_partitions_is_told_the_hub_makes_topics(
    tmp_path: Path,
) -> None:
    raw = yaml.safe_load(SAMPLES[0].read_text(encoding="utf-8"))
    raw["partitions"] = 3
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="svdhub access apply"):
        ConnectorConfig.load(path)
