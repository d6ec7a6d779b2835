"""View benchmarks, each beside a same-run baseline.

* Rebuild: N shared events (police incidents for the VRP, spread over LSOAs,
  weeks and hours) replayed into new SQLite views, beside a bare kafka-python
  consume of the same topic; both as the views' principal, over SASL_SSL.
* End to end: police incidents published at a steady rate; the latency from
  the publish to the VRP's view row being committed, p50 and p99, beside the
  raw -> shared latency of the same events (the enforcer's part of it). The
  enforcer (``svdhub enforcer run``), the ledger (``svdhub audit run``) and
  the view builder each run as a process of their own, as in production, and
  connect as their own principals; the builder is `svdhub views run`'s with
  a line written per committed row.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from kafka import KafkaConsumer

from hub.access.plan import LEDGER, VIEWS
from hub.database import open_engine
from hub.enforcer.topic_admin import TopicAdmin
from hub.hub_key import hub_keys
from hub.sink import Message, consume, new_consumer
from hub.stack import StackConfig
from hub.stack.process import read_pid
from hub.views.builder import Applied, ViewBuilder
from tests.bench.bench_enforcer import DECISIONS, incidents, paced, percentile
from tests.bench.harness import Result, cpu_seconds, kept_up
from tests.fixtures.kafka import grant, producer, revoke
from tests.fixtures.records import HUB_KEYS, HUB_SIGNER
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import OpaEndpoint, Pipeline, payload
from wire.canonical import ContractError
from wire.hub_signing import HubKeys
from wire.kafka_client import ClientSettings
from wire.reading import partitions, read_to_end
from wire.shares import Share
from wire.topics import TopicNames


def run(
    admin: ClientSettings, opa: OpaEndpoint, folder: Path, shared: int, seconds: int
) -> list[Result]:
    """``admin`` sets up topics and reads back; the views connect as the views,
    the enforcer as the enforcer."""
    results = rebuild(admin, folder, shared)
    for per_second in (1000, 200):
        results += end_to_end(admin, opa, folder / f"e2e-{per_second}", seconds, per_second)
    return results


# ------------------------------------------------------------------ rebuild


def a_share(n: int, rng: random.Random) -> bytes:
    when = datetime(2026, 1, 5, tzinfo=UTC) + timedelta(hours=rng.randrange(24 * 7 * 40))
    lad = rng.choice(["E08000025", "E08000026", "E08000027", "E08000028"])
    return Share(
        share_id=str(uuid.UUID(int=n, version=4)),
        record_type="Incident",
        event_id=str(uuid.UUID(int=n + 10**9, version=4)),
        event_type="INCIDENT",
        source_authority="wmp",
        source_authority_type="POLICE",
        supersedes=None,
        recipient="vrp",
        agreement_id="wmp-vrp",
        policy_revision="sha256:bench",
        fields={
            "incident_source": "POLICE_CRIME",
            "assault_datetime": when.isoformat().replace("+00:00", "Z"),
            "offence_group": rng.choice(["VIOLENCE_WITH_INJURY", "ROBBERY", "PUBLIC_ORDER"]),
            "assault_method": rng.choice(["KNIFE_SHARP", "BODY_PART", "BLUNT"]),
            "victim_age_band": rng.choice(["10-17", "18-24", "25+"]),
            "geo": {
                "lsoa21cd": f"E0190{rng.randrange(400):04d}",
                "msoa21cd": None,
                "lad_cd": lad,
                "region_cd": "E12000005",
            },
        },
    ).to_bytes()


def rebuild(admin: ClientSettings, folder: Path, count: int) -> list[Result]:
    folder.mkdir(parents=True, exist_ok=True)
    names = TopicNames(f"bench-{uuid.uuid4().hex[:8]}")
    views = grant(admin, folder, names).settings(VIEWS)
    topic = names.shared("vrp", "incident")
    try:
        TopicAdmin(admin).ensure([topic])
        rng = random.Random(7)  # noqa: S311 - synthetic data, not a secret
        # The shares, signed with the hub key, written as the admin (in the
        # enforcer's stead).
        out = producer(admin, acks=1, linger_ms=20, batch_size=512 * 1024)
        for n in range(count):
            value = a_share(n, rng)
            out.send(topic, value=value, headers=HUB_SIGNER.sign(value))
        out.flush()
        out.close()

        started = time.perf_counter()
        consumed = bare_consume(views, topic)
        bare = consumed / (time.perf_counter() - started)

        builder = ViewBuilder(
            open_engine(f"sqlite:///{folder / 'views.sqlite'}", durable=False),
            names,
            {"vrp"},
            keys=HUB_KEYS,
        )
        started = time.perf_counter()
        consume(builder, new_consumer(views, "svdhub-views"), once=True)
        ours = count / (time.perf_counter() - started)
    finally:
        revoke(admin, folder, names)
    return [
        Result(
            "views",
            f"rebuild from {count:,} shared events",
            ours,
            "kafka-python consume of the same topic",
            bare,
            "events/s",
        )
    ]


def bare_consume(kafka: ClientSettings, topic: str) -> int:
    consumer = KafkaConsumer(
        **kafka.kafka_python(), enable_auto_commit=False, max_poll_records=1000
    )
    try:
        return sum(1 for _ in read_to_end(consumer, partitions(consumer, [topic]), poll_ms=500))
    finally:
        consumer.close()


# ------------------------------------------------------------------ end to end


class TimedBuilder(ViewBuilder):
    """Appends "<event id> <ms>" to a file when each event's view row is
    committed (wall clock)."""

    def __init__(self, engine: Any, names: TopicNames, keys: HubKeys, log: TextIO) -> None:
        super().__init__(engine, names, {"vrp"}, keys=keys)
        self.log = log

    def apply(self, messages: Sequence[Message]) -> Applied:
        done = super().apply(messages)
        now = time.time() * 1000
        for message in messages:
            try:
                event = Share.from_bytes(message.value).event_id
            except ContractError:
                continue
            self.log.write(f"{event} {now:.0f}\n")
        self.log.flush()
        return done


def follow(credentials: Path, namespace: str, database: Path, log: Path, home: Path) -> None:
    """The views builder for the VRP, as its own process (as `svdhub views run`
    is) and as the views' principal, until SIGTERM; it trusts the hub key of
    the state folder ``home``."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with log.open("a", encoding="utf-8") as out:
        builder = TimedBuilder(
            open_engine(f"sqlite:///{database}", durable=False),
            TopicNames(namespace),
            hub_keys(home),
            out,
        )
        consume(
            builder,
            new_consumer(ClientSettings.load(credentials), "svdhub-views", builder.batch_wait_ms),
            should_stop=stopping.is_set,
            discover_every=1.0,
        )


