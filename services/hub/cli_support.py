"""What the service commands share: Kafka's and OPA's addresses and OPA's
token, or exit 2.

The addresses come from :mod:`hub.settings`; this module only turns a
missing one into a usage error that names the option as well.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from hub import settings
from wire.kafka_client import CREDENTIALS_ENV, ClientSettings, CredentialsError

Credentials = Annotated[
    Path | None,
    typer.Option(
        "--credentials",
        dir_okay=False,
        help="Kafka client settings (KEY=VALUE) of the principal to connect as "
        f"(default: ${CREDENTIALS_ENV}, else the principal's file in .hub/access/).",
    ),
]

Bootstrap = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        help="Kafka bootstrap servers, replacing the credentials file's bootstrap.servers.",
    ),
]

BatchWait = Annotated[
    float | None,
    typer.Option(
        "--batch-wait",
        min=0,
        max=10_000,
        help="Milliseconds the broker holds each fetch for more messages, so that "
        "messages coming one at a time share a fetch and a transaction (0: answer at "
        "the first message; default: the service's own).",
    ),
]


def _required(find: Callable[[str | None], str], value: str | None, option: str) -> str:
    try:
        return find(value)
    except settings.AddressMissing as exc:
        typer.echo(
            f"error: no {exc.what} address: pass {option}, set {exc.variable}, "
            "or run `svdhub stack up`",
            err=True,
        )
        raise typer.Exit(2) from exc


def kafka_client(
    principal: str, credentials: Path | None, bootstrap: str | None = None
) -> ClientSettings:
    """The Kafka client settings of ``principal`` (see
    :func:`hub.settings.kafka_client`); exit 2, saying how to give them, if none."""
    try:
        return settings.kafka_client(principal, credentials, bootstrap)
    except CredentialsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def opa_address(value: str | None) -> str:
    """``--opa-url``, else $OPA_URL or stack.env; exit 2 if none."""
    return _required(settings.opa_address, value, "--opa-url")


def opa_token(token_file: Path | None) -> str:
    """``--opa-token-file``, else $OPA_TOKEN, else the stack's enforcer token; exit 2 if none."""
    try:
        return settings.opa_token(token_file)
    except settings.SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
