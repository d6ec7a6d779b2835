"""``svdhub keys``: the authorities' public keys the hub trusts.

Key custody: an authority makes its Ed25519 signing key in its own folder
(``svdhub connector keys``, on the authority's machine) and hands the hub only
the public key, as a one-key registry file (``<key_id>.yaml``). The hub adds
it to ``$SVDHUB_HOME/keys/registry.yaml``, the registry the enforcer verifies
every raw event against. This command never accepts a private key: a file
that holds one is refused, and nothing but public keys is ever written.

A key id is registered once: a file offering another public key under a key
id already registered is refused (a new key needs a new key id).

Revocation (``svdhub keys revoke``, or a public key file the authority
exported with ``svdhub connector keys revoke``) gives a key a time from which
it verifies nothing. It is never undone: registering a file that carries a
revocation applies it, the same key without one keeps it, and of two
revocation times the earlier wins. The enforcer picks the change up within
seconds, without a restart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from hub.settings import state_home
from wire.private_files import write_private
from wire.signing import (
    KeyRegistry,
    KeyRegistryError,
    PublicKey,
    UnknownKey,
    format_time,
    parse_revocation_time,
)

app = typer.Typer(
    help="Register, list and revoke the authorities' public keys the hub trusts.",
    no_args_is_help=True,
)


def registry_file() -> Path:
    """The hub's public key registry: ``$SVDHUB_HOME/keys/registry.yaml``."""
    return state_home() / "keys" / "registry.yaml"


def _load(path: Path) -> KeyRegistry:
    try:
        if b"PRIVATE KEY" in path.read_bytes():
            raise KeyRegistryError(
                f"{path}: holds a private key; the hub takes public keys only "
                "(`svdhub connector keys` exports them to <authority home>/public/)"
            )
        return KeyRegistry.load(path)
    except OSError as exc:
        raise KeyRegistryError(f"{path}: cannot read: {exc}") from exc


@app.command()
def register(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Public key files an authority exported (<key_id>.yaml).",
            exists=True,
            dir_okay=False,
        ),
    ],
) -> None:
    """Add public keys to the hub's registry ($SVDHUB_HOME/keys/registry.yaml).
    Keys already there are kept; the same key again is a no-op, except that a
    revocation the file carries is applied (the earliest revocation wins, and
    none is ever undone)."""
    target = registry_file()
    try:
        current = KeyRegistry.load(target) if target.is_file() else KeyRegistry([])
        offered = [_load(path) for path in files]
    except KeyRegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    known: dict[str, PublicKey] = {key_id: current.get(key_id) for key_id in current.key_ids()}
    added = revoked = 0
    for path, keys in zip(files, offered, strict=True):
        for key_id in keys.key_ids():
            key = keys.get(key_id)
            existing = known.get(key_id)
            if existing is None:
                known[key_id] = key
                added += 1
                revoked_now = f", {key.revocation()}" if key.revoked_at else ""
                typer.echo(f"registered {key_id} ({key.authority}{revoked_now}) from {path}")
            elif existing.raw_bytes() != key.raw_bytes() or existing.authority != key.authority:
                typer.echo(
                    f"error: {path}: key {key_id} is registered with another public key "
                    "or authority; a new key needs a new key id",
                    err=True,
                )
                raise typer.Exit(1)
            elif (merged := existing.merge(key)) != existing:
                known[key_id] = merged
                revoked += 1
                typer.echo(f"{key_id} ({key.authority}): {merged.revocation()}, from {path}")
            elif existing.revoked_at is not None and key.revoked_at != existing.revoked_at:
                typer.echo(f"{key_id} ({key.authority}): kept {existing.revocation()}")
    if added or revoked or not target.is_file():
        write_private(target, KeyRegistry(known.values()).to_yaml())
    typer.echo(f"registry: {target} ({len(known)} keys, {added} added)")


@app.command("list")
def list_() -> None:
    """Print every registered key: key id, authority, and revocation if any."""
    target = registry_file()
    try:
        registry = KeyRegistry.load(target)
    except KeyRegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for key_id in registry.key_ids():
        key = registry.get(key_id)
        revoked = f"  {key.revocation()}" if key.revoked_at else ""
        typer.echo(f"{key_id}  {key.authority}{revoked}")


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id to revoke (see `svdhub keys list`).")],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="From when (ISO 8601 with a time zone, e.g. 2026-03-01T09:30:00Z): events "
            "the hub receives from then on are refused. Default: now. Give the time a "
            "leak may have begun.",
        ),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, for the registry and the audit.")
    ] = None,
) -> None:
    """Revoke a registered key: from --at (default now) on, events signed with
    it are quarantined (code revoked_key). The enforcer applies it within
    seconds, without a restart. A revocation is never undone, and a key
    already revoked keeps the earlier time."""
    try:
        moment = parse_revocation_time(at) if at is not None else datetime.now(UTC)
    except ValueError as exc:
        typer.echo(f"error: --at: {exc}", err=True)
        raise typer.Exit(2) from exc
    target = registry_file()
    try:
        registry = KeyRegistry.load(target)
        key = registry.get(key_id)
    except (KeyRegistryError, UnknownKey) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    changed = key.revoke(moment, reason)
    if key.revoked_at is not None and changed.revoked_at == key.revoked_at:
        typer.echo(
            f"{key_id} ({key.authority}) was already {key.revocation()}; kept the earlier "
            f"time (asked: {format_time(moment)})"
        )
    if changed == key:
        return
    keys = [changed if k == key_id else registry.get(k) for k in registry.key_ids()]
    write_private(target, KeyRegistry(keys).to_yaml())
    if changed.revoked_at != key.revoked_at:
        was = f" (was {format_time(key.revoked_at)})" if key.revoked_at else ""
        typer.echo(f"{key_id} ({key.authority}): {changed.revocation()}{was}, in {target}")
        typer.echo(
            "the enforcer refuses events signed with it that reach the hub from then on, "
            "within seconds and without a restart"
        )
