"""The svdhub command: help on every subcommand, exit codes."""

import json
import shutil
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from hub.cli import app, load_plugins
from wire import compat, schemas, shares

runner = CliRunner()
load_plugins()


def all_command_paths() -> list[list[str]]:
    root = get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "svdhub")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_stack_commands_are_all_there() -> None:
    names = {tuple(p) for p in all_command_paths()}
    for sub in ("install", "up", "status", "down", "env"):
        assert ("stack", sub) in names


def test_unknown_command_is_a_usage_error() -> None:
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2


def test_unknown_component_fails_with_a_message() -> None:
    result = runner.invoke(app, ["stack", "status", "--only", "zookeeper"])
    assert result.exit_code == 1
    assert "unknown component(s): zookeeper" in result.output


def test_schemas_check_passes_on_the_shipped_schemas() -> None:
    result = runner.invoke(app, ["schemas", "check"])
    assert result.exit_code == 0, result.output
    assert "BACKWARD_TRANSITIVE compatible with v1" in result.output


def test_schemas_show_lists_fields_with_classifications() -> None:
    result = runner.invoke(app, ["schemas", "show", "Incident"])
    assert result.exit_code == 0, result.output
    assert "domestic_abuse_flag" in result.output
    assert "sensitive" in result.output


def test_schemas_show_unknown_record_fails() -> None:
    result = runner.invoke(app, ["schemas", "show", "Crime"])
    assert result.exit_code == 1
    assert "no record 'Crime'" in result.output


def test_schemas_check_fails_on_a_breaking_change(tmp_path: Path) -> None:
    proposed = tmp_path / "avro"
    shutil.copytree(schemas.CURRENT_DIR, proposed)
    incident = json.loads((proposed / "Incident.avsc").read_text(encoding="utf-8"))
    incident["fields"].append(
        {"name": "officer_notes", "type": "string", "doc": "x", "classification": "none"}
    )
    (proposed / "Incident.avsc").write_text(json.dumps(incident), encoding="utf-8")
    result = runner.invoke(app, ["schemas", "check", "--current", str(proposed)])
    assert result.exit_code == 1
    assert "Incident (against v1): not BACKWARD compatible at officer_notes" in result.output


def test_schemas_check_covers_the_share_envelope() -> None:
    result = runner.invoke(app, ["schemas", "check"])
    assert result.exit_code == 0, result.output
    assert "the share envelope matches shares/v1" in result.output


def proposed_envelope(tmp_path: Path, change: str) -> Path:
    envelope = shares.envelope_schema()
    if change == "description":
        envelope["properties"]["recipient"]["description"] = "Who the share is for."
    else:
        envelope["properties"]["policy_revision"]["maxLength"] = 64
    path = tmp_path / "share.schema.json"
    path.write_text(json.dumps(envelope), encoding="utf-8")
    return path


def test_schemas_check_refuses_a_breaking_change_to_the_share_envelope(tmp_path: Path) -> None:
    proposed = proposed_envelope(tmp_path, "maxLength")
    result = runner.invoke(app, ["schemas", "check", "--current-envelope", str(proposed)])
    assert result.exit_code == 1
    assert (
        "problem: share envelope (against shares/v1): policy_revision: maxLength changed "
        "from 128 to 64; if intended, freeze a new envelope version "
        "(svdhub schemas freeze --shares)"
    ) in result.output


def test_schemas_check_accepts_a_description_change_to_the_share_envelope(
    tmp_path: Path,
) -> None:
    proposed = proposed_envelope(tmp_path, "description")
    result = runner.invoke(app, ["schemas", "check", "--current-envelope", str(proposed)])
    assert result.exit_code == 0, result.output


def test_schemas_freeze_shares_writes_a_new_version_only_for_a_real_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "shares"
    shutil.copytree(compat.SHARES_DIR, folder)
    monkeypatch.setattr(compat, "SHARES_DIR", folder)
    result = runner.invoke(app, ["schemas", "freeze", "--shares"])
    assert result.exit_code == 1
    assert "annotations at most, which needs no new version" in result.output
    changed = json.loads(proposed_envelope(tmp_path, "maxLength").read_text(encoding="utf-8"))
    monkeypatch.setattr(shares, "envelope_schema", lambda: changed)
    result = runner.invoke(app, ["schemas", "check"])
    assert result.exit_code == 1
    result = runner.invoke(app, ["schemas", "freeze", "--shares"])
    assert result.exit_code == 0, result.output
    assert "froze the share envelope as shares/v2" in result.output
    assert json.loads((folder / "v2" / compat.SHARE_SCHEMA_FILE).read_text()) == changed
    result = runner.invoke(app, ["schemas", "check"])
    assert result.exit_code == 0, result.output
    assert "the share envelope matches shares/v2" in result.output
