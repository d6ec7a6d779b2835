"""Disclosure control: the rule on one cell, publishing a table, the catalogue,
and a walk of every API route checking that every figure passed the layer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine

from hub.views import disclosure, figures
from hub.views.api import create_app
from hub.views.catalogue import CatalogueError
from hub.views.catalogue import load as load_catalogue
from hub.views.disclosure import Cell, protect, publish
from hub.views.security import SecurityConfig
from hub.views.tokens import Tokens
from tests.fixtures.records import a_share as share
from tests.hub.views.test_api import engine, tokens  # noqa: F401 - fixtures
from tests.hub.views.test_queries import load, outcome

#: The walks below make hundreds of requests at once: no rate limit.
UNLIMITED = SecurityConfig(rate=1e6, burst=1_000_000)

CATALOGUE = load_catalogue()


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=255))
def test_one_cell(count: int, key: int) -> None:
    value = protect(count, key)
    if count == 0:
        assert value == 0
    elif count < 8:
        assert value is None
    else:
        assert value is not None and value % 5 == 0 and value >= 10
        assert abs(value - count) <= 4  # noise of at most 2, then rounding to 5


def test_the_noise_is_zero_mean_and_keyed() -> None:
    noises = [disclosure.noise(key) for key in range(256)]
    assert sum(noises) == 0 and set(noises) == {-2, -1, 0, 1, 2}
    # The same cell key, the same published value, whatever query reached it.
    assert {protect(13, 200) for _ in range(5)} == {protect(13, 200)}
    with pytest.raises(disclosure.DisclosureError):
        protect(-1, 0)
    with pytest.raises(disclosure.DisclosureError):
        disclosure.noise(256)


def test_publishing_lists_only_published_cells_and_totals_them() -> None:
    cells = [
        Cell(("E1", "2026-01"), 40, 100),
        Cell(("E1", "2026-02"), 3, 7),  # suppressed: not listed, not counted
        Cell(("E2", "2026-01"), 20, 100),
        Cell(("E2", "2026-02"), 0, 0),
    ]
    by_cell = publish(cells, ("lad", "period"))
    assert by_cell.rows == [
        {"lad": "E1", "period": "2026-01", "count": 40},
        {"lad": "E2", "period": "2026-01", "count": 20},
    ]
    assert (by_cell.total, by_cell.cells) == (60, 2)
    rolled = publish(cells, ("lad", "period"), ["lad"])
    assert rolled.rows == [{"lad": "E1", "count": 40}, {"lad": "E2", "count": 20}]
    assert rolled.total == by_cell.total  # the same cells, rolled up
    assert "cells of 0-7 are neither listed nor counted" in rolled.statement()
    with pytest.raises(disclosure.DisclosureError):
        publish(cells, ("lad", "period"), ["category"])


def test_the_catalogue_refuses_what_it_does_not_hold(tmp_path: Path) -> None:
    assert CATALOGUE.matching(["lad", "week"]).id == "lad-week"
    assert CATALOGUE.matching(["week"]).id == "weekly-trend"
    with pytest.raises(CatalogueError, match="no published table shows exactly lsoa, week"):
        CATALOGUE.matching(["lsoa", "week"])
    bad = tmp_path / "tables.yaml"
    for text, said in (
        ("tables: {t: {dimensions: [name], grain: week}}", "dimensions must be distinct"),
        ("tables: {t: {dimensions: [lad, lsoa], grain: week}}", "at most one area level"),
        ("tables: {t: {dimensions: [lad], grain: day}}", "grain must be one of"),
        ("tables: {t: {dimensions: [lad], grain: week, present: [msoa]}}", "present must be"),
        ("tables: {t: {dimensions: [lad], grain: week, extra: 1}}", "unknown keys"),
        ("nothing: here", "expected 'tables:'"),
    ):
        bad.write_text(text)
        with pytest.raises(CatalogueError, match=said):
            load_catalogue(bad)


# ---------------------------------------------------------------------- every route


MARK = 1_000_000  # every published cell is this, in the walk below

#: Fields that are not counts: positions, sizes of the table, lags and labels.
NOT_COUNTS = {
    "hour",
    "dow",
    "lag_seconds",
    "top_tenth_areas",
    "areas_with_a_published_count",
    "tree_size",
    "from",
    "to",
}


@pytest.fixture
def marked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every cell that passes the layer publishes as MARK (or 0): a figure that
    did not pass it is not a multiple of MARK."""
    monkeypatch.setattr(disclosure, "protect", lambda count, key: MARK if count else 0)
    yield


