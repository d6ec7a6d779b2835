"""``hub.linkage``: the registered linkage key fingerprints, and ``svdhub linkage``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.linkage import LINKAGE_FILE, LinkageRegistry, LinkageRegistryError
from hub.linkage_cli import app
from wire.linkage import fingerprint

ONE = fingerprint(b"\x01" * 32)
TWO = fingerprint(b"\x02" * 32)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path / "hub"))
    return tmp_path / "hub"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "linkage.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ the file


def test_a_registry_round_trips_through_its_file(tmp_path: Path) -> None:
    registry = LinkageRegistry().register("local-1", ONE, "2026-11-01T00:00:00Z")
    registry = registry.register("local-2", TWO, "2026-12-01T00:00:00Z")
    path = tmp_path / "keys" / "linkage.yaml"
    registry.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert LinkageRegistry.load(path) == registry
    assert LinkageRegistry.load(path).fingerprint("local-2") == TWO
    assert LinkageRegistry.load(path).fingerprint("local-3") is None


def test_a_missing_file_is_an_error_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "linkage.yaml"
    with pytest.raises(LinkageRegistryError, match=r"linkage\.yaml: not found.*svdhub linkage"):
        LinkageRegistry.load(path)
    assert LinkageRegistry.load(path, missing_ok=True).keys == {}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("versions: [local-1]\n", r"linkage\.yaml: versions: must map key versions"),
        ("- local-1\n", r"linkage\.yaml: must be a mapping with 'versions'"),
        ("versions: {}\nkeys: {}\n", r"linkage\.yaml: unknown field\(s\) keys"),
        ("versions: {local-1: abc}\n", r"versions\.local-1: must be a mapping"),
        (
            "versions: {local-1: {fingerprint: ABC, registered_at: x}}\n",
            r"versions\.local-1\.fingerprint: must be 32 lowercase hexadecimal",
        ),
        (
            f"versions: {{local-1: {{fingerprint: '{ONE}'}}}}\n",
            r"versions\.local-1\.registered_at: must be a time",
        ),
        (
            f"versions: {{local-1: {{fingerprint: '{ONE}', registered_at: x, key: k}}}}\n",
            r"versions\.local-1: unknown field\(s\) key",
        ),
        (
            f"versions: {{' local-1': {{fingerprint: '{ONE}', registered_at: x}}}}\n",
            r"versions\. local-1: must be non-blank text",
        ),
        ("versions: {local-1: [\n", r"linkage\.yaml: not YAML"),
    ],
)
def test_a_malformed_file_names_the_file_and_the_field(
    tmp_path: Path, text: str, error: str
) -> None:
    with pytest.raises(LinkageRegistryError, match=error):
        LinkageRegistry.load(written(tmp_path, text))


def test_an_unquoted_time_is_read_as_text(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        f"versions:\n  local-1:\n    fingerprint: '{ONE}'\n"
        "    registered_at: 2026-11-01 10:00:00\n",
    )
    assert LinkageRegistry.load(path).keys["local-1"].registered_at.startswith("2026-11-01")


def test_a_registered_fingerprint_is_never_changed() -> None:
    registry = LinkageRegistry().register("local-1", ONE, "2026-11-01T00:00:00Z")
    assert registry.register("local-1", ONE, "2027-01-01T00:00:00Z") is registry
    with pytest.raises(LinkageRegistryError, match="never changed: a new key needs a new version"):
        registry.register("local-1", TWO, "2027-01-01T00:00:00Z")


@pytest.mark.parametrize("fingerprint_text", ["", ONE.upper(), ONE[:-1], ONE + "0", "0x" + ONE])
def test_only_a_fingerprint_is_registered(fingerprint_text: str) -> None:
    with pytest.raises(LinkageRegistryError, match="is not a fingerprint"):
        LinkageRegistry().register("local-1", fingerprint_text, "2026-11-01T00:00:00Z")


# ------------------------------------------------------------------ svdhub linkage


def test_register_then_list(hub: Path) -> None:
    code, output = invoke("register", "--version", "local-1", ONE)
    assert code == 0, output
    assert f"registered key version local-1: fingerprint {ONE}" in output
    path = hub / LINKAGE_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert LinkageRegistry.load(path).fingerprint("local-1") == ONE
    code, output = invoke("register", "--version", "local-1", ONE)
    assert code == 0 and "already registered" in output
    assert invoke("register", "--version", "local-2", TWO)[0] == 0
    code, output = invoke("list")
    assert code == 0
    lines = output.splitlines()
    assert [line.split()[:2] for line in lines] == [["local-1", ONE], ["local-2", TWO]]


def test_register_refuses_to_change_a_versions_fingerprint(hub: Path) -> None:
    assert invoke("register", "--version", "local-1", ONE)[0] == 0
    before = (hub / LINKAGE_FILE).read_bytes()
    code, output = invoke("register", "--version", "local-1", TWO)
    assert code == 1
    assert f"registered with fingerprint {ONE}" in output and "new version" in output
    assert (hub / LINKAGE_FILE).read_bytes() == before


def test_register_refuses_what_is_not_a_fingerprint(hub: Path) -> None:
    code, output = invoke("register", "--version", "local-1", "5a" * 32)  # a key, say
    assert code == 1 and "is not a fingerprint" in output
    assert not (hub / LINKAGE_FILE).exists()


def test_list_says_when_nothing_is_registered(hub: Path) -> None:
    code, output = invoke("list")
    assert code == 0 and "no linkage key registered" in output


def test_a_malformed_file_is_an_error_naming_it(hub: Path) -> None:
    path = hub / LINKAGE_FILE
    path.parent.mkdir(parents=True)
    path.write_text("versions: {local-1: {fingerprint: nope, registered_at: x}}\n")
    for args in (("list",), ("register", "--version", "local-2", TWO)):
        code, output = invoke(*args)
        assert code == 1 and str(path) in output and "versions.local-1.fingerprint" in output
