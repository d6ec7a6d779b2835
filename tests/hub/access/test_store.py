"""The credentials files (hub.access.store), with no broker: a revoked
principal's file goes, and no name reaches a file outside the folder."""

from __future__ import annotations

from pathlib import Path

from hub.access.store import ADMIN, CredentialStore


def test_removing_a_principal_deletes_its_file_and_nothing_else(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    ca = tmp_path / "ca.pem"
    for name in (ADMIN, "t-1.recipient-vrp", "t-1.enforcer"):
        store.create(name, "127.0.0.1:19092", ca)
    assert store.remove("t-1.recipient-vrp")
    assert not store.remove("t-1.recipient-vrp")  # gone already
    assert store.principals() == [ADMIN, "t-1.enforcer"]


def test_a_name_that_is_no_principals_reaches_no_file(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.create(ADMIN, "127.0.0.1:19092", tmp_path / "ca.pem")
    outside = tmp_path / "secret.properties"
    outside.write_text("keep me", encoding="utf-8")
    # A SCRAM user made by hand on the broker can bear any name.
    for hostile in ("../secret", "t-1/../../secret", "", "t-1.x\x00", "a" * 300):
        assert not store.remove(hostile)
    assert outside.read_text(encoding="utf-8") == "keep me"
    assert store.principals() == [ADMIN]
