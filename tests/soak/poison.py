"""Poison on the running hub: nothing a producer writes stops a component (invariant 10).

In a topic namespace of its own, with the enforcer, the audit ledger and the
views running as processes (``svdhub enforcer run``, ``svdhub audit run``,
``svdhub views run``), as a user starts them, each as its own principal with
the ACLs the agreements give it (the harness writes the poison as ``admin``):

1. malformed messages of every shape in ``tests.fixtures.poison`` go to a
   shared topic (``vrp``'s incidents), the audit topic and a raw topic
   (``wmp``'s incidents), the same number to each. On the shared and audit
   topics they are signed with the hub's key (so each reaches the contract it
   breaks), except the signature shapes: valid records the hub did not sign;
2. every component must keep running while it consumes them, and record each
   exactly once: the enforcer as one quarantine entry and one quarantine audit
   record, the ledger as one row of ``audit_rejects``, the views as one row of
   ``view_rejects`` (with the code, message, SHA-256, size and an excerpt of at
   most 1024 bytes);
3. then valid input follows (signed events through the enforcer, shares and
   audit records written directly and signed with the hub's key, some of each
   twice) and must all be
   applied, none lost and none twice: the ledger holds one row per distinct
   decision and ``svdhub audit verify`` passes, the views hold every share;
4. whatever the enforcer produced is signed with the hub's key, within its
   contract's size limits and parses (a 1 MB raw value gives a quarantine
   entry of a hash and a bounded excerpt).

``poison_run`` uses services that are already up (the test suite's);
``poison_soak`` starts a private stack for it (``make soak``).
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError
from sqlalchemy import Engine, Table, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from hub.access.plan import LEDGER, VIEWS
from hub.access.store import ADMIN, CredentialStore
from hub.audit.ledger import entries
from hub.audit.ledger import offsets as audit_offsets
from hub.audit.ledger import rejects as audit_rejects
from hub.enforcer.index import AWAITING_EVENT
from hub.enforcer.topic_admin import TopicAdmin
from hub.settings import opa_token_file, read_token
from hub.sink import REJECT_EXCERPT_BYTES
from hub.stack import Stack
from hub.views.tables import incidents
from hub.views.tables import offsets as view_offsets
from hub.views.tables import rejects as view_rejects
from hub.views.tables import shares as view_shares
from tests.fixtures import poison
from tests.fixtures.kafka import producer, read_all
from tests.fixtures.records import a_share, audit_record
from tests.fixtures.services import stack_config_on_free_ports
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import Pipeline
from wire import audit, quarantine, shares
from wire.audit import AuditRecord, quarantine_id, read_audit_message
from wire.canonical import CODE_PATTERN, ContractError, sha256
from wire.envelope import EventWriter
from wire.hub_signing import HubSignatureError, HubSigner
from wire.kafka_client import ClientSettings
from wire.quarantine import QuarantineEntry
from wire.reading import partitions
from wire.shares import Share
from wire.signing import generate_signer
from wire.topics import EVENT_TYPES, TopicNames

#: Numbers of the records the poison is made from, far from those of valid input.
POISON_BASE = 1_000_000

#: Subject pseudonyms a connector can sign but the audit contract refuses.
BAD_PSEUDONYMS = ("has a space", "x" * 129, "", "nul\x00inside", "café")

#: Seconds each phase may take before the run gives up on it.
PHASE_TIMEOUT = 240.0

COMPONENTS = ("enforcer", "audit", "views")

Where = tuple[str, int, int]
T = TypeVar("T")


@dataclass
class PoisonReport:
    """What was sent, what each component recorded, and whether it kept running."""

    namespace: str = ""
    sent: dict[str, Counter[str]] = field(default_factory=dict)  # topic kind -> shape -> n
    rejected: dict[str, Counter[str]] = field(default_factory=dict)  # component -> code -> n
    valid_sent: Counter[str] = field(default_factory=Counter)
    applied: Counter[str] = field(default_factory=Counter)
    largest: dict[str, int] = field(default_factory=dict)  # what the enforcer produced, bytes
    running: dict[str, str] = field(default_factory=dict)  # component -> state at the end
    phases: dict[str, float] = field(default_factory=dict)  # seconds
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"namespace:                {self.namespace}"]
        for kind, shapes in self.sent.items():
            out.append(
                f"poison sent to {kind + ':':<10}{sum(shapes.values())} messages "
                f"in {len(shapes)} shapes"
            )
            out += [f"    {name:<34} {count}" for name, count in sorted(shapes.items())]
        for component, codes in self.rejected.items():
            detail = ", ".join(f"{code} {n}" for code, n in sorted(codes.items()))
            out.append(f"rejects by {component + ':':<14}{sum(codes.values())} ({detail})")
        out.append(
            "valid sent:               "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.valid_sent.items()))
        )
        out.append(
            "valid applied:            "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.applied.items()))
        )
        out.append(
            "largest enforcer output:  "
            + ", ".join(f"{k} {v} bytes" for k, v in sorted(self.largest.items()))
        )
        out.append(
            "components:               "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.running.items()))
        )
        out.append(
            "took:                     "
            + ", ".join(f"{k} {v:.1f} s" for k, v in self.phases.items())
            + f"; total {self.seconds:.1f} s"
        )
        out.append(
            "result:                   "
            + ("OK" if not self.problems else f"{len(self.problems)} PROBLEMS")
        )
        out += [f"  - {problem}" for problem in self.problems]
        return out


# ---------------------------------------------------------------------- the components


class Components:
    """The enforcer, the ledger and the views as processes, started as a user would."""

    def __init__(self, pipeline: Pipeline, ledger_url: str, views_url: str) -> None:
        self.pipeline = pipeline
        self.urls = {"audit": ledger_url, "views": views_url}
        self.principals = {"audit": LEDGER, "views": VIEWS}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        if name == "enforcer":
            return self.pipeline.home / "enforcer-0.log"
        return self.pipeline.home / f"{name}.log"

    def start(self) -> None:
        self.processes["enforcer"] = self.pipeline.start_enforcer()
        sink_options = {"audit": ["--every-seconds", "1"], "views": []}
        for name, options in sink_options.items():
            with self.log(name).open("wb") as log:
                self.processes[name] = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "hub.cli",
                        name,
                        "run",
                        "--credentials",
                        str(self.pipeline.credentials(self.principals[name])),
                        "--database",
                        self.urls[name],
                        *options,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.pipeline.env,
                )

    def dead(self) -> list[str]:
        """A line for each component that is no longer running, with its log's end."""
        found = []
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = self.log(name).read_text(encoding="utf-8", errors="replace")[-1500:]
                found.append(f"{name} exited {process.returncode}:\n{tail}")
        return found

    def stop(self) -> dict[str, int | None]:
        """SIGTERM each running component; their exit codes (None: had to be killed)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                codes[name] = None
        return codes

    def tracebacks(self) -> dict[str, int]:
        return {
            name: self.log(name).read_text(encoding="utf-8", errors="replace").count("Traceback")
            for name in self.processes
        }


def wait_for(
    condition: Callable[[], bool], what: str, components: Components, timeout: float
) -> None:
    """Wait until ``condition`` holds; fail at once if a component stopped."""
    deadline = time.monotonic() + timeout
    while not condition():
        if stopped := components.dead():
            raise AssertionError(f"while waiting for {what}: " + "\n".join(stopped))
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


Ends = dict[tuple[str, int], int]


def ends(admin: ClientSettings, topics: Sequence[str]) -> Ends:
    """The end offset of every partition of ``topics`` that holds messages."""
    consumer = KafkaConsumer(**admin.kafka_python())
    try:
        found = consumer.end_offsets(partitions(consumer, topics)) if topics else {}
        return {(tp.topic, tp.partition): int(end) for tp, end in found.items() if end}
    finally:
        consumer.close()


def _after(places: set[Where]) -> Ends:
    """Per partition, the offset just past the last of ``places``."""
    out: Ends = {}
    for topic, partition, offset in places:
        out[(topic, partition)] = max(out.get((topic, partition), 0), offset + 1)
    return out


def _public(topic: str) -> bool:
    return ".svd.shared.public." in topic  # the views do not read the public topics


def sink_past(
    engine: Engine, table: Table, wanted: Ends, skip: Callable[[str], bool] = lambda _: False
) -> bool:
    """Whether a sink's stored offsets are at or past ``wanted`` in every partition."""
    try:
        with engine.connect() as conn:
            stored = {
                (topic, partition): int(end)
                for topic, partition, end in conn.execute(
                    select(table.c.topic, table.c.partition, table.c.next_offset)
                )
            }
    except DBAPIError:  # the sink has not made its tables yet
        return False
    return all(stored.get(place, 0) >= end for place, end in wanted.items() if not skip(place[0]))


