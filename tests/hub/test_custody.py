"""Key custody on the hub's side: every path a hub service opens is in the hub's
own state folder, and no hub module knows where an authority keeps its keys.

The demo's end-to-end check (that the hub's folder holds no private key but
its own, and never the linkage key) is in ``tests/hub/test_demo.py``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hub import settings
from hub.demo import _move_old_keys
from hub.enforcer.app import Settings
from hub.keys_cli import registry_file
from hub.views.api_cli import tokens_file
from wire.geography import GeographyLookup
from wire.kafka_client import ClientSettings
from wire.topics import TopicNames

SERVICES = Path(__file__).resolve().parents[2] / "services" / "hub"
# The demo simulates the authorities as well as running the hub: it alone may
# name their folders. It runs every hub process without them in its environment.
SIMULATOR = SERVICES / "demo.py"


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    hub, authorities = tmp_path / "hub", tmp_path / "authorities"
    monkeypatch.setenv("SVDHUB_HOME", str(hub))
    monkeypatch.setenv("SVDHUB_AUTHORITIES", str(authorities))
    monkeypatch.setenv("SVDHUB_AUTHORITY_HOME", str(authorities / "wmp"))
    return hub.resolve(), authorities.resolve()


def test_the_enforcer_settings_name_only_paths_in_the_hubs_folder(
    homes: tuple[Path, Path],
) -> None:
    hub, authorities = homes
    enforcer = Settings(
        kafka=ClientSettings("127.0.0.1:9092", "enforcer", "-", hub / "tls" / "ca.pem"),
        opa_url="http://127.0.0.1:8181",
        opa_token="-",
        geography=GeographyLookup.synthetic_sample(),
        home=settings.state_home(),
        names=TopicNames(),
    )
    paths = [
        value
        for value in (
            *(getattr(enforcer, f.name) for f in dataclasses.fields(enforcer)),
            *(
                getattr(enforcer, name)
                for name, member in vars(Settings).items()
                if isinstance(member, property)
            ),
        )
        if isinstance(value, Path)
    ]
    assert {"registry.yaml", "recipients", "svdhub-enforcer"} <= {p.name for p in paths}
    for path in paths:
        assert path.is_relative_to(hub), path
        assert not path.is_relative_to(authorities), path


def test_the_hubs_other_keys_and_tokens_are_in_its_folder(homes: tuple[Path, Path]) -> None:
    hub, _ = homes
    assert registry_file() == hub / "keys" / "registry.yaml"
    assert tokens_file().is_relative_to(hub)
    assert settings.state_folder("keys", "audit").is_relative_to(hub)


def test_no_hub_module_but_the_demo_names_an_authoritys_folder() -> None:
    named = [
        str(path.relative_to(SERVICES))
        for path in sorted(SERVICES.rglob("*.py"))
        if path != SIMULATOR
        and any(
            word in path.read_text(encoding="utf-8")
            for word in ("SVDHUB_AUTHORITY", ".authorities", "linkage.key")
        )
    ]
    assert named == []


def test_the_demo_moves_keys_an_older_version_kept_in_the_hubs_folder(
    homes: tuple[Path, Path],
) -> None:
    hub, authorities = homes
    old_key = hub / "keys" / "wmp" / "signing.pem"
    old_linkage = hub / "keys" / "partnership" / "linkage.key"
    for path, data in ((old_key, b"old signing key"), (old_linkage, b"old linkage key")):
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
    newer_copy = authorities / "wmp" / "keys" / "linkage.key"
    newer_copy.parent.mkdir(parents=True)
    newer_copy.write_bytes(b"a key made since")
    _move_old_keys(hub, authorities, {"wmp", "wmas"})
    assert not old_key.exists()
    assert not old_linkage.exists()
    assert (authorities / "wmp" / "keys" / "signing.pem").read_bytes() == b"old signing key"
    assert (authorities / "partnership" / "linkage.key").read_bytes() == b"old linkage key"
    assert newer_copy.read_bytes() == b"old linkage key"
    assert not (authorities / "wmas" / "keys").exists()
    for path in [*authorities.rglob("*.pem"), *authorities.rglob("*.key")]:
        assert path.stat().st_mode & 0o077 == 0, path
    assert (authorities / "partnership").stat().st_mode & 0o077 == 0
