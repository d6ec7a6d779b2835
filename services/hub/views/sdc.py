"""Statistical disclosure control, applied to every aggregate the hub publishes.

The rule (the same for every view, window and geography):

* a count of 0 is published as 0;
* a count of 1 to 7 is suppressed (published as null);
* any other count is rounded to the nearest 5 (halves round up: 8 -> 10,
  12 -> 10, 13 -> 15);
* a total is the sum of the published cells it covers, never the true total,
  and a share (a rate) is computed from published counts only.

Because every published figure is a function of published cells alone, the
output does not change when a suppressed cell's true count changes: taking
the difference of two totals (two filters) yields a sum of published cells,
never a suppressed one. The property tests check exactly that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

SUPPRESS_BELOW = 8
ROUND_TO = 5

RULE = (
    "Counts of 1-7 are suppressed (null); other counts are rounded to the nearest 5; "
    "totals and shares are computed from the published (rounded) cells."
)


def protect(count: int) -> int | None:
    """One published count."""
    if count < 0:
        raise ValueError(f"a count cannot be negative: {count}")
    if count == 0:
        return 0
    if count < SUPPRESS_BELOW:
        return None
    return ((count + ROUND_TO // 2) // ROUND_TO) * ROUND_TO


def total(published: Iterable[int | None]) -> int:
    """The total of published cells (suppressed ones count as nothing)."""
    return sum(value for value in published if value is not None)


def share(part: int | None, whole: int | None) -> float | None:
    """``part / whole`` from published counts; None when either is suppressed or zero."""
    if part is None or not whole:
        return None
    return round(part / whole, 3)


def protect_rows(
    rows: Sequence[Mapping[str, Any]], counts: Sequence[str] = ("count",)
) -> list[dict[str, Any]]:
    """Each row with every count column protected; the grouping columns kept."""
    return [
        {key: protect(int(value)) if key in counts else value for key, value in row.items()}
        for row in rows
    ]
