"""The cost of disclosure control per request, beside the same query unprotected.

N police incidents for the VRP (spread over 7 LADs, 400 LSOAs, 26 weeks and
every hour) are built into SQLite views. For three tables of the catalogue
(a small one, LAD x week, and the finest, LSOA x year), each measured three ways
in the same run:

* **unprotected** (the baseline): the table's true cells counted by the same
  query and serialised as JSON, which is what a route without the layer did;
* **protected**: the same cells through ``hub.views.disclosure`` (suppression,
  cell-key noise, rounding, totals from published cells) and serialised;
* **request**: the whole ``GET /api/v1/views/incidents?table=`` in process
  (authentication, limits, the layer, the response model, headers).

The ratios are "protected / unprotected" and "request / unprotected": the
share of the unprotected rate each keeps.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from hub.views import figures, queries, tables
from hub.views.api import create_app
from hub.views.catalogue import Table
from hub.views.catalogue import load as load_catalogue
from hub.views.security import SecurityConfig
from hub.views.tokens import Tokens, issue
from tests.bench.harness import Result, rate
from tests.fixtures.records import a_share
from tests.hub.views.test_queries import load
from wire.shares import Share

LADS = [f"E0800002{n}" for n in range(5, 10)] + ["E08000030", "E08000031"]
TABLES = ("weekly-trend", "lad-week", "lsoa-year")
ROUNDS = 5


def incidents(count: int, seed: int = 7) -> list[Share]:
    pick = random.Random(seed)  # noqa: S311 - synthetic data, not a secret
    start = date(2026, 6, 1)
    made = []
    for n in range(count):
        lad = pick.choice(LADS)
        lsoa = f"E01{pick.randrange(400):06d}"
        when = start + timedelta(days=pick.randrange(26 * 7))
        made.append(
            a_share(
                n,
                assault_datetime=f"{when.isoformat()}T{pick.randrange(24):02d}:00:00Z",
                geo={
                    "lsoa21cd": lsoa,
                    "msoa21cd": f"E02{int(lsoa[3:]) // 5:06d}",
                    "lad_cd": lad,
                    "region_cd": "E12000005",
                },
            )
        )
    return made


def run(folder: Path, shares: int) -> list[Result]:
    engine = create_engine(f"sqlite:///{folder / 'views.sqlite'}")
    tables.create(engine)
    load(engine, incidents(shares))
    catalogue = load_catalogue()
    token = issue(folder / "tokens.yaml", ["vrp"])["vrp"]
    app = create_app(
        engine,
        Tokens.load(folder / "tokens.yaml"),
        catalogue=catalogue,
        security_config=SecurityConfig(rate=1e9, burst=1_000_000_000),
    )
    client = TestClient(app)
    auth = {"Authorization": f"Bearer {token}"}
    results: list[Result] = []
    everything = queries.Filters()
    for table_id in TABLES:
        chosen = catalogue.get(table_id)

        def unprotected(chosen: Table = chosen) -> None:
            cells = queries.incident_cells(engine, "vrp", chosen, everything)
            json.dumps([[*cell.key, cell.count] for cell in cells], default=str)

        def protected(chosen: Table = chosen) -> None:
            json.dumps(figures.table(engine, "vrp", chosen, everything), default=str)

        def request(table_id: str = table_id) -> None:
            reply = client.get(f"/api/v1/views/incidents?table={table_id}", headers=auth)
            if reply.status_code != 200:
                raise RuntimeError(reply.text)

        cells = len(queries.incident_cells(engine, "vrp", chosen, everything))
        base = rate(unprotected, 1, ROUNDS)
        group = f"views: disclosure control per request, {shares:,} incidents"
        what = f"the same {cells:,} cells, unprotected"
        for name, measured in (
            ("through the layer", protected),
            ("the whole API request", request),
        ):
            results.append(
                Result(group, f"{table_id}: {name}", rate(measured, 1, ROUNDS), what, base, "req/s")
            )
    engine.dispose()
    return results
