"""The access plan: each principal has exactly the rights its role needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.access.plan import AccessPlan, Grant, plan, plan_from_policies, principal_in_scope
from wire.topics import TopicNames

POLICIES = Path(__file__).resolve().parents[3] / "policies"


@pytest.fixture(scope="module")
def production() -> AccessPlan:
    return plan_from_policies(POLICIES, TopicNames())


def rights(found: AccessPlan, name: str) -> set[tuple[str, str, str, str]]:
    return {
        (g.operation, g.resource_type, g.pattern_type, g.resource_name)
        for g in found.grants_of(name)
    }


def test_a_connector_may_only_write_and_describe_its_own_raw_topics(
    production: AccessPlan,
) -> None:
    """And describe the enforcer's groups, to see how far the hub has read its
    topics (Kafka shows a group's offsets only on topics it may describe)."""
    assert rights(production, "connector-wmp") == {
        ("WRITE", "TOPIC", "PREFIXED", "svd.raw.wmp."),
        ("DESCRIBE", "TOPIC", "PREFIXED", "svd.raw.wmp."),
        ("IDEMPOTENT_WRITE", "CLUSTER", "LITERAL", "kafka-cluster"),
        ("DESCRIBE", "GROUP", "PREFIXED", "svdhub-enforcer"),
    }


def test_a_recipient_may_only_read_its_own_shared_topics_and_groups(
    production: AccessPlan,
) -> None:
    assert rights(production, "recipient-csp-birmingham") == {
        ("READ", "TOPIC", "PREFIXED", "svd.shared.csp-birmingham."),
        ("DESCRIBE", "TOPIC", "PREFIXED", "svd.shared.csp-birmingham."),
        ("READ", "GROUP", "PREFIXED", "csp-birmingham."),
    }


def test_the_ledger_reads_only_the_audit_topic_and_the_views_only_shared_topics(
    production: AccessPlan,
) -> None:
    assert rights(production, "ledger") == {
        ("READ", "TOPIC", "LITERAL", "svd.audit.decisions"),
        ("DESCRIBE", "TOPIC", "LITERAL", "svd.audit.decisions"),
    }
    assert rights(production, "views") == {
        ("READ", "TOPIC", "PREFIXED", "svd.shared."),
        ("DESCRIBE", "TOPIC", "PREFIXED", "svd.shared."),
    }


def test_the_enforcer_reads_raw_and_its_audit_and_never_reads_shares(
    production: AccessPlan,
) -> None:
    found = rights(production, "enforcer")
    reads = {r for r in found if r[0] == "READ"}
    assert reads == {
        ("READ", "TOPIC", "PREFIXED", "svd.raw."),
        # read back at start: who published each event and who received it
        ("READ", "TOPIC", "LITERAL", "svd.audit.decisions"),
        ("READ", "GROUP", "PREFIXED", "svdhub-enforcer"),
    }
    assert ("WRITE", "TOPIC", "PREFIXED", "svd.raw.") not in found
    for topic in ("svd.audit.decisions", "svd.quarantine", "svd.policy.revisions"):
        assert ("WRITE", "TOPIC", "LITERAL", topic) in found
    assert ("WRITE", "TOPIC", "PREFIXED", "svd.shared.") in found


def test_every_party_gets_a_principal_and_no_one_gets_all_or_wildcards(
    production: AccessPlan,
) -> None:
    names = set(production.principal_names())
    assert {"enforcer", "ledger", "views", "connector-wmp", "recipient-vrp"} <= names
    assert "admin" not in names  # a super user in the broker's settings, not by ACL
    for grant in production.grants:
        assert grant.operation not in {"ALL", "ALTER", "DELETE", "CLUSTER_ACTION"}
        assert grant.resource_name not in {"*", ""}
        assert grant.permission == "ALLOW"
        assert grant.host == "*"


def test_a_recipient_without_an_agreement_gets_no_principal() -> None:
    parties = {
        "authorities": {"wmp": {"name": "Police"}},
        "recipients": {"vrp": {"name": "VRP"}, "csp-x": {"name": "X"}},
    }
    found = plan(TopicNames(), parties, [{"recipients": ["vrp"]}])
    assert "recipient-vrp" in found.principal_names()
    assert "recipient-csp-x" not in found.principal_names()


def test_a_namespace_prefixes_principals_topics_and_groups() -> None:
    names = TopicNames("t-abc")
    found = plan_from_policies(POLICIES, names)
    assert all(p.name.startswith("t-abc.") for p in found.principals)
    for grant in found.grants:
        assert grant.principal.startswith("User:t-abc.")
        if grant.resource_type != "CLUSTER":
            assert grant.resource_name.startswith("t-abc.")


@pytest.mark.parametrize(
    ("namespace", "user", "managed"),
    [
        ("", "User:enforcer", True),
        ("", "User:*", True),  # a wildcard grant made by hand is drift
        ("", "User:t-abc.enforcer", False),
        ("t-abc", "User:t-abc.enforcer", True),
        ("t-abc", "User:enforcer", False),
        ("t-abc", "User:t-abcd.enforcer", False),
    ],
)
def test_a_plan_manages_only_its_own_namespace(namespace: str, user: str, managed: bool) -> None:
    assert principal_in_scope(TopicNames(namespace), user) is managed


def test_the_table_and_json_list_every_grant(production: AccessPlan) -> None:
    table = production.table().splitlines()
    assert table[0].split()[:3] == ["PRINCIPAL", "PERMISSION", "OPERATION"]
    assert len(table) == len(production.grants) + 1
    assert isinstance(production.grants[0], Grant)
    assert '"acls"' in production.to_json()
