"""Columns from files that update a source's rows (``join:`` in the config).

police.uk publishes each month's crimes once (the street file), and the
outcomes recorded that month for crimes of any earlier month in another
file. Joined on ``Crime ID``, a crime's row carries its latest outcome, so
a new outcome changes the row's content: with ``record_version: {content:
true}`` it is a new version of the incident that supersedes the last.

The join files are read whole at the start of each run: memory grows with
the number of distinct keys they hold (about 100 bytes each), not with the
source. A join file row that cannot be read is reported, with its file and
line, as a rejected row, and joins nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from edge.config import Join
from edge.sources import Notice, Problem, SourceError, SourceRow, row_hash
from edge.sources.csv import CsvReader


@dataclass
class Joined:
    """The latest joined values of each key, read from the join files."""

    join: Join
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    rows: int = 0

    @classmethod
    def read(cls, join: Join) -> Joined:
        """Read every join file. Raises SourceError for a file that is unusable
        (no header, a missing column), naming it."""
        joined = cls(join)
        reader = CsvReader(join.csv)
        required = {join.by, *join.columns}
        wanted = list(join.columns)
        for path in reader.files():
            joined.files += 1
            for item in reader.rows(path, required):
                if isinstance(item, Problem):
                    joined.problems.append(item)
                    continue
                joined.rows += 1
                key = (item.values.get(join.by) or "").strip()
                if key:  # a row without a key updates nothing
                    joined.values[key] = tuple((item.values[c] or "").strip() for c in wanted)
        return joined

    @property
    def notice(self) -> Notice:
        return Notice(
            self.join.csv.path,
            f"join: {len(self.values)} {self.join.by} value(s) from {self.rows} row(s) "
            f"in {self.files} file(s)",
        )

    def extend(
        self, rows: Iterator[SourceRow | Problem | Notice]
    ) -> Iterator[SourceRow | Problem | Notice]:
        """``rows``, each with the joined columns added (blank without a match).
        The row's hash covers them, so a row whose joined values changed is not
        taken as already published."""
        added = list(self.join.columns.values())
        blank = ("",) * len(added)
        checked = False
        for item in rows:
            if not isinstance(item, SourceRow):
                yield item
                continue
            if not checked:
                if clash := sorted(set(added) & set(item.values)):
                    raise SourceError(
                        f"{item.source}: already has column(s) {', '.join(clash)}, which "
                        f"join.columns adds; choose other names"
                    )
                checked = True
            found = self.values.get((item.values.get(self.join.by) or "").strip(), blank)
            values = {**item.values, **dict(zip(added, found, strict=True))}
            yield SourceRow(
                item.source,
                item.number,
                values,
                row_hash([item.row_hash, *found]) if found != blank else item.row_hash,
            )
