"""``svdhub access``: who may connect to Kafka, and with which rights.

``plan`` prints the principals' ACLs as the parties and agreements give them;
``apply`` makes the broker match (SCRAM credentials, ACLs, raw topics);
``check`` exits 1 on any drift; ``credentials`` prints a principal's client
settings; ``hub-key`` the hub's public key file, which recipients verify
shares with. Exit codes: 0 done or no drift; 1 drift, or the broker refused;
2 bad usage or missing settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hub import settings
from hub.access.plan import AccessPlan, plan_from_policies
from hub.access.store import ADMIN, CredentialStore
from hub.bundle import BundleError
from hub.cli_support import Credentials
from hub.hub_key_cli import hub_key
from wire.kafka_client import ClientSettings, CredentialsError
from wire.topics import TopicNameError, TopicNames

app = typer.Typer(
    help="Kafka access: principals, SCRAM credentials and ACLs derived from the agreements.",
    no_args_is_help=True,
)
app.command("hub-key")(hub_key)

Namespace = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        help="Topic namespace (default: $SVDHUB_TOPIC_NAMESPACE; none for production).",
    ),
]


def _names(namespace: str | None) -> TopicNames:
    try:
        return TopicNames(namespace) if namespace is not None else TopicNames.from_env()
    except TopicNameError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _plan(names: TopicNames) -> AccessPlan:
    try:
        return plan_from_policies(settings.policies_dir(), names)
    except BundleError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _admin(credentials: Path | None) -> ClientSettings:
    try:
        return settings.kafka_client(ADMIN, credentials) if credentials else _stack_admin()
    except CredentialsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _stack_admin() -> ClientSettings:
    # The admin is the stack's, whatever namespace the plan is for.
    return CredentialStore(settings.state_home()).load(ADMIN)


def _ca(admin: ClientSettings) -> Path:
    return admin.ca_location


@app.command("plan")
def plan_command(
    namespace: Namespace = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
) -> None:
    """Print every principal's ACLs as the parties and agreements give them."""
    plan = _plan(_names(namespace))
    typer.echo(plan.to_json() if as_json else plan.table())


@app.command("apply")
def apply_command(
    namespace: Namespace = None,
    credentials: Credentials = None,
    rotate: Annotated[
        list[str] | None,
        typer.Option("--rotate", help="Give this principal a new password (repeatable)."),
    ] = None,
) -> None:
    """Create missing credentials, ACLs and raw topics; delete ACLs not in the plan.

    Connects as the stack's admin (or --credentials)."""
    from kafka.errors import KafkaError  # noqa: PLC0415 - kafka is slow to import

    from hub.access.broker import AccessError, apply, raw_topics  # noqa: PLC0415
    from hub.enforcer.topic_admin import TopicAdminError  # noqa: PLC0415

    names = _names(namespace)
    plan = _plan(names)
    admin = _admin(credentials)
    store = CredentialStore(settings.state_home())
    try:
        done = apply(plan, admin, store, _ca(admin), rotate or ())
        created_topics = raw_topics(plan, admin)
    except (AccessError, TopicAdminError, KafkaError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for name in done.new_passwords:
        typer.echo(f"new password: {name} ({store.path(name)})")
    for name in done.revoked_users:
        typer.echo(f"revoked SCRAM user not in the plan: {name} (its credentials file deleted)")
    for grant in done.created:
        typer.echo(f"created ACL: {' '.join(grant.row())}")
    for grant in done.deleted:
        typer.echo(f"deleted ACL not in the plan: {' '.join(grant.row())}")
    for topic in created_topics:
        typer.echo(f"created topic: {topic}")
    typer.echo(
        f"access: {len(plan.principals)} principals, {len(plan.grants)} ACLs "
        f"({len(done.created)} created, {len(done.deleted)} deleted)"
    )


@app.command("check")
def check_command(namespace: Namespace = None, credentials: Credentials = None) -> None:
    """Exit 1 when the broker's credentials or ACLs differ from the plan."""
    from hub.access.broker import AccessError, drift  # noqa: PLC0415

    plan = _plan(_names(namespace))
    try:
        found = drift(plan, _admin(credentials))
    except AccessError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for line in found.lines():
        typer.echo(line)
    if found:
        typer.echo("drift: run `svdhub access apply` to make the broker match the plan", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {len(plan.principals)} principals, {len(plan.grants)} ACLs as planned")


@app.command("credentials")
def credentials_command(
    principal: Annotated[str, typer.Argument(help="e.g. recipient-vrp, connector-wmp, enforcer.")],
    namespace: Namespace = None,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Give the principal a new password first.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not KEY=VALUE.")] = False,
) -> None:
    """Print a principal's Kafka client settings (standard property names).

    The file is kept 0600 in the state folder; `access apply` makes it."""
    names = _names(namespace)
    name = f"{names.namespace}.{principal}" if names.namespace else principal
    store = CredentialStore(settings.state_home())
    if rotate:
        from hub.access.broker import AccessError, apply  # noqa: PLC0415

        admin = _admin(None)
        try:
            apply(_plan(names), admin, store, _ca(admin), [name])
        except AccessError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    try:
        found = store.load(name)
    except CredentialsError as exc:
        typer.echo(f"error: {exc}; run `svdhub access apply` first", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(dict(_pairs(found.to_properties())), indent=2))
    else:
        typer.echo(found.to_properties(), nl=False)


def _pairs(text: str) -> list[tuple[str, str]]:
    return [(k, v) for k, _, v in (line.partition("=") for line in text.splitlines())]
