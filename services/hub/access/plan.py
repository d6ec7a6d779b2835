"""Who may do what on the broker: the principals and ACLs, derived from the policies.

Nothing here is written by hand per principal. The parties file and the
agreements give the parties; each party's role gives its rights:

* ``connector-<authority>``: WRITE and DESCRIBE on topics prefixed
  ``svd.raw.<authority>.``, IDEMPOTENT_WRITE on the cluster, and DESCRIBE on
  the enforcer's consumer groups (to say whether the hub reads its topic);
* ``enforcer``: READ raw topics; WRITE shared topics and the audit,
  quarantine and policy-revisions topics; CREATE, DESCRIBE_CONFIGS and
  ALTER_CONFIGS on all of those (it creates the hub's topics and gives them
  the retention the agreements set); READ on its consumer groups, prefixed
  ``svdhub-enforcer``;
* ``ledger``: READ and DESCRIBE on the audit topic;
* ``views``: READ and DESCRIBE on shared topics;
* ``recipient-<id>``: READ and DESCRIBE on topics prefixed
  ``svd.shared.<id>.``, and READ on consumer groups prefixed ``<id>.``;
* ``admin``: super user of the broker (``super.users``), so no ACLs.

Every authority in the parties file gets a connector principal (the hub
decides what it may share; an authority without an agreement is audited and
denied). Every recipient named by at least one agreement gets a recipient
principal. The ledger and the views read without a consumer group (their
offsets live in SQL, in the same transaction as their rows), so they need
no group rights.

Under a topic namespace (tests), each principal is ``<namespace>.<name>``
and every topic and group name starts with ``<namespace>.``, so namespaces
never share a right.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wire.topics import (
    AUDIT_DECISIONS,
    ENFORCER_GROUP,
    POLICY_REVISIONS,
    QUARANTINE,
    TopicNames,
)

ENFORCER = "enforcer"
LEDGER = "ledger"
VIEWS = "views"
CONNECTOR_PREFIX = "connector-"
RECIPIENT_PREFIX = "recipient-"

#: The one cluster resource's name.
CLUSTER = "kafka-cluster"

_TOPIC_ADMIN = ("CREATE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS")


@dataclass(frozen=True, order=True)
class Grant:
    """One ACL binding: ``principal`` may do ``operation`` on the resource."""

    principal: str  # User:<name>
    resource_type: str  # TOPIC, GROUP or CLUSTER
    pattern_type: str  # LITERAL or PREFIXED
    resource_name: str
    operation: str
    permission: str = "ALLOW"
    host: str = "*"

    def row(self) -> tuple[str, ...]:
        return (
            self.principal,
            self.permission,
            self.operation,
            self.resource_type,
            self.pattern_type,
            self.resource_name,
            self.host,
        )


@dataclass(frozen=True)
class Principal:
    name: str  # the SCRAM user name
    role: str  # connector, enforcer, ledger, views, recipient
    party: str | None = None

    @property
    def user(self) -> str:
        return f"User:{self.name}"


@dataclass(frozen=True)
class AccessPlan:
    names: TopicNames
    principals: tuple[Principal, ...]
    grants: tuple[Grant, ...]

    def principal_names(self) -> list[str]:
        return [p.name for p in self.principals]

    def in_scope(self, user: str) -> bool:
        """Whether this plan manages ACLs of ``user`` (``User:<name>``): under a
        namespace, every user named ``<namespace>.*``; without one, every
        user that is not a namespaced principal."""
        return principal_in_scope(self.names, user)

    def grants_of(self, name: str) -> list[Grant]:
        user = f"User:{name}"
        return [g for g in self.grants if g.principal == user]

    def to_json(self) -> str:
        return json.dumps(
            {
                "namespace": self.names.namespace,
                "principals": [asdict(p) for p in self.principals],
                "acls": [asdict(g) for g in self.grants],
            },
            indent=2,
        )

    def table(self) -> str:
        header = ("PRINCIPAL", "PERMISSION", "OPERATION", "RESOURCE", "PATTERN", "NAME", "HOST")
        rows = [header, *(g.row() for g in self.grants)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )


def principal_name(names: TopicNames, base: str) -> str:
    return f"{names.namespace}.{base}" if names.namespace else base


def principal_in_scope(names: TopicNames, user: str) -> bool:
    name = user.removeprefix("User:")
    head, dot, _ = name.partition(".")
    if names.namespace:
        return user.startswith("User:") and dot == "." and head == names.namespace
    return not (user.startswith("User:") and dot)


def plan(
    names: TopicNames,
    parties: Mapping[str, Any],
    agreements: Iterable[Mapping[str, Any]],
) -> AccessPlan:
    """The principals and their ACLs under these parties and agreements."""
    p = names.prefix
    agreed = {r for a in agreements for r in a["recipients"]}
    authorities = sorted(parties["authorities"])
    recipients = sorted(r for r in parties["recipients"] if r in agreed)
    principals: list[Principal] = []
    grants: list[Grant] = []

    def add(base: str, role: str, party: str | None = None) -> str:
        principal = Principal(principal_name(names, base), role, party)
        principals.append(principal)
        return principal.user

    def allow(user: str, resource: str, pattern: str, name: str, *operations: str) -> None:
        grants.extend(Grant(user, resource, pattern, name, op) for op in operations)

    for authority in authorities:
        user = add(CONNECTOR_PREFIX + authority, "connector", authority)
        allow(user, "TOPIC", "PREFIXED", f"{p}svd.raw.{authority}.", "WRITE", "DESCRIBE")
        allow(user, "CLUSTER", "LITERAL", CLUSTER, "IDEMPOTENT_WRITE")
        # Whether the hub reads its topic: the enforcer groups' committed
        # offsets, which Kafka gives only for topics the principal may describe.
        allow(user, "GROUP", "PREFIXED", p + ENFORCER_GROUP, "DESCRIBE")

    enforcer = add(ENFORCER, "enforcer")
    allow(enforcer, "TOPIC", "PREFIXED", f"{p}svd.raw.", "READ", "DESCRIBE", *_TOPIC_ADMIN)
    allow(enforcer, "TOPIC", "PREFIXED", f"{p}svd.shared.", "WRITE", "DESCRIBE", *_TOPIC_ADMIN)
    for internal in (AUDIT_DECISIONS, QUARANTINE, POLICY_REVISIONS):
        allow(enforcer, "TOPIC", "LITERAL", p + internal, "WRITE", "DESCRIBE", *_TOPIC_ADMIN)
    # It reads back its own audit at start: what it routed, to whom (hub.enforcer.index).
    allow(enforcer, "TOPIC", "LITERAL", p + AUDIT_DECISIONS, "READ")
    allow(enforcer, "GROUP", "PREFIXED", p + ENFORCER_GROUP, "READ")

    ledger = add(LEDGER, "ledger")
    allow(ledger, "TOPIC", "LITERAL", p + AUDIT_DECISIONS, "READ", "DESCRIBE")

    views = add(VIEWS, "views")
    allow(views, "TOPIC", "PREFIXED", f"{p}svd.shared.", "READ", "DESCRIBE")

    for recipient in recipients:
        user = add(RECIPIENT_PREFIX + recipient, "recipient", recipient)
        allow(user, "TOPIC", "PREFIXED", f"{p}svd.shared.{recipient}.", "READ", "DESCRIBE")
        allow(user, "GROUP", "PREFIXED", f"{p}{recipient}.", "READ")

    return AccessPlan(names, tuple(principals), tuple(sorted(set(grants))))


def plan_from_policies(policies: Path, names: TopicNames) -> AccessPlan:
    """The plan of a policies folder (parties.yaml and agreements/*.yaml).
    Raises :class:`hub.bundle.BundleError` naming a bad file."""
    from hub.share_schemas import load  # noqa: PLC0415 - loads Avro schemas; only when planning

    agreements, parties = load(policies)
    return plan(names, parties, agreements.values())
