"""The API's defences: expired and revoked tokens refused (revoked while the app
runs), over-complex and over-large requests refused, rate limits with
Retry-After and token guessing throttled, formula cells escaped in CSV,
security headers on every response, and the access log of each request."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine
from typer.testing import CliRunner

from hub.views import api_cli, security
from hub.views.api import create_app
from hub.views.freshness import beat
from hub.views.security import (
    CSP,
    RateLimiter,
    SecurityConfig,
    by_dimensions,
    csv_cell,
    csv_escape,
    dimensions,
    limit_rows,
)
from hub.views.tokens import IG, Tokens, issue, issue_tokens
from tests.fixtures.records import a_share as share
from tests.hub.views.test_queries import BIRMINGHAM, COVENTRY, geo, load, referral

FORMULA = '=HYPERLINK("http://x","y")'
#: Shared text a browser would run if it were inserted as HTML.
HOSTILE = (
    "<img src=x onerror=alert(1)>",
    '<img src=x onerror="window.pwned=1">',
    "<script>window.pwned=2</script>",
)


@pytest.fixture
def hostile_engine(tmp_path: Path) -> Iterator[Engine]:
    """Incidents, and referrals whose programme codes hold a spreadsheet formula
    and HTML with script, as a discloser could share them."""
    made = create_engine(f"sqlite:///{tmp_path / 'views.sqlite'}")
    shares = [share(n, geo=geo(BIRMINGHAM, n % 3)) for n in range(40)]
    shares += [share(100 + n, geo=geo(COVENTRY, 9)) for n in range(5)]
    shares += [referral(n, "MENTOR") for n in range(9)]
    for k, programme in enumerate((FORMULA, "-2+3", "@SUM(A1)", *HOSTILE)):
        shares += [referral(100 * (k + 1) + n, programme) for n in range(8)]
    load(made, shares)
    beat(made, datetime.now(UTC))
    yield made
    made.dispose()


@pytest.fixture
def tokens_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tokens file the CLI uses ($SVDHUB_HOME is the test's folder)."""
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path))
    return api_cli.tokens_file()


@pytest.fixture
def tokens(tokens_path: Path) -> dict[str, str]:
    made = issue(tokens_path, ["vrp", "csp-birmingham"])
    leads = issue(tokens_path, ["wmp"], IG)
    return {**made, "ig:wmp": leads["wmp"]}


def app_with(engine: Engine, tokens_path: Path, config: SecurityConfig | None = None) -> TestClient:
    return TestClient(create_app(engine, Tokens.load(tokens_path), security_config=config))


@pytest.fixture
def client(hostile_engine: Engine, tokens_path: Path, tokens: dict[str, str]) -> TestClient:
    return app_with(hostile_engine, tokens_path)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------ tokens


def test_an_expired_token_is_refused_saying_so(
    client: TestClient, tokens_path: Path, tokens: dict[str, str]
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=100)
    old = issue_tokens(tokens_path, ["csp-coventry"], days=90, now=long_ago)[0]
    reply = client.get("/api/v1/whoami", headers=auth(old.token))
    assert reply.status_code == 401
    assert "expired" in reply.json()["detail"] and old.entry.id in reply.json()["detail"]
    assert 'error="invalid_token"' in reply.headers["www-authenticate"]
    assert client.get("/api/v1/whoami", headers=auth(tokens["vrp"])).status_code == 200


def test_a_token_revoked_while_the_app_runs_is_refused(
    client: TestClient, tokens_path: Path, tokens: dict[str, str]
) -> None:
    vrp, lead = auth(tokens["vrp"]), auth(tokens["ig:wmp"])
    assert client.get("/api/v1/views/incidents", headers=vrp).status_code == 200
    consistency = "/api/v1/audit/proof/consistency?from=1&to=1"
    assert client.get(consistency, headers=lead).status_code == 404  # no ledger, but let in
    runner = CliRunner()
    for args in (["tokens", "revoke", "--party", "vrp"], ["tokens", "revoke", "--party", "wmp"]):
        revoked = runner.invoke(api_cli.app, args)
        assert revoked.exit_code == 0, revoked.output
    reply = client.get("/api/v1/views/incidents", headers=vrp)
    assert reply.status_code == 401 and "revoked" in reply.json()["detail"]
    assert client.get(consistency, headers=lead).status_code == 401
    # A token issued while it runs works at once, too.
    made = runner.invoke(api_cli.app, ["tokens", "--recipient", "vrp"])
    assert made.exit_code == 0, made.output
    fresh = made.stdout.split()[-1]
    assert client.get("/api/v1/whoami", headers=auth(fresh)).json()["recipient"] == "vrp"


