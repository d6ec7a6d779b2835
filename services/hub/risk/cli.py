"""``svdhub risk``: re-identification risk of what recipients received.

``svdhub risk report`` reads every shared topic (as the stack's admin by
default, like ``svdhub audit reconcile``) and the audit topic, and measures,
per stream (recipient, agreement, record type), k over the quasi-identifiers
in a trailing window of event time: the distribution of k, the share of
records with k below 5, the records below the agreement's min_k, and what the
enforcer held back and withheld to meet it. See docs/risk.md.

Exit codes: 0 every stream meets its agreement's min_k; 1 some stream has a
record with k below its agreement's min_k, or the topics could not be read;
2 bad usage.
"""

from __future__ import annotations

from typing import Annotated

import typer
from kafka.errors import KafkaError

from hub.access.store import ADMIN
from hub.bundle import BundleError, load_agreements, load_parties
from hub.cli_support import Bootstrap, Credentials, kafka_client
from hub.hub_key_cli import HubKeyOption, keys_or_exit
from hub.risk.classes import WINDOW_DAYS
from hub.risk.report import assess, read_decisions, read_shares, to_json, to_table
from hub.settings import policies_dir
from wire.topics import TopicNameError, TopicNames

app = typer.Typer(
    help="Re-identification risk: k-anonymity of what each recipient received.",
    no_args_is_help=True,
)


FORMATS = ("table", "json")


@app.command("report")
def report_command(
    *,
    recipient: Annotated[
        str | None, typer.Option(help="Only this recipient's streams (default: every one).")
    ] = None,
    window: Annotated[
        int,
        typer.Option(
            min=1,
            help="Days of event time, back from each stream's newest record, that k is "
            "counted over.",
        ),
    ] = WINDOW_DAYS,
    form: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    credentials: Credentials = None,
    bootstrap: Bootstrap = None,
    hub_key: HubKeyOption = None,
) -> None:
    """Per stream: k over the quasi-identifiers in the window; exit 1 if a record
    has k below its agreement's min_k.

    Reads every shared topic (only shares the hub signed count) and the audit
    topic, so it connects as the stack's admin by default."""
    if form not in FORMATS:
        typer.echo(f"error: --format: {form!r} is not one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    try:
        parties = load_parties(policies_dir() / "parties.yaml")
        agreements = load_agreements(policies_dir() / "agreements", parties)
    except BundleError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if recipient is not None and recipient not in parties["recipients"]:
        known = ", ".join(sorted(parties["recipients"]))
        typer.echo(f"error: --recipient: {recipient!r} is not a recipient ({known})", err=True)
        raise typer.Exit(2)
    try:
        names = TopicNames.from_env()
    except TopicNameError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    keys = keys_or_exit(hub_key)
    kafka = kafka_client(ADMIN, credentials, bootstrap)
    try:
        shares, skipped = read_shares(kafka, names, keys)
        records = read_decisions(kafka, names, keys)
    except KafkaError as exc:
        typer.echo(f"error: cannot read the shared and audit topics: {exc}", err=True)
        raise typer.Exit(1) from exc
    min_ks = {name: agreement.get("min_k") for name, agreement in agreements.items()}
    found = assess(shares, window, min_ks, records=records, recipient=recipient)
    found.skipped = skipped
    typer.echo(to_json(found) if form == "json" else to_table(found), nl=form == "json")
    if found.failing:
        raise typer.Exit(1)