# ---------------------------------------------------------------------- the poison


def targets(keys: helpers.Keys, hub: HubSigner) -> dict[poison.Kind, poison.Target]:
    """What the shapes break on each topic: shares and audit records (``hub`` is the
    hub's key the consumers trust), and signed frames."""
    forger = EventWriter(helpers.CODEC, generate_signer("wmp-test-1", "wmp"))  # same key id
    rogue = EventWriter(helpers.CODEC, generate_signer("rogue-1", "rogue"))  # not registered

    def share(n: int) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(a_share(POISON_BASE + n).to_bytes())
        return found

    def decision(n: int) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(audit_record(POISON_BASE + n).to_bytes())
        return found

    def event(n: int, authority: str = "wmp") -> dict[str, Any]:
        geo = helpers.COVENTRY if authority != "wmp" else None
        return helpers.incident(authority, POISON_BASE + n, geo=geo)

    frames = poison.Frames(
        valid=lambda n: keys.writer("wmp").write("Incident", event(n)),
        forged=lambda n: forger.write("Incident", event(n)),
        foreign=lambda n: keys.writer("uhb-ed").write("Incident", event(n, "uhb-ed")),
        unknown=lambda n: rogue.write("Incident", event(n)),
        bad_pseudonym=lambda n: keys.writer("wmp").write(
            "Incident",
            {**event(n), "subject_pseudo_id": BAD_PSEUDONYMS[n % len(BAD_PSEUDONYMS)]},
        ),
    )
    return {
        "shared": poison.Target(
            "shared",
            share,
            hub=hub,
            misplaced=lambda n: a_share(
                POISON_BASE + n, recipient="csp-coventry", agreement="wmp-csps"
            ).to_bytes(),
            too_long=lambda n: a_share(POISON_BASE + n, offence_group="X" * 65).to_bytes(),
        ),
        "audit": poison.Target("audit", decision, hub=hub),
        "raw": poison.Target("raw", share, frames=frames),
    }


