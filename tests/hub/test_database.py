"""SQLite engines are set up for one writer and many readers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from hub.database import CACHE_KIB, local_engine, open_engine
from tests.fixtures.modes import not_private


@pytest.mark.parametrize(("durable", "synchronous"), [(True, 2), (False, 1)])
def test_sqlite_pragmas(tmp_path: Path, durable: bool, synchronous: int) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'x.sqlite'}", durable=durable)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == synchronous
        assert conn.execute(text("PRAGMA cache_size")).scalar() == -CACHE_KIB
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    engine.dispose()


def test_a_reader_sees_committed_rows_while_a_writer_holds_a_transaction(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    writer, reader = open_engine(url), open_engine(url)
    with writer.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with writer.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
        with reader.connect() as other:  # no "database is locked" under WAL
            assert other.execute(text("SELECT count(*) FROM t")).scalar() == 1
    writer.dispose()
    reader.dispose()


def test_local_engine_defaults_to_the_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path))
    engine = local_engine(None, "views", "views.sqlite")
    assert engine.url.database == str(tmp_path / "views" / "views.sqlite")
    assert (tmp_path / "views").is_dir()


@pytest.mark.usefixtures("loose_umask")
def test_sqlite_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """The database and its -wal and -shm files are 0600 in a 0700 folder, even
    under umask 000."""
    path = tmp_path / "state" / "views" / "views.sqlite"
    engine = open_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with engine.connect() as conn:  # WAL mode: -wal and -shm exist while it is open
        conn.execute(text("SELECT count(*) FROM t")).scalar()
        names = sorted(p.name for p in path.parent.iterdir())
        assert names == ["views.sqlite", "views.sqlite-shm", "views.sqlite-wal"]
        assert not_private(tmp_path / "state") == []
    engine.dispose()


@pytest.mark.usefixtures("loose_umask")
def test_local_engine_makes_the_state_folders_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path / "home"))
    engine = local_engine(None, "audit", "ledger.sqlite")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    engine.dispose()
    assert not_private(tmp_path / "home") == []
