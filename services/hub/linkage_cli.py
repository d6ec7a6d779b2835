"""``svdhub linkage``: the partnership linkage key's fingerprint, per key version.

The hub never holds the partnership linkage key, only its fingerprint
(``wire.linkage``), which the partnership publishes and each authority's
``svdhub connector keys`` prints. The hub's operator registers it once per
key version in ``$SVDHUB_HOME/keys/linkage.yaml`` (``hub.linkage``); the
enforcer then quarantines every event whose pseudonyms were made with
another key (``hub.enforcer.linkage``). A registered fingerprint is never
changed: a new key needs a new key version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from hub.linkage import LINKAGE_FILE, LinkageRegistry, LinkageRegistryError
from hub.settings import state_home
from wire.canonical import iso

app = typer.Typer(
    help="Register the partnership linkage key's fingerprint per key version, and list them.",
    no_args_is_help=True,
)


def linkage_file() -> Path:
    """The registered fingerprints: ``$SVDHUB_HOME/keys/linkage.yaml``."""
    return state_home() / LINKAGE_FILE


def _load(path: Path) -> LinkageRegistry:
    try:
        return LinkageRegistry.load(path, missing_ok=True)
    except LinkageRegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def register(
    fingerprint: Annotated[
        str,
        typer.Argument(
            help="The fingerprint the partnership published (`svdhub connector "
            "linkage-key --fingerprint FILE` prints it where the key is)."
        ),
    ],
    version: Annotated[
        str,
        typer.Option(
            "--version",
            help="The key version, as connector configs name it (keys.linkage_key_version).",
        ),
    ],
) -> None:
    """Register the partnership linkage key's fingerprint for a key version. The same
    fingerprint again changes nothing; another one for a registered version is
    refused (a new key needs a new version)."""
    target = linkage_file()
    current = _load(target)
    try:
        updated = current.register(version, fingerprint.strip(), iso(datetime.now(UTC)))
    except LinkageRegistryError as exc:
        typer.echo(f"error: {target}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if updated is current and target.is_file():
        typer.echo(f"key version {version} is already registered with {fingerprint.strip()}")
        return
    updated.save(target)
    typer.echo(f"registered key version {version}: fingerprint {fingerprint.strip()} in {target}")


@app.command("list")
def list_() -> None:
    """Print every registered key version: version, fingerprint, when registered."""
    target = linkage_file()
    registry = _load(target)
    if not registry.keys:
        typer.echo(
            f"no linkage key registered in {target}: every event with pseudonyms is "
            "quarantined until one is (svdhub linkage register --version V FINGERPRINT)"
        )
        return
    for version, key in sorted(registry.keys.items()):
        typer.echo(f"{version}  {key.fingerprint}  registered {key.registered_at}")
