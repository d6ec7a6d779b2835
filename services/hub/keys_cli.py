"""``svdhub keys``: the authorities' public keys the hub trusts.

Key custody: an authority makes its Ed25519 signing key in its own folder
(``svdhub connector keys``, on the authority's machine) and hands the hub only
the public key, as a one-key registry file (``<key_id>.yaml``). The hub adds
it to ``$SVDHUB_HOME/keys/registry.yaml``, the registry the enforcer verifies
every raw event against. This command never accepts a private key: a file
that holds one is refused, and nothing but public keys is ever written.

A key id is registered once: a file offering another public key under a key
id already registered is refused (a new key needs a new key id).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.settings import state_home
from wire.private_files import write_private
from wire.signing import KeyRegistry, KeyRegistryError, PublicKey

app = typer.Typer(
    help="Register the authorities' public keys with the hub, and list them.",
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
    Keys already there are kept; the same key again is a no-op."""
    target = registry_file()
    try:
        current = KeyRegistry.load(target) if target.is_file() else KeyRegistry([])
        offered = [_load(path) for path in files]
    except KeyRegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    known: dict[str, PublicKey] = {key_id: current.get(key_id) for key_id in current.key_ids()}
    added = 0
    for path, keys in zip(files, offered, strict=True):
        for key_id in keys.key_ids():
            key = keys.get(key_id)
            existing = known.get(key_id)
            if existing is None:
                known[key_id] = key
                added += 1
                typer.echo(f"registered {key_id} ({key.authority}) from {path}")
            elif existing.raw_bytes() != key.raw_bytes() or existing.authority != key.authority:
                typer.echo(
                    f"error: {path}: key {key_id} is registered with another public key "
                    "or authority; a new key needs a new key id",
                    err=True,
                )
                raise typer.Exit(1)
    if added or not target.is_file():
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
        revoked = f"  revoked {key.revoked_on}" if key.revoked_on else ""
        typer.echo(f"{key_id}  {key.authority}{revoked}")