# ------------------------------------------------------------------ limits


@pytest.mark.parametrize(
    ("query", "status", "reason"),
    [
        ("by=lad,lad", 400, "by= names lad more than once"),
        ("by=week,lad,week,lad", 400, "by= names lad, week more than once"),
        ("by=lad,week,category,method,age_band", 400, "at most 4 may be combined"),
        ("by=lad&by=week", 400, "the query repeats by"),
        ("lad=a&lad=b", 400, "the query repeats lad"),
        ("&".join(f"p{n}=1" for n in range(40)), 400, "at most 32 query parameters"),
        ("by=lad&category=" + "x" * 2100, 414, "at most 2048"),
    ],
)
def test_over_complex_requests_are_refused(
    client: TestClient, tokens: dict[str, str], query: str, status: int, reason: str
) -> None:
    reply = client.get(f"/api/v1/views/incidents?{query}", headers=auth(tokens["vrp"]))
    assert reply.status_code == status
    assert reason in reply.json()["detail"]


def test_four_distinct_dimensions_pass_the_limits(
    client: TestClient, tokens: dict[str, str]
) -> None:
    """Four dimensions get past the request limits to the catalogue, which
    serves only its tables (none has four dimensions)."""
    vrp = auth(tokens["vrp"])
    reply = client.get("/api/v1/views/incidents?by=lad,week,category,hour", headers=vrp)
    assert reply.status_code == 400, reply.text
    assert "no published table shows exactly lad, week, category, hour" in reply.text
    reply = client.get("/api/v1/views/incidents?by=lad,category,month", headers=vrp)
    assert reply.status_code == 200, reply.text


def test_a_response_over_the_size_cap_is_refused(
    hostile_engine: Engine, tokens_path: Path, tokens: dict[str, str]
) -> None:
    vrp = auth(tokens["vrp"])
    small = "/api/v1/views/incidents?by=lad"
    uncapped = app_with(hostile_engine, tokens_path)
    cap = len(uncapped.get(small, headers=vrp).content)
    assert len(uncapped.get("/api/v1/views/referral-funnel", headers=vrp).content) > cap
    client = app_with(hostile_engine, tokens_path, SecurityConfig(max_response_bytes=cap))
    assert client.get(small, headers=vrp).status_code == 200
    big = client.get("/api/v1/views/referral-funnel", headers=vrp)  # 8 programmes
    assert big.status_code == 413
    assert "narrow the query" in big.json()["detail"]
    assert big.headers["content-security-policy"] == CSP
    assert client.get(small + "&format=csv", headers=vrp).status_code == 200


def test_the_helpers_the_routes_can_call() -> None:
    assert dimensions(" lad , week,") == ["lad", "week"]
    with pytest.raises(HTTPException, match="more than once"):
        dimensions("lad,week,lad")
    with pytest.raises(HTTPException, match="at most 2"):
        dimensions("lad,week,hour", limit=2)
    limit_rows([1, 2], limit=2)
    with pytest.raises(HTTPException) as refused:
        limit_rows([1, 2, 3], limit=2)
    assert refused.value.status_code == 413
    app = FastAPI()
    app.state.security = SecurityConfig(max_dimensions=2)

    @app.get("/by")
    def by(dims: list[str] = Depends(by_dimensions)) -> list[str]:  # noqa: B008
        return dims

    client = TestClient(app)
    assert client.get("/by?by=lad,week").json() == ["lad", "week"]
    assert client.get("/by").json() == ["lad", "week"]
    assert client.get("/by?by=lad,week,hour").status_code == 400


# ------------------------------------------------------------- rate limits


