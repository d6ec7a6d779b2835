"""CSV extracts, streamed row by row in the file's own encoding.

Files are never loaded whole, so memory stays flat whatever their size.
Leading comment lines (``#`` by default) are skipped. Bytes that are not
valid in the declared encoding are caught per cell and reported with the
column, instead of failing the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from edge.config import CsvSource
from edge.sources import Problem, SourceError, SourceRow, row_hash
from edge.sources.files import FileReader


class CsvReader(FileReader[CsvSource]):
    """Reads every file the config's path or glob names, in name order."""

    def rows(
        self, path: Path, required: set[str], progress: Callable[[int], None] | None = None
    ) -> Iterator[SourceRow | Problem]:
        """Rows of one file. Raises SourceError before the first row if the file
        is empty or lacks a required column."""
        source = str(path)
        with path.open("rb") as binary:
            text = io.TextIOWrapper(
                binary, encoding=self.spec.encoding, errors="surrogateescape", newline=""
            )
            lines = _Lines(text, self.spec.comment_prefix)
            reader = csv.reader(lines, delimiter=self.spec.delimiter)
            try:
                header = next(reader)
            except StopIteration:
                raise SourceError(f"{source}: the file is empty (no header row)") from None
            except csv.Error as exc:
                raise SourceError(f"{source}: the header cannot be read: {exc}") from exc
            header = [name.strip().lstrip("\ufeff") for name in header]
            if bad := [name for name in header if _undecodable(name)]:
                raise SourceError(
                    f"{source}: the header is not valid {self.spec.encoding} "
                    f"text ({_printable(bad[0])!r}); check source.csv.encoding"
                )
            if missing := sorted(required - set(header)):
                raise SourceError(
                    f"{source}: missing column(s) {', '.join(missing)} "
                    f"(the header has {', '.join(header)})"
                )
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    line = reader.line_num + lines.skipped
                    yield Problem(source, line, "(row)", f"unreadable CSV: {exc}", [])
                    continue
                if progress is not None:
                    progress(binary.tell())
                if not cells or all(not cell.strip() for cell in cells):
                    continue  # blank line
                line = reader.line_num + lines.skipped  # the file's own line number
                if len(cells) != len(header):
                    yield Problem(
                        source,
                        line,
                        "(row)",
                        f"expected {len(header)} columns, found {len(cells)}",
                        [_printable(c) for c in cells],
                    )
                    continue
                bad_cell = None
                if _undecodable("".join(cells)):
                    bad_cell = next(i for i, cell in enumerate(cells) if _undecodable(cell))
                if bad_cell is not None:
                    yield Problem(
                        source,
                        line,
                        header[bad_cell],
                        f"not valid {self.spec.encoding} text",
                        dict(zip(header, map(_printable, cells), strict=True)),
                    )
                    continue
                yield SourceRow(
                    source, line, dict(zip(header, cells, strict=True)), row_hash(list(cells))
                )


def raw_row(row: SourceRow) -> dict[str, str]:
    return {k: _printable(v or "") for k, v in row.values.items()}


class _Lines:
    """The file's lines, less the leading comment lines (which it counts)."""

    def __init__(self, text: io.TextIOWrapper, prefix: str | None) -> None:
        self.text = text
        self.prefix = prefix
        self.skipped = 0
        self.leading = prefix is not None

    def __iter__(self) -> Iterator[str]:
        for line in self.text:
            if self.leading and self.prefix is not None and line.startswith(self.prefix):
                self.skipped += 1
                continue
            self.leading = False
            yield line


_SURROGATE = re.compile("[\udc80-\udcff]")


def _undecodable(text: str) -> bool:
    """True if decoding left undecodable bytes (as surrogate escapes) in ``text``."""
    return _SURROGATE.search(text) is not None


def _printable(text: str) -> str:
    """Undecodable bytes shown as \\xNN, for reject files and messages."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
