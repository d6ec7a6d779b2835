"""Statistical disclosure control: the one layer every published figure passes.

The queries (``hub.views.queries``) return true counts to this module only,
as :class:`Cell` objects; :func:`publish` is the one entry point that turns
them into what a response may carry. Nothing else in the API computes a
figure from a true count.

The method (``docs/disclosure.md`` has the reasoning and worked attacks):

1. **Fixed cells.** A table of the catalogue (``hub.views.catalogue``) is a
   grid: its dimensions and a time grain (week, month, quarter...). The only
   counts ever protected are the counts of its grid cells; a query selects
   whole cells (time filters move on the grid).
2. **Cell-key perturbation** (as ONS did for Census 2021). Each record has a
   secret, stable record key (0-255, ``hub.views.cellkey``); a cell's key is
   the sum of its records' keys mod 256, so the same records give the same
   key whatever query reached them. A cell of 8 or more gets a small noise,
   -2 to +2, looked up from its key; the result is rounded to the nearest 5
   (at least 10). A cell of 1 to 7 is suppressed; zero is zero.
3. **Suppressed cells are not listed.** A response lists only cells with a
   published count, so counting the rows of a fine table says nothing about
   the small cells (a row means "10 or more").
4. **Totals from published cells** (OpenSAFELY's rule). A total, a rolled-up
   figure or a share is computed from the published cells of the same table
   only, so subtracting two published figures gives a sum of published
   cells, never a suppressed one; and every response says so.

The same cell therefore has the same published value whatever query produced
it, and a figure can be recomputed from the cells the response lists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

SUPPRESS_BELOW = 8
ROUND_TO = 5
SMALLEST = 10  # the smallest count published: 8 and more, rounded, never below 10

#: Noise by cell key (0-255): the upper bounds of each band, and its noise.
#: Probabilities 26/256, 51/256, 102/256, 51/256, 26/256: zero mean, symmetric.
PERTURBATION = ((26, -2), (77, -1), (179, 0), (230, 1), (256, 2))

RULE = (
    "Counts come from fixed cells of a published table. A cell of 1-7 records is suppressed "
    "and not listed; a cell of 8 or more gets a small consistent perturbation (-2 to +2, "
    "keyed by the records in it) and is rounded to the nearest 5 (at least 10). Totals and "
    "shares are computed from the published cells only."
)


class DisclosureError(ValueError):
    """A cell that cannot be published (a negative count, a key out of range)."""


@dataclass(frozen=True)
class Cell:
    """One grid cell's true count: its coordinates, count and cell key."""

    key: tuple[Any, ...]  # the table's dimension values, the time period last
    count: int
    cell_key: int  # sum of the records' keys mod 256


def noise(cell_key: int) -> int:
    if not 0 <= cell_key < 256:
        raise DisclosureError(f"a cell key is 0-255, not {cell_key}")
    return next(value for bound, value in PERTURBATION if cell_key < bound)


def protect(count: int, cell_key: int) -> int | None:
    """One cell's published count: 0, None (suppressed) or a multiple of 5, at least 10."""
    if count < 0:
        raise DisclosureError(f"a count cannot be negative: {count}")
    if count == 0:
        return 0
    if count < SUPPRESS_BELOW:
        return None
    perturbed = max(SUPPRESS_BELOW, count + noise(cell_key))
    return max(SMALLEST, ((perturbed + ROUND_TO // 2) // ROUND_TO) * ROUND_TO)


def share(part: int | None, whole: int | None) -> float | None:
    """``part / whole`` from published counts; None when either is missing or zero."""
    if part is None or not whole:
        return None
    return round(part / whole, 3)


@dataclass
class Published:
    """What a response may carry: listed rows (dimensions and a published count),
    the total of those rows, and a sentence saying how the two relate."""

    rows: list[dict[str, Any]]
    total: int
    cells: int  # grid cells published (before rolling up to the rows' dimensions)

    def statement(self, what: str = "count") -> str:
        return (
            f"each {what} is a sum of published cells of the table; the total is the sum of "
            f"the {self.cells} published cells listed or rolled up here; cells of 0-7 are "
            "neither listed nor counted"
        )


def publish(
    cells: Iterable[Cell],
    dimensions: Sequence[str],
    present: Sequence[str] | None = None,
    measure: str = "count",
) -> Published:
    """Protect every cell, keep those with a published count above zero, and roll
    them up to the ``present`` dimensions (default: all of ``dimensions``, the
    time period included) by summing published counts."""
    shown = list(dimensions if present is None else present)
    missing = [name for name in shown if name not in dimensions]
    if missing:
        raise DisclosureError(f"cannot present {missing}: not dimensions of the table")
    positions = [list(dimensions).index(name) for name in shown]
    sums: dict[tuple[Any, ...], int] = defaultdict(int)
    published_cells = 0
    for cell in cells:
        if len(cell.key) != len(dimensions):
            raise DisclosureError(f"a cell of {len(cell.key)} values for {len(dimensions)} dims")
        value = protect(cell.count, cell.cell_key)
        if not value:
            continue
        published_cells += 1
        sums[tuple(cell.key[i] for i in positions)] += value
    rows = [
        {**dict(zip(shown, key, strict=True)), measure: value}
        for key, value in sorted(sums.items(), key=lambda item: _order(item[0]))
    ]
    return Published(rows, sum(sums.values()), published_cells)


def _order(key: tuple[Any, ...]) -> tuple[tuple[int, str], ...]:
    return tuple((value is None, str(value)) for value in key)