Outgoing = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]


def produce(admin: ClientSettings, messages: Sequence[Outgoing]) -> list[Where]:
    """Write (topic, key, value, headers) in order, as ``admin``; where each one landed."""
    out = producer(admin, max_request_size=2 * 1024 * 1024, linger_ms=5)
    try:
        futures = [
            out.send(topic, key=key, value=value, headers=headers)
            for topic, key, value, headers in messages
        ]
        landed = [future.get(timeout=60) for future in futures]
    finally:
        out.close()
    return [(meta.topic, meta.partition, meta.offset) for meta in landed]


# ---------------------------------------------------------------------- databases


@contextmanager
def databases(database_url: str | None, home: Path) -> Iterator[tuple[str, str]]:
    """URLs for the ledger and the views: a PostgreSQL schema each, or SQLite files."""
    if database_url is None:
        yield f"sqlite:///{home / 'ledger.sqlite'}", f"sqlite:///{home / 'views.sqlite'}"
        return
    admin = create_engine(database_url)
    schemas = [f"poison_{name}_{uuid.uuid4().hex[:10]}" for name in ("audit", "views")]
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    urls = [
        make_url(database_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
        for schema in schemas
    ]
    try:
        yield urls[0], urls[1]
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def column(engine: Engine, table: Table, name: str) -> list[Any]:
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(table.c[name])).scalars())
    except DBAPIError:
        return []


