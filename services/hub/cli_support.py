"""What the service commands share: Kafka's and OPA's addresses and OPA's
token, or exit 2.

The addresses come from :mod:`hub.settings`; this module only turns a
missing one into a usage error that names the option as well.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from hub import settings


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


def kafka_address(value: str | None) -> str:
    """``--bootstrap``, else $KAFKA_BOOTSTRAP_SERVERS or stack.env; exit 2 if none."""
    return _required(settings.kafka_address, value, "--bootstrap")


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
