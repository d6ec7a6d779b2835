"""Sources: read an authority's extract as rows of text cells.

A source yields :class:`SourceRow` for each row it could read,
:class:`Problem` for each it could not (a short row, bad encoding), and
:class:`Notice` for what is worth saying but rejects nothing; and it
raises :class:`SourceError` for a problem with the whole file or query (no
header, missing columns). It never stops at a bad row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


class SourceError(Exception):
    """A whole file or query is unusable; the message names it and says why."""


@dataclass(frozen=True)
class SourceRow:
    source: str  # file path or SQL source name
    number: int  # line number in the file (1-based), or row ordinal for SQL
    values: dict[str, str | None]
    row_hash: str  # identifies the row's content, for the checkpoint


@dataclass(frozen=True)
class Problem:
    source: str
    number: int
    field: str  # a column name, or "(row)"
    reason: str
    raw: dict[str, str] | list[str]


@dataclass(frozen=True)
class Notice:
    """Something about a file worth saying that rejects nothing (the run's
    summary prints it; the exit code is not changed)."""

    source: str
    message: str


def row_hash(cells: list[str | None]) -> str:
    digest = hashlib.sha256()
    for cell in cells:
        digest.update(b"\x00" if cell is None else cell.encode("utf-8", "surrogateescape"))
        digest.update(b"\x1f")
    return digest.hexdigest()
