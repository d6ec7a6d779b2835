"""The enforcer as a faust-streaming app: ``svdhub enforcer run``.

One agent consumes every raw topic (``svd.raw.<authority>.<event_type>``)
and, for each message, runs :class:`~hub.enforcer.core.Enforcer` around the
:class:`~hub.enforcer.decisions.Decider`, then produces the shares, audit
records and quarantine entries that come out, each signed with the hub's key
(``hub.hub_key``: ``$SVDHUB_HOME/keys/hub/signing.pem``, made on first use).

Delivery is at-least-once, and faust's ``exactly_once`` is not used: faust
acknowledges a message once the agent has moved past it, and before it commits
an offset it flushes the producer, so every message produced for an event is
on the broker before that event's offset is committed. After a crash, events
after the last commit are processed again and produce the same bytes under
the same deterministic ids, which every sink ignores the second time.

Failing closed: when OPA cannot answer, the agent stops on that event and
retries with exponential backoff (0.5 s doubling to ``--max-backoff``),
logging each failure. No later event is processed, nothing is shared and no
offset moves past the event until OPA answers. An unexpected error in the
enforcer's own code ends the process at once, without committing, so the
event is processed again after a restart instead of being lost.

Key revocation: the enforcer looks at the key registry file
(``$SVDHUB_HOME/keys/registry.yaml``) at most once a second while messages
arrive, and reloads it when it changed, so a key revoked with ``svdhub keys
revoke`` is refused within about a second, without a restart. Whether a key
was revoked for an event is judged at the raw message's broker timestamp
(raw topics are ``LogAppendTime``), never at a time the event claims.

Topics: at start the enforcer creates the raw and shared topics of every
authority and recipient in the policy bundle's parties, and its own topics
(``svd.audit.decisions``, ``svd.quarantine``, ``svd.policy.revisions``); it
then subscribes to every raw topic on the broker. It looks for new raw topics
every ``--pickup-interval`` seconds (5 by default) and consumes each from its
first message without a restart (:meth:`App.consume_more`): a new
authority's topics, which ``svdhub access apply`` or the enforcer itself
create once the authority is in the policy bundle. Every hub topic
gets the retention of :class:`~wire.topics.TopicPlan`: raw and hub-internal
topics ``--keep-days`` (indefinitely by default), each shared topic the
longest ``retention_days`` of its agreements in the bundle. It is applied at
start and again whenever a new policy revision is in force, to existing
topics too.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import faust
from kafka.errors import KafkaError

from hub.enforcer.anonymise import Anonymiser, RecipientKeys
from hub.enforcer.core import Checked, Enforcer, Incoming, Outgoing
from hub.enforcer.decisions import Decider, Decision
from hub.enforcer.index import EventIndex, rebuild
from hub.enforcer.kanonymity import Changelog, KAnonymity
from hub.enforcer.linkage import LinkageCheck
from hub.enforcer.policy import PolicyClient, PolicyUnavailable
from hub.enforcer.topic_admin import TopicAdmin, TopicAdminError
from hub.enforcer.transport import FETCH_WAIT_MS, App
from hub.hub_key import hub_keys, hub_signer
from hub.linkage import LINKAGE_FILE
from hub.risk.classes import WINDOW_DAYS
from hub.runtime import settle_heap
from wire import schemas
from wire.canonical import canonical_json, iso
from wire.codec import AvroCodec
from wire.envelope import EventReader
from wire.geography import GeographyLookup
from wire.kafka_client import SASL_MECHANISM, ClientSettings
from wire.private_files import private_dir
from wire.signing import KeyRegistry, Verifier
from wire.topics import EVENT_TYPES, TopicConfigError, TopicNames, TopicPlan

log = logging.getLogger("svdhub.enforcer")

#: Exit code when the enforcer's own code fails on an event (nothing committed).
EXIT_INTERNAL_ERROR = 70


@dataclass(frozen=True)
class Settings:
    """Where the enforcer connects and keeps its state."""

    kafka: ClientSettings
    opa_url: str
    home: Path  # SVDHUB_HOME
    names: TopicNames
    opa_token: str = field(repr=False)  # the enforcer's bearer token for OPA
    geography: GeographyLookup = field(repr=False)  # the partnership's (no default)
    group: str = "svdhub-enforcer"
    partitions: int = 3
    revision_interval: float = 2.0
    max_backoff: float = 30.0
    session_timeout: float = 10.0
    keep_days: int | None = None  # of raw and hub-internal topics; None: indefinitely
    k_window_days: int = WINDOW_DAYS  # the trailing window agreements' min_k is counted in
    fetch_wait_ms: int = FETCH_WAIT_MS  # the longest a fetch with no records waits
    state_dir: Path | None = None  # this process's own state; None: home/enforcer/<group>
    linger_ms: int = 5  # how long the producer waits to fill a batch (`--linger`)
    pickup_interval: float = 5.0  # seconds between looks for new raw topics

    @property
    def registry(self) -> Path:
        return self.home / "keys" / "registry.yaml"

    @property
    def linkage(self) -> Path:
        """The partnership linkage keys' registered fingerprints (hub.linkage)."""
        return self.home / LINKAGE_FILE

    @property
    def recipient_keys(self) -> Path:
        return self.home / "keys" / "recipients"

    @property
    def datadir(self) -> Path:
        """This process's state (k-anonymity changelog, waiting retractions):
        one process at a time, held by :func:`lock_state`."""
        return self.state_dir or self.home / "enforcer" / self.group

    @property
    def k_changelog(self) -> Path:
        """The k-anonymity state's changelog (hub.enforcer.kanonymity)."""
        return self.datadir / "k-anonymity.jsonl"