# ---------------------------------------------------------------------- the run


def poison_run(
    workdir: Path,
    *,
    admin: ClientSettings,
    opa_url: str,
    opa_token: str,
    database_url: str | None,
    per_topic: int = 120,
    valid: int = 20,
    seed: int = 1,
    timeout: float = PHASE_TIMEOUT,
    say: Callable[[str], None] = print,
) -> PoisonReport:
    """Poison then valid input through the three running components; see the module.

    ``admin`` is the broker's super user: the harness sets up, writes and
    reads back as it, and gives the namespace its principals and ACLs.

    ``database_url`` is a PostgreSQL server for the ledger and the views (a
    schema each, dropped afterwards); None puts them in SQLite files. Each
    phase may take ``timeout`` seconds."""
    began = time.monotonic()
    names = TopicNames(f"poison-{uuid.uuid4().hex[:10]}")
    report = PoisonReport(namespace=names.namespace)
    pipeline = Pipeline(admin, opa_url, opa_token, workdir / "home", names)
    # Every topic the components read exists before they start, so none waits
    # for its next look for new topics.
    TopicAdmin(admin).ensure(
        [names.audit_decisions, names.quarantine]
        + [names.shared(r, k) for r in _recipients() for k in EVENT_TYPES]
    )
    with databases(database_url, pipeline.home) as (ledger_url, views_url):
        components = Components(pipeline, ledger_url, views_url)
        run = PoisonRun(
            report, pipeline, components, ledger_url, views_url, say=say, timeout=timeout
        )
        try:
            components.start()
            run.poison(per_topic, seed)
            run.valid(valid)
            run.check()
        except AssertionError as exc:
            report.problems.append(str(exc))
        finally:
            run.stop()
    report.seconds = time.monotonic() - began
    if not report.problems:
        shutil.rmtree(pipeline.home, ignore_errors=True)
    return report


