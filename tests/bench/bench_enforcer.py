"""Enforcer benchmarks, each beside a baseline measured in the same run.

* Throughput: police incidents, each shared to 3 recipients (vrp,
  csp-birmingham, public) and audited 9 times (one per candidate pair),
  through ``svdhub enforcer run``; beside a bare faust app that copies each
  raw message to the same 12 outputs with no verification, policy or
  anonymisation. Both connect as the enforcer's principal, over SASL_SSL
  with SCRAM-SHA-512, with the ACLs the agreements give it. Rates are taken
  between the first and the last output message's broker timestamps, so
  start-up is left out.
* Decision cost: a cached decision (the Decider's LRU) beside an uncached one
  (an HTTP query to OPA for the same input).
* Latency: raw -> shared, p50 and p99, with events published at a steady
  1,000 per second, beside the bare copier's raw -> output latency at the
  same rate; and again at 200 per second. Where a rate is above what a
  process sustains with this fan-out, the figure includes the queue that
  builds up, which is what a user of one enforcer process would see.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub.access.plan import ENFORCER
from hub.enforcer.decisions import Decider
from hub.enforcer.policy import PolicyClient
from hub.enforcer.topic_admin import TopicAdmin
from tests.bench.harness import Result, kept_up
from tests.fixtures.kafka import message_count, producer, read_all
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import OpaEndpoint, Pipeline, payload
from wire.kafka_client import ClientSettings

FANOUT = 12  # 3 shares + 9 audit records per police incident in Birmingham
DECISIONS = 9


def incidents(first: int, count: int) -> list[dict[str, Any]]:
    return [helpers.incident("wmp", n) for n in range(first, first + count)]


def run(
    admin: ClientSettings, opa: OpaEndpoint, folder: Path, events: int, seconds: int
) -> list[Result]:
    """``admin`` sets up topics and reads back; the enforcer and the bare copier
    connect as the enforcer, the raw events are published as ``connector-wmp``."""
    results = throughput(admin, opa, folder / "throughput", events)
    results += decision_cost(opa, 200)
    for per_second in (1000, 200):
        results += latency(admin, opa, folder / f"latency-{per_second}", seconds, per_second)
    return results


# ------------------------------------------------------------------ throughput


def throughput(admin: ClientSettings, opa: OpaEndpoint, folder: Path, events: int) -> list[Result]:
    pipeline = Pipeline(admin, opa.url, opa.token, folder)
    try:
        try:
            pipeline.publish("Incident", incidents(1, events))
            pipeline.start_enforcer()
            pipeline.wait_for_audit(events * DECISIONS, timeout=600)
            enforcer = events / span(admin, [pipeline.names.audit_decisions])
        finally:
            pipeline.stop()
        with Bare(pipeline, folder, "bare") as copier:
            helpers.wait_until(
                lambda: message_count(admin, copier.outputs) >= events * FANOUT,
                600,
                "the bare copier",
                every=1.0,
            )
            bare = events / span(admin, copier.outputs)
    finally:
        pipeline.revoke()
    return [
        Result(
            "enforcer",
            f"events/s, {events:,} events x (3 shares + 9 audit records)",
            enforcer,
            "bare faust consume -> 12 produces",
            bare,
            "events/s",
        )
    ]


def span(admin: ClientSettings, topics: list[str]) -> float:
    """Seconds between the first and the last message in ``topics`` (broker timestamps)."""
    stamps: list[int] = [m.timestamp for m in read_all(admin, topics)]
    return max((max(stamps) - min(stamps)) / 1000, 1e-3)


class Bare:
    """The baseline copier as a process, on the pipeline's raw topics, as the
    pipeline's enforcer principal: it reads the raw topics in an enforcer
    consumer group and writes to shared topics (``svd.shared.<name>.0`` to
    ``.3``) that the harness creates."""

    def __init__(self, pipeline: Pipeline, folder: Path, name: str) -> None:
        self.pipeline = pipeline
        self.folder = folder
        self.name = name
        self.out = f"{pipeline.names.prefix}svd.shared.{name}"
        self.outputs = [f"{self.out}.{n}" for n in range(4)]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Bare:
        TopicAdmin(self.pipeline.admin).ensure(self.outputs)
        raw = [self.pipeline.names.raw("wmp", "incident")]
        self.log = (self.folder / f"{self.name}.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.bench.bare",
                "--credentials",
                str(self.pipeline.credentials(ENFORCER)),
                "--group",
                self.pipeline.group(self.name),
                "--out",
                self.out,
                "--fanout",
                str(FANOUT),
                "--datadir",
                str(self.folder / "bare-data"),
                *raw,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


# ------------------------------------------------------------------ decisions


def decision_cost(opa: OpaEndpoint, count: int) -> list[Result]:
    inputs = [
        {**helpers.DECISION_INPUT, "today": f"2026-11-{1 + n % 28:02d}"} for n in range(count)
    ]
    with PolicyClient(opa.url, opa.token) as client:
        decider = Decider(client)
        decider.check_revision()
        best_uncached = best_cached = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for item in inputs:
                decider.fetch(item)
            best_uncached = min(best_uncached, time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(50):
                for item in inputs[:28]:
                    decider.decide(item)
            best_cached = min(best_cached, time.perf_counter() - started)
    uncached = count / best_uncached
    cached = 50 * 28 / best_cached
    return [
        Result(
            "enforcer",
            f"cached decision ({1e6 / cached:.1f} us each)",
            cached,
            f"uncached decision: OPA over HTTP ({1e6 / uncached:.0f} us each)",
            uncached,
            "decisions/s",
        )
    ]


# ------------------------------------------------------------------ latency


def latency(
    admin: ClientSettings,
    opa: OpaEndpoint,
    folder: Path,
    seconds: int,
    per_second: int,
    *,
    options: Sequence[str] = (),
) -> list[Result]:
    """``options`` go to ``svdhub enforcer run``."""
    count = per_second * seconds
    pipeline = Pipeline(admin, opa.url, opa.token, folder)
    try:
        pipeline.publish("Incident", incidents(0, 1))  # warm-up: wait until it is through
        pipeline.start_enforcer(options=options)
        pipeline.wait_for_audit(DECISIONS, timeout=120)
        sent = paced(pipeline, incidents(1, count), per_second)
        pipeline.wait_for_audit((count + 1) * DECISIONS, timeout=600)
        shared = pipeline.shares()
    finally:
        pipeline.stop()
        pipeline.revoke()
    by_event = {helpers.the_event_id("wmp", f"wmp-incident-{n}"): t for n, t in sent.items()}
    # Each recipient sees its own id for an event (Anonymiser.scoped_id).
    recipients = {pipeline.names.parse_shared(m.topic)[0] for m in shared}
    internal = pipeline.scoped_ids(by_event, recipients)
    ours = [
        m.timestamp - by_event[internal[payload(m).event_id]]
        for m in shared
        if payload(m).event_id in internal
    ]
    note = kept_up(
        per_second, count, [m.timestamp for m in shared if payload(m).event_id in internal]
    )

    bare_pipeline = Pipeline(admin, opa.url, opa.token, folder / "bare")
    try:
        with Bare(bare_pipeline, folder, "bare-latency") as copier:
            bare_pipeline.publish("Incident", incidents(0, 1))
            helpers.wait_until(
                lambda: message_count(admin, copier.outputs) >= FANOUT, 120, "bare warm-up"
            )
            sent = paced(bare_pipeline, incidents(1, count), per_second)
            helpers.wait_until(
                lambda: message_count(admin, copier.outputs) >= (count + 1) * FANOUT,
                600,
                "the bare copier",
                every=1.0,
            )
            copies = read_all(admin, copier.outputs)
    finally:
        bare_pipeline.revoke()
    by_key = {f"s-wmp-{n}".encode(): t for n, t in sent.items()}
    bare = [m.timestamp - by_key[m.key] for m in copies if m.key in by_key]
    return [
        Result(
            "enforcer",
            f"p50 raw -> shared latency at {per_second:,} events/s for {seconds} s",
            percentile(ours, 50),
            "bare copier p50",
            percentile(bare, 50),
            "ms",
            note,
        ),
        Result(
            "enforcer",
            f"p99 raw -> shared latency at {per_second:,} events/s for {seconds} s",
            percentile(ours, 99),
            "bare copier p99",
            percentile(bare, 99),
            "ms",
        ),
    ]


def paced(pipeline: Pipeline, records: list[dict[str, Any]], per_second: int) -> dict[int, int]:
    """Publish signed records at a steady rate, in 10 ms slices.

    Returns each record number -> its send timestamp (ms)."""
    out = producer(pipeline.principals.settings("connector-wmp"), linger_ms=0)
    topic = pipeline.names.raw("wmp", "incident")
    writer = pipeline.keys.writer("wmp")
    values = [(r, writer.write("Incident", r)) for r in records]
    per_slice = max(1, per_second // 100)
    futures = []
    started = time.perf_counter()
    try:
        for index in range(0, len(values), per_slice):
            for record, value in values[index : index + per_slice]:
                n = int(record["incident_pseudo_id"].rsplit("-", 1)[1])
                key = record["subject_pseudo_id"].encode()
                futures.append((n, out.send(topic, key=key, value=value)))
            due = started + (index + per_slice) / per_second
            time.sleep(max(0.0, due - time.perf_counter()))
        return {n: future.get(timeout=60).timestamp for n, future in futures}
    finally:
        out.close()


def percentile(values: Sequence[float], q: int) -> float:
    if not values:
        return float("nan")
    return (
        float(statistics.quantiles(values, n=100, method="inclusive")[q - 1])
        if q < 100
        else float(max(values))
    )