def committed(log: Path) -> dict[str, float]:
    """Event id -> when its view row was first committed (ms)."""
    found: dict[str, float] = {}
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            event, _, ms = line.partition(" ")
            if ms:
                found.setdefault(event, float(ms))
    return found


def end_to_end(
    admin: ClientSettings, opa: OpaEndpoint, folder: Path, seconds: int, per_second: int
) -> list[Result]:
    count = per_second * seconds
    pipeline = Pipeline(admin, opa.url, opa.token, folder)
    log = folder / "committed.txt"
    views = ledger = None
    by_event: dict[str, int] = {}
    try:
        pipeline.publish("Incident", incidents(0, 1))  # warm-up
        pipeline.start_enforcer()
        pipeline.wait_for_audit(DECISIONS, timeout=120)
        # The ledger runs beside them, as in production: it shares the machine.
        with (folder / "ledger.log").open("wb") as ledger_log:
            ledger = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hub.cli",
                    "audit",
                    "run",
                    "--credentials",
                    str(pipeline.credentials(LEDGER)),
                    "--database",
                    f"sqlite:///{folder / 'ledger.sqlite'}",
                ],
                stdout=ledger_log,
                stderr=subprocess.STDOUT,
                env=pipeline.env,
            )
        views = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.bench.bench_views",
                str(pipeline.credentials(VIEWS)),
                pipeline.names.namespace,
                str(folder / "views.sqlite"),
                str(log),
                str(pipeline.home),
            ]
        )
        helpers.wait_until(lambda: len(committed(log)) >= 1, 60, "the views to start")
        # Each process's CPU from here until every view row is in: the run alone.
        pids = {"enforcer": pipeline.processes[0].pid, "ledger": ledger.pid, "views": views.pid}
        # The rest of what shares the two cores: the broker (when this stack runs
        # it) and this process, which publishes the events and watches for rows.
        broker = read_pid(StackConfig.load().state_dir / "kafka" / "kafka.pid")
        pids |= ({"broker": broker} if broker is not None else {}) | {"publisher": os.getpid()}
        before = {name: (pid, cpu_seconds(pid)) for name, pid in pids.items()}
        sent = paced(pipeline, incidents(1, count), per_second)
        internal = {helpers.the_event_id("wmp", f"wmp-incident-{n}"): t for n, t in sent.items()}
        # The VRP's view holds the VRP's own ids for events (Anonymiser.scoped_id).
        by_event = {
            scoped: internal[event]
            for scoped, event in pipeline.scoped_ids(internal, ["vrp"]).items()
        }
        helpers.wait_until(
            lambda: by_event.keys() <= committed(log).keys(), 900, "every view row", every=1.0
        )
        shared = {
            payload(m).event_id: m.timestamp
            for m in pipeline.shares()
            if payload(m).recipient == "vrp"
        }
        used = {name: cpu_seconds(pid) - begun for name, (pid, begun) in before.items()}
    finally:
        for process in (views, ledger):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        pipeline.stop()
        pipeline.revoke()
    done = committed(log)
    ours = [done[e] - t for e, t in by_event.items()]
    note = kept_up(per_second, count, [done[e] for e in by_event])
    each = ", ".join(f"{name} {seconds / count * 1000:.2f} ms" for name, seconds in used.items())
    note = f"CPU per event while it ran: {each}" + (f"; {note}" if note else "")
    enforcer = [shared[e] - t for e, t in by_event.items() if e in shared]
    label = f"at {per_second:,} events/s for {seconds} s"
    return [
        Result(
            "views",
            f"p50 publish -> VRP view row committed, {label}",
            percentile(ours, 50),
            "raw -> shared p50 (the enforcer's part)",
            percentile(enforcer, 50),
            "ms",
            note,
        ),
        Result(
            "views",
            f"p99 publish -> VRP view row committed, {label}",
            percentile(ours, 99),
            "raw -> shared p99",
            percentile(enforcer, 99),
            "ms",
        ),
    ]


if __name__ == "__main__":
    credentials, namespace, database, log, home = sys.argv[1:6]
    follow(Path(credentials), namespace, Path(database), Path(log), Path(home))