def test_a_token_over_its_rate_gets_429_with_retry_after(
    hostile_engine: Engine, tokens_path: Path, tokens: dict[str, str]
) -> None:
    client = app_with(hostile_engine, tokens_path, SecurityConfig(rate=0.01, burst=3))
    vrp = auth(tokens["vrp"])
    assert [client.get("/api/v1/whoami", headers=vrp).status_code for _ in range(3)] == [200] * 3
    over = client.get("/api/v1/whoami", headers=vrp)
    assert over.status_code == 429
    assert int(over.headers["retry-after"]) >= 1
    assert "requests a second" in over.json()["detail"]
    # Another token has its own bucket.
    assert client.get("/api/v1/whoami", headers=auth(tokens["csp-birmingham"])).status_code == 200


def test_guessing_tokens_from_one_client_is_throttled(
    hostile_engine: Engine, tokens_path: Path, tokens: dict[str, str]
) -> None:
    client = app_with(hostile_engine, tokens_path, SecurityConfig(auth_failures=5))
    guesses = [
        client.get("/api/v1/whoami", headers=auth(f"guess-{n}")).status_code for n in range(7)
    ]
    assert guesses == [401] * 5 + [429] * 2
    throttled = client.get("/api/v1/whoami", headers=auth("guess-8"))
    assert 1 <= int(throttled.headers["retry-after"]) <= 12  # 5 a minute: one every 12 s
    # While throttled, a right guess looks like a wrong one.
    assert client.get("/api/v1/whoami", headers=auth(tokens["vrp"])).status_code == 429
    # Requests without a token (the dashboard, checkpoints) still work.
    assert client.get("/").status_code == 200


def test_a_token_bucket_refills_at_its_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=2.0, burst=2, monotonic=lambda: now[0], max_buckets=2)
    assert [limiter.take("a"), limiter.take("a")] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("b") == limiter.take("c") == 0.0  # "a" is forgotten: full again
    assert limiter.take("a") == 0.0


# -------------------------------------------------------------------- CSV


