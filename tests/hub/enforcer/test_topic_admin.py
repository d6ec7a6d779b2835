"""Topic settings on the real broker: TopicAdmin creates topics with the wire
package's configs and corrects existing ones, and the enforcer gives each
shared topic the retention of its agreements in the policy bundle.

TopicAdmin runs as the enforcer's principal (``<namespace>.enforcer``), with
the rights the access plan gives it; the test sets topics up and reads their
configs as the stack's admin."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from hub.access.broker import raw_topics
from hub.access.plan import ENFORCER, plan_from_policies
from hub.bundle import build
from hub.enforcer.app import Service, Settings
from hub.enforcer.topic_admin import TopicAdmin
from hub.settings import policies_dir
from tests.fixtures.kafka import Principals
from tests.fixtures.services import PrivateOpa
from tests.hub.enforcer import helpers
from wire.geography import GeographyLookup
from wire.kafka_client import ClientSettings
from wire.topics import (
    EVENT_TYPES,
    MS_PER_DAY,
    UNCOVERED_SHARED_DAYS,
    TopicKind,
    TopicNames,
    TopicPlan,
    topic_configs,
)

WEEK_MS = str(7 * MS_PER_DAY)
FOREVER = topic_configs(TopicKind.RAW, None)
AGREEMENTS = [
    {"id": "a", "recipients": ["vrp"], "event_types": ["INCIDENT"], "retention_days": 395},
    {"id": "b", "recipients": ["vrp"], "event_types": ["INCIDENT"], "retention_days": 730},
]


@pytest.fixture
def names() -> TopicNames:
    return TopicNames(f"t-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def enforcer_kafka(
    grant_access: Callable[[TopicNames], Principals], names: TopicNames
) -> ClientSettings:
    """The enforcer's client settings in this namespace (whose raw topics, of
    the parties' authorities, the access plan has already made)."""
    return grant_access(names).settings(ENFORCER)


@pytest.fixture
def admin_client(kafka_admin: ClientSettings) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(**kafka_admin.kafka_python(), client_id="svdhub-tests")
    yield client
    client.close()


def configs_of(client: KafkaAdminClient, *topics: str) -> dict[str, dict[str, str]]:
    """Every config of each topic, as the broker describes it."""
    described = client.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in topics], config_filter="all"
    )["topic"]
    return {
        topic: {key: entry["value"] for key, entry in described[topic].items()} for topic in topics
    }


def has(configs: dict[str, str], wanted: dict[str, str]) -> bool:
    return {key: configs.get(key) for key in wanted} == wanted


def days_ms(days: int) -> str:
    return str(days * MS_PER_DAY)


def test_topics_are_created_with_the_configs_of_their_kind(
    enforcer_kafka: ClientSettings, admin_client: KafkaAdminClient, names: TopicNames
) -> None:
    plan = TopicPlan.from_agreements(names, AGREEMENTS)
    # A raw topic of an authority the access plan has not made topics for yet.
    raw, audit = names.raw("newcomer", "incident"), names.audit_decisions
    shared, uncovered = names.shared("vrp", "incident"), names.shared("vrp", "referral")
    admin = TopicAdmin(enforcer_kafka, partitions=2, plan=plan)

    changes = admin.ensure([raw, audit, shared, uncovered])

    assert {(c.topic, c.created) for c in changes} == {
        (t, True) for t in (raw, audit, shared, uncovered)
    }
    found = configs_of(admin_client, raw, audit, shared, uncovered)
    assert has(found[raw], FOREVER)
    assert found[raw]["message.timestamp.type"] == "LogAppendTime"
    assert has(found[audit], topic_configs(TopicKind.AUDIT, None))
    assert found[audit]["message.timestamp.type"] == "CreateTime"
    assert has(found[shared], {"retention.ms": days_ms(730), "retention.bytes": "-1"})
    assert has(found[shared], {"segment.ms": WEEK_MS, "cleanup.policy": "delete"})
    assert has(found[uncovered], {"retention.ms": days_ms(UNCOVERED_SHARED_DAYS)})
    assert has(found[uncovered], {"segment.ms": days_ms(UNCOVERED_SHARED_DAYS)})
    assert admin.ensure([raw, audit, shared, uncovered]) == []


