"""What the service commands share: where Kafka and OPA are."""

from __future__ import annotations

import typer

from hub.stack.config import service_address


def required_address(value: str | None, variable: str, option: str, what: str) -> str:
    """The address given, else $variable or .hub/stack.env; exit 2 if there is none."""
    found = value or service_address(variable)
    if not found:
        typer.echo(
            f"error: no {what} address: pass {option}, set {variable}, or run `svdhub stack up`",
            err=True,
        )
        raise typer.Exit(2)
    return found


def kafka_address(value: str | None) -> str:
    return required_address(value, "KAFKA_BOOTSTRAP_SERVERS", "--bootstrap", "Kafka")


def opa_address(value: str | None) -> str:
    return required_address(value, "OPA_URL", "--opa-url", "OPA")
