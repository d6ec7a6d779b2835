"""Make the broker match an :class:`~hub.access.plan.AccessPlan`, or report how it differs.

:func:`apply` connects as the stack's ``admin`` and:

* gives every principal of the plan a SCRAM-SHA-512 credential (a new
  password in its credentials file when it has none, or is rotated), and
  revokes the credentials of users in the plan's scope that it no longer
  names (see :data:`REVOKED_ITERATIONS` for how);
* creates every ACL the plan has and the broker lacks, and deletes every ACL
  in the plan's scope that the plan does not have (a hand-made ACL is drift);
* creates the raw topics of every authority, so a connector, which may only
  write, finds its topics.

:func:`drift` reports the same differences without changing anything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from kafka.errors import KafkaError, NoError

from hub.access.plan import AccessPlan, Grant, principal_in_scope
from hub.access.store import ADMIN, CredentialStore, new_password
from wire.kafka_client import ClientSettings
from wire.topics import BROKER_TIME, EVENT_TYPES, TopicPlan

log = logging.getLogger("svdhub.access")

SCRAM_ITERATIONS = 8192
#: A revoked user's credential is replaced, not deleted: by one made from a
#: random password that is thrown away at once, with this iteration count to
#: mark it revoked. Kafka (4.3.1 and 4.4.0 alike) loses every SCRAM
#: credential when a broker restarts with credential deletions in its
#: metadata log and no metadata snapshot after them: ``ScramDelta.apply``,
#: replaying onto an empty image, drops the whole mechanism as soon as it
#: meets a deletion before any credential, and the admin is locked out with
#: everyone else. Replacing never writes a deletion; nobody can log in as a
#: revoked user, its credentials file is deleted, and if a plan names it
#: again it gets a new password.
REVOKED_ITERATIONS = SCRAM_ITERATIONS + 1


class AccessError(Exception):
    """The broker refused a change or a query; the message says which."""


@dataclass
class Drift:
    """How the broker differs from a plan."""

    missing: list[Grant] = field(default_factory=list)
    extra: list[Grant] = field(default_factory=list)
    missing_users: list[str] = field(default_factory=list)
    extra_users: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra or self.missing_users or self.extra_users)

    def lines(self) -> list[str]:
        out = [f"missing ACL: {' '.join(g.row())}" for g in self.missing]
        out += [f"ACL not in the plan: {' '.join(g.row())}" for g in self.extra]
        out += [f"no SCRAM credential: {u}" for u in self.missing_users]
        out += [f"SCRAM user not in the plan: {u}" for u in self.extra_users]
        return out


@dataclass
class Applied:
    created: list[Grant] = field(default_factory=list)
    deleted: list[Grant] = field(default_factory=list)
    new_passwords: list[str] = field(default_factory=list)
    revoked_users: list[str] = field(default_factory=list)


@contextmanager
def admin_client(admin: ClientSettings) -> Iterator[KafkaAdminClient]:
    try:
        client = KafkaAdminClient(**admin.kafka_python(), client_id="svdhub-access")
    except (KafkaError, OSError) as exc:
        raise AccessError(
            f"cannot connect to Kafka at {admin.bootstrap_servers} as {admin.principal}: {exc}"
        ) from exc
    try:
        yield client
    finally:
        client.close()


def _to_acl(grant: Grant) -> ACL:
    return ACL(
        principal=grant.principal,
        host=grant.host,
        operation=ACLOperation[grant.operation],
        permission_type=ACLPermissionType[grant.permission],
        resource_pattern=ResourcePattern(
            ResourceType[grant.resource_type],
            grant.resource_name,
            ACLResourcePatternType[grant.pattern_type],
        ),
    )


def _from_acl(acl: ACL) -> Grant:
    pattern = acl.resource_pattern
    return Grant(
        principal=acl.principal,
        resource_type=ResourceType(pattern.resource_type).name,
        pattern_type=ACLResourcePatternType(pattern.pattern_type).name,
        resource_name=pattern.resource_name,
        operation=ACLOperation(acl.operation).name,
        permission=ACLPermissionType(acl.permission_type).name,
        host=acl.host,
    )


def _exact_filter(grant: Grant) -> ACLFilter:
    acl = _to_acl(grant)
    return ACLFilter(
        principal=acl.principal,
        host=acl.host,
        operation=acl.operation,
        permission_type=acl.permission_type,
        resource_pattern=ResourcePatternFilter(
            acl.resource_pattern.resource_type,
            acl.resource_pattern.resource_name,
            acl.resource_pattern.pattern_type,
        ),
    )


def current_grants(client: KafkaAdminClient) -> list[Grant]:
    """Every ACL on the broker."""
    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    acls, error = client.describe_acls(everything)
    if error is not NoError and not isinstance(error, NoError):
        raise AccessError(f"the broker did not list its ACLs: {error}")
    return [_from_acl(acl) for acl in acls]


def scram_users(client: KafkaAdminClient) -> set[str]:
    """The users with a SCRAM-SHA-512 credential that is not revoked
    (:data:`REVOKED_ITERATIONS`)."""
    found = client.describe_user_scram_credentials()
    return {
        user
        for user, info in found.items()
        if not info.get("error")
        and any(
            (
                c.get("mechanism") in (ScramMechanism.SCRAM_SHA_512, "SCRAM-SHA-512")
                or getattr(c.get("mechanism"), "name", "") == "SCRAM_SHA_512"
            )
            and c.get("iterations") != REVOKED_ITERATIONS
            for c in info.get("credential_infos", [])
        )
    }


def _diff(plan: AccessPlan, grants: Iterable[Grant], users: set[str]) -> Drift:
    have = {g for g in grants if principal_in_scope(plan.names, g.principal)}
    want = set(plan.grants)
    scoped_users = {u for u in users if u != ADMIN and principal_in_scope(plan.names, f"User:{u}")}
    names = set(plan.principal_names())
    return Drift(
        missing=sorted(want - have),
        extra=sorted(have - want),
        missing_users=sorted(names - users),
        extra_users=sorted(scoped_users - names),
    )


def drift(plan: AccessPlan, admin: ClientSettings) -> Drift:
    with admin_client(admin) as client:
        return _diff(plan, current_grants(client), scram_users(client))


def apply(
    plan: AccessPlan,
    admin: ClientSettings,
    store: CredentialStore,
    ca_location: Path,
    rotate: Iterable[str] = (),
) -> Applied:
    """Make the broker match ``plan``; return what changed."""
    rotating = set(rotate)
    unknown = rotating - set(plan.principal_names()) - {ADMIN}
    if unknown:
        raise AccessError(f"not a principal of the plan: {', '.join(sorted(unknown))}")
    if ADMIN in rotating:
        raise AccessError(
            "the admin's password is written into the broker's storage; "
            "rotate it with `svdhub stack down --purge` and `svdhub stack up`"
        )
    done = Applied()
    with admin_client(admin) as client:
        users = scram_users(client)
        diff = _diff(plan, current_grants(client), users)
        done.new_passwords = _credentials(
            client,
            plan,
            admin=admin,
            store=store,
            ca_location=ca_location,
            users=users,
            rotating=rotating,
        )
        if diff.extra_users:
            _check_altered(
                client.alter_user_scram_credentials(
                    [
                        UserScramCredentialUpsertion(
                            user,
                            ScramMechanism.SCRAM_SHA_512,
                            new_password(),  # thrown away: nobody holds it
                            iterations=REVOKED_ITERATIONS,
                        )
                        for user in diff.extra_users
                    ]
                )
            )
            done.revoked_users = diff.extra_users
            # Its password dies with it: if a later plan names it again, it
            # gets a new one, to be handed over again.
            for user in diff.extra_users:
                store.remove(user)
        if diff.missing:
            result = client.create_acls([_to_acl(g) for g in diff.missing])
            failed = result.get("failed", [])
            if failed:
                raise AccessError(f"the broker refused {len(failed)} ACLs, first: {failed[0]}")
            done.created = diff.missing
        if diff.extra:
            for _filter, _matched, error in client.delete_acls(
                [_exact_filter(g) for g in diff.extra]
            ):
                if error is not NoError and not isinstance(error, NoError):
                    raise AccessError(f"the broker did not delete an ACL: {error}")
            done.deleted = diff.extra
    for grant in done.created:
        log.info("created ACL %s", " ".join(grant.row()))
    for grant in done.deleted:
        log.warning("deleted ACL not in the plan: %s", " ".join(grant.row()))
    return done


def _credentials(
    client: KafkaAdminClient,
    plan: AccessPlan,
    *,
    admin: ClientSettings,
    store: CredentialStore,
    ca_location: Path,
    users: set[str],
    rotating: set[str],
) -> list[str]:
    """Give each principal a SCRAM credential and a credentials file; return
    the principals whose password is new. A password goes to the broker
    before its file is written, so a refused change leaves the old file."""
    new = []
    for name in plan.principal_names():
        current = None if name in rotating else _stored(store, name)
        password = current.password if current is not None else new_password()
        settings = ClientSettings(admin.bootstrap_servers, name, password, ca_location)
        if current is None or name not in users:
            _upsert(client, name, password)
            new.append(name)
        if current != settings:
            settings.save(store.path(name))
    return new


def _stored(store: CredentialStore, name: str) -> ClientSettings | None:
    return store.load(name) if store.exists(name) else None


def _upsert(client: KafkaAdminClient, name: str, password: str) -> None:
    _check_altered(
        client.alter_user_scram_credentials(
            [
                UserScramCredentialUpsertion(
                    name, ScramMechanism.SCRAM_SHA_512, password, iterations=SCRAM_ITERATIONS
                )
            ]
        )
    )


def _check_altered(result: dict[str, object]) -> None:
    failed = {user: error for user, error in result.items() if error}
    if failed:
        raise AccessError(f"the broker refused SCRAM changes: {failed}")


def raw_topics(plan: AccessPlan, admin: ClientSettings) -> list[str]:
    """Create every authority's missing raw topics (a connector may only write
    to them) with the raw topics' configs: data kept indefinitely until the
    enforcer gives them its ``--keep-days``, and the broker's time on every
    message (:data:`wire.topics.BROKER_TIME`, which key revocation relies
    on). An existing raw topic gets the broker's time if it lacks it; its
    retention is left as it is. Return the topics created. Raises the topic
    admin's errors."""
    from hub.enforcer.topic_admin import TopicAdmin  # noqa: PLC0415

    topics = [
        plan.names.raw(p.party, kind)
        for p in plan.principals
        if p.role == "connector" and p.party
        for kind in EVENT_TYPES
    ]
    topic_admin = TopicAdmin(admin, client_id="svdhub-access", plan=TopicPlan(plan.names))
    existing = topic_admin.topics()
    changes = topic_admin.ensure(t for t in topics if t not in existing)
    topic_admin.correct((t for t in topics if t in existing), BROKER_TIME)
    return [change.topic for change in changes if change.created]
