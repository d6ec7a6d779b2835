"""Connector benchmarks: rows/s through the whole path, and peak memory by file size.

* Throughput: a police CSV of N rows through map -> pseudonymise -> encode ->
  sign -> publish, beside producing the very same events (already encoded)
  with the same producer settings, in the same run; once in the connector's
  own process, once with ``--workers 2``. Both connect as the authority's
  connector principal (``connector-wmp``, which may only write and describe
  its raw topics), over SASL_SSL with SCRAM-SHA-512.
* Memory: the connector's peak resident memory (``--dry-run``, output
  discarded) for a file of N rows and one of 10 x N rows. Streaming keeps it
  flat, so the ratio should stay near 1.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from edge.runner import Connector
from edge.synthetic import generate
from hub.enforcer.topic_admin import TopicAdmin
from tests.bench.harness import Result
from tests.edge.helpers import prepare
from tests.fixtures.kafka import grant, producer, read_all, revoke
from wire.kafka_client import ClientSettings
from wire.topics import NAMESPACE_ENV, TopicNames


def police_csv(source: Path, target: Path, rows: int) -> None:
    """Repeat a synthetic police extract, with fresh crime references, to ``rows`` rows."""
    with source.open(encoding="utf-8", newline="") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    reader = csv.reader(lines)
    header = next(reader)
    body = list(reader)
    ref = header.index("CrimeReference")
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for n in range(rows):
            row = list(body[n % len(body)])
            row[ref] = f"BENCH-{n:08d}"
            writer.writerow(row)


def peak_memory_mib(config: Path, home: Path) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of a dry run over the config's file."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "connector", "run", str(config), "--dry-run"],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.monotonic() - started


#: The workers of the second throughput run (``svdhub connector run --workers``).
WORKERS = 2

#: What this stage sets in the environment (for the connector and its dry runs),
#: and puts back when it ends, so later stages find the stack's own state.
_ENVIRONMENT = ("SVDHUB_HOME", "SVDHUB_AUTHORITIES", "SVDHUB_AUTHORITY_HOME", NAMESPACE_ENV)


def run(admin: ClientSettings, home: Path, rows: int, memory_rows: int) -> list[Result]:
    """``admin`` sets up the topics and reads back; the connector and the
    baseline producer connect as ``connector-wmp``."""
    saved = {name: os.environ.get(name) for name in _ENVIRONMENT}
    try:
        return _run(admin, home, rows, memory_rows)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run(admin: ClientSettings, home: Path, rows: int, memory_rows: int) -> list[Result]:
    results = []
    for workers in (1, WORKERS):
        # A folder of its own each: the first run's file is in its checkpoint.
        folder = home / f"workers-{workers}"
        ours, baseline = measured(admin, folder, rows, workers)
        how = "" if workers == 1 else f", --workers {workers}"
        results.append(
            Result(
                "connector",
                f"CSV -> signed events on Kafka ({rows:,} rows{how})",
                ours,
                "produce the same pre-encoded events",
                baseline,
                "rows/s",
            )
        )
    home = folder  # the last run's, whose environment is still set
    # Files of their own: the throughput run's file is in the checkpoint, and a
    # dry run skips the rows it recognises.
    synthetic = home / "synthetic"
    small = home / f"police-memory-{memory_rows}.csv"
    large = home / f"police-memory-{memory_rows * 10}.csv"
    police_csv(synthetic / "wmp_crime.csv", small, memory_rows)
    police_csv(synthetic / "wmp_crime.csv", large, memory_rows * 10)
    small_mib, small_s = peak_memory_mib(prepare(home, "wmp-crime", source=small).config_file, home)
    large_mib, large_s = peak_memory_mib(prepare(home, "wmp-crime", source=large).config_file, home)
    results.append(
        Result(
            "connector",
            f"peak memory, dry run of {memory_rows * 10:,} rows ({large_s:.0f} s)",
            large_mib,
            f"{memory_rows:,} rows ({small_s:.0f} s)",
            small_mib,
            "MiB",
        )
    )
    return results


def measured(admin: ClientSettings, home: Path, rows: int, workers: int) -> tuple[float, float]:
    """:func:`throughput` under ``home``, in a topic namespace of its own."""
    # The hub's state and the authority's own folder, apart (keys stay at the authority).
    os.environ["SVDHUB_HOME"] = str(home / "hub")
    os.environ["SVDHUB_AUTHORITIES"] = str(home / "authorities")
    os.environ.pop("SVDHUB_AUTHORITY_HOME", None)
    # A namespace of its own, so a hub running on the same broker never sees these events.
    names = TopicNames(f"bench-{uuid.uuid4().hex[:8]}")
    os.environ[NAMESPACE_ENV] = names.namespace
    try:
        return throughput(admin, home, names, rows, workers)
    finally:
        revoke(admin, home / "hub", names)


def throughput(
    admin: ClientSettings, home: Path, names: TopicNames, rows: int, workers: int = 1
) -> tuple[float, float]:
    """Rows/s through the connector, and producing the same events as it did."""
    # The sample authority itself (the namespace is fresh), so that it has a
    # principal and ACLs, and raw topics made for it.
    connector_kafka = grant(admin, home / "hub", names).settings("connector-wmp")
    synthetic = home / "synthetic"
    generate(synthetic, days=30, seed=3)
    data = home / f"police-{rows}.csv"
    police_csv(synthetic / "wmp_crime.csv", data, rows)
    config = prepare(home, "wmp-crime", source=data, authority="wmp").config

    connector = Connector(config, connector_kafka, workers=workers)
    try:
        started = time.perf_counter()
        summary = connector.run()
        ours = summary.published / (time.perf_counter() - started)
    finally:
        connector.close()
    topic = names.raw(config.authority, "incident")
    messages = [(m.key, m.value, list(m.headers)) for m in read_all(admin, [topic])]

    # A topic the connector may write to (its prefix), made by the admin.
    baseline_topic = f"{names.raw(config.authority, 'incident')}-baseline"
    TopicAdmin(admin).ensure([baseline_topic])  # as many partitions as the raw topics
    out = producer(connector_kafka, enable_idempotence=True, linger_ms=20, batch_size=256 * 1024)
    try:
        started = time.perf_counter()
        futures = [out.send(baseline_topic, key=k, value=v, headers=h) for k, v, h in messages]
        out.flush()
        for future in futures:
            future.get(timeout=60)
        baseline = len(messages) / (time.perf_counter() - started)
    finally:
        out.close()
    return ours, baseline
