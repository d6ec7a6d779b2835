"""The catalogue of tables the views API publishes (``policies/tables.yaml``).

A table is a fixed grid: its dimensions and a time grain. The API computes
the true count of each grid cell, hands the cells to disclosure control
(``hub.views.disclosure``) and shows them rolled up to the table's
``present`` dimensions. Any grouping not in the catalogue is refused, and
time filters must start and end on the table's grid, so two queries can only
ever differ by whole published cells.

The catalogue is configuration an IG lead reviews: ``docs/disclosure.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from hub.settings import policies_dir

#: Dimensions a table may have (hub.views.queries maps each to SQL).
DIMENSIONS = (
    "lad",
    "msoa",
    "lsoa",
    "category",
    "method",
    "age_band",
    "hour",
    "dow",
    "incident_source",
    "injury_intent",
    "police_outcome",
    "under25",
    "night",
)
AREA_LEVELS = ("lad", "msoa", "lsoa")
GRAINS = ("week", "month", "quarter", "year")
PERIOD = "period"


class CatalogueError(ValueError):
    """A catalogue file that is not valid, or a request the catalogue refuses."""


def period_of(week: str, grain: str) -> str:
    """The period a week (its Monday, ISO date) belongs to at ``grain``: the week
    itself, or the month, quarter or year it starts in."""
    monday = date.fromisoformat(week)
    if grain == "week":
        return week
    if grain == "month":
        return f"{monday.year}-{monday.month:02d}"
    if grain == "quarter":
        return f"{monday.year}-Q{(monday.month - 1) // 3 + 1}"
    return str(monday.year)


def month_period(month: str, grain: str) -> str:
    """The period a calendar month (``YYYY-MM``) belongs to at ``grain`` (not
    ``week``): the month itself, its quarter or its year."""
    year, number = int(month[:4]), int(month[5:7])
    if grain == "month":
        return f"{year}-{number:02d}"
    if grain == "quarter":
        return f"{year}-Q{(number - 1) // 3 + 1}"
    if grain == "year":
        return str(year)
    raise ValueError(f"a month has no {grain}")


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    dimensions: tuple[str, ...]
    grain: str
    present: tuple[str, ...]

    @property
    def cell_dimensions(self) -> tuple[str, ...]:
        """The grid's dimensions: the table's, then the period."""
        return (*self.dimensions, PERIOD)

    @property
    def area_level(self) -> str | None:
        return next((d for d in self.dimensions if d in AREA_LEVELS), None)

    @property
    def columns(self) -> tuple[str, ...]:
        """What a row shows: the present dimensions, the period named by its grain."""
        return tuple(self.grain if d == PERIOD else d for d in self.present)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "dimensions": list(self.dimensions),
            "grain": self.grain,
            "shows": list(self.columns),
        }

    def check_range(self, week_from: str | None, week_to: str | None) -> None:
        """Refuse a time filter that does not start and end on the table's grid."""
        for label, value, step in (("week_from", week_from, -7), ("week_to", week_to, 7)):
            if value is None:
                continue
            try:
                monday = date.fromisoformat(value)
            except ValueError as exc:
                raise CatalogueError(f"{label} {value!r} is not an ISO date") from exc
            if monday.weekday() != 0:
                raise CatalogueError(f"{label} {value} is not a Monday (weeks run Monday-Sunday)")
            beside = (monday + timedelta(days=step)).isoformat()
            if period_of(value, self.grain) == period_of(beside, self.grain):
                edge = "first" if step < 0 else "last"
                raise CatalogueError(
                    f"table {self.id} moves by {self.grain}: {label} must be the {edge} "
                    f"Monday of a {self.grain} ({value} is inside "
                    f"{period_of(value, self.grain)})"
                )


@dataclass(frozen=True)
class Catalogue:
    tables: dict[str, Table]

    def get(self, table_id: str) -> Table:
        try:
            return self.tables[table_id]
        except KeyError as exc:
            raise CatalogueError(self.refusal(f"there is no table {table_id!r}")) from exc

    def matching(self, present: list[str]) -> Table:
        """The table that shows exactly these dimensions (in any order); a grain's
        name (week, month...) stands for the period of a table of that grain."""
        grains = [d for d in present if d in GRAINS]
        wanted = sorted(PERIOD if d in GRAINS else d for d in present)
        found = [
            t
            for t in self.tables.values()
            if sorted(t.present) == wanted and all(g == t.grain for g in grains)
        ]
        if not found:
            raise CatalogueError(
                self.refusal(f"no published table shows exactly {', '.join(present) or 'nothing'}")
            )
        return found[0]

    def refusal(self, reason: str) -> str:
        listed = "; ".join(
            f"{t.id} ({', '.join(t.columns)}; by {t.grain})" for t in self.tables.values()
        )
        return f"{reason}. The published tables: {listed}"

    def describe(self) -> list[dict[str, Any]]:
        return [table.describe() for table in self.tables.values()]


def load(path: Path | None = None) -> Catalogue:
    path = path or policies_dir() / "tables.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"{path}: cannot read the catalogue: {exc}") from exc
    raw = document.get("tables") if isinstance(document, dict) else None
    if not isinstance(raw, dict) or not raw:
        raise CatalogueError(f"{path}: expected 'tables:' mapping table ids to tables")
    tables = {}
    for table_id, spec in raw.items():
        where = f"{path}: table {table_id}"
        if not isinstance(spec, dict):
            raise CatalogueError(f"{where}: expected a mapping")
        unknown = set(spec) - {"title", "dimensions", "grain", "present"}
        if unknown:
            raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
        dims = tuple(str(d) for d in spec.get("dimensions") or ())
        bad = [d for d in dims if d not in DIMENSIONS]
        if bad or len(set(dims)) != len(dims):
            raise CatalogueError(f"{where}: dimensions must be distinct, of {DIMENSIONS}")
        if sum(d in AREA_LEVELS for d in dims) > 1:
            raise CatalogueError(f"{where}: at most one area level (lad, msoa or lsoa)")
        grain = str(spec.get("grain", ""))
        if grain not in GRAINS:
            raise CatalogueError(f"{where}: grain must be one of {GRAINS}")
        present = tuple(str(d) for d in spec.get("present") or (*dims, PERIOD))
        if any(d not in (*dims, PERIOD) for d in present) or len(set(present)) != len(present):
            raise CatalogueError(f"{where}: present must be distinct dimensions of the table")
        tables[str(table_id)] = Table(
            str(table_id), str(spec.get("title", table_id)), dims, grain, present
        )
    return Catalogue(tables)
