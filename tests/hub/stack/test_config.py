from pathlib import Path

import pytest

from hub.stack import ConfigError, StackConfig


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "stack.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_project_settings_load_with_pinned_versions() -> None:
    config = StackConfig.load()
    assert config.kafka.version.startswith("4.")
    assert config.opa.version >= "v1.21.3"
    assert config.postgres.port != 5432  # never the system cluster's port
    assert (config.policies_dir / ".manifest").is_file()


def test_state_and_tools_folders_follow_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SVDHUB_TOOLS", str(tmp_path / "tools"))
    config = StackConfig.load()
    assert config.state_dir == tmp_path / "state"
    assert config.tools_dir == tmp_path / "tools"
    assert config.env_file == tmp_path / "state" / "stack.env"


def test_settings_survive_a_round_trip_through_toml(tmp_path: Path) -> None:
    config = StackConfig.load().with_ports(kafka=1, controller=2, opa=3, postgres=4)
    again = StackConfig.load(config_file=write(tmp_path, config.to_toml()))
    assert (again.kafka, again.opa, again.postgres) == (config.kafka, config.opa, config.postgres)
    assert again.ready_timeout == config.ready_timeout


def test_missing_key_is_named(tmp_path: Path) -> None:
    body = StackConfig.load().to_toml().replace("heap = ", "heapsize = ")
    with pytest.raises(ConfigError, match=r"\[kafka\] lacks 'heap'"):
        StackConfig.load(config_file=write(tmp_path, body))


def test_wrong_type_is_named(tmp_path: Path) -> None:
    body = StackConfig.load().to_toml().replace("port = 18181", 'port = "18181"')
    with pytest.raises(ConfigError, match=r"\[opa\] port must be int"):
        StackConfig.load(config_file=write(tmp_path, body))


def test_unknown_key_is_named(tmp_path: Path) -> None:
    body = StackConfig.load().to_toml() + "colour = 'blue'\n"
    with pytest.raises(ConfigError, match=r"\[postgres\] has unknown keys: colour"):
        StackConfig.load(config_file=write(tmp_path, body))


def test_malformed_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[kafka\n")
    with pytest.raises(ConfigError, match=str(path)):
        StackConfig.load(config_file=path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        StackConfig.load(config_file=tmp_path / "absent.toml")
