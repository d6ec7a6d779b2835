"""A private enforcer pipeline for tests: its own topic namespace, state folder
and keys, the enforcer running as a process (as in production), and the
expected decisions worked out independently of Kafka and faust.

The namespace gets its principals, ACLs and raw topics as `svdhub access apply`
makes them, with every credentials file in the pipeline's own state folder
(``<home>/access/<namespace>.<principal>.properties``), so each component
started here connects as itself: the enforcer as ``<namespace>.enforcer``, a
connector as ``<namespace>.connector-<authority>``. The pipeline's own
plumbing (bad input, reading results) uses the stack's admin."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from kafka import KafkaProducer

from hub.access.plan import ENFORCER
from hub.enforcer.anonymise import Anonymiser, RecipientKeys
from hub.enforcer.core import Enforcer, Incoming, Outgoing
from hub.enforcer.decisions import Decider
from hub.enforcer.index import AWAITING_EVENT
from hub.enforcer.policy import PolicyClient
from hub.enforcer.topic_admin import TopicAdmin
from hub.hub_key import hub_signer
from hub.risk.classes import K_ANONYMITY_HELD
from tests.fixtures.kafka import Principals, Tail, grant, read_all, revoke
from tests.hub.enforcer import helpers
from wire.audit import AuditRecord, decision_id
from wire.envelope import EventReader
from wire.geography import GeographyLookup
from wire.kafka_client import CREDENTIALS_ENV, ClientSettings
from wire.shares import Share
from wire.signing import Verifier
from wire.topics import ENFORCER_GROUP, NAMESPACE_ENV, TopicNames


def _k_agreements() -> frozenset[str]:
    found = set()
    for path in sorted((helpers.POLICIES / "agreements").glob("*.yaml")):
        agreement = yaml.safe_load(path.read_text(encoding="utf-8"))
        if agreement.get("min_k") is not None:
            found.add(str(agreement["id"]))
    return frozenset(found)


#: The sample agreements that set min_k. Whether a record-level pair under one is
#: held back, released (and at which level) or withheld depends on the order the
#: enforcer reads the raw topics in, which is not fixed; so tests of other
#: properties compare those pairs by :func:`pair_id`, not by verdict, and the
#: in-process :meth:`Pipeline.expected` leaves k-anonymity out.
K_AGREEMENTS = _k_agreements()


def pair_id(record: AuditRecord) -> str:
    """The id of the decision a record is about: its own, or, for the record that
    says a decision is held back for k-anonymity, that decision's."""
    held = any(reason.code == K_ANONYMITY_HELD for reason in record.reasons)
    if held and record.event_id and record.recipient and record.agreement_id:
        return decision_id(record.event_id, record.recipient, record.agreement_id)
    return record.decision_id


def k_retraction(record: AuditRecord) -> bool:
    """A retraction the hub sends under an agreement with min_k: whether it is sent
    depends on what k-anonymity released, which :meth:`Pipeline.expected` leaves out."""
    return record.record_type == "Retraction" and record.agreement_id in K_AGREEMENTS


def under_min_k(record: AuditRecord) -> bool:
    """Whether the record is about a record-level pair an agreement's min_k governs."""
    return record.agreement_id in K_AGREEMENTS and record.record_type != "Retraction"


class OpaEndpoint(NamedTuple):
    """An OPA server and the enforcer's bearer token for it."""

    url: str
    token: str