def test_an_existing_topic_with_the_broker_default_retention_is_corrected(
    enforcer_kafka: ClientSettings, admin_client: KafkaAdminClient, names: TopicNames
) -> None:
    raw, shared = names.raw("newcomer", "incident"), names.shared("vrp", "incident")
    week = {"retention.ms": WEEK_MS, "max.message.bytes": "2000000"}  # and a setting of its own
    admin_client.create_topics(
        {
            topic: {"num_partitions": 1, "replication_factor": 1, "configs": week}
            for topic in (raw, shared)
        }
    )
    plan = TopicPlan.from_agreements(names, AGREEMENTS)

    changes = TopicAdmin(enforcer_kafka, plan=plan).ensure([raw, shared])

    by_topic = {change.topic: change for change in changes}
    assert set(by_topic) == {raw, shared}
    assert not any(change.created for change in changes)
    # Only what differs is altered, and the change names the old value and the new.
    assert by_topic[raw].configs == {
        "retention.ms": (WEEK_MS, "-1"),
        "message.timestamp.type": ("CreateTime", "LogAppendTime"),
    }
    assert by_topic[shared].configs == {"retention.ms": (WEEK_MS, days_ms(730))}
    assert str(by_topic[raw]) == (
        f"corrected topic {raw}: message.timestamp.type CreateTime -> LogAppendTime, "
        f"retention.ms {WEEK_MS} -> -1"
    )
    found = configs_of(admin_client, raw, shared)
    assert has(found[raw], FOREVER)
    assert has(found[shared], {"retention.ms": days_ms(730), "segment.ms": WEEK_MS})
    # The incremental alter leaves every other setting as it was.
    assert found[raw]["max.message.bytes"] == found[shared]["max.message.bytes"] == "2000000"

    # A second ensure, by a new admin that has to look, changes nothing.
    assert TopicAdmin(enforcer_kafka, plan=plan).ensure([raw, shared]) == []
    assert configs_of(admin_client, raw, shared) == found


def test_a_topic_outside_the_plan_is_created_with_broker_defaults_and_left_alone(
    kafka_admin: ClientSettings, admin_client: KafkaAdminClient, names: TopicNames
) -> None:
    """As the stack's admin (the enforcer may create only the hub's topics)."""
    other = f"{names.namespace}.not-a-hub-topic"
    admin = TopicAdmin(kafka_admin, plan=TopicPlan(names))
    assert [(c.topic, c.created, dict(c.configs)) for c in admin.ensure([other])] == [
        (other, True, {})
    ]
    admin_client.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, other, {"retention.ms": "1000"})],
        incremental=True,
    )
    assert TopicAdmin(kafka_admin, plan=TopicPlan(names)).ensure([other]) == []
    assert configs_of(admin_client, other)[other]["retention.ms"] == "1000"


def test_access_apply_gives_existing_raw_topics_the_brokers_time_and_keeps_their_retention(
    kafka_admin: ClientSettings,
    admin_client: KafkaAdminClient,
    names: TopicNames,
    grant_access: Callable[[TopicNames], Principals],
) -> None:
    """A raw topic made before raw topics took the broker's time, and given a
    retention by the enforcer's ``--keep-days``: the next ``svdhub access
    apply`` gives it the broker's time and leaves its retention alone."""
    grant_access(names)  # makes the raw topics, as `svdhub access apply` does
    raw = names.raw("wmp", "incident")
    assert configs_of(admin_client, raw)[raw]["message.timestamp.type"] == "LogAppendTime"
    old = {"message.timestamp.type": "CreateTime", "retention.ms": WEEK_MS}
    admin_client.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, raw, old)], incremental=True
    )
    helpers.wait_until(lambda: has(configs_of(admin_client, raw)[raw], old), 10, "the old settings")

    plan = plan_from_policies(policies_dir(), names)
    assert raw_topics(plan, kafka_admin) == []  # nothing created

    found = configs_of(admin_client, raw)[raw]
    assert found["message.timestamp.type"] == "LogAppendTime"
    assert found["retention.ms"] == WEEK_MS


# ---------------------------------------------------------------- the enforcer


def agreements_in(policies: Path) -> list[dict[str, Any]]:
    return [
        yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted((policies / "agreements").glob("*.yaml"))
    ]


def longest(agreements: list[dict[str, Any]], recipient: str, kind: str) -> int:
    """The longest retention of the agreements naming ``recipient`` and ``kind``,
    worked out from the YAML files."""
    return max(
        int(a["retention_days"])
        for a in agreements
        if recipient in a["recipients"] and kind.upper() in a["event_types"]
    )


