"""``GET /api/v1/risk``: the re-identification risk report for IG leads, from the
views database: a recipient's IG lead sees its streams whole, a discloser's IG
lead only its own records in the streams it disclosed to, analysts nothing.
No services (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, insert

from hub.views import tables
from hub.views.api import create_app
from hub.views.tokens import IG, Tokens, issue
from tests.hub.risk.test_classes import share

RISK = "/api/v1/risk"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """Birmingham's police stream: a class of five and a record alone, one of
    them from the ED; and the VRP's stream, one record."""
    made = create_engine(f"sqlite:///{tmp_path / 'views.sqlite'}")
    tables.create(made)
    shares = [share(n) for n in range(5)]
    shares.append(share(9, hour=3, source="uhb-ed", agreement="wmp-csps"))
    shares.append(share(20, recipient="vrp", agreement="wmp-vrp"))
    with made.begin() as conn:
        for found in shares:
            conn.execute(
                insert(tables.shares).values(
                    share_id=found.share_id,
                    recipient=found.recipient,
                    event_id=found.event_id,
                    record_type=found.record_type,
                    agreement_id=found.agreement_id,
                    supersedes=found.supersedes,
                    payload=found.to_bytes().decode(),
                )
            )
    yield made
    made.dispose()


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    path = tmp_path / "tokens.yaml"
    analysts = issue(path, ["csp-birmingham"])
    leads = issue(path, ["csp-birmingham", "wmp", "uhb-ed", "csp-coventry"], IG)
    tokens = {"analyst": analysts["csp-birmingham"], **leads}
    with TestClient(create_app(engine, Tokens.load(path))) as made:
        yield made, tokens


def get(client: TestClient, token: str, **params: Any) -> Any:
    return client.get(RISK, headers={"Authorization": f"Bearer {token}"}, params=params)


def test_analysts_and_strangers_are_refused(client: tuple[TestClient, dict[str, str]]) -> None:
    made, tokens = client
    assert made.get(RISK).status_code == 401
    assert get(made, tokens["analyst"]).status_code == 401


def test_a_recipients_ig_lead_sees_its_streams_whole(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    made, tokens = client
    found = get(made, tokens["csp-birmingham"])
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["party"] == "csp-birmingham" and body["window_days"] == 28
    (stream,) = body["streams"]
    assert (stream["recipient"], stream["agreement_id"], stream["min_k"]) == (
        "csp-birmingham",
        "wmp-csps",
        5,
    )
    assert stream["seen_as"] == "recipient"
    assert (stream["records"], stream["below_report_k"], stream["below_min_k"]) == (6, 1, 1)
    assert stream["k"] == {"1": 1, "2-4": 0, "5-9": 5, "10+": 0}
    assert stream["ok"] is False and stream["smallest_k"] == 1
    assert stream["decisions"] is None  # no ledger served


def test_a_disclosers_ig_lead_sees_only_its_own_records(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    made, tokens = client
    wmp = get(made, tokens["wmp"]).json()["streams"]
    assert {(s["recipient"], s["seen_as"]) for s in wmp} == {
        ("csp-birmingham", "discloser"),
        ("vrp", "discloser"),
    }
    birmingham = next(s for s in wmp if s["recipient"] == "csp-birmingham")
    assert (birmingham["records"], birmingham["below_min_k"], birmingham["k"]) == (5, 0, None)
    ed = get(made, tokens["uhb-ed"]).json()["streams"]
    assert [(s["recipient"], s["records"], s["below_min_k"]) for s in ed] == [
        ("csp-birmingham", 1, 1)
    ]
    assert get(made, tokens["csp-coventry"]).json()["streams"] == []
    assert get(made, tokens["wmp"], window=0).status_code == 422