def test_csv_cells_that_start_a_formula_become_text() -> None:
    for formula in ("=1+1", "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "\uff1d1+1"):
        assert csv_cell(formula) == "'" + formula
    for kept in (-5, -0.5, 3, 2.5, None, True, "", "MENTOR", "a=b", "E08000025", "2026-11-02"):
        assert csv_cell(kept) == kept
    assert csv_escape([{"a": "=x", "b": -1}]) == [{"a": "'=x", "b": -1}]


def test_a_shared_formula_reaches_a_csv_download_as_text(
    client: TestClient, tokens: dict[str, str]
) -> None:
    vrp = auth(tokens["vrp"])
    reply = client.get("/api/v1/views/referral-funnel?format=csv", headers=vrp)
    assert reply.status_code == 200
    programmes = {row["programme"]: row for row in csv.DictReader(io.StringIO(reply.text))}
    assert "'" + FORMULA in programmes and FORMULA not in programmes
    assert {"'-2+3", "'@SUM(A1)", "MENTOR", *HOSTILE} <= set(programmes)
    assert programmes["MENTOR"]["referred"] == "10"  # numbers stay numbers
    # JSON carries the data as it is: only spreadsheets run formulas.
    body = client.get("/api/v1/views/referral-funnel", headers=vrp).json()
    assert FORMULA in {row["programme"] for row in body["rows"]}


# ---------------------------------------------------------------- headers


def assert_secured(headers: Any, csp: str = CSP) -> None:
    assert headers["content-security-policy"] == csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


def test_every_response_carries_the_security_headers(
    client: TestClient, tokens: dict[str, str]
) -> None:
    vrp = auth(tokens["vrp"])
    for path, headers, status in (
        ("/", {}, 200),
        ("/static/dashboard.js", {}, 200),
        ("/static/dashboard.css", {}, 200),
        ("/static/missing.js", {}, 404),
        ("/openapi.json", {}, 200),
        ("/api/v1/whoami", vrp, 200),
        ("/api/v1/whoami", {}, 401),
        ("/api/v1/views/incidents?by=lad&format=csv", vrp, 200),
        ("/api/v1/views/incidents?by=lad,lad", vrp, 400),
        ("/api/v1/audit/checkpoint", {}, 404),
        ("/nowhere", {}, 404),
    ):
        reply = client.get(path, headers=headers)
        assert reply.status_code == status, path
        assert_secured(reply.headers)
        if path.startswith("/api/"):
            assert reply.headers["cache-control"] == "no-store", path
    assert client.get("/static/dashboard.js").headers["content-type"].startswith("text/javascript")
    for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in CSP


def test_the_docs_page_gets_a_policy_of_its_own(client: TestClient) -> None:
    page = client.get("/docs")
    policy = page.headers["content-security-policy"]
    assert_secured(page.headers, policy)
    script_src = re.search(r"script-src ([^;]*)", policy)
    assert script_src is not None and "'unsafe-inline'" not in script_src.group(1)
    [inline] = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    hashed = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"'sha256-{hashed}'" in script_src.group(1)
    assert security.DOCS_CDN in script_src.group(1)
    assert "frame-ancestors 'none'" in policy
    assert client.get("/redoc").headers["content-security-policy"].startswith("default-src 'none'")


def test_the_dashboard_has_no_inline_script_style_or_html_sinks(client: TestClient) -> None:
    page = client.get("/").text
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
    assert "<style" not in page and "style=" not in page
    assert '<script src="/static/dashboard.js"></script>' in page
    script = client.get("/static/dashboard.js").text
    assert not re.search(
        r"\.(innerHTML|outerHTML)\s*=|\.insertAdjacentHTML\(|document\.write", script
    )


# ------------------------------------------------------------- access log


def test_the_access_log_records_each_request(
    hostile_engine: Engine, tokens_path: Path, tokens: dict[str, str], tmp_path: Path
) -> None:
    logged = tmp_path / "logs" / "access.log"
    client = app_with(hostile_engine, tokens_path, SecurityConfig(access_log=logged))
    expired = issue_tokens(
        tokens_path, ["csp-coventry"], now=datetime.now(UTC) - timedelta(days=100)
    )[0]
    vrp = auth(tokens["vrp"])
    made = [
        client.get("/api/v1/views/incidents?by=lad,week&week_from=2026-11-02", headers=vrp),
        client.get("/api/v1/whoami", headers=auth(expired.token)),
        client.get("/api/v1/whoami", headers=auth("guess")),
        client.get("/api/v1/views/outcomes"),  # no token: refused, and logged
        client.get("/api/v1/views/incidents?by=lad,lad", headers=vrp),
        client.get("/", headers={}),  # no token and not refused: not logged
        client.get("/api/v1/audit/checkpoint"),  # the same
    ]
    assert [r.status_code for r in made] == [200, 401, 401, 401, 400, 200, 404]
    assert logged.stat().st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in logged.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 5
    first = lines[0]
    assert {k: first[k] for k in ("party", "role", "auth", "method", "path", "view", "status")} == {
        "party": "vrp",
        "role": "analyst",
        "auth": "ok",
        "method": "GET",
        "path": "/api/v1/views/incidents",
        "view": "incidents",
        "status": 200,
    }
    assert first["query"] == {"by": "lad,week", "week_from": "2026-11-02"}
    assert first["bytes"] == len(made[0].content) and first["duration_ms"] >= 0
    assert len(first["token_id"]) == 12 and tokens["vrp"] not in logged.read_text()
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert [(r["auth"], r["party"], r["token_id"], r["status"]) for r in lines[1:4]] == [
        ("expired", "csp-coventry", expired.entry.id, 401),
        ("unknown", None, None, 401),
        ("missing", None, None, 401),
    ]
    assert (lines[4]["status"], lines[4]["query"]) == (400, {"by": "lad,lad"})


def test_throttled_requests_are_logged_too(
    hostile_engine: Engine, tokens_path: Path, tokens: dict[str, str], tmp_path: Path
) -> None:
    logged = tmp_path / "access.log"
    config = SecurityConfig(auth_failures=1, access_log=logged)
    client = app_with(hostile_engine, tokens_path, config)
    assert client.get("/api/v1/whoami", headers=auth("guess")).status_code == 401
    assert client.get("/api/v1/whoami", headers=auth("guess")).status_code == 429
    lines = [json.loads(line) for line in logged.read_text(encoding="utf-8").splitlines()]
    assert [(r["auth"], r["status"]) for r in lines] == [("unknown", 401), ("throttled", 429)]
