"""Enforcer benchmarks, each beside a baseline measured in the same run.

* Throughput: police incidents, each shared to 3 recipients (vrp,
  csp-birmingham, public) and audited 9 times (one per candidate pair, the
  9 in one audit batch), through ``svdhub enforcer run``, with one process
  and with two in one consumer group; beside a bare faust app that copies
  each raw message to 12 outputs with no verification, policy or
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
  builds up, which is what a user of one enforcer process would see, and
  its note says so.
* Sustained rate: one enforcer offered 50, 100, 150... events/s in steps; the
  highest step it keeps up with at a raw -> shared p99 under a second,
  beside the bare copier stepped the same way.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hub.access.plan import ENFORCER
from hub.enforcer.decisions import Decider
from hub.enforcer.policy import PolicyClient
from hub.enforcer.topic_admin import TopicAdmin
from tests.bench.harness import Result, kept_up, processed
from tests.fixtures.kafka import message_count, producer, read_all
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import OpaEndpoint, Pipeline, payload
from wire.kafka_client import ClientSettings

#: Messages the enforcer produces per police incident in Birmingham: 3 shares
#: and 1 audit batch of its 9 decisions.
FANOUT = 4
DECISIONS = 9
#: What the bare copier produces for each raw message, alike in count and size.
BARE = "bare faust consume -> 4 produces (3 copies + 1 of 9 copies)"


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
    results += sustained(admin, opa, folder / "sustained", max(3, seconds // 2))
    return results


# ------------------------------------------------------------------ throughput


def throughput(admin: ClientSettings, opa: OpaEndpoint, folder: Path, events: int) -> list[Result]:
    enforcer = backlog(admin, opa, folder / "one", events, processes=1)
    two = backlog(admin, opa, folder / "two", events, processes=2)
    pipeline = Pipeline(admin, opa.url, opa.token, folder)
    try:
        pipeline.publish("Incident", incidents(1, events))
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
            f"events/s, {events:,} events x (3 shares + 9 decisions in one audit batch)",
            enforcer,
            BARE,
            bare,
            "events/s",
        ),
        Result(
            "enforcer",
            f"events/s, 2 enforcer processes in one group, {events:,} events",
            two,
            BARE,
            bare,
            "events/s",
            f"one process: {enforcer:,.0f} events/s; two: x{two / enforcer:.2f}. Both "
            "processes share the machine's cores with the broker, OPA and the publisher",
        ),
    ]


def backlog(
    admin: ClientSettings, opa: OpaEndpoint, folder: Path, events: int, processes: int
) -> float:
    """Events per second through ``processes`` enforcers in one consumer group,
    on a backlog of ``events`` published before they start."""
    pipeline = Pipeline(admin, opa.url, opa.token, folder)
    try:
        pipeline.publish("Incident", incidents(1, events))
        for n in range(processes):  # each with its own state (k-anonymity changelog...)
            pipeline.start_enforcer(options=["--state-dir", str(folder / f"state-{n}")])
        pipeline.wait_for_audit(events * DECISIONS, timeout=900)
        return events / span(admin, [pipeline.names.audit_decisions])
    finally:
        pipeline.stop()
        pipeline.revoke()


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
                "--batch",
                str(DECISIONS),
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


# ------------------------------------------------------------------ sustained rate

#: Offered rates (events/s) stepped through, until p99 reaches a second.
STEPS = (50, 100, 150, 200, 300, 400, 600, 800, 1200)
#: The latency the sustained rate is measured against.
P99_LIMIT_MS = 1000.0


def sustained(admin: ClientSettings, opa: OpaEndpoint, folder: Path, seconds: int) -> list[Result]:
    """The highest of :data:`STEPS` at which the enforcer keeps up and its raw ->
    shared p99 stays under a second, each step ``seconds`` long on one running
    enforcer; beside the bare copier stepped the same way."""
    pipeline = Pipeline(admin, opa.url, opa.token, folder)
    try:
        pipeline.publish("Incident", incidents(0, 1))
        pipeline.start_enforcer()
        pipeline.wait_for_audit(DECISIONS, timeout=120)

        def ours(sent: dict[int, int], total: int) -> list[tuple[float, float]]:
            pipeline.wait_for_audit(total * DECISIONS, timeout=900)
            by_event = {
                helpers.the_event_id("wmp", f"wmp-incident-{n}"): t for n, t in sent.items()
            }
            shared = pipeline.shares()
            recipients = {pipeline.names.parse_shared(m.topic)[0] for m in shared}
            internal = pipeline.scoped_ids(by_event, recipients)
            return [
                (m.timestamp, m.timestamp - by_event[internal[payload(m).event_id]])
                for m in shared
                if payload(m).event_id in internal
            ]

        best, steps = step(pipeline, seconds, ours)
    finally:
        pipeline.stop()
        pipeline.revoke()

    bare_pipeline = Pipeline(admin, opa.url, opa.token, folder / "bare")
    try:
        with Bare(bare_pipeline, folder, "bare-sustained") as copier:
            bare_pipeline.publish("Incident", incidents(0, 1))
            helpers.wait_until(
                lambda: message_count(admin, copier.outputs) >= FANOUT, 120, "bare warm-up"
            )

            def theirs(sent: dict[int, int], total: int) -> list[tuple[float, float]]:
                helpers.wait_until(
                    lambda: message_count(admin, copier.outputs) >= total * FANOUT,
                    600,
                    "the bare copier",
                    every=1.0,
                )
                by_key = {f"s-wmp-{n}".encode(): t for n, t in sent.items()}
                return [
                    (m.timestamp, m.timestamp - by_key[m.key])
                    for m in read_all(admin, copier.outputs)
                    if m.key in by_key
                ]

            bare_best, bare_steps = step(bare_pipeline, seconds, theirs)
    finally:
        bare_pipeline.revoke()
    return [
        Result(
            "enforcer",
            f"sustained rate: the highest steady rate with p99 raw -> shared < 1 s "
            f"(steps of {seconds} s)",
            best,
            "bare copier, stepped the same way",
            bare_best,
            "events/s",
            f"enforcer steps: {steps}; bare copier: {bare_steps}",
        )
    ]


def step(
    pipeline: Pipeline,
    seconds: int,
    latencies: Callable[[dict[int, int], int], list[tuple[float, float]]],
) -> tuple[float, str]:
    """Offer each of :data:`STEPS` for ``seconds``; ``latencies(sent, total)`` waits
    until the ``total`` events so far are through and gives (done ms, latency ms)
    of the outputs of those ``sent``. Returns the highest rate kept up with p99
    under :data:`P99_LIMIT_MS`, and a line per step."""
    first, best, lines = 1, 0.0, []
    for rate in STEPS:
        count = rate * seconds
        sent = paced(pipeline, incidents(first, count), rate)
        found = latencies(sent, first + count)
        first += count
        p99 = percentile([ms for _, ms in found], 99)
        achieved = processed(count, [done for done, _ in found])
        lines.append(f"{rate}/s: p99 {p99:,.0f} ms, {achieved:,.0f}/s done")
        if p99 >= P99_LIMIT_MS or achieved < 0.9 * rate:
            break
        best = float(rate)
    return best, "; ".join(lines)


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