def numbers(value: Any, key: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(value, dict):
        for name, inner in value.items():
            yield from numbers(inner, name)
    elif isinstance(value, list):
        for inner in value:
            yield from numbers(inner, key)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield key, value


@pytest.fixture
def client_parts(
    engine: Engine,  # noqa: F811 - the fixture
    tokens: dict[str, str],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> tuple[Engine, Path, dict[str, str]]:
    """The API tests' views, with linked ED and police incidents for the VRP (so
    ED vs police is available) and outcomes."""
    ed = [share(500 + n, incident_source="ED_ISTV", subject_pseudo_id=f"p{n}") for n in range(20)]
    police = [share(600 + n, subject_pseudo_id=f"p{n}") for n in range(12)]
    load(engine, [*ed, *police, *(outcome(n, "ENGAGED") for n in range(9))])
    return engine, tmp_path / "tokens.yaml", tokens


def test_every_figure_of_every_route_passed_the_layer(
    marked: None, client_parts: tuple[Engine, Path, dict[str, str]]
) -> None:
    views, tokens_path, made = client_parts
    client = TestClient(create_app(views, Tokens.load(tokens_path), security_config=UNLIMITED))
    spec = client.get("/openapi.json").json()
    walked = 0
    for path, operations in spec["paths"].items():
        if "get" not in operations or path.startswith("/api/v1/audit"):
            continue  # the audit paths publish no count of anything
        if path == "/api/v1/risk":
            # For IG leads only: the k of the records their party holds or
            # disclosed, figures about records they already answer for.
            for recipient in ("vrp", "csp-birmingham"):
                auth = {"Authorization": f"Bearer {made[recipient]}"}
                assert client.get(path, headers=auth).status_code == 401
            continue
        queries = [""]
        if path == "/api/v1/views/incidents":
            queries = [f"?table={table}" for table in CATALOGUE.tables]
        if path == "/api/v1/views/hotspots":
            queries = ["?level=lad", "?level=msoa", "?level=lsoa"]
        for query in queries:
            for recipient in ("vrp", "csp-birmingham"):
                auth = {"Authorization": f"Bearer {made[recipient]}"}
                reply = client.get(path + query, headers=auth)
                assert reply.status_code == 200, (path, query, reply.text)
                body = reply.json()
                for name, value in numbers(body):
                    if name in NOT_COUNTS or name.endswith("share"):
                        continue
                    assert value % MARK == 0, (path, query, name, value, json.dumps(body)[:300])
                walked += 1
    assert walked >= 2 * (len(CATALOGUE.tables) + 3 + 6)


def test_a_figure_not_designed_in_fails_the_response(
    monkeypatch: pytest.MonkeyPatch, client_parts: tuple[Engine, Path, dict[str, str]]
) -> None:
    """The response models forbid unknown fields: a true count added to a view
    fails validation instead of leaving the hub."""
    views, tokens_path, made = client_parts
    real = figures.outcomes

    def leaky(db: Engine, recipient: str) -> dict[str, Any]:
        return {**real(db, recipient), "true_total": 9}

    monkeypatch.setattr(figures, "outcomes", leaky)
    client = TestClient(create_app(views, Tokens.load(tokens_path), security_config=UNLIMITED))
    with pytest.raises(ValidationError, match="true_total"):
        client.get("/api/v1/views/outcomes", headers={"Authorization": f"Bearer {made['vrp']}"})
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"TableView", "HotspotsView", "EdVsPoliceView", "Disclosure"} <= set(schema)