class StateInUse(RuntimeError):
    """Another enforcer process holds this state folder."""


def lock_state(folder: Path) -> int:
    """Hold ``folder`` (made 0700) for this process, or raise StateInUse. The lock
    (``flock`` on ``folder/.lock``) goes when the process ends, however it ends.
    Returns the lock's file descriptor, to keep open."""
    private_dir(folder)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateInUse(
            f"another enforcer process uses {folder}; give each process of a group "
            "its own --state-dir (its k-anonymity changelog and waiting retractions)"
        ) from None
    return fd


class Service:
    """Everything the faust app needs, built once per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.names = settings.names
        self.lock = lock_state(settings.datadir)
        codec = AvroCodec(schemas.current(), schemas.released().values())
        reader = EventReader(codec, Verifier(KeyRegistry.load(settings.registry)))
        anonymiser = Anonymiser(settings.geography, RecipientKeys(settings.recipient_keys))
        private_dir(settings.datadir)
        self.index = EventIndex(settings.datadir / "waiting-retractions.json")
        self.kanonymity = KAnonymity(Changelog(settings.k_changelog), settings.k_window_days)
        self.enforcer = Enforcer(
            reader,
            anonymiser,
            self.names,
            registry_path=settings.registry,
            signer=hub_signer(settings.home),
            index=self.index,
            linkage=LinkageCheck(settings.linkage),
            kanonymity=self.kanonymity,
            batch_audit=True,  # one signed message for the decisions of each raw message
        )
        self.policy = PolicyClient(settings.opa_url, settings.opa_token)
        self.decider = Decider(self.policy)
        # A retraction that waited for its event is decided when the event comes.
        self.enforcer.decide = self.decider.decide
        self.admin = TopicAdmin(
            settings.kafka,
            settings.partitions,
            "svdhub-enforcer",
            TopicPlan(self.names, settings.keep_days),
        )
        self.topics_revision: str | None = None  # whose topic settings are applied
        self.outage_since: float | None = None

    def release(self) -> None:
        """Let go of the state folder (which the process's end does anyway)."""
        if self.lock >= 0:
            os.close(self.lock)
            self.lock = -1

    # ----------------------------------------------------------- start-up

    def wait_for_policy(self) -> None:
        """Block until OPA answers with a bundle revision (fail closed: never start without)."""
        delay = 0.5
        while True:
            try:
                self.decider.check_revision()
            except PolicyUnavailable as exc:
                log.error("no policy from OPA; waiting %.1f s before retrying: %s", delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, self.settings.max_backoff)
            else:
                log.info("policy revision %s", self.decider.revision)
                return

    def rebuild_index(self) -> None:
        """Read back every audit record so far: which authority published each
        event, and who received it (see ``hub.enforcer.index``)."""
        started = time.monotonic()
        keys = hub_keys(self.settings.home)
        used = rebuild(self.index, self.settings.kafka, self.names.audit_decisions, keys)
        waiting = self.index.settle()
        log.info(
            "read %d audit records: %d events known, %d retractions waiting (%.1f s); "
            "%d records held back for k-anonymity (%s)",
            used,
            len(self.index),
            waiting,
            time.monotonic() - started,
            sum(1 for _ in self.kanonymity.held()),
            self.settings.k_changelog,
        )

    def prepare_topics(self) -> list[str]:
        """Create the topics of every party in the bundle, give every hub topic the
        settings of the bundle in force; return the raw topics to consume."""
        self.ensure_topics()
        return sorted(t for t in self.admin.topics() if self.names.is_raw(t))

    def ensure_topics(self) -> None:
        """Plan every topic's configs under the bundle in force (shared topics
        keep data as long as their agreements say) and apply the plan to the
        topics of every party and to every hub topic already on the broker.

        Raises PolicyUnavailable (nothing changed), or TopicAdminError or
        KafkaError (the next call tries again)."""
        revision = self.decider.revision
        parties = self.decider.parties()
        agreements = self.decider.agreements()
        try:
            plan = TopicPlan.from_agreements(
                self.names, agreements.values(), self.settings.keep_days
            )
        except TopicConfigError as exc:
            raise PolicyUnavailable(f"data.svd.agreements: {exc}") from exc
        self.admin.plan = plan
        existing = [t for t in self.admin.topics() if self.names.kind(t) is not None]
        self.admin.ensure(self.party_topics(parties) + existing)
        self.topics_revision = revision

    def party_topics(self, parties: dict[str, Any]) -> list[str]:
        names = self.names
        wanted = [names.audit_decisions, names.quarantine, names.policy_revisions]
        for authority in parties.get("authorities", {}):
            wanted += [names.raw(authority, kind) for kind in EVENT_TYPES]
        for recipient in parties.get("recipients", {}):
            wanted += [names.shared(recipient, kind) for kind in EVENT_TYPES]
        return wanted

    # ----------------------------------------------------------- per event

    async def handle(self, message: Incoming) -> list[Outgoing]:
        """The messages to produce for one raw message; waits out an OPA outage."""
        checked = self.enforcer.check(message)
        if not isinstance(checked, Checked):
            return self.enforcer.seal(checked)
        decisions = await self.decide(checked.input)
        return self.enforcer.seal(self.enforcer.route(checked, decisions))

    async def decide(self, input_data: dict[str, Any]) -> tuple[Decision, ...]:
        found = self.decider.cached(input_data)
        if found is not None:
            return found
        delay = 0.5
        while True:
            try:
                decisions = await asyncio.to_thread(self.decider.fetch, input_data)
            except PolicyUnavailable as exc:
                if self.outage_since is None:
                    self.outage_since = time.monotonic()
                log.error(
                    "fail closed: OPA gave no decision, so nothing is consumed or shared; "
                    "retrying in %.1f s: %s",
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.max_backoff)
                continue
            if self.outage_since is not None:
                log.warning(
                    "OPA answers again after %.1f s; consuming resumes",
                    time.monotonic() - self.outage_since,
                )
                self.outage_since = None
            return decisions

    # ----------------------------------------------------------- timers

    def check_revision(self) -> Outgoing | None:
        """The policy-revisions record if OPA now serves a new revision; the
        topics get that revision's settings (see :meth:`ensure_topics`)."""
        try:
            revision = self.decider.check_revision()
        except PolicyUnavailable as exc:
            log.warning("cannot check the policy revision: %s", exc)
            return None
        if revision is not None:
            log.info("policy revision %s is in force; decision cache cleared", revision)
        if self.decider.revision != self.topics_revision:
            # New shared topics, and retention as the new agreements say;
            # retried on every check until it succeeds.
            try:
                self.ensure_topics()
            except PolicyUnavailable as exc:
                log.warning("cannot read the parties and agreements in force: %s", exc)
            except (TopicAdminError, KafkaError) as exc:
                log.error("cannot give the topics the settings of the policy in force: %s", exc)
        if revision is None:
            return None
        record = {"revision": revision, "seen_at": iso_now(), "by": self.settings.group}
        return self.enforcer.signed(
            self.names.policy_revisions, revision.encode(), canonical_json(record)
        )

    def report(self) -> str:
        tally = self.enforcer.tally
        looked_up = self.decider.hits + self.decider.misses
        rate = self.decider.hits / looked_up if looked_up else 0.0
        return (
            f"events {sum(tally.events.values())}, shares {sum(tally.shares.values())}, "
            f"denials {sum(tally.denials.values())}, "
            f"quarantined {sum(tally.quarantined.values())}; "
            f"decision cache hit rate {rate:.1%}; revision {self.decider.revision}"
        )


def iso_now() -> str:
    return iso(datetime.now(UTC))


#: Kafka's timestamp type of a message stamped by the broker as it appended it.
LOG_APPEND_TIME = 1


def broker_time(timestamp: float | None, timestamp_type: int | None) -> float | None:
    """A raw message's timestamp (epoch seconds) if the broker gave it
    (``LogAppendTime``), else None. A producer's own time (``CreateTime``,
    a message written before its topic took the broker's time) is never
    trusted: whoever holds a revoked key could backdate it."""
    return timestamp if timestamp_type == LOG_APPEND_TIME else None


def build_app(service: Service, raw_topics: list[str]) -> faust.App:
    """The faust app: one agent over ``raw_topics``, and the revision and report timers."""
    settings = service.settings
    private_dir(settings.datadir)
    app = App(
        settings.group,
        fetch_wait_ms=settings.fetch_wait_ms,
        broker=f"kafka://{settings.kafka.bootstrap_servers}",
        broker_credentials=faust.SASLCredentials(
            username=settings.kafka.username,
            password=settings.kafka.password,
            ssl_context=settings.kafka.ssl_context(),
            mechanism=SASL_MECHANISM,
        ),
        autodiscover=False,
        datadir=str(settings.datadir),
        processing_guarantee="at_least_once",
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Messages of a few events go out in one produce request; faust flushes
        # the producer before every commit, so this delays, never loses.
        producer_linger=settings.linger_ms / 1000,
        key_serializer="raw",
        value_serializer="raw",
        broker_client_id=settings.group,
        # A killed enforcer's partitions move to its replacement after this long.
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=max(1.0, settings.session_timeout / 4),
    )
    source = app.topic(*raw_topics, key_serializer="raw", value_serializer="raw")
    known: set[str] = set()

    def delivered(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            return
        # A message the broker did not take: stop before any offset is
        # committed past it, so the event is processed again after a restart.
        log.critical("a message was not delivered (%s); stopping", future.exception())
        logging.shutdown()
        os._exit(EXIT_INTERNAL_ERROR)

    async def produce(messages: list[Outgoing]) -> None:
        # The producer directly rather than faust's channels: a third of the
        # cost per message. faust flushes this producer before every commit.
        for out in messages:
            if out.topic not in known:
                await asyncio.to_thread(service.admin.ensure, [out.topic])
                known.add(out.topic)
            future = await app.producer.send(
                out.topic, out.key, out.value, None, None, list(out.headers)
            )
            cast("asyncio.Future[Any]", future).add_done_callback(delivered)

    async def enforce(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            incoming = Incoming(
                message.topic,
                message.partition,
                message.offset,
                message.key,
                message.value,
                broker_time(message.timestamp, message.timestamp_type),
            )
            try:
                outgoing = await service.handle(incoming)
                await produce(outgoing)
            except Exception:
                # A bug, not bad input: stop without committing, so that the
                # event is processed again after a restart instead of lost.
                log.critical(
                    "internal error on %s[%d]@%d; stopping without committing",
                    message.topic,
                    message.partition,
                    message.offset,
                    exc_info=True,
                )
                logging.shutdown()
                os._exit(EXIT_INTERNAL_ERROR)

    async def revision() -> None:
        record = await asyncio.to_thread(service.check_revision)
        if record is not None:
            await produce([record])

    async def report() -> None:
        log.info(service.report())

    async def pickup() -> None:
        known = await asyncio.to_thread(service.admin.topics)
        appeared = sorted(t for t in known if service.names.is_raw(t) and t not in source.topics)
        if not appeared:
            return
        await asyncio.to_thread(service.admin.ensure, appeared)  # the raw topics' settings
        for topic in app.consume_more(source, appeared):
            log.info("raw topic %s appeared; consuming it from its first message", topic)

    app.agent(source, name="enforce")(enforce)
    app.timer(settings.revision_interval)(revision)
    app.timer(30.0)(report)
    app.timer(settings.pickup_interval)(pickup)
    return app


def run(settings: Settings, loglevel: str = "info") -> None:
    """Start the enforcer and run until stopped (SIGINT/SIGTERM). Does not return."""
    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)  # the admin client's chatter
    service = Service(settings)
    service.wait_for_policy()
    raw_topics = service.prepare_topics()
    service.rebuild_index()
    if not raw_topics:
        raise RuntimeError("no raw topics to consume")
    log.info("consuming %d raw topics: %s", len(raw_topics), ", ".join(raw_topics))
    app = build_app(service, raw_topics)
    settle_heap()
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
