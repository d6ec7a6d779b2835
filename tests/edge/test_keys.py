"""``svdhub connector keys`` and ``connector linkage-key``: key custody on the
authority's side. Keys are made in the authority's own folder; only the public
key is exported, and the hub's folder receives nothing unless asked, and then
only public keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.cli import connector_app
from edge.config import ConnectorConfig
from edge.runner import Connector, RevokedSigningKey
from wire.linkage import fingerprint
from wire.signing import KeyRegistry, PublicKey

CONFIGS = Path(__file__).parents[2] / "connectors" / "config"
POLICE = CONFIGS / "wmp-crime.yaml"
AMBULANCE = CONFIGS / "wmas-callouts.yaml"


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(the hub's state folder, the authorities' folder), both empty."""
    hub, authorities = tmp_path / "hub", tmp_path / "authorities"
    monkeypatch.setenv("SVDHUB_HOME", str(hub))
    monkeypatch.setenv("SVDHUB_AUTHORITIES", str(authorities))
    monkeypatch.delenv("SVDHUB_AUTHORITY_HOME", raising=False)
    return hub, authorities


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(connector_app, list(args))
    return result.exit_code, result.output


def partnership_key(authorities: Path) -> Path:
    path = authorities / "partnership" / "linkage.key"
    assert invoke("linkage-key", str(path))[0] == 0
    return path


def test_keys_stay_in_the_authoritys_folder_and_only_the_public_key_is_exported(
    places: tuple[Path, Path],
) -> None:
    hub, authorities = places
    linkage = partnership_key(authorities)
    code, output = invoke("keys", str(POLICE), str(AMBULANCE), "--linkage-key", str(linkage))
    assert code == 0, output
    for authority in ("wmp", "wmas"):
        folder = authorities / authority
        assert (folder / "keys" / "signing.pem").read_bytes().startswith(b"-----BEGIN PRIVATE")
        copy = folder / "keys" / "linkage.key"
        assert copy.read_bytes() == linkage.read_bytes()
        assert copy.stat().st_mode & 0o777 == 0o600
        public = folder / "public" / f"{authority}-local-1.yaml"
        assert KeyRegistry.load(public).key_ids() == [f"{authority}-local-1"]
        assert b"PRIVATE" not in public.read_bytes()
    assert not hub.exists()  # registering with the hub is a step of its own


def test_a_registry_given_receives_public_keys_only(places: tuple[Path, Path]) -> None:
    hub, authorities = places
    registry = hub / "keys" / "registry.yaml"
    linkage = partnership_key(authorities)
    args = ("keys", str(POLICE), "--linkage-key", str(linkage), "--registry", str(registry))
    assert invoke(*args)[0] == 0
    assert invoke(*args)[0] == 0  # again: nothing changes
    assert KeyRegistry.load(registry).key_ids() == ["wmp-local-1"]
    assert [p.relative_to(hub) for p in hub.rglob("*") if p.is_file()] == [
        Path("keys/registry.yaml")
    ]


def test_no_linkage_key_of_the_authoritys_own_making(places: tuple[Path, Path]) -> None:
    """A key made by one authority alone would never link with the others'."""
    _, authorities = places
    code, output = invoke("keys", str(POLICE))
    assert code == 1
    assert "no partnership linkage key" in output and "--linkage-key" in output
    assert not (authorities / "wmp" / "keys" / "linkage.key").exists()


def test_another_linkage_key_than_the_authoritys_copy_is_refused(
    places: tuple[Path, Path], tmp_path: Path
) -> None:
    _, authorities = places
    first = partnership_key(authorities)
    assert invoke("keys", str(POLICE), "--linkage-key", str(first))[0] == 0
    other = tmp_path / "other.key"
    assert invoke("linkage-key", str(other))[0] == 0
    code, output = invoke("keys", str(POLICE), "--linkage-key", str(other))
    assert code == 1
    assert "another linkage key" in output
    assert (authorities / "wmp" / "keys" / "linkage.key").read_bytes() == first.read_bytes()


def test_a_linkage_key_is_never_replaced(places: tuple[Path, Path]) -> None:
    _, authorities = places
    path = partnership_key(authorities)
    before = path.read_bytes()
    code, output = invoke("linkage-key", str(path))
    assert code == 1 and "never replaced" in output
    assert path.read_bytes() == before


