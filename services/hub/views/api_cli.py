"""``svdhub api``: serve the views, the dashboard and the audit ledger; make API tokens."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hub.bundle import BundleError, load_parties
from hub.settings import policies_dir, state_home
from hub.views.tokens import IG, TokenError, Tokens, issue

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(
    help="The views API (FastAPI, docs at /docs) and the dashboard (at /).",
    invoke_without_command=True,
)


def tokens_file() -> Path:
    return state_home() / "api" / "tokens.yaml"


@app.callback()
def serve(
    ctx: typer.Context,
    *,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    database: Annotated[
        str | None,
        typer.Option(envvar="SVDHUB_VIEWS_DATABASE", help="The views database (as `views run`)."),
    ] = None,
    audit_database: Annotated[
        str | None,
        typer.Option(
            envvar="SVDHUB_AUDIT_DATABASE",
            help="The audit ledger to serve under /api/v1/audit (as `audit run`; default: "
            "$SVDHUB_HOME/audit/ledger.sqlite, if it exists).",
        ),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            envvar="SVDHUB_AUDIT_WITNESSES",
            help="A partner witness's key (<name>+<hash>+<key>, from `audit witness-key`) "
            "whose cosignatures POST /api/v1/audit/cosignature takes; repeatable (the "
            "environment variable: space-separated).",
        ),
    ] = None,
) -> None:
    """Serve the API and the dashboard until Ctrl-C (when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn  # noqa: PLC0415 - only when serving

    from hub.audit.note import NoteError  # noqa: PLC0415
    from hub.views.api import create_app  # noqa: PLC0415
    from hub.views.cli import engine_for  # noqa: PLC0415

    try:
        tokens = Tokens.load(tokens_file())
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    ledger = ledger_engine(audit_database)
    try:
        served = create_app(engine_for(database), tokens, ledger=ledger, witnesses=witness or ())
    except NoteError as exc:
        typer.echo(f"error: --witness: {exc}", err=True)
        raise typer.Exit(2) from exc
    if ledger is None:
        typer.echo("no audit ledger: /api/v1/audit answers 404", err=True)
    typer.echo(f"dashboard: http://{host}:{port}/   API docs: http://{host}:{port}/docs", err=True)
    uvicorn.run(served, host=host, port=port, log_level="info")


def ledger_engine(url: str | None) -> Engine | None:
    """The audit ledger at ``url``; without one, the local SQLite ledger the
    `svdhub audit` commands use, if there is one (None if not: it is not made)."""
    if url is None and not (state_home() / "audit" / "ledger.sqlite").is_file():
        return None
    from hub.audit.cli import engine_for  # noqa: PLC0415 - only when serving a ledger

    return engine_for(url)


@app.command()
def tokens(
    recipient: Annotated[
        list[str] | None,
        typer.Option(
            "--recipient", help="Only this recipient (repeatable; default: all but public)."
        ),
    ] = None,
    ig_lead: Annotated[
        list[str] | None,
        typer.Option(
            "--ig-lead",
            help="Instead, a token for this party's IG lead (repeatable): it reads the audit "
            "ledger's inclusion proofs of the party's decisions, and no view.",
        ),
    ] = None,
) -> None:
    """Make a new API token for each recipient (or IG lead) and print them (shown
    only once)."""
    chosen = recipient
    if ig_lead:
        if recipient:
            typer.echo("error: give --recipient or --ig-lead, not both", err=True)
            raise typer.Exit(2)
        try:
            made = issue(tokens_file(), ig_lead, IG)
        except TokenError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        for name, token in made.items():
            typer.echo(f"{name + ' (IG lead)':<30} {token}")
        typer.echo(f"(hashes in {tokens_file()}; the tokens are not stored)", err=True)
        return
    if not chosen:
        try:
            parties = load_parties(policies_dir() / "parties.yaml")
        except BundleError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        chosen = sorted(r for r in parties["recipients"] if r != "public")
    try:
        made = issue(tokens_file(), chosen)
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for name, token in made.items():
        typer.echo(f"{name:<20} {token}")
    typer.echo(f"(hashes in {tokens_file()}; the tokens are not stored)", err=True)
