"""Fault injection on the running pipeline (``make soak``; a small size runs in ``make test``).

On a stack of its own (Kafka, OPA and PostgreSQL on free ports, so restarting
the broker disturbs nothing else; Kafka over SASL_SSL with SCRAM-SHA-512 and
ACLs, as ``svdhub stack up`` sets it up), with the enforcer, the audit ledger
and the views running as processes, each as its own principal (``enforcer``,
``ledger``, ``views``) with the credentials file the stack wrote for it, and
the police connector as ``connector-wmp``; the harness publishes, reads back
and reconciles as ``admin``:

* valid events are published at a steady pace, and bad input among them:
  corrupted Avro, forged signatures, events from an unknown authority, and
  replays of valid events; an extract with malformed rows goes through the
  police connector;
* meanwhile the enforcer, ledger and views processes are killed with SIGKILL
  at random moments (and restarted, as a supervisor would), the broker is
  restarted once and OPA is stopped for a while.

Then it checks that every valid event's expected decisions are in the ledger
exactly once, that ``reconcile`` is exact, that the views equal a rebuild,
that every bad input is accounted for with a reason, and that nothing from a
bad input was shared; and it reports the counts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from sqlalchemy import create_engine, select

from hub.access.plan import ENFORCER, LEDGER, VIEWS
from hub.access.store import ADMIN, CredentialStore
from hub.audit.ledger import entries
from hub.audit.reports import reconcile
from hub.enforcer.anonymise import Anonymiser, RecipientKeys
from hub.enforcer.core import Enforcer, Incoming
from hub.enforcer.decisions import Decider
from hub.enforcer.index import AWAITING_EVENT
from hub.enforcer.policy import PolicyClient
from hub.enforcer.topic_admin import TopicAdmin
from hub.hub_key import hub_keys, hub_signer
from hub.settings import opa_token_file, read_token
from hub.sink import consume, new_consumer
from hub.stack import Stack, StackConfig
from hub.views.builder import ViewBuilder
from hub.views.cellkey import RecordKeys, load_secret, secret_file
from tests.fixtures.kafka import producer, read_all
from tests.fixtures.services import stack_config_on_free_ports
from tests.fixtures.views import snapshot
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import k_retraction, pair_id
from wire.audit import AuditRecord
from wire.envelope import EventReader, EventWriter
from wire.geography import GeographyLookup
from wire.kafka_client import CREDENTIALS_ENV, ClientSettings
from wire.signing import Verifier, generate_signer
from wire.topics import EVENT_TYPES, NAMESPACE_ENV, TopicNames

LADS = ["E08000025", "E08000026", "E08000027", "E08000028", "E08000029", "E08000030", "E08000031"]


@dataclass
class Report:
    events: int = 0
    bad: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    broker_restarts: int = 0
    opa_outage_seconds: float = 0.0
    decisions: int = 0
    ledger_rows: int = 0
    quarantined: int = 0
    rejected_rows: int = 0
    shares: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"valid events published:   {self.events}",
            "bad inputs:               "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.bad.items()))
            + f" (total {sum(self.bad.values())})",
            "SIGKILLs:                 "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.kills.items()))
            + f" (total {sum(self.kills.values())})",
            f"broker restarts:          {self.broker_restarts}",
            f"OPA stopped for:          {self.opa_outage_seconds:.0f} s",
            f"expected decisions:       {self.decisions}",
            f"ledger rows:              {self.ledger_rows} (quarantined: {self.quarantined})",
            f"rows rejected at source:  {self.rejected_rows}",
            f"shares:                   {self.shares}",
            f"took:                     {self.seconds:.0f} s",
            "result:                   "
            + ("OK" if not self.problems else f"{len(self.problems)} PROBLEMS"),
            *(f"  - {problem}" for problem in self.problems),
        ]


class Supervisor:
    """Runs the enforcer, the ledger and the views as processes, each as its own
    principal; restarts any that stop."""

    def __init__(self, home: Path, env: dict[str, str], opa_url: str) -> None:
        self.home = home
        self.env = env
        store = CredentialStore(home)
        self.commands = {
            "enforcer": [
                "enforcer",
                "run",
                "--credentials",
                str(store.path(ENFORCER)),
                "--opa-url",
                opa_url,
                "--revision-interval",
                "1",
                "--max-backoff",
                "2",
                "--geography",
                "synthetic",
            ],
            "audit": [
                "audit",
                "run",
                "--credentials",
                str(store.path(LEDGER)),
                "--every-seconds",
                "2",
            ],
            "views": ["views", "run", "--credentials", str(store.path(VIEWS))],
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.lock = threading.Lock()

    def start(self, name: str) -> None:
        with (self.home / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", *self.commands[name]],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    def start_all(self) -> None:
        for name in self.commands:
            self.start(name)

    def kill(self, name: str) -> None:
        with self.lock:
            self.processes[name].send_signal(signal.SIGKILL)
            self.processes[name].wait()
            self.start(name)

    def revive(self) -> None:
        """Restart any process that ended (a broker restart may end one)."""
        with self.lock:
            for name, process in list(self.processes.items()):
                if process.poll() is not None:
                    self.start(name)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def soak(
    workdir: Path,
    *,
    events: int = 2000,
    bad: int = 1000,
    kills: int = 6,
    opa_outage: float = 20.0,
    seed: int = 1,
    say: Any = print,
) -> Report:
    began = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 - chaos, not secrets
    report = Report()
    config = stack_config_on_free_ports(workdir / "stack")
    stack = Stack(config)
    home = config.state_dir
    supervisor: Supervisor | None = None
    try:
        say("stack: starting a private Kafka, OPA and PostgreSQL")
        stack.up()
        opa_url = stack.env()["OPA_URL"]
        # The stack's own admin (stack up wrote it, and every principal's file).
        admin = CredentialStore(home).load(ADMIN)
        env = {
            **os.environ,
            "SVDHUB_HOME": str(home),
            "SVDHUB_AUTHORITIES": str(workdir / "authorities"),
            "SVDHUB_AUDIT_DATABASE": f"sqlite:///{home / 'ledger.sqlite'}",
            "SVDHUB_VIEWS_DATABASE": f"sqlite:///{home / 'views.sqlite'}",
        }
        for name in (
            "KAFKA_BOOTSTRAP_SERVERS",
            CREDENTIALS_ENV,  # each component is given its own credentials file
            "OPA_URL",
            "OPA_TOKEN",  # the enforcer reads the stack's own, in SVDHUB_HOME
            "DATABASE_URL",
            NAMESPACE_ENV,
            "SVDHUB_AUTHORITY_HOME",
        ):
            env.pop(name, None)
        keys = helpers.Keys(home)
        names = TopicNames()
        TopicAdmin(admin).ensure(
            [names.raw(a, k) for a in helpers.AUTHORITIES for k in EVENT_TYPES]
            + [names.raw("rogue", "incident")]
        )
        supervisor = Supervisor(home, env, opa_url)
        supervisor.start_all()

        rejected = _malformed_rows(home, env, rng=rng, count=max(10, bad // 20))
        report.rejected_rows = rejected
        report.bad["malformed rows"] = rejected
        plan = _plan(events, bad - rejected, rng)
        stop_chaos = threading.Event()
        chaos = threading.Thread(
            target=_chaos,
            kwargs={
                "config": config,
                "kills": kills,
                "outage": opa_outage,
                "rng": rng,
                "report": report,
                "stop": stop_chaos,
                "say": say,
            },
            args=(supervisor,),
            daemon=True,
        )
        chaos.start()
        say(f"publishing {events} events and {bad - rejected} bad inputs while faults happen")
        never = _publish(
            admin, keys=keys, names=names, plan=plan, report=report, supervisor=supervisor
        )
        chaos.join(timeout=600)
        stop_chaos.set()
        supervisor.revive()

        say("waiting for the ledger to hold every expected decision")
        raw = helpers.topics_with_prefix(admin, "svd.raw.")
        sent = [
            Incoming(m.topic, m.partition, m.offset, m.key, m.value) for m in read_all(admin, raw)
        ]
        expected = _expected(keys, names, opa_url, sent, home)
        report.decisions = len(expected)
        ledger = create_engine(f"sqlite:///{home / 'ledger.sqlite'}")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            supervisor.revive()
            if set(_decided(ledger)) >= set(expected):
                break
            time.sleep(2)
        time.sleep(4)  # let the views catch up with the last shares
        supervisor.stop()
        _check(
            report,
            ledger=ledger,
            expected=expected,
            admin=admin,
            names=names,
            home=home,
            never=never,
        )
    finally:
        if supervisor is not None:  # stopped already, unless something failed
            supervisor.stop()
        stack.down()
        report.seconds = time.monotonic() - began
    stack.purge()  # and PostgreSQL's data, if it had to live outside the state folder
    return report


# ---------------------------------------------------------------------- input


def _plan(events: int, bad: int, rng: random.Random) -> list[tuple[str, int]]:
    """The order of publishing: ("valid", n) or (kind of bad input, n)."""
    kinds = ["corrupted", "forged", "unknown authority", "replay"]
    plan = [("valid", n) for n in range(events)]
    plan += [(kinds[n % len(kinds)], n) for n in range(bad)]
    rng.shuffle(plan)
    # a replay needs something to replay: keep the first entries valid
    plan.sort(key=lambda item: 0 if item[0] == "valid" and item[1] < 20 else 1)
    return plan


def _publish(
    admin: ClientSettings,
    *,
    keys: helpers.Keys,
    names: TopicNames,
    plan: list[tuple[str, int]],
    report: Report,
    supervisor: Supervisor,
) -> set[str]:
    """Publish everything, retrying through the broker restart; return the event
    ids of the forged and unknown-authority events (which must never be shared)."""
    forger = generate_signer("wmp-test-1", "wmp")
    rogue = generate_signer("rogue-1", "rogue")
    wmp = names.raw("wmp", "incident")
    valid: list[bytes] = []
    never: set[str] = set()
    out = producer(admin, retries=20, reconnect_backoff_max_ms=2000)
    try:
        for kind, n in plan:
            topic = wmp
            if kind == "valid":
                record = helpers.incident(
                    "wmp",
                    n,
                    geo={
                        "lsoa21cd": None,
                        "msoa21cd": None,
                        "lad_cd": LADS[n % 7],
                        "ward_cd": None,
                    },
                )
                value = keys.writer("wmp").write("Incident", record)
                valid.append(value)
                report.events += 1
            elif kind == "corrupted":
                flipped = bytearray(valid[n % len(valid)])
                flipped[len(flipped) // 2] ^= 0xA5
                value = bytes(flipped)
            elif kind == "forged":
                value = EventWriter(helpers.CODEC, forger).write(
                    "Incident", helpers.incident("wmp", 1_000_000 + n)
                )
                never.add(helpers.the_event_id("wmp", f"wmp-incident-{1_000_000 + n}"))
            elif kind == "unknown authority":
                topic = names.raw("rogue", "incident")
                value = EventWriter(helpers.CODEC, rogue).write(
                    "Incident", helpers.incident("wmp", 2_000_000 + n)
                )
                never.add(helpers.the_event_id("wmp", f"wmp-incident-{2_000_000 + n}"))
            else:  # replay
                value = valid[n % len(valid)]
            if kind != "valid":
                report.bad[kind] += 1
            _send(out, topic, value, supervisor)
            time.sleep(0.002)
    finally:
        out.close()
    return never


def _send(out: KafkaProducer, topic: str, value: bytes, supervisor: Supervisor) -> Incoming:
    for attempt in range(60):
        try:
            meta = out.send(topic, key=b"soak", value=value).get(timeout=30)
            return Incoming(topic, meta.partition, meta.offset, b"soak", value)
        except Exception:  # the broker is restarting: try again
            time.sleep(min(5.0, 0.5 * (attempt + 1)))
            supervisor.revive()
    raise RuntimeError(f"could not publish to {topic} for minutes")


def _malformed_rows(home: Path, env: dict[str, str], *, rng: random.Random, count: int) -> int:
    """A police extract with ``count`` malformed rows through the real connector,
    run as the police would (its keys and extract in its own folder), as
    ``connector-wmp`` (its credentials file from the stack in ``home``);
    returns the rows it rejected (each kept at the authority with its reason)."""
    authorities = Path(env["SVDHUB_AUTHORITIES"])

    def svdhub(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", *args],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )

    synthetic = str(authorities / "synthetic")
    svdhub(
        "generate",
        "--out",
        synthetic,
        "--authorities",
        str(authorities),
        "--days",
        "2",
        "--seed",
        "9",
    )
    path = authorities / "wmp" / "extracts" / "wmp_crime.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    body = [i for i, line in enumerate(lines) if line and not line.startswith("#")][1:]
    for i in rng.sample(body, min(count, len(body))):
        cells = lines[i].split(",")
        cells[3] = "not a date"  # CommittedDateTime
        lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = helpers.POLICIES.parent / "connectors" / "config" / "wmp-crime.yaml"
    linkage = authorities / "partnership" / "linkage.key"
    svdhub("connector", "linkage-key", str(linkage))
    svdhub("connector", "keys", str(config), "--linkage-key", str(linkage))
    svdhub("keys", "register", str(authorities / "wmp" / "public" / "wmp-local-1.yaml"))
    fingerprint = svdhub("connector", "linkage-key", "--fingerprint", str(linkage))
    svdhub("linkage", "register", "--version", "local-1", fingerprint.stdout.strip())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "connector",
            "run",
            str(config),
            "--credentials",
            str(CredentialStore(home).path("connector-wmp")),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    rejects = list((authorities / "wmp" / "connector" / "rejects").glob("*.jsonl"))
    rows = [
        json.loads(line) for f in rejects for line in f.read_text(encoding="utf-8").splitlines()
    ]
    if done.returncode not in (0, 4) or not all(r.get("reason") for r in rows):
        raise RuntimeError(f"the connector failed: {done.stderr[-2000:]}")
    return len(rows)


# ---------------------------------------------------------------------- chaos


def _chaos(
    supervisor: Supervisor,
    *,
    config: StackConfig,
    kills: int,
    outage: float,
    rng: random.Random,
    report: Report,
    stop: threading.Event,
    say: Any,
) -> None:
    steps: list[str] = ["kill"] * kills + ["broker", "opa"]
    rng.shuffle(steps)
    for step in steps:
        if stop.wait(rng.uniform(1.0, 4.0)):
            return
        if step == "kill":
            name = rng.choice(["enforcer", "audit", "views"])
            say(f"  chaos: SIGKILL {name}")
            supervisor.kill(name)
            report.kills[name] += 1
        elif step == "broker":
            say("  chaos: restarting the broker")
            kafka = Stack(config, only=["kafka"])
            kafka.down()
            time.sleep(2)
            kafka.up()
            report.broker_restarts += 1
            supervisor.revive()
        else:
            say(f"  chaos: stopping OPA for {outage:.0f} s")
            opa = Stack(config, only=["opa"])
            opa.down()
            stopped = time.monotonic()
            time.sleep(outage)
            opa.up()
            report.opa_outage_seconds += time.monotonic() - stopped


# ---------------------------------------------------------------------- checks


def _expected(
    keys: helpers.Keys, names: TopicNames, opa_url: str, sent: list[Incoming], home: Path
) -> dict[str, AuditRecord]:
    """decision_id -> audit record, worked out in-process with the same keys and OPA."""
    reader = EventReader(helpers.CODEC, Verifier(keys.registry()))
    anonymiser = Anonymiser(
        GeographyLookup.synthetic_sample(), RecipientKeys(home / "keys" / "recipients")
    )
    enforcer = Enforcer(reader, anonymiser, names, signer=hub_signer(home), linkage=keys.linkage())
    out: dict[str, AuditRecord] = {}
    token = read_token(opa_token_file("enforcer", home))
    with PolicyClient(opa_url, token) as client:
        decider = Decider(client)
        for message in sent:
            for produced in enforcer.process(message, decider):
                if produced.topic == names.audit_decisions:
                    record = AuditRecord.from_bytes(produced.value)
                    if not _waiting(record) and not k_retraction(record):
                        out[produced.key.decode()] = record
    return out


def _decided(ledger: Any) -> dict[str, list[AuditRecord]]:
    """The ledger's records (but a retraction's waiting for its event) by the
    decision they are about (:func:`pair_id`: a record held back for
    k-anonymity is about the decision that follows it)."""
    found: dict[str, list[AuditRecord]] = {}
    with ledger.connect() as conn:
        for (text,) in conn.execute(select(entries.c.record)):
            record = AuditRecord.from_bytes(text.encode(), sequenced=True)
            if not _waiting(record):
                found.setdefault(pair_id(record), []).append(record)
    return found


def _waiting(record: AuditRecord) -> bool:
    """A retraction read before its event waits for it (audited as waiting); which
    raw topic the enforcer reads first is not fixed, so only those records may differ."""
    return any(reason.code == AWAITING_EVENT for reason in record.reasons)


def _check(
    report: Report,
    *,
    ledger: Any,
    expected: dict[str, AuditRecord],
    admin: ClientSettings,
    names: TopicNames,
    home: Path,
    never: set[str],
) -> None:
    problems = report.problems
    quarantined = {i for i, r in expected.items() if r.decision == "quarantine"}
    with ledger.connect() as conn:
        rows = [
            the_id
            for the_id, text in conn.execute(select(entries.c.decision_id, entries.c.record))
            if not _waiting(AuditRecord.from_bytes(text.encode(), sequenced=True))
        ]
        shared_events = set(
            conn.execute(select(entries.c.event_id).where(entries.c.decision == "allow")).scalars()
        )
    decided = _decided(ledger)
    # Retractions under min_k follow what k-anonymity released: not in `expected`.
    unexpected = {
        the_id
        for the_id, records in decided.items()
        if the_id not in expected and not all(k_retraction(r) for r in records)
    }
    report.ledger_rows = len(rows)
    report.quarantined = len(quarantined & set(rows))
    if len(rows) != len(set(rows)):
        problems.append("a decision_id appears twice in the ledger")
    if unexpected or not set(decided) >= set(expected):
        problems.append(
            f"the ledger holds {len(unexpected)} unexpected and lacks "
            f"{len(set(expected) - set(decided))} expected decisions"
        )
    bad_inputs = sum(v for k, v in report.bad.items() if k not in {"replay", "malformed rows"})
    if len(quarantined) != bad_inputs:
        problems.append(
            f"{bad_inputs} corrupted, forged or unknown-authority inputs, "
            f"but {len(quarantined)} quarantined"
        )
    if any(not expected[i].reasons for i in quarantined):
        problems.append("a quarantined input has no reason")
    if never & shared_events:
        problems.append("something from a bad input was shared")
    keys = hub_keys(home)
    # As `svdhub audit reconcile` does: as the admin, who may read every shared topic.
    for recipient, result in reconcile(ledger, admin, names, keys).items():
        report.shares += result.shared
        if not result.exact:
            problems.append(f"reconcile is not exact for {recipient}")
        if result.forged:
            problems.append(f"reconcile found forgeries for {recipient}: {dict(result.forged)}")
    views = create_engine(f"sqlite:///{home / 'views.sqlite'}")
    rebuilt = create_engine(f"sqlite:///{home / 'views-rebuilt.sqlite'}")
    views_kafka = CredentialStore(home).load(VIEWS)
    consume(
        # Under the views' own cell-key secret (in the home the processes ran with).
        ViewBuilder(
            rebuilt, names, keys=keys, record_keys=RecordKeys(load_secret(secret_file(home)))
        ),
        new_consumer(views_kafka, "svdhub-views"),
        once=True,
    )
    if snapshot(views) != snapshot(rebuilt):
        problems.append("the views differ from a rebuild")
