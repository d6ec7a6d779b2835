"""``svdhub demo``: bring the stack up and run the hub on synthetic data.

What exists so far runs end to end: the local stack starts; seeded, clearly
synthetic West Midlands extracts are written; each sample authority gets its
signing key (and the partnership its linkage key); every sample connector
publishes its extract as signed, pseudonymised events; and the demo reads
every raw topic back, verifying each event's signature as the hub will. It
also shows OPA deciding from the policy bundle and SQL working on PostgreSQL
and SQLite.

Connectors run as their own processes (``svdhub connector run``), as they
would inside each authority, so the hub never imports connector code.
Reruns are idempotent: nothing is published twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import typer
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import create_engine, text

from hub.policy import PolicyClient, PolicyUnavailable
from hub.stack import Stack, StackConfig, StackError
from wire import schemas
from wire.codec import AvroCodec, CodecError
from wire.envelope import EventReader
from wire.signing import KeyRegistry, SignatureError, Verifier
from wire.topics import RAW_PREFIX, TopicNameError, parse_raw_topic

DAYS = 30
SEED = 1


def demo() -> None:
    """Start the stack, generate synthetic data, run every sample connector, show the result."""
    config = StackConfig.load()
    try:
        stack = Stack(config, say=lambda msg: typer.echo(msg, err=True))
        typer.echo("1. local stack")
        for outcome in stack.up():
            typer.echo(f"   {outcome.name:<9} {outcome.action}")
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    env = stack.env()
    home = config.state_dir
    configs = sorted((config.project_root / "connectors" / "config").glob("*.yaml"))

    typer.echo(f"2. synthetic data ({DAYS} days, seed {SEED}) in {home / 'synthetic'}")
    for name, rows in _synthetic(home / "synthetic").items():
        typer.echo(f"   {rows:>6} rows  {name}")

    typer.echo("3. keys (made once, kept in .hub/keys)")
    _svdhub(["connector", "keys", *map(str, configs)], home)

    typer.echo("4. connectors: extract -> pseudonymise -> sign -> svd.raw.<authority>.<type>")
    for path in configs:
        done = _svdhub(
            ["connector", "run", str(path), "--bootstrap", env["KAFKA_BOOTSTRAP_SERVERS"]],
            home,
            check=False,
        )
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
        fallback = lines[-1] if lines else ""
        accepted = next((line for line in lines if line.startswith("accepted")), fallback)
        typer.echo(f"   {path.stem:<26} {status:<7} {accepted}")

    typer.echo("5. events in, per authority: read back from each raw topic and verified")
    registry = KeyRegistry.load(home / "keys" / "registry.yaml")
    for topic, (count, verified) in _read_raw_topics(
        env["KAFKA_BOOTSTRAP_SERVERS"], registry
    ).items():
        typer.echo(f"   {count:>6}  {topic}  ({verified} signatures verified)")

    typer.echo(f"6. OPA at {env['OPA_URL']}")
    try:
        with PolicyClient(env["OPA_URL"]) as policy:
            allowed = policy.evaluate("svd.health", "allow", {"probe": "svdhub"})
        typer.echo(f"   data.svd.health.allow for the svdhub probe -> {allowed}")
    except PolicyUnavailable as exc:
        typer.echo(f"   OPA did not answer: {exc}")

    typer.echo("7. SQL through SQLAlchemy")
    for label, url in (
        ("PostgreSQL", env["DATABASE_URL"]),
        ("SQLite", f"sqlite:///{home / 'demo.sqlite'}"),
    ):
        typer.echo(f"   {label}: {sql_roundtrip(url)}")

    typer.echo(
        "\nThe enforcer, audit ledger and views are not built yet. The stack stays up; "
        "`make down` stops it."
    )


def _svdhub(args: list[str], home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env=_env(home),
    )
    if check and done.returncode != 0:
        typer.echo(f"error: svdhub {' '.join(args)} failed:\n{done.stderr}", err=True)
        raise typer.Exit(1)
    return done


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "SVDHUB_HOME": str(home)}


def _synthetic(out: Path) -> dict[str, int]:
    """Write the synthetic extracts unless this seed and length are there already;
    return the rows per file."""
    manifest_file = out / "manifest.json"
    manifest: dict[str, Any] = {}
    if manifest_file.is_file():
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    if manifest.get("seed") != SEED or manifest.get("days") != DAYS:
        _svdhub(
            ["generate", "--out", str(out), "--days", str(DAYS), "--seed", str(SEED)], out.parent
        )
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    return {str(name): int(rows) for name, rows in manifest["files"].items()}


def _read_raw_topics(bootstrap: str, registry: KeyRegistry) -> dict[str, tuple[int, int]]:
    """Consume every raw topic from the start; verify and decode each event
    (as the enforcer will). Returns (messages, verified) per topic."""
    reader = EventReader(
        AvroCodec(schemas.current(), schemas.released().values()), Verifier(registry)
    )
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, client_id="svdhub-demo", enable_auto_commit=False
    )
    try:
        counts = {}
        for topic in sorted(t for t in consumer.topics() if t.startswith(RAW_PREFIX)):
            try:
                authority, _ = parse_raw_topic(topic)
            except TopicNameError:
                continue  # not a connector's topic
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            ends = consumer.end_offsets(parts)
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            seen = verified = 0
            while any(consumer.position(tp) < end for tp, end in ends.items()):
                for records in consumer.poll(timeout_ms=1000).values():
                    for record in records:
                        seen += 1
                        try:
                            reader.read(record.value, authority=authority)
                            verified += 1
                        except (CodecError, SignatureError):
                            pass  # counted as not verified
            counts[topic] = (seen, verified)
        return counts
    finally:
        consumer.close()


def sql_roundtrip(url: str) -> str:
    """Create a scratch table, write a row, read it back, drop the table."""
    table = f"demo_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, note TEXT)"))
            conn.execute(text(f"INSERT INTO {table} VALUES (1, 'round trip')"))  # noqa: S608 - our own name
            note = conn.execute(text(f"SELECT note FROM {table} WHERE id = 1")).scalar_one()  # noqa: S608
            conn.execute(text(f"DROP TABLE {table}"))
            dialect = engine.dialect.name
            server = engine.dialect.server_version_info
    finally:
        engine.dispose()
    version = ".".join(str(part) for part in server or ())
    return f"{dialect} {version}: wrote and read back {note!r}"
