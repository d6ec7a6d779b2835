"""Runtime settings: the state folder and the service addresses, without the dev stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub import settings
from hub.stack import StackConfig
from wire.kafka_client import CREDENTIALS_ENV, ClientSettings, CredentialsError
from wire.topics import NAMESPACE_ENV

ADDRESS_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "OPA_URL", "DATABASE_URL", "OPA_TOKEN")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty state folder as $SVDHUB_HOME, with no address, credentials or
    topic namespace in the environment."""
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path / "state"))
    for variable in (*ADDRESS_VARIABLES, CREDENTIALS_ENV, NAMESPACE_ENV):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path / "state"


def test_state_home_follows_svdhub_home(home: Path) -> None:
    assert settings.state_home() == home


def test_state_home_defaults_to_the_projects_hub_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SVDHUB_HOME", raising=False)
    assert settings.state_home() == settings.project_root() / ".hub"


def test_svdhub_home_needs_no_project(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVDHUB_PROJECT", str(tmp_path / "nowhere"))
    assert settings.state_home() == home


def test_svdhub_policies_names_a_policies_checkout_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SVDHUB_POLICIES", raising=False)
    assert settings.policies_dir() == settings.project_root() / "policies"
    monkeypatch.setenv("SVDHUB_POLICIES", str(tmp_path / "isa"))
    assert settings.policies_dir() == tmp_path / "isa"
    assert StackConfig.load().policies_dir == tmp_path / "isa"


def test_the_stack_uses_the_same_folders(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVDHUB_TOOLS", str(home / "tools"))
    config = StackConfig.load()
    assert config.state_dir == settings.state_home()
    assert config.tools_dir == settings.tools_home()
    assert config.policies_dir == settings.policies_dir()
    assert config.env_file.parent == settings.state_home()


def test_addresses_come_from_stack_env(home: Path) -> None:
    home.mkdir()
    (home / "stack.env").write_text(
        "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1\nOPA_URL=http://127.0.0.1:2\n", encoding="utf-8"
    )
    assert settings.service_address("KAFKA_BOOTSTRAP_SERVERS") == "127.0.0.1:1"
    assert settings.opa_address() == "http://127.0.0.1:2"
    assert settings.service_address("DATABASE_URL") is None


def test_the_environment_beats_stack_env_and_an_option_beats_both(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.mkdir()
    (home / "stack.env").write_text("KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1\n", encoding="utf-8")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:3")
    assert settings.service_address("KAFKA_BOOTSTRAP_SERVERS") == "127.0.0.1:3"
    assert settings.opa_address("http://127.0.0.1:4") == "http://127.0.0.1:4"


def test_a_missing_address_says_how_to_give_one(home: Path) -> None:
    with pytest.raises(settings.AddressMissing, match="set OPA_URL, or run `svdhub stack up`"):
        settings.opa_address()


def test_the_opa_token_comes_from_a_file_then_the_environment_then_the_stack(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stacks = settings.opa_token_file()
    assert stacks == home / "opa" / "tokens" / "enforcer.token"
    assert settings.opa_token_file("ops", tmp_path) == tmp_path / "opa" / "tokens" / "ops.token"
    stacks.parent.mkdir(parents=True)
    stacks.write_text("from-the-stack\n", encoding="utf-8")
    assert settings.opa_token() == "from-the-stack"
    monkeypatch.setenv("OPA_TOKEN", "from-the-environment")
    assert settings.opa_token() == "from-the-environment"
    given = tmp_path / "given.token"
    given.write_text("  from-a-file \n", encoding="utf-8")
    assert settings.opa_token(given) == "from-a-file"


def test_a_missing_or_empty_opa_token_says_how_to_give_one(home: Path, tmp_path: Path) -> None:
    with pytest.raises(settings.SettingsError, match="pass --opa-token-file, set OPA_TOKEN"):
        settings.opa_token()
    with pytest.raises(settings.SettingsError, match="cannot read the OPA token"):
        settings.opa_token(tmp_path / "missing.token")
    (tmp_path / "empty.token").write_text("\n", encoding="utf-8")
    with pytest.raises(settings.SettingsError, match="is empty"):
        settings.opa_token(tmp_path / "empty.token")


def test_the_hubs_services_load_no_part_of_the_dev_stack() -> None:
    modules = [
        "hub.settings",
        "hub.database",
        "hub.cli_support",
        "hub.policy_cli",
        "hub.schemas_cli",
        "hub.enforcer.cli",
        "hub.enforcer.app",
        "hub.audit.cli",
        "hub.sink",
        "hub.audit.ledger",
        "hub.views.cli",
        "hub.views.api_cli",
        "hub.views.api",
        "hub.views.builder",
    ]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'hub.stack' or m.startswith('hub.stack.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def principal_file(path: Path, name: str, servers: str = "127.0.0.1:1") -> ClientSettings:
    made = ClientSettings(servers, name, f"password-of-{name}", path.parent / "ca.pem")
    made.save(path)
    return made


def test_a_principal_connects_with_its_file_in_the_state_folder(home: Path) -> None:
    assert settings.credentials_file("enforcer") == home / "access" / "enforcer.properties"
    enforcer = principal_file(home / "access" / "enforcer.properties", "enforcer")
    assert settings.kafka_client("enforcer") == enforcer
    moved = settings.kafka_client("enforcer", bootstrap="127.0.0.1:9")
    assert (moved.bootstrap_servers, moved.username) == ("127.0.0.1:9", "enforcer")


def test_under_a_topic_namespace_the_principal_is_namespaced_too(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NAMESPACE_ENV, "t-1")
    expected = home / "access" / "t-1.ledger.properties"
    assert settings.credentials_file("ledger") == expected
    unspaced = home / "access" / "ledger.properties"
    assert settings.credentials_file("ledger", namespace="") == unspaced
    principal_file(unspaced, "ledger")  # not this namespace's
    with pytest.raises(CredentialsError, match=r"t-1\.ledger\.properties"):
        settings.kafka_client("ledger")
    ledger = principal_file(expected, "t-1.ledger")
    assert settings.kafka_client("ledger") == ledger


def test_an_option_beats_the_environment_which_beats_the_state_folder(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal_file(home / "access" / "views.properties", "views")
    from_env = principal_file(tmp_path / "env.properties", "from-env")
    given = principal_file(tmp_path / "given.properties", "given")
    monkeypatch.setenv(CREDENTIALS_ENV, str(tmp_path / "env.properties"))
    assert settings.kafka_client("views") == from_env
    assert settings.kafka_client("views", tmp_path / "given.properties") == given


def test_no_credentials_say_how_to_give_them(home: Path) -> None:
    with pytest.raises(CredentialsError) as caught:
        settings.kafka_client("views")
    message = str(caught.value)
    assert "--credentials FILE" in message
    assert CREDENTIALS_ENV in message
    assert str(home / "access" / "views.properties") in message