def service(
    kafka: ClientSettings, opa_url: str, opa_token: str, home: Path, names: TopicNames
) -> Service:
    helpers.Keys(home)  # the registry the enforcer loads
    made = Service(
        Settings(
            kafka=kafka,
            opa_url=opa_url,
            opa_token=opa_token,
            geography=GeographyLookup.synthetic_sample(),
            home=home,
            names=names,
        )
    )
    made.wait_for_policy()
    return made


def test_the_enforcer_gives_each_shared_topic_its_agreements_retention(
    *,
    enforcer_kafka: ClientSettings,
    opa_url: str,
    opa_token: str,
    admin_client: KafkaAdminClient,
    names: TopicNames,
    tmp_path: Path,
) -> None:
    # A shared topic of a recipient the bundle no longer has, kept two years.
    gone = names.shared("csp-gone", "incident")
    two_years = {"retention.ms": days_ms(730)}
    admin_client.create_topics(
        {gone: {"num_partitions": 1, "replication_factor": 1, "configs": two_years}}
    )
    admin_client.wait_for_topics([gone])
    enforcer = service(enforcer_kafka, opa_url, opa_token, tmp_path / "home", names)

    raw_topics = enforcer.prepare_topics()

    assert names.raw("wmp", "incident") in raw_topics
    agreements = agreements_in(helpers.POLICIES)
    birmingham = names.shared("csp-birmingham", "incident")
    days = longest(agreements, "csp-birmingham", "incident")
    assert days == 730  # wmp-csps, the only agreement with Birmingham that keeps two years
    parties = yaml.safe_load((helpers.POLICIES / "parties.yaml").read_text(encoding="utf-8"))
    every = [
        names.shared(recipient, kind) for recipient in parties["recipients"] for kind in EVENT_TYPES
    ]
    found = configs_of(admin_client, *every, *raw_topics, names.audit_decisions, gone)
    assert has(found[birmingham], {"retention.ms": days_ms(days), "retention.bytes": "-1"})
    for recipient in parties["recipients"]:
        for kind in EVENT_TYPES:
            covered = [
                a
                for a in agreements
                if recipient in a["recipients"] and kind.upper() in a["event_types"]
            ]
            expected = longest(agreements, recipient, kind) if covered else UNCOVERED_SHARED_DAYS
            assert found[names.shared(recipient, kind)]["retention.ms"] == days_ms(expected)
    for topic in raw_topics:
        assert has(found[topic], FOREVER)  # with the broker's time
    assert has(found[names.audit_decisions], topic_configs(TopicKind.AUDIT, None))
    assert found[gone]["retention.ms"] == days_ms(UNCOVERED_SHARED_DAYS)

    # Prepared again (a restart): nothing to change.
    enforcer.release()  # as the process's end would
    again = Service(enforcer.settings)
    again.wait_for_policy()
    again.prepare_topics()
    assert configs_of(admin_client, *found) == found


def test_a_new_revision_brings_its_agreements_retention(
    enforcer_kafka: ClientSettings,
    private_opa: PrivateOpa,
    admin_client: KafkaAdminClient,
    names: TopicNames,
    tmp_path: Path,
) -> None:
    bundle = private_opa.bundle
    enforcer = service(enforcer_kafka, private_opa.url, private_opa.token, tmp_path / "home", names)
    enforcer.prepare_topics()
    birmingham = names.shared("csp-birmingham", "incident")
    assert configs_of(admin_client, birmingham)[birmingham]["retention.ms"] == days_ms(730)

    # An IG lead shortens wmp-csps's retention and rebuilds the bundle.
    policies = tmp_path / "policies"
    shutil.copytree(helpers.POLICIES, policies)
    path = policies / "agreements" / "wmp-csps.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("retention_days: 730", "retention_days: 500"),
        encoding="utf-8",
    )
    assert longest(agreements_in(policies), "csp-birmingham", "incident") == 500
    new = build(policies, bundle).revision

    def revision_seen() -> bool:
        record = enforcer.check_revision()
        return record is not None and record.key == new.encode()

    helpers.wait_until(revision_seen, 30, "the enforcer to see the new revision")
    assert enforcer.topics_revision == new
    found = configs_of(admin_client, birmingham)[birmingham]
    assert has(found, {"retention.ms": days_ms(500), "segment.ms": WEEK_MS})
