"""Connector benchmarks: rows/s through the whole path, and peak memory by file size.

* Throughput: a police CSV of N rows through map -> pseudonymise -> encode ->
  sign -> publish, beside producing the very same events (already encoded)
  with the same producer settings, in the same run.
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

import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from typer.testing import CliRunner

from edge.cli import connector_app
from edge.config import ConnectorConfig
from edge.runner import Connector
from edge.synthetic import generate
from tests.bench.harness import Result

CONFIG = Path(__file__).parents[2] / "connectors" / "config" / "wmp-crime.yaml"


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


def prepare(home: Path, data: Path) -> Path:
    raw = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    authority = f"bench-{uuid.uuid4().hex[:6]}"
    raw["authority"] = authority
    raw["keys"]["signing_key"] = f"${{SVDHUB_HOME}}/keys/{authority}/signing.pem"
    raw["keys"]["signing_key_id"] = f"{authority}-1"
    raw["source"]["csv"]["path"] = str(data)
    path = home / f"{authority}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = CliRunner().invoke(
        connector_app, ["keys", str(path), "--registry", str(home / "keys" / "registry.yaml")]
    )
    if result.exit_code != 0:
        raise RuntimeError(result.output)
    return path


def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(parts)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for records in consumer.poll(timeout_ms=1000).values():
                out.extend((r.key, r.value, list(r.headers)) for r in records)
        return out
    finally:
        consumer.close()


def peak_memory_mib(config: Path, home: Path) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of a dry run over the config's file."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "connector", "run", str(config), "--dry-run"],
        env={**os.environ, "SVDHUB_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.monotonic() - started


def run(bootstrap: str, home: Path, rows: int, memory_rows: int) -> list[Result]:
    os.environ["SVDHUB_HOME"] = str(home)
    synthetic = home / "synthetic"
    generate(synthetic, days=30, seed=3)
    data = home / f"police-{rows}.csv"
    police_csv(synthetic / "wmp_crime.csv", data, rows)
    config_path = prepare(home, data)
    config = ConnectorConfig.load(config_path)

    connector = Connector(config, bootstrap)
    try:
        started = time.perf_counter()
        summary = connector.run()
        ours = summary.published / (time.perf_counter() - started)
    finally:
        connector.close()
    topic = f"svd.raw.{config.authority}.incident"
    messages = read_topic(bootstrap, topic)

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=256 * 1024,
    )
    baseline_topic = f"{topic}.baseline"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics(
        [NewTopic(baseline_topic, num_partitions=config.partitions, replication_factor=1)]
    )
    admin.close()
    try:
        started = time.perf_counter()
        futures = [producer.send(baseline_topic, key=k, value=v, headers=h) for k, v, h in messages]
        producer.flush()
        for future in futures:
            future.get(timeout=60)
        baseline = len(messages) / (time.perf_counter() - started)
    finally:
        producer.close()

    results = [
        Result(
            "connector",
            f"CSV -> signed events on Kafka ({rows:,} rows)",
            ours,
            "produce the same pre-encoded events",
            baseline,
            "rows/s",
        )
    ]

    small = home / f"police-{memory_rows}.csv"
    large = home / f"police-{memory_rows * 10}.csv"
    police_csv(synthetic / "wmp_crime.csv", small, memory_rows)
    police_csv(synthetic / "wmp_crime.csv", large, memory_rows * 10)
    small_mib, small_s = peak_memory_mib(prepare(home, small), home)
    large_mib, large_s = peak_memory_mib(prepare(home, large), home)
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
