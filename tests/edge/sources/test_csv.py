"""CsvReader: streaming, encodings, and a clear problem for each bad row."""

from pathlib import Path

import pytest

from edge.config import CsvSource
from edge.sources import Problem, SourceError, SourceRow
from edge.sources.csv import CsvReader


def read(
    path: Path, encoding: str = "utf-8", required: frozenset[str] = frozenset({"a"})
) -> list[SourceRow | Problem]:
    return list(CsvReader(CsvSource(str(path), encoding=encoding)).rows(path, set(required)))


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "extract.csv"
    path.write_bytes(data)
    return path


def test_rows_carry_line_numbers_after_leading_comments(tmp_path: Path) -> None:
    rows = read(write(tmp_path, b"# SYNTHETIC\na,b\n1,2\n\n3,4\n"))
    assert [(r.number, r.values) for r in rows if isinstance(r, SourceRow)] == [
        (3, {"a": "1", "b": "2"}),
        (5, {"a": "3", "b": "4"}),
    ]


def test_windows_1252_with_crlf(tmp_path: Path) -> None:
    data = "a,b\r\n1,O\u2019Brien \u00a35\r\n".encode("cp1252")  # a curly quote and a pound sign
    (row,) = read(write(tmp_path, data), encoding="cp1252")
    assert isinstance(row, SourceRow)
    assert row.values == {"a": "1", "b": "O\u2019Brien \u00a35"}


def test_bytes_invalid_in_the_encoding_are_a_row_problem(tmp_path: Path) -> None:
    rows = read(write(tmp_path, b"a,b\n1,ok\n2,caf\xe9\n3,ok\n"))
    problem = rows[1]
    assert isinstance(problem, Problem)
    assert (problem.number, problem.field) == (3, "b")
    assert problem.reason == "not valid utf-8 text"
    assert problem.raw == {"a": "2", "b": "caf\\xe9"}
    assert [r.values["a"] for r in rows if isinstance(r, SourceRow)] == ["1", "3"]


def test_short_and_long_rows_are_row_problems(tmp_path: Path) -> None:
    rows = read(write(tmp_path, b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n"))
    problems = [r for r in rows if isinstance(r, Problem)]
    assert [(p.number, p.reason) for p in problems] == [
        (3, "expected 3 columns, found 2"),
        (4, "expected 3 columns, found 4"),
    ]
    assert len([r for r in rows if isinstance(r, SourceRow)]) == 2


def test_an_oversized_field_is_a_row_problem(tmp_path: Path) -> None:
    huge = b"x" * 200_000
    rows = read(write(tmp_path, b'a,b\n1,ok\n2,"' + huge + b'"\n3,ok\n'))
    assert any(isinstance(r, Problem) and "field larger than field limit" in r.reason for r in rows)
    assert next(r.values["a"] for r in rows if isinstance(r, SourceRow)) == "1"


def test_an_empty_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, b"")
    with pytest.raises(SourceError, match=rf"{path}: the file is empty"):
        read(path)


def test_a_header_only_file_has_no_rows(tmp_path: Path) -> None:
    assert read(write(tmp_path, b"a,b\n")) == []


def test_a_missing_column_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, b"b,c\n1,2\n")
    with pytest.raises(SourceError, match=r"missing column\(s\) a \(the header has b, c\)"):
        read(path)


def test_identical_rows_hash_alike(tmp_path: Path) -> None:
    rows = read(write(tmp_path, b"a,b\n1,2\n1,2\n1,3\n"))
    hashes = [r.row_hash for r in rows if isinstance(r, SourceRow)]
    assert hashes[0] == hashes[1] != hashes[2]
