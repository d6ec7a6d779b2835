"""SqlReader: the main query and the deleted_rows query, each read from its watermark."""

import sqlite3
from pathlib import Path

import pytest

from edge.config import DeletedRows, SqlSource
from edge.sources import SourceError
from edge.sources.sql import SqlReader


def database(tmp_path: Path) -> Path:
    path = tmp_path / "youth.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE referrals (referral_id TEXT, updated_at TEXT)")
        db.execute("CREATE TABLE referral_deletions (referral_id TEXT, deleted_at TEXT, why TEXT)")
        db.executemany(
            "INSERT INTO referrals VALUES (?, ?)",
            [("REF-1", "2026-10-01"), ("REF-2", "2026-10-02")],
        )
        db.executemany(
            "INSERT INTO referral_deletions VALUES (?, ?, ?)",
            [("REF-1", "2026-10-05", "duplicate"), ("REF-2", "2026-10-07", None)],
        )
    return path


def source(path: Path, deleted_query: str | None) -> SqlSource:
    deleted = None
    if deleted_query is not None:
        deleted = DeletedRows(query=deleted_query, watermark="deleted_at", reason_column="why")
    return SqlSource(
        url=f"sqlite:///{path}",
        query="SELECT * FROM referrals WHERE updated_at >= :watermark ORDER BY updated_at",
        watermark="updated_at",
        deleted_rows=deleted,
    )


DELETED = "SELECT * FROM referral_deletions WHERE deleted_at >= :watermark ORDER BY deleted_at"


def test_deleted_rows_are_read_from_their_own_watermark_under_a_name_of_their_own(
    tmp_path: Path,
) -> None:
    reader = SqlReader(source(database(tmp_path), DELETED))
    rows = list(reader.deleted_rows("2026-10-06", {"referral_id", "why"}))
    assert [(r.source, r.number, r.values) for r in rows] == [
        (reader.deleted_name, 1, {"referral_id": "REF-2", "deleted_at": "2026-10-07", "why": None})
    ]
    assert reader.deleted_name == reader.name + "#deleted_rows"
    everything = list(reader.deleted_rows("", {"referral_id"}))
    assert [r.values["referral_id"] for r in everything] == ["REF-1", "REF-2"]
    # Row hashes identify content, for the checkpoint; the main query is unaffected.
    assert len({r.row_hash for r in everything}) == 2
    assert [r.values["referral_id"] for r in reader.rows("", {"referral_id"})] == ["REF-1", "REF-2"]


def test_a_deleted_rows_query_missing_a_column_is_a_source_error(tmp_path: Path) -> None:
    reader = SqlReader(source(database(tmp_path), DELETED))
    with pytest.raises(
        SourceError, match=r"#deleted_rows: the query returns no column\(s\) reason"
    ):
        list(reader.deleted_rows("", {"referral_id", "reason"}))


def test_without_deleted_rows_there_is_nothing_to_read(tmp_path: Path) -> None:
    reader = SqlReader(source(database(tmp_path), None))
    assert list(reader.deleted_rows("", {"referral_id"})) == []
