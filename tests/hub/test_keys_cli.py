"""``svdhub keys register``: the hub takes an authority's public key, never a
private one, and never lets a key id change its key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.keys_cli import app
from wire.signing import KeyRegistry, PublicKey, generate_signer

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


# ---------------------------------------------------------------- revocation


def registered(hub: Path) -> PublicKey:
    return KeyRegistry.load(hub / "keys" / "registry.yaml").get("wmp-local-1")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_key_is_revoked_from_a_time_and_listed_so(hub: Path, tmp_path: Path) -> None:
    assert invoke("register", str(exported(tmp_path, "wmp-local-1.yaml")))[0] == 0
    code, output = invoke("revoke", "wmp-local-1", "--at", "2026-03-01T10:30:00.9+01:00")
    assert code == 0, output
    assert "revoked 2026-03-01T09:30:00Z" in output
    key = registered(hub)
    assert key.revoked_at == at("2026-03-01T09:30:00Z")
    assert key.raw_bytes() == WMP.public_key().raw_bytes()
    assert (hub / "keys" / "registry.yaml").stat().st_mode & 0o777 == 0o600
    assert invoke("list") == (0, "wmp-local-1  wmp  revoked 2026-03-01T09:30:00Z\n")


def test_revoking_defaults_to_now(hub: Path, tmp_path: Path) -> None:
    assert invoke("register", str(exported(tmp_path, "wmp-local-1.yaml")))[0] == 0
    before = datetime.now(UTC).replace(microsecond=0)
    code, output = invoke("revoke", "wmp-local-1", "--reason", "laptop stolen")
    assert code == 0, output
    key = registered(hub)
    assert key.revoked_at is not None
    assert before <= key.revoked_at <= datetime.now(UTC)
    assert key.revoked_reason == "laptop stolen"
    assert "(laptop stolen)" in invoke("list")[1]


def test_revoking_again_keeps_the_earlier_time(hub: Path, tmp_path: Path) -> None:
    assert invoke("register", str(exported(tmp_path, "wmp-local-1.yaml")))[0] == 0
    assert invoke("revoke", "wmp-local-1", "--at", "2026-03-01T09:30:00Z")[0] == 0
    code, output = invoke("revoke", "wmp-local-1", "--at", "2026-04-01T00:00:00Z")
    assert code == 0, output
    assert "already revoked 2026-03-01T09:30:00Z" in output and "kept the earlier" in output
    assert registered(hub).revoked_at == at("2026-03-01T09:30:00Z")
    code, output = invoke("revoke", "wmp-local-1", "--at", "2026-02-01T00:00:00Z")
    assert code == 0, output
    assert "(was 2026-03-01T09:30:00Z)" in output
    assert registered(hub).revoked_at == at("2026-02-01T00:00:00Z")


def test_an_unknown_key_or_a_bad_time_is_refused(hub: Path, tmp_path: Path) -> None:
    assert invoke("register", str(exported(tmp_path, "wmp-local-1.yaml")))[0] == 0
    before = (hub / "keys" / "registry.yaml").read_bytes()
    code, output = invoke("revoke", "wmp-local-9")
    assert code == 1
    assert "'wmp-local-9'" in output and "no such key id" in output
    code, output = invoke("revoke", "wmp-local-1", "--at", "2026-03-01T09:30:00")
    assert code == 2 and "time zone" in output
    assert (hub / "keys" / "registry.yaml").read_bytes() == before


def revoked_file(tmp_path: Path, name: str, when: str, reason: str | None = None) -> Path:
    """WMP's public key as ``connector keys revoke`` leaves it: with a revocation."""
    path = tmp_path / "outbox" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    key = WMP.public_key().revoke(at(when), reason)
    path.write_text(KeyRegistry([key]).to_yaml(), encoding="utf-8")
    return path


def test_registering_a_revocation_applies_it_and_nothing_undoes_it(
    hub: Path, tmp_path: Path
) -> None:
    plain = exported(tmp_path, "wmp-local-1.yaml")
    assert invoke("register", str(plain))[0] == 0
    later = revoked_file(tmp_path, "later.yaml", "2026-05-01T00:00:00Z", "leaked")
    code, output = invoke("register", str(later))
    assert code == 0, output
    assert "revoked 2026-05-01T00:00:00Z (leaked)" in output
    assert registered(hub).revoked_at == at("2026-05-01T00:00:00Z")
    # The same key without a revocation keeps it.
    code, output = invoke("register", str(plain))
    assert code == 0, output
    assert registered(hub).revoked_at == at("2026-05-01T00:00:00Z")
    # Of two revocations the earliest wins, in whichever order they come.
    earlier = revoked_file(tmp_path, "earlier.yaml", "2026-04-01T00:00:00Z")
    assert invoke("register", str(earlier))[0] == 0
    assert invoke("register", str(later))[0] == 0
    key = registered(hub)
    assert key.revoked_at == at("2026-04-01T00:00:00Z")
    assert key.revoked_reason == "leaked"


def test_a_key_first_registered_revoked_stays_revoked(hub: Path, tmp_path: Path) -> None:
    code, output = invoke("register", str(revoked_file(tmp_path, "k.yaml", "2026-04-01T00:00:00Z")))
    assert code == 0, output
    assert "1 added" in output
    assert registered(hub).revoked_at == at("2026-04-01T00:00:00Z")
