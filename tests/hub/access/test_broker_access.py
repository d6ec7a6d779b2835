"""The broker enforces the access plan: each principal does only what its role
needs, and nobody without credentials does anything (real Kafka, SASL_SSL)."""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import ssl
import struct
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
)
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
)
from kafka.structs import OffsetAndMetadata

from edge.publisher import Publisher
from hub.access.broker import REVOKED_ITERATIONS, apply, drift
from hub.access.plan import plan_from_policies
from hub.enforcer.topic_admin import TopicAdmin
from hub.settings import policies_dir
from tests.fixtures.kafka import Principals, message_count
from tests.hub.enforcer.helpers import wait_until
from wire.kafka_client import ClientSettings
from wire.topics import ENFORCER_GROUP, TopicNames

REFUSED = (TopicAuthorizationFailedError, GroupAuthorizationFailedError, KafkaTimeoutError)


@pytest.fixture(autouse=True)
def quiet_kafka() -> Iterator[None]:
    logger = logging.getLogger("kafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@pytest.fixture(scope="module")
def space(
    grant_access: Callable[[TopicNames], Principals], kafka_admin: ClientSettings
) -> Principals:
    names = TopicNames(f"t-{uuid.uuid4().hex[:10]}")
    principals = grant_access(names)
    topics = [
        names.shared("csp-birmingham", "incident"),
        names.shared("csp-coventry", "incident"),
        names.audit_decisions,
    ]
    TopicAdmin(kafka_admin).ensure(topics)
    producer = KafkaProducer(**kafka_admin.kafka_python(), acks="all")
    for topic in [*topics, names.raw("wmp", "incident")]:
        producer.send(topic, key=b"k", value=b"a message").get(timeout=30)
    producer.close()
    return principals


def read(settings: ClientSettings, topic: str, **extra: Any) -> int:
    """How many messages ``settings`` can read from ``topic`` (each test topic
    holds one). A topic the principal may not describe is not in its metadata,
    so the client reads nothing; a refused fetch raises."""
    consumer = KafkaConsumer(
        **settings.kafka_python(),
        enable_auto_commit=False,
        request_timeout_ms=8000,
        **extra,
    )
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(3)])
        consumer.seek_to_beginning()
        found = 0
        for _ in range(5):
            for batch in consumer.poll(timeout_ms=1000).values():
                found += len(batch)
            if found:
                break
        return found
    finally:
        consumer.close()


def listed(settings: ClientSettings) -> set[str]:
    """The topics ``settings`` sees in the broker's metadata."""
    consumer = KafkaConsumer(**settings.kafka_python(), request_timeout_ms=8000)
    try:
        return set(consumer.topics())
    finally:
        consumer.close()


def readable(settings: ClientSettings, topic: str) -> bool:
    """Whether ``settings`` gets any message of ``topic`` (each holds some)."""
    try:
        return read(settings, topic) > 0
    except REFUSED:
        return False


def produce(settings: ClientSettings, topic: str) -> None:
    producer = KafkaProducer(**settings.kafka_python(), acks="all", max_block_ms=8000)
    try:
        producer.send(topic, key=b"k", value=b"forged").get(timeout=10)
    finally:
        producer.close(timeout=5)


def refused_to_produce(settings: ClientSettings, topic: str, admin: ClientSettings) -> bool:
    """Whether the broker refuses ``settings`` a write to ``topic`` (and the
    topic has not grown)."""
    before = message_count(admin, [topic])
    try:
        produce(settings, topic)
    except KafkaError:
        return message_count(admin, [topic]) == before
    return False


def metadata_without_sasl(kafka: ClientSettings) -> bytes:
    """Send a Metadata request (all topics) over TLS without authenticating
    first, as an outsider's client would; return whatever the broker answers."""
    host, _, port = kafka.bootstrap_servers.split(",")[0].rpartition(":")
    client_id = b"outsider"
    body = (
        struct.pack(">hhi", 3, 1, 7)  # Metadata v1, correlation id 7
        + struct.pack(">h", len(client_id))
        + client_id
        + struct.pack(">i", -1)  # every topic
    )
    context = ssl.create_default_context(cafile=str(kafka.ca_location))
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(struct.pack(">i", len(body)) + body)
        answer = b""
        try:
            while chunk := tls.recv(65536):
                answer += chunk
        except (TimeoutError, ssl.SSLError, ConnectionError):
            pass
        return answer


