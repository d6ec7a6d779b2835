"""The ledger on a real pipeline: enforcer output on Kafka -> `svdhub audit run`
-> reconcile, verify and replay, on SQLite and on PostgreSQL.

The enforcer runs as ``<namespace>.enforcer`` and the ledger as
``<namespace>.ledger``; reconcile, which reads every shared topic, as the
stack's admin (as it does by default)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hub.access.plan import LEDGER
from tests.fixtures.records import a_share
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import Pipeline
from wire.kafka_client import ClientSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(
    kafka_admin: ClientSettings, opa_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """Police and ED incidents plus two bad messages, all through the enforcer."""
    made = Pipeline(kafka_admin, opa_url, tmp_path_factory.mktemp("audit") / "home")
    try:
        made.publish("Incident", [helpers.incident("wmp", n) for n in range(40)])
        made.publish(
            "Incident",
            [helpers.incident("uhb-ed", n, geo=helpers.COVENTRY) for n in range(20)],
        )
        made.publish_raw(made.names.raw("wmp", "incident"), b"\x00 corrupted")
        made.start_enforcer()
        made.wait_for_audit(len(made.expected()))
    finally:
        made.stop()
    yield made


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.needs_services)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A ledger URL: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    url = request.getfixturevalue("database_url")
    schema = f"audit_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    yield scoped.render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def audit(pipeline: Pipeline, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``svdhub audit ...``: ``run`` as the ledger, ``reconcile`` as the admin."""
    credentials = {
        "run": pipeline.credentials(LEDGER),
        "reconcile": pipeline.admin_credentials(),
    }.get(args[0])
    options = ["--credentials", str(credentials)] if credentials else []
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "audit", *args, "--database", database, *options],
        capture_output=True,
        text=True,
        check=False,
        env=pipeline.env,
        timeout=300,
    )


def test_ledger_replay_reconcile_and_verify(pipeline: Pipeline, database: str) -> None:
    expected = pipeline.expected()
    first = audit(pipeline, database, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert f"ledger: {len(expected)} rows ({len(expected)} added" in first.stdout

    # Replay the whole audit topic: every decision is already there.
    engine = create_engine(database)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_offsets"))
    again = audit(pipeline, database, "run", "--once")
    assert again.returncode == 0, again.stderr
    assert f"ledger: {len(expected)} rows (0 added, {len(expected)} replays skipped" in again.stdout
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT decision_id FROM audit_entries")).scalars().all()
    engine.dispose()
    assert sorted(ids) == sorted(expected)

    checked = audit(pipeline, database, "verify")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"OK: {len(expected)} rows")

    reconciled = audit(pipeline, database, "reconcile")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    lines = reconciled.stdout.splitlines()[1:]
    assert {line.split()[0] for line in lines} >= {"vrp", "csp-birmingham", "public"}
    assert all(line.endswith("exact") for line in lines)

    quarantined = audit(pipeline, database, "query", "--decision", "quarantine", "--format", "json")
    assert quarantined.stdout.count("\n") == 1


def test_reconcile_finds_a_share_without_a_decision(pipeline: Pipeline, tmp_path: Path) -> None:
    """Runs last in this module: it adds a stray share to the pipeline's topics."""
    database = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert audit(pipeline, database, "run", "--once").returncode == 0
    producer = KafkaProducer(**pipeline.admin.kafka_python(), acks="all")
    stray = a_share(424242)  # a valid share that no decision allowed
    topic = pipeline.names.shared("vrp", "incident")
    producer.send(topic, value=stray.to_bytes()).get(timeout=30)
    producer.send(topic, value=b"{}").get(timeout=30)  # and one that is not a share at all
    producer.close()
    reconciled = audit(pipeline, database, "reconcile")
    assert reconciled.returncode == 1
    assert "1 shared without an allow decision, 1 not valid shares" in reconciled.stdout
    assert f"not allowed: {stray.share_id}" in reconciled.stdout
