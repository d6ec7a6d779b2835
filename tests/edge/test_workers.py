"""``svdhub connector run --workers N``: rows mapped and signed in worker
processes give the same events in the same order, the same rejects and the
same counts as the connector's own process; a worker that cannot work stops
the run with its reason and loses nothing."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from edge.checkpoint import Checkpoint
from edge.cli import connector_app
from edge.runner import Connector, Summary, _Flushed
from edge.workers import CHUNK_ROWS, MapPool, WorkerError
from tests.edge.helpers import Setup, prepare
from tests.fixtures.kafka import Principals, read_all
from wire import schemas
from wire.codec import AvroCodec
from wire.envelope import EventReader
from wire.kafka_client import ClientSettings
from wire.signing import Verifier
from wire.topics import NAMESPACE_ENV, TopicNames


def extract(home: Path, rows: int) -> Path:
    """A police extract of ``rows`` rows (more than a few chunks) with what a run
    must keep in order: rows rejected, a line repeated within its batch (both
    published, as in one process) and one repeated after its first copy's
    batch went out (already published), a short row and an undecodable one."""
    source = home / "synthetic" / "wmp_crime.csv"
    lines = [line for line in source.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
    header, body = next(csv.reader([lines[0]])), list(csv.reader(lines[1:]))
    reference = header.index("CrimeReference")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    written: list[list[str]] = []
    for n in range(rows):
        row = list(body[n % len(body)])
        row[reference] = f"W-{n:06d}"
        if n % 97 == 13:
            row[header.index("LSOA21")] = "E01000001"  # not in the geography lookup
        if n % 151 == 7:
            row[header.index("HOOffenceCode")] = "8" * 300  # too long for the schema
        written.append(row)
        if n == 5:
            written.append(list(written[2]))  # the same batch
        if n == 130:
            written.append(list(written[1]))  # its batch went out long ago
    for row in written:
        writer.writerow(row)
    writer.writerow(written[0][:4])  # a short row
    path = home / "extract.csv"
    path.write_bytes(out.getvalue().encode("utf-8") + b"W-bad,caf\xe9\n")
    return path


def run(setup: Setup, settings: ClientSettings | None, workers: int) -> Summary:
    connector = Connector(setup.config, settings, workers=workers, dry_run=settings is None)
    try:
        return connector.run()
    finally:
        connector.close()


def rejects(setup: Setup) -> list[tuple[int, str, str]]:
    (found,) = (setup.config.state_dir / "rejects").glob("*.jsonl")
    entries = [json.loads(line) for line in found.read_text(encoding="utf-8").splitlines()]
    return [(e["row"], e["field"], e["reason"]) for e in entries]


def events(kafka_admin: ClientSettings, setup: Setup) -> dict[int, list[dict[str, Any]]]:
    """The topic's events by partition, in order, without the time each was mapped."""
    reader = EventReader(
        AvroCodec(schemas.current(), schemas.released().values()), Verifier(setup.registry)
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for message in read_all(kafka_admin, [setup.topic]):
        record = reader.read(message.value).record
        record["envelope"].pop("published_at")
        out.setdefault(message.partition, []).append(record)
    return out


def counts(summary: Summary) -> tuple[int, int, int, dict[str, int], dict[str, int]]:
    return (
        summary.read,
        summary.published,
        summary.already_published,
        dict(summary.rejected),
        dict(summary.skipped),
    )


def test_workers_publish_what_one_process_publishes(
    *,
    kafka_admin: ClientSettings,
    grant_access: Callable[[TopicNames], Principals],
    names: TopicNames,
    principals: Principals,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = extract(home, CHUNK_ROWS * 3 + 17)
    # Small batches: many go out while a chunk is still with a worker.
    setup = prepare(home, "wmp-crime", source=source, batch_size=25)
    in_workers = run(setup, principals.settings(setup.principal), workers=2)
    by_workers = events(kafka_admin, setup), rejects(setup)

    # The same file again from nothing, in one process, into another namespace.
    (setup.config.state_dir / "checkpoint.sqlite").unlink()
    shutil.rmtree(setup.config.state_dir / "rejects")
    other = TopicNames(f"t-{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv(NAMESPACE_ENV, other.namespace)
    again = prepare(home, "wmp-crime", source=source, batch_size=25)
    in_process = run(again, grant_access(other).settings(again.principal), workers=1)

    assert counts(in_workers) == counts(in_process)
    assert in_process.already_published == 1  # the line repeated after its batch
    assert in_process.rejected_total > 5
    assert by_workers == (events(kafka_admin, again), rejects(again))
    # Retractions (withdrawn rows) go to a topic of their own.
    assert sum(map(len, by_workers[0].values())) == in_process.published - in_process.retractions


def test_a_worker_that_cannot_start_stops_the_run_with_its_reason_and_loses_nothing(
    kafka_admin: ClientSettings, principals: Principals, home: Path
) -> None:
    source = extract(home, CHUNK_ROWS + 50)
    setup = prepare(home, "wmp-crime", source=source)
    key = setup.config.keys.signing_key
    kept = key.with_name("kept")
    settings = principals.settings(setup.principal)
    connector = Connector(setup.config, settings, workers=2)
    key.rename(kept)  # the connector has read it; its workers cannot
    try:
        with pytest.raises(WorkerError, match=r"could not start: .*"):
            connector.run()
    finally:
        connector.close()
        kept.rename(key)
    checkpoint = Checkpoint(setup.config.state_dir / "checkpoint.sqlite")
    try:
        assert checkpoint.published_count() == 0
        assert not checkpoint.pending_batches()
    finally:
        checkpoint.close()
    assert read_all(kafka_admin, [setup.topic]) == []

    summary = run(setup, settings, workers=2)
    assert summary.published + summary.rejected_total == summary.read
    assert len(read_all(kafka_admin, [setup.topic])) == summary.published


def test_a_dry_run_in_workers_prints_what_one_process_prints(home: Path) -> None:
    setup = prepare(home, "wmp-crime", source=extract(home, CHUNK_ROWS * 2 + 3))
    printed: dict[int, list[dict[str, Any]]] = {}
    for workers in (1, 3):
        lines: list[str] = []
        connector = Connector(setup.config, None, dry_run=True, workers=workers, echo=lines.append)
        try:
            connector.run()
        finally:
            connector.close()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        for record in records:
            record["record"]["envelope"].pop("published_at")
        printed[workers] = records
    assert printed[1]
    assert printed[1] == printed[3]


def test_records_versioned_by_content_are_mapped_in_the_connectors_own_process(
    home: Path,
) -> None:
    setup = prepare(home, "wmp-crime", source=extract(home, 20), record_version={"content": True})
    connector = Connector(setup.config, None, dry_run=True, workers=2, echo=lambda _: None)
    try:
        summary = connector.run()
        assert connector.pool is None
    finally:
        connector.close()
    assert summary.published > 0
    assert any("--workers 2: records versioned by content" in n for n in summary.notices)


def test_batches_begun_since_a_chunk_went_out_are_kept_until_it_is_handed_on() -> None:
    flushed = _Flushed()
    flushed.append({("a.csv", "h0")})
    sent_at = flushed.count  # a chunk goes out after batch 0
    flushed.append({("a.csv", "h1")})
    assert flushed.holds("a.csv", "h1", since=sent_at)
    assert not flushed.holds("a.csv", "h0", since=sent_at)  # the checkpoint answered for it
    assert not flushed.holds("b.csv", "h1", since=sent_at)
    flushed.forget(sent_at)
    assert flushed.holds("a.csv", "h1", since=0)
    assert not flushed.holds("a.csv", "h0", since=0)
    flushed.append({("a.csv", "h1"), ("a.csv", "h2")})  # h1 again: a repeated line
    flushed.forget(flushed.count - 1)
    assert flushed.holds("a.csv", "h1", since=0)  # the later batch still holds it
    flushed.forget(flushed.count)
    assert not flushed.holds("a.csv", "h1", since=0)
    assert not flushed.holds("a.csv", "h2", since=0)


@pytest.mark.parametrize("workers", ["0", "65", "two"])
def test_the_number_of_workers_is_checked(home: Path, workers: str) -> None:
    setup = prepare(home, "wmp-crime")
    result = CliRunner().invoke(
        connector_app, ["run", str(setup.config_file), "--dry-run", "--workers", workers]
    )
    assert result.exit_code == 2, result.output
    assert "--workers" in result.output


def test_a_worker_that_stops_is_told_as_such(home: Path) -> None:
    setup = prepare(home, "wmp-crime")
    before = {child.pid for child in multiprocessing.active_children()}
    pool = MapPool(setup.config, 2)
    try:
        assert pool.result(pool.submit([])) == []  # the workers are up
        workers = [c.pid for c in multiprocessing.active_children() if c.pid not in before]
        assert workers
        for pid in workers:
            os.kill(pid or 0, signal.SIGKILL)
        with pytest.raises(WorkerError, match="a worker process stopped"):
            pool.result(pool.submit([{"CrimeReference": "x"}]))
    finally:
        pool.close()


COMMAND = (sys.executable, "-m", "hub.cli", "connector", "run")


def test_the_command_runs_its_workers(home: Path) -> None:
    """As the command, in a process of its own: the workers start from it."""
    setup = prepare(home, "wmp-crime", source=extract(home, CHUNK_ROWS + 9))
    printed = {}
    for workers in ("1", "2"):
        result = subprocess.run(
            [*COMMAND, str(setup.config_file), "--dry-run", "--workers", workers],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 4, result.stderr  # the extract's rejects
        printed[workers] = [
            json.loads(line)["key"] for line in result.stdout.splitlines() if line[:1] == "{"
        ]
    assert printed["1"]
    assert printed["1"] == printed["2"]
