"""A private enforcer pipeline for tests: its own topic namespace, state folder
and keys, the enforcer running as a process (as in production), and the
expected decisions worked out independently of Kafka and faust."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from hub.enforcer.anonymise import Anonymiser, RecipientKeys
from hub.enforcer.core import Enforcer, Incoming, Outgoing
from hub.enforcer.decisions import Decider
from hub.enforcer.policy import PolicyClient
from hub.enforcer.topic_admin import TopicAdmin
from tests.fixtures.kafka import message_count, read_all
from tests.hub.enforcer import helpers
from wire.audit import AuditRecord
from wire.envelope import EventReader
from wire.geography import GeographyLookup
from wire.shares import Share
from wire.signing import Verifier
from wire.topics import EVENT_TYPES, TopicNames


@dataclass
class Pipeline:
    bootstrap: str
    opa_url: str
    home: Path
    names: TopicNames = field(default_factory=lambda: TopicNames(f"t-{uuid.uuid4().hex[:10]}"))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keys = helpers.Keys(self.home)
        self.sent: list[Incoming] = []
        TopicAdmin(self.bootstrap).ensure(
            self.names.raw(authority, kind)
            for authority in helpers.AUTHORITIES
            for kind in EVENT_TYPES
        )

    @property
    def authorities(self) -> Path:
        """The sample authorities' own folders, apart from the hub's state folder."""
        return self.home.with_name(f"{self.home.name}-authorities")

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "SVDHUB_HOME": str(self.home),
            "SVDHUB_AUTHORITIES": str(self.authorities),
            "SVDHUB_TOPIC_NAMESPACE": self.names.namespace,
        }
        env.pop("SVDHUB_AUTHORITY_HOME", None)
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        env.pop("OPA_URL", None)
        return env

    # ------------------------------------------------------------ enforcer

    def start_enforcer(
        self, group: str = "enforcer", opa_url: str | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.home / f"enforcer-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub.cli",
                "enforcer",
                "run",
                "--bootstrap",
                self.bootstrap,
                "--opa-url",
                opa_url or self.opa_url,
                "--group",
                f"{self.names.namespace}-{group}",
                "--revision-interval",
                "0.5",
                "--max-backoff",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        log.close()
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            path.read_text(encoding="utf-8", errors="replace")[-4000:]
            for path in sorted(self.home.glob("enforcer-*.log"))
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # ------------------------------------------------------------ input

    def publish(self, record_type: str, records: Iterable[dict[str, Any]]) -> list[Incoming]:
        """Sign and publish records to their raw topics, as a connector would."""
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        sent = []
        try:
            futures = []
            for record in records:
                authority = record["envelope"]["source_authority"]
                topic = self.names.raw(authority, record["envelope"]["event_type"])
                value = self.keys.writer(authority).write(record_type, record)
                key = record.get("subject_pseudo_id", "").encode()
                futures.append((topic, key, value, producer.send(topic, key=key, value=value)))
            for topic, key, value, future in futures:
                meta = future.get(timeout=30)
                sent.append(Incoming(topic, meta.partition, meta.offset, key, value))
        finally:
            producer.close()
        self.sent += sent
        return sent

    def publish_raw(self, topic: str, value: bytes, key: bytes = b"bad") -> Incoming:
        """Publish bytes as they are (bad input)."""
        TopicAdmin(self.bootstrap).ensure([topic])
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        try:
            meta = producer.send(topic, key=key, value=value).get(timeout=30)
        finally:
            producer.close()
        incoming = Incoming(topic, meta.partition, meta.offset, key, value)
        self.sent.append(incoming)
        return incoming

    def svdhub(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run an ``svdhub`` command in this pipeline's home and namespace."""
        done = subprocess.run(
            [sys.executable, "-m", "hub.cli", *args],
            capture_output=True,
            text=True,
            check=False,
            env=self.env,
        )
        assert done.returncode == 0, f"svdhub {' '.join(args)}: {done.stderr[-3000:]}"
        return done

    def publish_samples(self, configs: Iterable[Path], *generate: str) -> None:
        """Every sample authority as the demo runs it, each in its own folder:
        synthetic extracts (``generate`` options), its keys and its copy of the
        partnership linkage key; the public keys registered with this hub; then
        each connector's run."""
        paths = [str(config) for config in configs]
        synthetic = str(self.authorities / "synthetic")
        self.svdhub(
            "generate", "--out", synthetic, "--authorities", str(self.authorities), *generate
        )
        linkage = self.authorities / "partnership" / "linkage.key"
        if not linkage.is_file():
            self.svdhub("connector", "linkage-key", str(linkage))
        self.svdhub("connector", "keys", *paths, "--linkage-key", str(linkage))
        public = sorted(self.authorities.glob("*/public/*.yaml"))
        self.svdhub("keys", "register", *map(str, public))
        for path in paths:
            self.svdhub("connector", "run", path, "--bootstrap", self.bootstrap)

    def raw_messages(self) -> list[Incoming]:
        """Everything now in this namespace's raw topics."""
        topics = helpers.topics_with_prefix(self.bootstrap, self.names.prefix + "svd.raw.")
        return [
            Incoming(m.topic, m.partition, m.offset, m.key, m.value)
            for m in read_all(self.bootstrap, topics)
        ]

    # ------------------------------------------------------------ output

    def expected(self, messages: Iterable[Incoming] | None = None) -> dict[str, Outgoing]:
        """decision_id -> audit record that the enforcer must produce, worked out
        in-process (no Kafka, no faust) with the same keys and the same OPA."""
        reader = EventReader(helpers.CODEC, Verifier(self.keys.registry()))
        anonymiser = Anonymiser(
            GeographyLookup.synthetic_sample(), RecipientKeys(self.home / "keys" / "recipients")
        )
        enforcer = Enforcer(reader, anonymiser, self.names)
        out: dict[str, Outgoing] = {}
        with PolicyClient(self.opa_url) as client:
            decider = Decider(client)
            for message in self.sent if messages is None else messages:
                for produced in enforcer.process(message, decider):
                    if produced.topic == self.names.audit_decisions:
                        out[produced.key.decode()] = produced
        return out

    def audit(self) -> list[AuditRecord]:
        return helpers.audit_records(self.bootstrap, self.names.audit_decisions)

    def shared_topics(self) -> list[str]:
        return helpers.topics_with_prefix(self.bootstrap, self.names.prefix + "svd.shared.")

    def shares(self) -> list[Any]:
        return read_all(self.bootstrap, self.shared_topics())

    def wait_for_audit(self, count: int, timeout: float = 120) -> list[AuditRecord]:
        """Wait until the audit topic holds at least ``count`` distinct decisions."""
        seen: list[AuditRecord] = []

        def enough() -> bool:
            nonlocal seen
            for process in self.processes:
                if process.poll() not in (None, -signal.SIGKILL, 0):
                    raise AssertionError(
                        f"the enforcer exited {process.returncode}:\n{self.logs()}"
                    )
            if message_count(self.bootstrap, [self.names.audit_decisions]) < count:
                return False
            seen = self.audit()
            return len({record.decision_id for record in seen}) >= count

        try:
            helpers.wait_until(enough, timeout, f"{count} audit records", every=1.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; got {len(seen)}\n{self.logs()}") from None
        return seen


def payload(message: Any) -> Share:
    return Share.from_bytes(message.value)