@dataclass
class Pipeline:
    admin: ClientSettings  # the stack's admin: the test's plumbing, never a component
    opa_url: str
    opa_token: str  # the enforcer's bearer token for OPA
    home: Path
    names: TopicNames = field(default_factory=lambda: TopicNames(f"t-{uuid.uuid4().hex[:10]}"))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keys = helpers.Keys(self.home)
        # The hub's key, made in the pipeline's home before any process needs it:
        # the enforcer signs with it, the ledger and the views verify with it.
        self.hub_signer = hub_signer(self.home)
        self.sent: list[Incoming] = []
        # Principals, ACLs and every authority's raw topics; credentials in home/access.
        self.principals: Principals = grant(self.admin, self.home, self.names)

    def credentials(self, principal: str) -> Path:
        """The credentials file of ``principal`` (``enforcer``, ``connector-wmp``...)."""
        return self.principals.file(principal)

    def revoke(self) -> None:
        """Delete the namespace's principals and ACLs from the broker (a long run
        that makes many pipelines on one broker leaves none behind)."""
        revoke(self.admin, self.home, self.names)

    def admin_credentials(self) -> Path:
        """A credentials file of the stack's admin, for the commands that read as
        the admin (``svdhub audit reconcile``)."""
        path = self.home / "admin.properties"
        if not path.is_file():
            self.admin.save(path)
        return path

    @property
    def authorities(self) -> Path:
        """The sample authorities' own folders, apart from the hub's state folder."""
        return self.home.with_name(f"{self.home.name}-authorities")

    @property
    def env(self) -> dict[str, str]:
        """The environment of a command in this pipeline: its home and namespace,
        and no service address or credentials from the test's own environment
        (each command connects as the principal whose file it is given, or finds
        its own in ``<home>/access``)."""
        env = {
            **os.environ,
            "SVDHUB_HOME": str(self.home),
            "SVDHUB_AUTHORITIES": str(self.authorities),
            NAMESPACE_ENV: self.names.namespace,
        }
        for variable in (
            "KAFKA_BOOTSTRAP_SERVERS",
            CREDENTIALS_ENV,
            "OPA_URL",
            "OPA_TOKEN",
            "SVDHUB_AUTHORITY_HOME",
        ):
            env.pop(variable, None)
        return env

    # ------------------------------------------------------------ enforcer

    def group(self, name: str = "") -> str:
        """An enforcer deployment's consumer group: under the prefix its ACL allows
        (``<namespace>.svdhub-enforcer``), ``-<name>`` after it when given."""
        return self.names.prefix + ENFORCER_GROUP + (f"-{name}" if name else "")

    def start_enforcer(
        self,
        group: str = "",
        opa_url: str | None = None,
        opa_token: str | None = None,
        options: Sequence[str] = (),
    ) -> subprocess.Popen[bytes]:
        """``svdhub enforcer run [options]`` as its own process, connecting as the
        enforcer; its OPA token goes in $OPA_TOKEN."""
        log = (self.home / f"enforcer-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub.cli",
                "enforcer",
                "run",
                "--credentials",
                str(self.credentials(ENFORCER)),
                "--opa-url",
                opa_url or self.opa_url,
                "--group",
                self.group(group),
                "--revision-interval",
                "0.5",
                "--max-backoff",
                "1",
                "--geography",
                "synthetic",
                *options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**self.env, "OPA_TOKEN": self.opa_token if opa_token is None else opa_token},
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
        """Sign and publish records to their raw topics, as a connector would:
        each authority's as its ``connector-<authority>`` principal."""
        producers: dict[str, KafkaProducer] = {}
        sent = []
        try:
            futures = []
            for record in records:
                authority = record["envelope"]["source_authority"]
                if authority not in producers:
                    settings = self.principals.settings(f"connector-{authority}")
                    producers[authority] = KafkaProducer(**settings.kafka_python(), acks="all")
                topic = self.names.raw(authority, record["envelope"]["event_type"])
                value = self.keys.writer(authority).write(record_type, record)
                key = record.get("subject_pseudo_id", "").encode()
                future = producers[authority].send(topic, key=key, value=value)
                futures.append((topic, key, value, future))
            for topic, key, value, future in futures:
                meta = future.get(timeout=30)
                sent.append(Incoming(topic, meta.partition, meta.offset, key, value))
        finally:
            for producer in producers.values():
                producer.close()
        self.sent += sent
        return sent

    def publish_raw(self, topic: str, value: bytes, key: bytes = b"bad") -> Incoming:
        """Publish bytes as they are (bad input, from anyone: as the admin)."""
        TopicAdmin(self.admin).ensure([topic])
        producer = KafkaProducer(**self.admin.kafka_python(), acks="all")
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

    def publish_samples(self, configs: Iterable[Path], *generate: str) -> dict[str, str]:
        """Every sample authority as the demo runs it, each in its own folder:
        synthetic extracts (``generate`` options), its keys and its copy of the
        partnership linkage key; the public keys registered with this hub; then
        each connector's run. What each run printed, by config path."""
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
        # The partnership's fingerprint, registered for the configs' key version.
        fingerprint = self.svdhub("connector", "linkage-key", "--fingerprint", str(linkage))
        for version in sorted({linkage_key_version(Path(path)) for path in paths}):
            self.svdhub("linkage", "register", "--version", version, fingerprint.stdout.strip())
        # Each run as <namespace>.connector-<authority>; its summary is on stderr.
        return {path: self.svdhub("connector", "run", path).stderr for path in paths}

    def raw_messages(self) -> list[Incoming]:
        """Everything now in this namespace's raw topics."""
        topics = helpers.topics_with_prefix(self.admin, self.names.prefix + "svd.raw.")
        return [
            Incoming(m.topic, m.partition, m.offset, m.key, m.value)
            for m in read_all(self.admin, topics)
        ]

    # ------------------------------------------------------------ output

    def expected(self, messages: Iterable[Incoming] | None = None) -> dict[str, Outgoing]:
        """decision_id -> audit record that the enforcer must produce, worked out
        in-process (no Kafka, no faust) with the same keys and the same OPA. A
        retraction's waiting for its event is left out: whether it waits
        depends on which raw topic the enforcer reads first."""
        reader = EventReader(helpers.CODEC, Verifier(self.keys.registry()))
        anonymiser = Anonymiser(
            GeographyLookup.synthetic_sample(), RecipientKeys(self.home / "keys" / "recipients")
        )
        enforcer = Enforcer(
            reader, anonymiser, self.names, signer=self.hub_signer, linkage=self.keys.linkage()
        )
        out: dict[str, Outgoing] = {}
        with PolicyClient(self.opa_url, self.opa_token) as client:
            decider = Decider(client)
            for message in self.sent if messages is None else messages:
                for produced in enforcer.process(message, decider):
                    if produced.topic == self.names.audit_decisions and not _waiting(produced):
                        out[produced.key.decode()] = produced
        return out

    def audit(self) -> list[AuditRecord]:
        return helpers.audit_records(self.admin, self.names.audit_decisions)

    def held_records(self, pairs: Iterable[str]) -> dict[str, AuditRecord]:
        """The audit topic's records that say a decision among ``pairs`` (decision
        ids, as :meth:`expected` gives them) was held back for k-anonymity, by
        their own ids: which records are held back depends on the order the
        enforcer reads the raw topics in, so a test adds these to what it expects."""
        wanted = set(pairs)
        return {
            r.decision_id: r
            for r in helpers.readable_audit_records(self.admin, self.names.audit_decisions)
            if pair_id(r) != r.decision_id and pair_id(r) in wanted
        }

    def shared_topics(self) -> list[str]:
        return helpers.topics_with_prefix(self.admin, self.names.prefix + "svd.shared.")

    def shares(self) -> list[Any]:
        return read_all(self.admin, self.shared_topics())

    def scoped_ids(self, event_ids: Iterable[str], recipients: Iterable[str]) -> dict[str, str]:
        """Each event id as each recipient sees it (``Anonymiser.scoped_id``)
        -> the hub-internal event id."""
        anonymiser = Anonymiser(
            GeographyLookup.synthetic_sample(), RecipientKeys(self.home / "keys" / "recipients")
        )
        wanted = list(recipients)
        return {
            anonymiser.scoped_id(event_id, recipient): event_id
            for event_id in event_ids
            for recipient in wanted
        }

    def wait_for_audit(self, count: int, timeout: float = 120) -> list[AuditRecord]:
        """Wait until the audit topic holds at least ``count`` distinct decisions
        (by :func:`pair_id`: a decision held back for k-anonymity counts), not
        counting a retraction's waiting for its event (the enforcer may read
        the retraction topic first or not, so those come and go with timing)."""
        seen: list[AuditRecord] = []
        decided: set[str] = set()
        tail = Tail(self.admin, [self.names.audit_decisions])

        def enough() -> bool:
            for process in self.processes:
                if process.poll() not in (None, -signal.SIGKILL, 0):
                    raise AssertionError(
                        f"the enforcer exited {process.returncode}:\n{self.logs()}"
                    )
            for message in tail.read():
                records = helpers.readable_records(message)
                seen.extend(records)
                decided.update(
                    pair_id(r)
                    for r in records
                    if not any(reason.code == AWAITING_EVENT for reason in r.reasons)
                )
            return len(decided) >= count

        try:
            helpers.wait_until(enough, timeout, f"{count} audit records", every=1.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; got {len(seen)}\n{self.logs()}") from None
        finally:
            tail.close()
        return seen

    def wait_for_expected(
        self, expected: dict[str, Outgoing], timeout: float = 120
    ) -> list[AuditRecord]:
        """Wait until every decision of ``expected`` (:meth:`expected`) is on the
        audit topic (by :func:`pair_id`), but for retractions the hub sends under
        an agreement with min_k: which recipients hold a record, and so which need
        a retraction when it moves, depends on what k-anonymity released, which
        :meth:`expected` leaves out."""
        wanted = {
            decision
            for decision, produced in expected.items()
            if not k_retraction(AuditRecord.from_bytes(produced.value))
        }
        seen: list[AuditRecord] = []
        missing: set[str] = set(wanted)
        tail = Tail(self.admin, [self.names.audit_decisions])

        def enough() -> bool:
            for process in self.processes:
                if process.poll() not in (None, -signal.SIGKILL, 0):
                    raise AssertionError(
                        f"the enforcer exited {process.returncode}:\n{self.logs()}"
                    )
            for message in tail.read():
                records = helpers.readable_records(message)
                seen.extend(records)
                missing.difference_update(pair_id(r) for r in records)
            return not missing

        try:
            helpers.wait_until(enough, timeout, f"{len(wanted)} decisions", every=1.0)
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; {len(missing)} missing, such as {sorted(missing)[:5]}\n{self.logs()}"
            ) from None
        finally:
            tail.close()
        return seen


def linkage_key_version(config: Path) -> str:
    """The key version a connector config names (``keys.linkage_key_version``)."""
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    return str(raw["keys"]["linkage_key_version"])


def _waiting(produced: Outgoing) -> bool:
    record = AuditRecord.from_bytes(produced.value)
    return any(reason.code == AWAITING_EVENT for reason in record.reasons)


def payload(message: Any) -> Share:
    return Share.from_bytes(message.value)
