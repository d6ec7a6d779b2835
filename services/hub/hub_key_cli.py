"""``svdhub access hub-key``: the hub's public key file, for recipients.

Recipients verify every share they receive against this file (the header
format and the file format are in :mod:`wire.hub_signing`). The other hub
commands that verify (``views run``, ``audit run``, ``audit reconcile``) take
the same file with ``--hub-key``; by default they read the state folder's.

Exit codes: 0 success, 1 the key file cannot be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.hub_key import hub_keys, public_key_path
from hub.settings import state_home
from wire.hub_signing import HubKeyFileError, HubKeys

HubKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--hub-key",
        dir_okay=False,
        help="The hub's public key file to verify signatures with (default: "
        "$SVDHUB_HOME/keys/hub/signing.pub.json, made with the hub's key on first use).",
    ),
]


def keys_or_exit(given: Path | None) -> HubKeys:
    """The hub's public keys (``--hub-key``, else the state folder's); exit 1 with
    the reason if the file is not a hub key file."""
    try:
        return hub_keys(state_home(), given)
    except HubKeyFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def hub_key(
    *,
    out: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Write the file here instead.")
    ] = None,
) -> None:
    """Print the hub's public key file (JSON), which recipients use to verify shares."""
    keys = keys_or_exit(None)
    if out is None:
        typer.echo(keys.to_json(), nl=False)
        return
    out.write_text(keys.to_json(), encoding="utf-8")
    typer.echo(f"wrote {out} (from {public_key_path(state_home())})", err=True)
