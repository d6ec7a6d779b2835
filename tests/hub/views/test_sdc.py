"""Disclosure control: no published cell of 1-7, consistent totals, and outputs
that do not depend on what was suppressed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.views import sdc


def test_the_rule_on_the_edges() -> None:
    counts = (0, 1, 7, 8, 10, 12, 13, 17, 18, 102)
    assert [sdc.protect(n) for n in counts] == [0, None, None, 10, 10, 10, 15, 15, 20, 100]


cells = st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=40)


@given(cells)
def test_no_published_cell_holds_1_to_7(counts: list[int]) -> None:
    for value in map(sdc.protect, counts):
        assert value is None or value == 0 or (value >= 10 and value % 5 == 0)


@given(cells)
def test_totals_are_the_sum_of_published_cells(counts: list[int]) -> None:
    published = [sdc.protect(n) for n in counts]
    assert sdc.total(published) == sum(v for v in published if v is not None)
    assert sdc.total(published) % 5 == 0


@given(cells, st.data())
def test_differencing_two_filters_reveals_no_suppressed_cell(
    counts: list[int], data: st.DataObject
) -> None:
    """Whatever a suppressed cell's true count (1-7), every output is the same:
    totals over any two filters, and their difference, do not depend on it."""
    first = data.draw(st.sets(st.integers(0, len(counts) - 1)))
    second = data.draw(st.sets(st.integers(0, len(counts) - 1)))
    altered = [data.draw(st.integers(1, 7)) if 1 <= n <= 7 else n for n in counts]

    def outputs(values: list[int]) -> tuple[int, int, int]:
        published = [sdc.protect(n) for n in values]
        a = sdc.total(published[i] for i in first)
        b = sdc.total(published[i] for i in second)
        return a, b, a - b

    assert outputs(counts) == outputs(altered)


def test_shares_come_from_published_counts() -> None:
    assert sdc.share(sdc.protect(12), sdc.protect(40)) == 0.25
    assert sdc.share(sdc.protect(3), sdc.protect(40)) is None
    assert sdc.share(10, 0) is None