class PoisonRun:
    """The phases of :func:`poison_run` and their checks, on running components."""

    def __init__(
        self,
        report: PoisonReport,
        pipeline: Pipeline,
        components: Components,
        ledger_url: str,
        views_url: str,
        *,
        say: Callable[[str], None],
        timeout: float = PHASE_TIMEOUT,
    ) -> None:
        self.report = report
        self.timeout = timeout
        self.pipeline = pipeline
        self.hub = pipeline.hub_signer
        self.hub_keys = self.hub.keys()
        self.components = components
        self.ledger_url = ledger_url
        self.ledger = create_engine(ledger_url)
        self.views = create_engine(views_url)
        self.say = say
        names = pipeline.names
        self.topics: dict[poison.Kind, str] = {
            "shared": names.shared("vrp", "incident"),
            "audit": names.audit_decisions,
            "raw": names.raw("wmp", "incident"),
        }
        self.sent: dict[Where, poison.Poison] = {}  # every malformed message, by place
        self.of: dict[poison.Kind, set[Where]] = {kind: set() for kind in self.topics}
        self.expected: dict[str, AuditRecord] = {}  # decision_id -> what the enforcer decides
        self.want_rows: set[str] = set()  # decision ids the ledger must hold
        self.want_shares: set[str] = set()  # share ids the views must hold

    def enforcer_past(self, wanted: Ends) -> bool:
        """Whether the enforcer committed offsets at or past ``wanted`` everywhere."""
        group = self.pipeline.group()  # as Pipeline starts it
        admin = KafkaAdminClient(**self.pipeline.admin.kafka_python())
        try:
            committed = admin.list_group_offsets({group: None}).get(group, {})
        except KafkaError:  # no coordinator yet (a broker just started)
            return False
        finally:
            admin.close()
        at = {(tp.topic, tp.partition): meta.offset for tp, meta in committed.items()}
        return all(at.get(place, 0) >= end for place, end in wanted.items())

    # ------------------------------------------------------------------ phases

    def poison(self, per_topic: int, seed: int) -> None:
        """Write the malformed messages (while the components start); wait until each
        component has recorded all of its topic's, and check they all still run."""
        started = time.monotonic()
        made = [
            (kind, message)
            for kind, target in targets(self.pipeline.keys, self.hub).items()
            for message in poison.generate(target, per_topic, seed)
        ]
        landed = produce(
            self.pipeline.admin,
            [(self.topics[k], m.key, m.value, poison.headers_for(m, k, self.hub)) for k, m in made],
        )
        for where, (kind, message) in zip(landed, made, strict=True):
            self.sent[where] = message
            self.of[kind].add(where)
            self.report.sent.setdefault(kind, Counter())[message.shape] += 1
        self.report.phases["write poison"] = time.monotonic() - started
        self.say(f"poison: {len(made)} messages written to {', '.join(self.topics.values())}")

        started = time.monotonic()
        wait_for(
            lambda: (
                self.enforcer_past(_after(self.of["raw"]))
                and sink_past(self.ledger, audit_offsets, _after(self.of["audit"]))
                and sink_past(self.views, view_offsets, _after(self.of["shared"]))
            ),
            "every component to read past the poison",
            self.components,
            self.timeout,
        )
        self.report.phases["consume poison"] = time.monotonic() - started
        if stopped := self.components.dead():
            raise AssertionError("after the poison: " + "\n".join(stopped))
        self.say("poison: recorded by every component, all still running")

    def valid(self, count_each: int) -> None:
        """Valid input after the poison: signed events through the enforcer, shares and
        audit records written directly (a fifth of them twice, two shares with times at
        the ends of the calendar); wait until all applied."""
        started = time.monotonic()
        pipeline = self.pipeline
        pipeline.publish("Incident", [helpers.incident("wmp", n) for n in range(count_each)])
        pipeline.publish(
            "Incident",
            [helpers.incident("uhb-ed", n, geo=helpers.COVENTRY) for n in range(count_each)],
        )
        # The first two at the ends of the calendar: valid, if odd (one was a crash).
        edges = {0: "0001-01-01T00:00:00Z", 1: "9999-12-31T23:59:59-01:00"}
        good_shares = [
            a_share(n, **({"assault_datetime": edges[n]} if n in edges else {}))
            for n in range(count_each)
        ]
        good_records = [audit_record(n) for n in range(count_each)]
        replays = max(1, count_each // 5)

        def signed(topic: str, value: bytes) -> Outgoing:
            return (topic, b"valid", value, self.hub.sign(value))

        produce(
            pipeline.admin,
            [signed(self.topics["shared"], s.to_bytes()) for s in good_shares]
            + [signed(self.topics["shared"], s.to_bytes()) for s in good_shares[:replays]]
            + [signed(self.topics["audit"], r.to_bytes()) for r in good_records]
            + [signed(self.topics["audit"], r.to_bytes()) for r in good_records[:replays]],
        )
        self.report.valid_sent.update(
            {
                "signed events": 2 * count_each,
                "shares": count_each,
                "audit records": count_each,
                "replayed shares": replays,
                "replayed audit records": replays,
            }
        )
        # Worked out in-process: its quarantine warnings would repeat the enforcer's log.
        quiet = logging.getLogger("hub.enforcer.core")
        level, quiet.level = quiet.level, logging.ERROR
        try:
            self.expected = {
                the_id: AuditRecord.from_bytes(out.value)
                for the_id, out in pipeline.expected(pipeline.raw_messages()).items()
            }
        finally:
            quiet.setLevel(level)
        raw = helpers.topics_with_prefix(pipeline.admin, pipeline.names.prefix + "svd.raw.")
        wait_for(
            lambda: self.enforcer_past(ends(pipeline.admin, raw)),
            "the enforcer to read every raw topic to its end",
            self.components,
            self.timeout,
        )
        # Records held back for k-anonymity are audited twice (held, then decided);
        # which ones depends on the order the enforcer reads the raw topics in.
        self.expected.update(pipeline.held_records(self.expected))
        to_views = {
            record.shared_ids.share_id
            for record in self.expected.values()
            if record.shared_ids is not None and record.recipient != "public"
        }
        self.want_rows = set(self.expected) | {r.decision_id for r in good_records}
        self.want_shares = to_views | {s.share_id for s in good_shares}
        # The enforcer flushes what it produced before it commits: these ends are final.
        audit_ends = ends(pipeline.admin, [self.topics["audit"]])
        shared_ends = ends(pipeline.admin, pipeline.shared_topics())
        wait_for(
            lambda: (
                sink_past(self.ledger, audit_offsets, audit_ends)
                and sink_past(self.views, view_offsets, shared_ends, skip=_public)
            ),
            "the ledger and the views to read their topics to the end",
            self.components,
            self.timeout,
        )
        self.report.phases["apply valid"] = time.monotonic() - started
        if stopped := self.components.dead():
            raise AssertionError("after the valid input: " + "\n".join(stopped))
        self.say("valid input: applied")

    def stop(self) -> None:
        """Stop the components (SIGTERM), note how each ended, verify the ledger."""
        states = {
            name: "running" if process.poll() is None else f"exited {process.returncode}"
            for name, process in self.components.processes.items()
        }
        codes = self.components.stop()
        tracebacks = self.components.tracebacks()
        for name in COMPONENTS:
            self.report.running[name] = (
                f"{states.get(name, 'never started')} at the end, then exit "
                f"{codes.get(name)} on SIGTERM, {tracebacks.get(name, 0)} tracebacks logged"
            )
            if states.get(name) != "running" or codes.get(name) != 0 or tracebacks.get(name):
                self.report.problems.append(f"{name}: {self.report.running[name]}")
        if not self.report.problems:
            self.check_audit_verify()
        self.ledger.dispose()
        self.views.dispose()

    # ------------------------------------------------------------------ checks

    def check(self) -> None:
        self.check_rejects("ledger", self.ledger, audit_rejects, self.of["audit"])
        self.check_rejects("views", self.views, view_rejects, self.of["shared"])
        codes = self.check_quarantine()
        self.check_audit_topic(codes)
        self.check_shares()
        self.check_ledger()
        self.check_views()

    def check_rejects(
        self, component: str, engine: Engine, table: Table, poisoned: set[Where]
    ) -> None:
        """One row per malformed message, and only for those, each describing it."""
        with engine.connect() as conn:
            rows = conn.execute(select(table)).mappings().all()
        self.report.rejected[component] = Counter(row["code"] for row in rows)
        found = Counter((row["topic"], row["partition"], row["offset"]) for row in rows)
        self._once(component, "rejects", found, poisoned)
        for row in rows:
            where = (row["topic"], row["partition"], row["offset"])
            data = (self.sent[where].value if where in self.sent else None) or b""
            excerpt = bytes(row["excerpt"])
            if not (
                CODE_PATTERN.fullmatch(row["code"])
                and row["message"]
                and excerpt == data[:REJECT_EXCERPT_BYTES]
                and row["size"] == len(data)
                and row["sha256"] == sha256(data)
            ):
                self.report.problems.append(f"{component}: the reject of {where} misdescribes it")
                return

    def check_quarantine(self) -> dict[Where, str]:
        """One quarantine entry per malformed raw message, parsed by its contract,
        describing the message, within the size limit; the code of each."""
        names = self.pipeline.names
        found: Counter[Where] = Counter()
        codes: dict[Where, str] = {}
        sizes = [0]
        for message in read_all(self.pipeline.admin, [names.quarantine]):
            sizes.append(len(message.value or b""))
            self._verify(message)
            entry = self._parse(QuarantineEntry.from_bytes, message.value, quarantine.MAX_BYTES)
            if entry is None:
                continue
            where = (entry.source_topic, entry.source_partition, entry.source_offset)
            found[where] += 1
            codes[where] = entry.code
            original = self.sent.get(where, poison.Poison("", None, None))
            data, key = original.value or b"", original.key or b""
            kept_key = b"" if entry.key_excerpt is None else base64.b64decode(entry.key_excerpt)
            if not (
                entry.raw_size == len(data)
                and entry.raw_sha256 == sha256(data)
                and (entry.value_excerpt() or b"") == data[: quarantine.EXCERPT_BYTES]
                and kept_key == key[: quarantine.KEY_EXCERPT_BYTES]
            ):
                self.report.problems.append(f"the quarantine entry of {where} misdescribes it")
        self.report.largest["quarantine entry"] = max(sizes)
        self.report.rejected["enforcer"] = Counter(codes.values())
        self._once("enforcer", "quarantine entries", found, self.of["raw"])
        return codes

    def check_audit_topic(self, codes: dict[Where, str]) -> None:
        """One audit record per decision from the enforcer, the quarantine ones naming
        the place and the code of their entry."""
        produced: Counter[str] = Counter()
        sizes = [0]
        for message in read_all(self.pipeline.admin, [self.pipeline.names.audit_decisions]):
            if not helpers.headers(message).get("decision_id"):
                continue  # written by this run, not by the enforcer
            sizes.append(len(message.value))
            self._verify(message)
            records = self._parse(read_audit_message, message.value, audit.MAX_BATCH_BYTES)
            for record in records or ():
                if any(r.code == AWAITING_EVENT for r in record.reasons):
                    continue  # a retraction waiting (timing-dependent)
                produced[record.decision_id] += 1
                if record.decision == "quarantine":
                    where = (record.source_topic, record.source_partition, record.source_offset)
                    reasons = [reason.code for reason in record.reasons]
                    if record.decision_id != quarantine_id(*where) or reasons != [codes.get(where)]:
                        self.report.problems.append(
                            f"the quarantine audit record of {where} differs"
                        )
        self.report.largest["audit record"] = max(sizes)
        self.report.applied["decisions audited by the enforcer"] = sum(produced.values())
        self._once("enforcer", "audit records", produced, set(self.expected))
        quarantined = [r for r in self.expected.values() if r.decision == "quarantine"]
        if len(quarantined) != len(self.of["raw"]):
            self.report.problems.append(
                f"{len(quarantined)} quarantine decisions for {len(self.of['raw'])} raw poison"
            )

    def check_shares(self) -> None:
        """One share per allow decision, parsed by its contract, within the size limit."""
        shared: Counter[str] = Counter()
        sizes = [0]
        for message in self.pipeline.shares():
            if not helpers.headers(message).get("share_id"):
                continue  # written by this run, not by the enforcer
            sizes.append(len(message.value))
            self._verify(message)
            share = self._parse(Share.from_bytes, message.value, shares.MAX_BYTES)
            if share is not None:
                shared[share.share_id] += 1
        self.report.largest["share"] = max(sizes)
        self.report.applied["shares produced by the enforcer"] = sum(shared.values())
        allowed = {r.shared_ids.share_id for r in self.expected.values() if r.shared_ids}
        self._once("enforcer", "shares", shared, allowed)

    def check_ledger(self) -> None:
        rows = column(self.ledger, entries, "decision_id")
        self._once("ledger", "rows", Counter(rows), self.want_rows)
        with self.ledger.connect() as conn:
            quarantined = conn.execute(
                select(func.count()).select_from(entries).where(entries.c.decision == "quarantine")
            ).scalar()
        if quarantined != len(self.of["raw"]):
            self.report.problems.append(
                f"ledger: {quarantined} quarantine rows for {len(self.of['raw'])} raw poison"
            )
        self.report.applied["ledger rows"] = len(rows)
        self.report.applied["ledger quarantine rows"] = int(quarantined or 0)

    def check_views(self) -> None:
        kept = column(self.views, view_shares, "share_id")
        self._once("views", "shares kept", Counter(kept), self.want_shares)
        with self.views.connect() as conn:
            facts = {
                (str(recipient), str(event_id))
                for recipient, event_id in conn.execute(
                    select(incidents.c.recipient, incidents.c.event_id)
                )
            }
            events = {
                (str(recipient), str(event_id))
                for recipient, event_id in conn.execute(
                    select(view_shares.c.recipient, view_shares.c.event_id)
                )
            }
        if facts != events:
            self.report.problems.append(
                f"views: {len(facts)} incident rows for {len(events)} incidents shared"
            )
        self.report.applied["view shares"] = len(kept)
        self.report.applied["view incident rows"] = len(facts)

    def check_audit_verify(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "hub.cli", "audit", "verify", "--database", self.ledger_url],
            capture_output=True,
            text=True,
            check=False,
            env=self.pipeline.env,
            timeout=300,
        )
        if done.returncode != 0 or not done.stdout.startswith("OK"):
            self.report.problems.append(f"audit verify: {done.stdout}{done.stderr[-2000:]}")
        else:
            self.report.applied["audit verify OK, rows"] = int(done.stdout.split()[1])

    def _once(self, component: str, what: str, found: Counter[Any], wanted: set[Any]) -> None:
        """Each of ``wanted`` found exactly once, and nothing else."""
        if set(found) != wanted or any(n > 1 for n in found.values()):
            self.report.problems.append(
                f"{component}: {sum(found.values())} {what} for {len(wanted)} expected "
                f"({len(wanted - set(found))} missing, {len(set(found) - wanted)} unexpected, "
                f"{sum(1 for n in found.values() if n > 1)} more than once)"
            )

    def _verify(self, message: Any) -> None:
        """What the enforcer produced carries the hub's signature."""
        try:
            self.hub_keys.verify(message.value, message.headers)
        except HubSignatureError as exc:
            self.report.problems.append(f"the enforcer produced an unsigned message: {exc}")

    def _parse(
        self, parse: Callable[[bytes | None], T], value: bytes | None, limit: int
    ) -> T | None:
        """What the enforcer produced, through its contract's parser and size limit."""
        if len(value or b"") > limit:
            self.report.problems.append(
                f"the enforcer produced {len(value or b'')} bytes > {limit}"
            )
        try:
            return parse(value)
        except ContractError as exc:
            self.report.problems.append(f"the enforcer produced what its contract refuses: {exc}")
            return None


def _recipients() -> list[str]:
    parties = yaml.safe_load((helpers.POLICIES / "parties.yaml").read_text(encoding="utf-8"))
    return sorted(parties["recipients"])


# ---------------------------------------------------------------------- make soak


def poison_soak(
    workdir: Path,
    *,
    per_topic: int = 1000,
    valid: int = 100,
    seed: int = 1,
    say: Callable[[str], None] = print,
) -> PoisonReport:
    """:func:`poison_run` on a private stack (Kafka, OPA, PostgreSQL on free ports)."""
    config = stack_config_on_free_ports(workdir / "stack")
    stack = Stack(config)
    try:
        say("poison: starting a private Kafka, OPA and PostgreSQL")
        stack.up()
        env = stack.env()
        return poison_run(
            workdir,
            admin=CredentialStore(config.state_dir).load(ADMIN),
            opa_url=env["OPA_URL"],
            opa_token=read_token(opa_token_file("enforcer", config.state_dir)),
            database_url=env["DATABASE_URL"],
            per_topic=per_topic,
            valid=valid,
            seed=seed,
            say=say,
        )
    finally:
        stack.down()
        shutil.rmtree(config.state_dir, ignore_errors=True)
