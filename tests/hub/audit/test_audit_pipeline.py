"""The ledger on a real pipeline: enforcer output on Kafka -> `svdhub audit run`
-> reconcile, verify and replay, on SQLite and on PostgreSQL.

The enforcer runs as ``<namespace>.enforcer`` and the ledger as
``<namespace>.ledger``; reconcile, which reads every shared topic, as the
stack's admin (as it does by default)."""

from __future__ import annotations

import json
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
from tests.fixtures.records import OTHER_SIGNER, a_share, an_id, audit_record
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import Pipeline, payload
from wire.kafka_client import ClientSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(
    kafka_admin: ClientSettings,
    opa_url: str,
    opa_token: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    """Police and ED incidents plus two bad messages, all through the enforcer."""
    made = Pipeline(kafka_admin, opa_url, opa_token, tmp_path_factory.mktemp("audit") / "home")
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


def expected_rows(pipeline: Pipeline) -> list[str]:
    """Every decision the enforcer makes, and those it audited as held back for
    k-anonymity before deciding them (which ones depends on the order it read)."""
    decided = pipeline.expected()
    return sorted(set(decided) | set(pipeline.held_records(decided)))


def test_ledger_replay_reconcile_and_verify(pipeline: Pipeline, database: str) -> None:
    expected = expected_rows(pipeline)
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
    assert lines[-1] == "forgeries: 0 on shared topics, 0 audit records rejected by the ledger " + (
        "(none counted as allowed)"
    )
    assert {line.split()[0] for line in lines[:-1]} >= {"vrp", "csp-birmingham", "public"}
    assert all(line.endswith("exact") for line in lines[:-1])

    quarantined = audit(pipeline, database, "query", "--decision", "quarantine", "--format", "json")
    assert quarantined.stdout.count("\n") == 1

    # From a share a recipient holds (its own ids only) to the decision that sent it.
    held = payload(next(m for m in pipeline.shares() if ".csp-birmingham." in m.topic))
    for the_id in (held.share_id, held.event_id):
        found = audit(pipeline, database, "query", "--shared-id", the_id, "--format", "json")
        records = [json.loads(line) for line in found.stdout.splitlines()]
        assert [r["recipient"] for r in records] == ["csp-birmingham"], found.stderr
        assert records[0]["shared_ids"]["share_id"] == held.share_id
        assert records[0]["event_id"] != held.event_id  # the hub's id beside the recipient's
    refused = audit(pipeline, database, "query", "--shared-id", "%", "--format", "json")
    assert refused.returncode == 2 and "not an id a share carries" in refused.stderr


def test_forgeries_are_rejected_by_the_ledger_and_reported_by_reconcile(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Runs last in this module: it writes to the pipeline's topics, as anyone able
    to write to the broker could. Forged audit records (unsigned, or signed by
    another key) are never sealed; forged shares (unsigned, by another key, or
    the hub's share for the VRP copied to Coventry's topic) never count as
    shared; reconcile reports each per topic and fails."""
    database = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    expected = expected_rows(pipeline)
    assert audit(pipeline, database, "run", "--once").returncode == 0
    names = pipeline.names
    vrp, coventry = names.shared("vrp", "incident"), names.shared("csp-coventry", "incident")
    real = next(m for m in pipeline.shares() if m.topic == vrp)  # signed by the hub
    allows = [audit_record(n, decision_id=an_id(f"forged-{n}")) for n in (1, 2)]
    forged_share = a_share(424243)
    producer = KafkaProducer(**pipeline.admin.kafka_python(), acks="all")
    for value, headers in [
        (allows[0].to_bytes(), []),
        (allows[1].to_bytes(), OTHER_SIGNER.sign(allows[1].to_bytes())),
    ]:
        producer.send(names.audit_decisions, value=value, headers=headers).get(timeout=30)
    for topic, value, headers in [
        (vrp, forged_share.to_bytes(), []),
        (vrp, forged_share.to_bytes(), OTHER_SIGNER.sign(forged_share.to_bytes())),
        (coventry, real.value, list(real.headers)),  # the hub's share for vrp, copied
    ]:
        producer.send(topic, value=value, headers=headers).get(timeout=30)
    producer.close()

    again = audit(pipeline, database, "run", "--once")
    assert again.returncode == 0, again.stderr
    assert "(0 added" in again.stdout and "2 rejected, 2 of them not signed" in again.stdout
    engine = create_engine(database)
    with engine.connect() as conn:
        ids = set(conn.execute(text("SELECT decision_id FROM audit_entries")).scalars())
        codes = conn.execute(text("SELECT code FROM audit_rejects ORDER BY code")).scalars().all()
        sealed = conn.execute(text("SELECT max(tree_size) FROM audit_checkpoints")).scalar()
    engine.dispose()
    assert ids == set(expected)
    assert not ids & {record.decision_id for record in allows}
    assert list(codes) == ["unknown_key", "unsigned"]
    assert sealed == len(expected)
    checked = audit(pipeline, database, "verify")
    assert checked.returncode == 0 and checked.stdout.startswith(f"OK: {len(expected)} rows")

    reconciled = audit(pipeline, database, "reconcile")
    assert reconciled.returncode == 1, reconciled.stdout + reconciled.stderr
    out = reconciled.stdout
    assert f"forged: 2 in {vrp} (rejected, not counted as shared)" in out
    assert f"forged: 1 in {coventry} (rejected, not counted as shared)" in out
    assert "forgeries: 3 on shared topics, 2 audit records rejected by the ledger" in out
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if not line.startswith(" ")}
    assert rows["vrp"].endswith("exact") and rows["csp-coventry"].endswith("exact")
    assert forged_share.share_id not in out


def test_reconcile_finds_a_share_without_a_decision(pipeline: Pipeline, tmp_path: Path) -> None:
    """Runs last in this module: it adds a stray share to the pipeline's topics,
    signed with the hub's key (as a bug in the enforcer would make one)."""
    database = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert audit(pipeline, database, "run", "--once").returncode == 0
    producer = KafkaProducer(**pipeline.admin.kafka_python(), acks="all")
    stray = a_share(424242)  # a valid share that no decision allowed
    topic = pipeline.names.shared("vrp", "incident")
    for value in (stray.to_bytes(), b"{}"):  # and one that is not a share at all
        headers = pipeline.hub_signer.sign(value)
        producer.send(topic, value=value, headers=headers).get(timeout=30)
    producer.close()
    reconciled = audit(pipeline, database, "reconcile")
    assert reconciled.returncode == 1
    assert "1 shared without an allow decision, 1 not valid shares" in reconciled.stdout
    assert f"not allowed: {stray.share_id}" in reconciled.stdout