@contextmanager
def failed_clients() -> Iterator[None]:
    """kafka-python leaves the sockets of a client that failed to bootstrap to
    the garbage collector; collect them here, where the warning is expected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


def test_no_credentials_no_connection(kafka_admin: ClientSettings) -> None:
    # The broker closes a connection that asks for anything before SASL.
    assert metadata_without_sasl(kafka_admin) == b""
    # TLS without SASL, and SASL with a wrong password: no client gets in.
    with failed_clients():
        refused_clients(kafka_admin)


def refused_clients(kafka_admin: ClientSettings) -> None:
    tls_only = {
        "bootstrap_servers": kafka_admin.bootstrap_servers,
        "security_protocol": "SSL",
        "ssl_cafile": str(kafka_admin.ca_location),
        "bootstrap_timeout_ms": 5000,
    }
    with pytest.raises(KafkaError):
        KafkaAdminClient(**tls_only).list_topics()
    wrong = ClientSettings(
        kafka_admin.bootstrap_servers, "admin", "not-the-password", kafka_admin.ca_location
    )
    with pytest.raises(KafkaError):
        KafkaAdminClient(**wrong.kafka_python(), bootstrap_timeout_ms=5000).list_topics()
    # A client that does not know the hub's CA refuses the broker.
    with pytest.raises(KafkaError):
        KafkaAdminClient(
            **{**kafka_admin.kafka_python(), "ssl_cafile": None}, bootstrap_timeout_ms=5000
        ).list_topics()


def test_a_recipient_reads_its_own_stream_and_nothing_else(
    space: Principals, kafka_admin: ClientSettings
) -> None:
    names = space.names
    me = space.settings("recipient-csp-birmingham")
    assert read(me, names.shared("csp-birmingham", "incident")) == 1
    assert {t for t in listed(me) if t.startswith(names.prefix)} == {
        names.shared("csp-birmingham", "incident")
    }
    for topic in (
        names.raw("wmp", "incident"),
        names.shared("csp-coventry", "incident"),
        names.audit_decisions,
    ):
        assert not readable(me, topic)
    for topic in (
        names.shared("csp-birmingham", "incident"),
        names.shared("csp-coventry", "incident"),
        names.raw("wmp", "incident"),
        names.audit_decisions,
    ):
        assert refused_to_produce(me, topic, kafka_admin), topic


def test_a_recipient_may_use_only_groups_named_after_it(space: Principals) -> None:
    names = space.names
    me = space.settings("recipient-csp-birmingham")
    topic = names.shared("csp-birmingham", "incident")
    own = KafkaConsumer(
        topic,
        **me.kafka_python(),
        group_id=f"{names.prefix}csp-birmingham.analysts",
        auto_offset_reset="earliest",
        consumer_timeout_ms=8000,
    )
    assert len(list(own)) == 1
    own.close()
    other = KafkaConsumer(
        topic,
        **me.kafka_python(),
        group_id=f"{names.prefix}csp-coventry.analysts",
        auto_offset_reset="earliest",
        request_timeout_ms=8000,
    )
    with pytest.raises(GroupAuthorizationFailedError):
        for _ in range(5):
            other.poll(timeout_ms=1000)
    other.close()


def test_a_connector_writes_only_its_own_raw_topics_and_reads_nothing(
    space: Principals, kafka_admin: ClientSettings
) -> None:
    names = space.names
    me = space.settings("connector-wmp")
    produce(me, names.raw("wmp", "incident"))
    for topic in (
        names.raw("uhb-ed", "incident"),
        names.shared("vrp", "incident"),
        names.audit_decisions,
    ):
        assert refused_to_produce(me, topic, kafka_admin), topic
    assert not readable(me, names.raw("wmp", "incident"))


def commit(admin: ClientSettings, group: str, offsets: dict[str, int]) -> None:
    """Commit ``offsets`` (topic -> offset on partition 0) for ``group``, as its
    consumer would."""
    consumer = KafkaConsumer(**admin.kafka_python(), group_id=group, enable_auto_commit=False)
    try:
        consumer.commit(
            {TopicPartition(t, 0): OffsetAndMetadata(o, "", -1) for t, o in offsets.items()}
        )
    finally:
        consumer.close(autocommit=False)


def test_a_connector_sees_how_far_the_hub_read_its_own_topic_and_nothing_more(
    space: Principals, kafka_admin: ClientSettings
) -> None:
    """`connector run` says whether the hub reads the authority's topic, from
    the enforcer group's committed offsets. A connector may describe the
    enforcer's groups and no other, sees their offsets on its own topics
    only, and cannot move them."""
    names = space.names
    enforcer = names.prefix + ENFORCER_GROUP
    analysts = f"{names.prefix}csp-birmingham.analysts"
    own, theirs = names.raw("wmp", "incident"), names.raw("uhb-ed", "incident")
    me = space.settings("connector-wmp")
    publisher = Publisher(me, own, "svdhub-connector-wmp")
    try:
        assert publisher.readers(enforcer) == {}  # no enforcer has read it yet
        commit(kafka_admin, enforcer, {own: 1, theirs: 5})
        commit(kafka_admin, analysts, {own: 1})
        assert publisher.readers(enforcer) == {enforcer: 1}
    finally:
        publisher.close()
    admin = KafkaAdminClient(**me.kafka_python(), request_timeout_ms=8000)
    try:
        groups = {str(group["group_id"]) for group in admin.list_groups()}
        assert enforcer in groups and analysts not in groups
        found = admin.list_group_offsets({enforcer: None})[enforcer]
        assert {tp.topic for tp in found} == {own}  # not uhb-ed's
        with pytest.raises(GroupAuthorizationFailedError):
            admin.list_group_offsets({analysts: None})
        rewind = {TopicPartition(own, 0): OffsetAndMetadata(0, "", -1)}
        try:
            refused = set(admin.alter_group_offsets(enforcer, rewind).values())
        except GroupAuthorizationFailedError:
            refused = {GroupAuthorizationFailedError}
        assert refused == {GroupAuthorizationFailedError}
    finally:
        admin.close()
    publisher = Publisher(me, own, "svdhub-connector-wmp")
    try:
        assert publisher.readers(enforcer) == {enforcer: 1}  # not rewound
    finally:
        publisher.close()


def test_the_ledger_and_the_views_read_only_their_topics(
    space: Principals, kafka_admin: ClientSettings
) -> None:
    names = space.names
    ledger = space.settings("ledger")
    views = space.settings("views")
    assert read(ledger, names.audit_decisions) == 1
    assert read(views, names.shared("csp-coventry", "incident")) == 1
    assert not readable(ledger, names.raw("wmp", "incident"))
    assert not readable(views, names.audit_decisions)
    for principal in (ledger, views):
        assert refused_to_produce(principal, names.shared("vrp", "incident"), kafka_admin)


def test_admin_operations_need_the_admin(space: Principals) -> None:
    names = space.names
    for base in ("recipient-vrp", "connector-wmp", "views"):
        client = KafkaAdminClient(**space.settings(base).kafka_python(), request_timeout_ms=8000)
        try:
            with pytest.raises(KafkaError):
                client.delete_topics([names.raw("wmp", "incident")], timeout_ms=5000)
            with pytest.raises(KafkaError):
                client.delete_records(
                    {TopicPartition(names.raw("wmp", "incident"), 0): -1}, timeout_ms=5000
                )
            result = client.create_acls(
                [
                    ACL(
                        principal="User:*",
                        host="*",
                        operation=ACLOperation.ALL,
                        permission_type=ACLPermissionType.ALLOW,
                        resource_pattern=ResourcePattern(
                            ResourceType.TOPIC, "*", ACLResourcePatternType.LITERAL
                        ),
                    )
                ]
            )
            assert not result["succeeded"], base
        finally:
            client.close()


def test_a_hand_made_acl_is_drift_and_apply_removes_it(
    space: Principals, kafka_admin: ClientSettings
) -> None:
    names = space.names
    plan = plan_from_policies(policies_dir(), names)
    assert not drift(plan, kafka_admin)
    extra = ACL(
        principal=f"User:{space.name('recipient-csp-coventry')}",
        host="*",
        operation=ACLOperation.READ,
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(
            ResourceType.TOPIC, names.raw("wmp", "incident"), ACLResourcePatternType.LITERAL
        ),
    )
    admin = KafkaAdminClient(**kafka_admin.kafka_python())
    try:
        assert admin.create_acls([extra])["succeeded"]
    finally:
        admin.close()
    found = drift(plan, kafka_admin)
    assert [g.resource_name for g in found.extra] == [names.raw("wmp", "incident")]
    assert not found.missing
    done = apply(plan, kafka_admin, space.store, kafka_admin.ca_location)
    assert [g.resource_name for g in done.deleted] == [names.raw("wmp", "incident")]
    assert not drift(plan, kafka_admin)
    assert not readable(space.settings("recipient-csp-coventry"), names.raw("wmp", "incident"))


def test_rotating_a_password_locks_out_the_old_one(
    space: Principals, kafka_admin: ClientSettings
) -> None:
    names = space.names
    plan = plan_from_policies(policies_dir(), names)
    old = space.settings("recipient-vrp")
    done = apply(plan, kafka_admin, space.store, kafka_admin.ca_location, [old.username])
    assert done.new_passwords == [old.username]
    new = space.settings("recipient-vrp")
    assert new.password != old.password
    topic = names.shared("vrp", "incident")
    TopicAdmin(kafka_admin).ensure([topic])
    assert read(new, topic) == 0
    with failed_clients(), pytest.raises(KafkaError):
        KafkaAdminClient(**old.kafka_python(), bootstrap_timeout_ms=5000).list_topics()


def test_the_access_commands_report_and_repair_drift(
    space: Principals, kafka_admin: ClientSettings, kafka_state: Path
) -> None:
    names = space.names
    admin_file = kafka_state / "access" / "admin.properties"
    env = {**os.environ, "SVDHUB_HOME": str(kafka_state)}

    def access(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", "access", *args, "--namespace", names.namespace],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert access("check", "--credentials", str(admin_file)).returncode == 0
    client = KafkaAdminClient(**kafka_admin.kafka_python())
    try:
        client.create_acls(
            [
                ACL(
                    principal=f"User:{space.name('connector-wmp')}",
                    host="*",
                    operation=ACLOperation.READ,
                    permission_type=ACLPermissionType.ALLOW,
                    resource_pattern=ResourcePattern(
                        ResourceType.TOPIC, names.prefix + "svd.", ACLResourcePatternType.PREFIXED
                    ),
                )
            ]
        )
    finally:
        client.close()
    drifted = access("check", "--credentials", str(admin_file))
    assert drifted.returncode == 1
    assert f"ACL not in the plan: User:{space.name('connector-wmp')} ALLOW READ" in drifted.stdout
    repaired = access("apply", "--credentials", str(admin_file))
    assert repaired.returncode == 0, repaired.stderr
    assert "deleted ACL not in the plan" in repaired.stdout
    assert access("check", "--credentials", str(admin_file)).returncode == 0
    plan = access("plan", "--json")
    assert plan.returncode == 0
    assert json.loads(plan.stdout)["namespace"] == names.namespace


def test_a_principal_the_plan_drops_is_locked_out_and_named_again_comes_back(
    grant_access: Callable[[TopicNames], Principals], kafka_admin: ClientSettings
) -> None:
    names = TopicNames(f"t-{uuid.uuid4().hex[:10]}")
    space = grant_access(names)
    plan = plan_from_policies(policies_dir(), names)
    dropped = space.name("recipient-csp-coventry")
    old = space.settings("recipient-csp-coventry")
    smaller = replace(
        plan,
        principals=tuple(p for p in plan.principals if p.name != dropped),
        grants=tuple(g for g in plan.grants if g.principal != f"User:{dropped}"),
    )
    done = apply(smaller, kafka_admin, space.store, kafka_admin.ca_location)
    assert done.revoked_users == [dropped]
    # Revoked, so no longer a user of the scope (the broker's metadata follows
    # the controller's within moments).
    wait_until(lambda: not drift(smaller, kafka_admin), 20, "the broker to show the revocation")
    # Revoked by a credential nobody holds, not deleted: Kafka loses every SCRAM
    # credential on a restart that replays a deletion (test_lifecycle restarts one).
    client = KafkaAdminClient(**kafka_admin.kafka_python())
    try:
        [info] = client.describe_user_scram_credentials([dropped])[dropped]["credential_infos"]
    finally:
        client.close()
    assert info["iterations"] == REVOKED_ITERATIONS
    with failed_clients(), pytest.raises(KafkaError):
        KafkaAdminClient(**old.kafka_python(), bootstrap_timeout_ms=5000).list_topics()

    assert not space.store.exists(dropped)  # its password died with it

    again = apply(plan, kafka_admin, space.store, kafka_admin.ca_location)
    assert again.new_passwords == [dropped]
    wait_until(lambda: not drift(plan, kafka_admin), 20, "the broker to show the new credential")
    back = space.settings("recipient-csp-coventry")
    assert back.password != old.password
    client = KafkaAdminClient(**back.kafka_python())
    try:
        client.list_topics()
    finally:
        client.close()
    with failed_clients(), pytest.raises(KafkaError):  # whoever kept the old file
        KafkaAdminClient(**old.kafka_python(), bootstrap_timeout_ms=5000).list_topics()
