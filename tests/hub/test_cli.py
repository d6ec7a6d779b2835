"""The svdhub command: help on every subcommand, exit codes, lazy loading."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from hub.cli import COMMANDS, LazyCommand, app, as_command
from wire import compat, schemas, shares
from wire.kafka_client import CREDENTIALS_ENV
from wire.topics import NAMESPACE_ENV

runner = CliRunner()

# What `svdhub --help` must not load: the stack's installers, the database,
# Kafka and web clients, the stream processor, and the authority side's code.
HEAVY = ("hub.stack", "sqlalchemy", "kafka", "fastapi", "faust", "uvicorn", "edge.cli")


def loaded(command: object) -> object:
    return command.load() if isinstance(command, LazyCommand) else command


def all_command_paths() -> list[list[str]]:
    root = get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(loaded(command), "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(root, [])
    return paths


def first_paragraph(text: str | None) -> str:
    return " ".join((text or "").split("\n\n")[0].split())


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


def test_every_command_is_listed_in_the_top_level_help() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for name in [*COMMANDS, "version", "connector", "generate"]:
        assert f"│ {name} " in result.output, name


def test_listed_help_is_the_commands_own() -> None:
    """The one-line help listed without importing a command is the help the
    command gives itself once loaded."""
    root = get_command(app)
    lazy = {n: c for n, c in getattr(root, "commands", {}).items() if isinstance(c, LazyCommand)}
    assert set(COMMANDS) | {"connector", "generate"} <= set(lazy)
    for name, command in lazy.items():
        real = command.load()
        assert first_paragraph(command.help) == first_paragraph(real.help), name
        assert real.name == name


@pytest.mark.parametrize(
    "code",
    [
        "import hub.cli",
        "import sys; sys.argv = ['svdhub', '--help']\n"
        "import hub.cli\ntry:\n    hub.cli.main()\nexcept SystemExit:\n    pass",
        "import sys; sys.argv = ['svdhub', 'version']\n"
        "import hub.cli\ntry:\n    hub.cli.main()\nexcept SystemExit:\n    pass",
    ],
    ids=["import", "--help", "version"],
)
def test_help_loads_no_command_module(code: str) -> None:
    probe = (
        f"{code}\nimport sys\n"
        f"heavy = {HEAVY!r}\n"
        "found = sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') "
        "for h in heavy))\n"
        "print('LOADED', found, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stderr, done.stderr


def test_a_command_group_loads_when_it_runs() -> None:
    probe = (
        "import sys; sys.argv = ['svdhub', 'stack', '--help']\n"
        "import hub.cli\ntry:\n    hub.cli.main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', 'hub.stack.cli' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert "LOADED True" in done.stderr, done.stderr
    assert "Usage: svdhub stack" in done.stdout


def test_plugins_may_still_register_a_typer_app_or_a_function() -> None:
    group = typer.Typer(help="A group.")

    @group.command()
    def only() -> None:
        """The only command."""

    def single() -> None:
        """A single command."""

    as_group = as_command("plugin", group)
    assert as_group.name == "plugin"
    assert "only" in getattr(as_group, "commands", {})  # a group even with one command
    as_single = as_command("single", single)
    assert (as_single.name, as_single.help) == ("single", "A single command.")
    with pytest.raises(TypeError, match="neither a typer app nor a function"):
        as_command("bad", 42)


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


def test_access_commands_are_all_there() -> None:
    names = {tuple(p) for p in all_command_paths()}
    for sub in ("plan", "apply", "check", "credentials"):
        assert ("access", sub) in names


@pytest.mark.parametrize(
    ("args", "principal"),
    [
        (["enforcer", "run"], "enforcer"),
        (["audit", "run", "--once"], "ledger"),
        (["views", "run", "--once"], "views"),
    ],
    ids=["enforcer", "audit", "views"],
)
@pytest.mark.parametrize("namespace", ["", "t-1"], ids=["production", "namespaced"])
def test_a_service_without_credentials_says_which_file_it_looked_for(
    args: list[str],
    principal: str,
    namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each service connects as its own principal: with no --credentials and no
    $SVDHUB_KAFKA_CREDENTIALS it looks for that principal's file in the state
    folder (namespaced like the topics), and never falls back to another."""
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path))
    monkeypatch.setenv(NAMESPACE_ENV, namespace)
    monkeypatch.setenv("SVDHUB_GEOGRAPHY", "synthetic")  # the enforcer asks for it first
    monkeypatch.delenv(CREDENTIALS_ENV, raising=False)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    name = f"{namespace}.{principal}" if namespace else principal
    assert "no Kafka credentials" in result.output
    assert str(tmp_path / "access" / f"{name}.properties") in result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "--geography: no geography lookup is set"),
        (["--geography", "no-such-lookup.csv"], "no-such-lookup.csv: cannot read"),
        (["--geography", "synthetic", "--partnership", "absent.yaml"], "--partnership: absent"),
    ],
    ids=["unset", "missing-file", "missing-partnership"],
)
def test_the_enforcer_never_falls_back_to_a_geography(
    options: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a lookup the enforcer does not start on the synthetic sample: it
    says what to set, before it looks for credentials or connects to anything."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path / "hub"))
    monkeypatch.delenv("SVDHUB_GEOGRAPHY", raising=False)
    monkeypatch.delenv("SVDHUB_PARTNERSHIP", raising=False)
    monkeypatch.delenv(CREDENTIALS_ENV, raising=False)
    result = runner.invoke(app, ["enforcer", "run", *options])
    assert result.exit_code == 2, result.output
    assert message in result.output
    if not options:
        assert "'synthetic'" in result.output and "ONS" in result.output


@pytest.mark.parametrize("value", ["-1", "1001", "soon"])
def test_the_enforcers_linger_is_a_count_of_ms_within_bounds(value: str) -> None:
    result = runner.invoke(app, ["enforcer", "run", "--linger", value])
    assert result.exit_code == 2, result.output
    assert "--linger" in result.output
