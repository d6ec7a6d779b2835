"""Excel workbooks (``.xlsx``), streamed with openpyxl in read-only mode.

One sheet (``source.xlsx.sheet``, else the first) is read row by row, so
memory stays flat whatever its size; its header is on ``header_row``. A
cell becomes text as it would be typed, so the config's formats apply as
they do to a CSV export of the same sheet:

* text as it is; a whole number without a decimal point (``17``, not
  ``17.0``), any other number as Python writes it;
* a date cell (a date number format without hours) as ``2026-11-06``, a
  date and time as ``2026-11-06 23:40:00``, a time as ``23:40:00``;
* ``TRUE``/``FALSE``; an empty cell as blank;
* a formula as the value Excel last calculated and saved (a workbook never
  saved by Excel has none, and the cell is blank); an error value
  (``#DIV/0!``) as that text.

The row number in every message is the sheet's own. openpyxl reads the
workbook's XML with defusedxml, so a workbook that declares entities is
refused rather than expanded. A workbook is a zip archive: one whose parts
would unpack to more than ``max_unpacked_mb`` together is refused before
openpyxl opens it, since openpyxl holds some parts (the shared strings, the
styles) whole in memory. The sizes checked are those the archive declares,
and they bound what is read: Python's zipfile stops a part at its declared
size, and a part that holds more fails its CRC check.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from edge.config import XlsxSource
from edge.sources import Problem, SourceError, SourceRow, row_hash
from edge.sources.files import FileReader


class XlsxReader(FileReader[XlsxSource]):
    """Reads one sheet of every workbook the config's path or glob names."""

    def rows(
        self, path: Path, required: set[str], progress: Callable[[int], None] | None = None
    ) -> Iterator[SourceRow | Problem]:
        """Rows of one workbook's sheet. Raises SourceError before the first row
        if the file is not a workbook, has no such sheet, or lacks a column."""
        source = str(path)
        self._check_size(path)
        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl's, zipfile's and defusedxml's refusals alike
            raise SourceError(f"{source}: not a readable .xlsx workbook: {_why(exc)}") from exc
        try:
            yield from self._sheet(book, source, required, progress)
        finally:
            book.close()

    def _check_size(self, path: Path) -> None:
        """Refuse a workbook whose parts would unpack to more than the limit."""
        limit = self.spec.max_unpacked_mb * 1024 * 1024
        try:
            with zipfile.ZipFile(path) as archive:
                parts = archive.infolist()
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            raise SourceError(f"{path}: not a readable .xlsx workbook: {_why(exc)}") from exc
        unpacked = sum(part.file_size for part in parts)
        if unpacked > limit:
            largest = max(parts, key=lambda part: part.file_size)
            raise SourceError(
                f"{path}: would unpack to {unpacked / 2**20:,.0f} MiB ({largest.filename}: "
                f"{largest.file_size / 2**20:,.0f} MiB from {largest.compress_size:,} bytes), "
                f"more than source.xlsx.max_unpacked_mb ({self.spec.max_unpacked_mb}); raise it "
                f"only for a workbook you expect to be that large"
            )

    def _sheet(
        self,
        book: Any,
        source: str,
        required: set[str],
        progress: Callable[[int], None] | None,
    ) -> Iterator[SourceRow | Problem]:
        name = self.spec.sheet or book.sheetnames[0]
        if name not in book.sheetnames:
            raise SourceError(
                f"{source}: no sheet {name!r} (the workbook has {', '.join(book.sheetnames)})"
            )
        sheet = book[name]
        rows = sheet.iter_rows(min_row=self.spec.header_row)
        header_cells = next(rows, None)
        if header_cells is None:
            raise SourceError(f"{source}: sheet {name!r} has no row {self.spec.header_row}")
        header = [_text(cell).strip() for cell in header_cells]
        while header and not header[-1]:
            header.pop()
        if not header:
            raise SourceError(f"{source}: sheet {name!r}: row {self.spec.header_row} is empty")
        if missing := sorted(required - set(header)):
            raise SourceError(
                f"{source}: sheet {name!r}: missing column(s) {', '.join(missing)} "
                f"(the header has {', '.join(h for h in header if h)})"
            )
        width = len(header)
        number = self.spec.header_row
        size = Path(source).stat().st_size
        last = max(sheet.max_row or 0, 1)  # from the sheet's dimension, when it has one
        for cells in rows:
            number += 1
            texts = [_text(cell) for cell in cells]
            if progress is not None:
                progress(min(size, size * number // last))  # the runner counts in bytes
            if not any(t.strip() for t in texts):
                continue  # an empty row
            if any(t.strip() for t in texts[width:]):
                yield Problem(
                    source,
                    number,
                    "(row)",
                    f"has values beyond the header's {width} columns",
                    texts,
                )
                continue
            texts = (texts + [""] * width)[:width]
            values: dict[str, str | None] = {
                column: text for column, text in zip(header, texts, strict=True) if column
            }
            yield SourceRow(source, number, values, row_hash([*texts]))


def _why(exc: BaseException) -> str:
    """The error and, when it wraps another, the first cause (openpyxl wraps
    defusedxml's ``EntitiesForbidden`` in a ValueError about invalid XML)."""
    root = exc
    while (cause := root.__cause__ or root.__context__) is not None:
        root = cause
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return first if root is exc else f"{first} ({type(root).__name__}: {root})"


def _text(cell: Any) -> str:
    """A cell's value as it would be typed (see the module's docstring)."""
    value = getattr(cell, "value", None)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return _shown(value, str(getattr(cell, "number_format", "") or "").lower())


def _shown(value: Any, number_format: str) -> str:
    """A date, time or number as it would be typed; anything else as text."""
    if isinstance(value, datetime):
        if value.time() == time(0) and "h" not in number_format:
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, time):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)