def test_one_authority_home_takes_one_authoritys_configs(
    places: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, authorities = places
    linkage = partnership_key(authorities)
    monkeypatch.setenv("SVDHUB_AUTHORITY_HOME", str(tmp_path / "police"))
    code, output = invoke("keys", str(POLICE), str(AMBULANCE), "--linkage-key", str(linkage))
    assert code == 1 and "once per authority" in output
    assert not (tmp_path / "police").exists()
    code, output = invoke("keys", str(POLICE), "--linkage-key", str(linkage))
    assert code == 0, output
    assert (tmp_path / "police" / "keys" / "signing.pem").is_file()
    assert (tmp_path / "police" / "public" / "wmp-local-1.yaml").is_file()


# ---------------------------------------------------------------- revocation


def made_keys(authorities: Path, *configs: Path) -> None:
    linkage = partnership_key(authorities)
    code, output = invoke("keys", *map(str, configs), "--linkage-key", str(linkage))
    assert code == 0, output


def exported_key(authorities: Path, authority: str = "wmp") -> PublicKey:
    path = authorities / authority / "public" / f"{authority}-local-1.yaml"
    return KeyRegistry.load(path).get(f"{authority}-local-1")


def test_a_revocation_is_recorded_in_the_exported_public_key(places: tuple[Path, Path]) -> None:
    hub, authorities = places
    made_keys(authorities, POLICE, AMBULANCE)
    code, output = invoke(
        "keys", "revoke", "wmp-local-1", "--at", "2026-03-01T09:30:00Z", "--reason", "leaked"
    )
    assert code == 0, output
    assert "revoked 2026-03-01T09:30:00Z (leaked)" in output
    assert "svdhub keys register wmp-local-1.yaml" in output
    key = exported_key(authorities)
    assert key.revoked_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert key.revoked_reason == "leaked"
    assert exported_key(authorities, "wmas").revoked_at is None
    assert not hub.exists()  # the hub's operator registers it
    # Making the keys again never undoes it; revoking later keeps the earlier time.
    assert invoke("keys", str(POLICE))[0] == 0
    assert exported_key(authorities).revoked_at == key.revoked_at
    code, output = invoke("keys", "revoke", "wmp-local-1", "--config", str(POLICE))
    assert code == 0, output
    assert "kept the earlier time" in output
    assert exported_key(authorities) == key


def test_a_revocation_goes_straight_into_a_registry_given(places: tuple[Path, Path]) -> None:
    hub, authorities = places
    registry = hub / "keys" / "registry.yaml"
    made_keys(authorities, POLICE)
    linkage = authorities / "partnership" / "linkage.key"
    assert (
        invoke("keys", str(POLICE), "--linkage-key", str(linkage), "--registry", str(registry))[0]
        == 0
    )
    assert KeyRegistry.load(registry).get("wmp-local-1").revoked_at is None
    code, output = invoke("keys", "revoke", "wmp-local-1", "--registry", str(registry))
    assert code == 0, output
    revoked_at = KeyRegistry.load(registry).get("wmp-local-1").revoked_at
    assert revoked_at is not None and revoked_at == exported_key(authorities).revoked_at
    assert registry.stat().st_mode & 0o777 == 0o600
    # Registering the keys again (without revocation) keeps it.
    assert invoke("keys", str(POLICE), "--registry", str(registry))[0] == 0
    assert KeyRegistry.load(registry).get("wmp-local-1").revoked_at == revoked_at


def test_an_unknown_key_id_is_refused(places: tuple[Path, Path]) -> None:
    _, authorities = places
    made_keys(authorities, POLICE)
    code, output = invoke("keys", "revoke", "wmp-local-9")
    assert code == 1 and "no exported public key for wmp-local-9" in output
    code, output = invoke("keys", "revoke", "wmp-local-9", "--config", str(POLICE))
    assert code == 1 and "none of the configs signs with key wmp-local-9" in output
    code, output = invoke("keys", "revoke", "wmp-local-1", "--at", "yesterday")
    assert code == 2 and "--at" in output
    assert exported_key(authorities).revoked_at is None


def test_the_connector_refuses_to_sign_with_a_revoked_key(places: tuple[Path, Path]) -> None:
    _, authorities = places
    made_keys(authorities, POLICE)
    assert invoke("keys", "revoke", "wmp-local-1", "--reason", "host retired")[0] == 0
    code, output = invoke("run", str(POLICE), "--dry-run")
    assert code == 1
    assert "signing key wmp-local-1 was revoked" in output and "(host retired)" in output
    assert "new key id" in output and "IT team" in output


def test_a_running_connector_stops_at_its_next_run_once_its_key_is_revoked(
    places: tuple[Path, Path],
) -> None:
    _, authorities = places
    made_keys(authorities, POLICE)
    connector = Connector(ConnectorConfig.load(POLICE), None, dry_run=True, echo=lambda _: None)
    try:
        assert invoke("keys", "revoke", "wmp-local-1")[0] == 0
        with pytest.raises(RevokedSigningKey, match="wmp-local-1"):
            connector.run()
    finally:
        connector.close()


# ------------------------------------------------------------------ fingerprints


def fingerprint_of(path: Path) -> str:
    return fingerprint(bytes.fromhex(path.read_text(encoding="ascii")))


def test_a_new_partnership_key_and_every_install_print_its_fingerprint(
    places: tuple[Path, Path],
) -> None:
    _, authorities = places
    path = authorities / "partnership" / "linkage.key"
    code, output = invoke("linkage-key", str(path))
    assert code == 0 and f"fingerprint {fingerprint_of(path)}" in output
    code, output = invoke("linkage-key", "--fingerprint", str(path))
    assert (code, output) == (0, fingerprint_of(path) + "\n")  # alone, for scripts
    code, output = invoke("keys", str(POLICE), str(AMBULANCE), "--linkage-key", str(path))
    assert code == 0, output
    assert output.count("linkage key local-1 at ") == 2
    assert output.count(f"fingerprint {fingerprint_of(path)}") == 2
    assert path.read_text(encoding="ascii").strip() not in output  # never the key


def test_the_fingerprint_of_a_missing_key_is_an_error(places: tuple[Path, Path]) -> None:
    _, authorities = places
    code, output = invoke("linkage-key", "--fingerprint", str(authorities / "nothing.key"))
    assert code == 1 and "cannot read the linkage key" in output
    assert not (authorities / "nothing.key").exists()


def test_new_linkage_key_makes_one_key_for_every_config(places: tuple[Path, Path]) -> None:
    hub, authorities = places
    code, output = invoke("keys", str(POLICE), str(AMBULANCE), "--new-linkage-key")
    assert code == 0, output
    police, ambulance = (authorities / a / "keys" / "linkage.key" for a in ("wmp", "wmas"))
    assert police.read_bytes() == ambulance.read_bytes()
    assert police.stat().st_mode & 0o777 == ambulance.stat().st_mode & 0o777 == 0o600
    assert f"new partnership linkage key, fingerprint {fingerprint_of(police)}" in output
    assert "every other authority of the partnership must import this same key" in output
    assert not hub.exists()


def test_new_linkage_key_never_replaces_one(places: tuple[Path, Path]) -> None:
    _, authorities = places
    linkage = partnership_key(authorities)
    assert invoke("keys", str(POLICE), "--linkage-key", str(linkage))[0] == 0
    code, output = invoke("keys", str(POLICE), str(AMBULANCE), "--new-linkage-key")
    assert code == 1 and "a partnership has one key, so no new one was made" in output
    assert (authorities / "wmp" / "keys" / "linkage.key").read_bytes() == linkage.read_bytes()
    assert not (authorities / "wmas" / "keys" / "linkage.key").exists()
    code, output = invoke(
        "keys", str(AMBULANCE), "--new-linkage-key", "--linkage-key", str(linkage)
    )
    assert code == 2 and "either --linkage-key FILE or --new-linkage-key" in output


def test_import_installs_the_partnerships_key_and_prints_its_fingerprint(
    places: tuple[Path, Path],
) -> None:
    hub, authorities = places
    linkage = partnership_key(authorities)
    code, output = invoke("keys", "import", str(linkage), str(POLICE), str(AMBULANCE))
    assert code == 0, output
    for authority in ("wmp", "wmas"):
        copy = authorities / authority / "keys" / "linkage.key"
        assert copy.read_bytes() == linkage.read_bytes()
        assert copy.stat().st_mode & 0o777 == 0o600
    assert f"fingerprint {fingerprint_of(linkage)} (key version local-1)" in output
    assert linkage.read_text(encoding="ascii").strip() not in output
    code, output = invoke("keys", "import", str(linkage), str(POLICE))  # again: no change
    assert code == 0 and "already holds this key" in output
    # `keys CONFIG...` then needs no --linkage-key: the key is installed.
    code, output = invoke("keys", str(POLICE), str(AMBULANCE))
    assert code == 0, output
    assert not hub.exists()


def test_import_refuses_another_key_and_installs_nothing(places: tuple[Path, Path]) -> None:
    _, authorities = places
    first = partnership_key(authorities)
    assert invoke("keys", "import", str(first), str(POLICE))[0] == 0
    other = authorities / "elsewhere" / "linkage.key"
    assert invoke("linkage-key", str(other))[0] == 0
    code, output = invoke("keys", "import", str(other), str(AMBULANCE), str(POLICE))
    assert code == 1 and "already holds another linkage key" in output
    assert (authorities / "wmp" / "keys" / "linkage.key").read_bytes() == first.read_bytes()
    assert not (authorities / "wmas" / "keys" / "linkage.key").exists()


def test_import_refuses_a_key_others_can_read(places: tuple[Path, Path]) -> None:
    _, authorities = places
    linkage = partnership_key(authorities)
    linkage.chmod(0o644)
    code, output = invoke("keys", "import", str(linkage), str(POLICE))
    assert code == 1 and "readable by others" in output
    assert not (authorities / "wmp" / "keys" / "linkage.key").exists()
