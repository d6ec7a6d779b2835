"""``svdhub keys register``: the hub takes an authority's public key, never a
private one, and never lets a key id change its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.keys_cli import app
from wire.signing import KeyRegistry, generate_signer

WMP = generate_signer("wmp-local-1", "wmp")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path / "hub"))
    return tmp_path / "hub"


def exported(tmp_path: Path, name: str) -> Path:
    """WMP's public key as ``connector keys`` exports it."""
    path = tmp_path / "outbox" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(KeyRegistry([WMP.public_key()]).to_yaml(), encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_a_public_key_is_registered_once(hub: Path, tmp_path: Path) -> None:
    file = exported(tmp_path, "wmp-local-1.yaml")
    code, output = invoke("register", str(file))
    assert code == 0, output
    assert "1 keys, 1 added" in output
    registry = hub / "keys" / "registry.yaml"
    assert KeyRegistry.load(registry).get("wmp-local-1").raw_bytes() == (
        WMP.public_key().raw_bytes()
    )
    assert registry.stat().st_mode & 0o777 == 0o600
    code, output = invoke("register", str(file))
    assert code == 0 and "1 keys, 0 added" in output
    assert invoke("list") == (0, "wmp-local-1  wmp\n")


def test_a_private_key_is_refused(hub: Path, tmp_path: Path) -> None:
    pem = tmp_path / "signing.pem"
    WMP.save(pem)
    code, output = invoke("register", str(pem))
    assert code == 1
    assert "holds a private key" in output
    assert not (hub / "keys").exists()


def test_another_key_under_a_registered_key_id_is_refused(hub: Path, tmp_path: Path) -> None:
    assert invoke("register", str(exported(tmp_path, "first.yaml")))[0] == 0
    impostor = generate_signer("wmp-local-1", "wmp").public_key()
    other = tmp_path / "other.yaml"
    other.write_text(KeyRegistry([impostor]).to_yaml(), encoding="utf-8")
    code, output = invoke("register", str(other))
    assert code == 1 and "another public key" in output
    registered = KeyRegistry.load(hub / "keys" / "registry.yaml").get("wmp-local-1")
    assert registered.raw_bytes() == WMP.public_key().raw_bytes()
