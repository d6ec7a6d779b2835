"""wire.private_files: data and secrets are owner-only, whatever the caller's umask."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.modes import mode, not_private
from wire.private_files import append_private, create_private, private_dir, write_private

pytestmark = pytest.mark.usefixtures("loose_umask")


def test_private_dir_makes_each_missing_folder_0700(tmp_path: Path) -> None:
    target = private_dir(tmp_path / "a" / "b" / "c")
    assert target.is_dir()
    assert not_private(tmp_path / "a") == []


def test_private_dir_leaves_existing_folders_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    private_dir(shared / "mine")
    assert mode(shared) == 0o755
    assert mode(shared / "mine") == 0o700


def test_create_private_makes_an_empty_0600_file_once(tmp_path: Path) -> None:
    path = tmp_path / "db" / "x.sqlite"
    assert create_private(path) is True
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    path.write_text("kept", encoding="utf-8")
    assert create_private(path) is False
    assert path.read_text(encoding="utf-8") == "kept"


def test_write_private_replaces_a_group_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "stack.env"
    path.write_text("OLD=1\n", encoding="utf-8")
    path.chmod(0o644)
    write_private(path, "NEW=2\n")
    assert path.read_text(encoding="utf-8") == "NEW=2\n"
    assert mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["stack.env"]  # no partial file left


def test_append_private_creates_0600_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "rejects" / "run.jsonl"
    with append_private(path) as handle:
        handle.write("one\n")
    with append_private(path) as handle:
        handle.write("two\n")
    assert path.read_text(encoding="utf-8") == "one\ntwo\n"
    assert not_private(tmp_path / "rejects") == []
