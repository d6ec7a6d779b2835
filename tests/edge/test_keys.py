"""``svdhub connector keys`` and ``connector linkage-key``: key custody on the
authority's side. Keys are made in the authority's own folder; only the public
key is exported, and the hub's folder receives nothing unless asked, and then
only public keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.cli import connector_app
from wire.signing import KeyRegistry

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
