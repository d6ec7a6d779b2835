"""``svdhub api``: serve the views, the dashboard and the audit ledger; issue, list and
revoke API tokens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hub.bundle import BundleError, load_parties
from hub.settings import policies_dir, state_home
from hub.views.security import MIB, SecurityConfig
from hub.views.tokens import (
    ANALYST,
    DEFAULT_DAYS,
    IG,
    TokenEntry,
    TokenError,
    Tokens,
    issue_tokens,
    listing,
    now_utc,
    revoke,
    timestamp,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(
    help="The views API (FastAPI, docs at /docs) and the dashboard (at /).",
    invoke_without_command=True,
)


def tokens_file() -> Path:
    return state_home() / "api" / "tokens.yaml"


def access_log_file() -> Path:
    return state_home() / "api" / "access.log"


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
    rate: Annotated[
        float,
        typer.Option(
            envvar="SVDHUB_API_RATE",
            min=0.01,
            help="Requests a second per token (and per client address without one).",
        ),
    ] = SecurityConfig.rate,
    burst: Annotated[
        int,
        typer.Option(envvar="SVDHUB_API_BURST", min=1, help="Requests a token may make at once."),
    ] = SecurityConfig.burst,
    auth_failures: Annotated[
        int,
        typer.Option(
            envvar="SVDHUB_API_AUTH_FAILURES",
            min=1,
            help="Requests with a token that is not valid, per client address per minute; "
            "then its requests with a token get 429.",
        ),
    ] = SecurityConfig.auth_failures,
    max_query_bytes: Annotated[
        int,
        typer.Option(
            envvar="SVDHUB_API_MAX_QUERY_BYTES", min=64, help="The longest query string (414)."
        ),
    ] = SecurityConfig.max_query_bytes,
    max_dimensions: Annotated[
        int,
        typer.Option(
            envvar="SVDHUB_API_MAX_DIMENSIONS",
            min=1,
            help="The most dimensions a view's by= may combine, each once (400).",
        ),
    ] = SecurityConfig.max_dimensions,
    max_rows: Annotated[
        int,
        typer.Option(envvar="SVDHUB_API_MAX_ROWS", min=1, help="The most rows a view returns."),
    ] = SecurityConfig.max_rows,
    max_response_mib: Annotated[
        float,
        typer.Option(
            envvar="SVDHUB_API_MAX_RESPONSE_MIB",
            min=0.001,
            help="The largest response body, in MiB (413).",
        ),
    ] = SecurityConfig.max_response_bytes / MIB,
    access_log: Annotated[
        Path | None,
        typer.Option(
            envvar="SVDHUB_API_ACCESS_LOG",
            help="The access log, JSON Lines, 0600 (default: $SVDHUB_HOME/api/access.log).",
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
        served = create_app(
            engine_for(database),
            tokens,
            ledger=ledger,
            witnesses=witness or (),
            security_config=SecurityConfig(
                rate=rate,
                burst=burst,
                auth_failures=auth_failures,
                max_query_bytes=max_query_bytes,
                max_dimensions=max_dimensions,
                max_rows=max_rows,
                max_response_bytes=round(max_response_mib * MIB),
                access_log=access_log or access_log_file(),
            ),
        )
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


tokens_app = typer.Typer(
    help="Issue, list and revoke API tokens (with no subcommand: issue, as `tokens issue`).",
    invoke_without_command=True,
)
app.add_typer(tokens_app, name="tokens")

RecipientOption = Annotated[
    list[str] | None,
    typer.Option(
        "--recipient",
        help="An analyst's token for this recipient (repeatable; default: every recipient "
        "in policies/parties.yaml but public).",
    ),
]
IgLeadOption = Annotated[
    list[str] | None,
    typer.Option(
        "--ig-lead",
        help="Instead, a token for this party's IG lead (repeatable; any discloser or "
        "recipient): it reads the audit ledger's inclusion proofs of the party's decisions, "
        "and no view.",
    ),
]
DaysOption = Annotated[int, typer.Option("--days", min=1, help="How many days the tokens last.")]
AddOption = Annotated[
    bool,
    typer.Option(
        "--add",
        help="Keep the party's earlier tokens valid (several analysts of one recipient); "
        "by default a new token revokes the party's earlier ones in the same role.",
    ),
]


@tokens_app.callback()
def tokens(
    ctx: typer.Context,
    recipient: RecipientOption = None,
    ig_lead: IgLeadOption = None,
    days: DaysOption = DEFAULT_DAYS,
    add: AddOption = False,
) -> None:
    """Make a new API token for each recipient (or IG lead) and print them (shown
    only once); list them; revoke them."""
    if ctx.invoked_subcommand is not None:
        if recipient or ig_lead:
            typer.echo(
                f"error: --recipient and --ig-lead go after `tokens {ctx.invoked_subcommand}`",
                err=True,
            )
            raise typer.Exit(2)
        return
    _issue(recipient, ig_lead, days=days, add=add)


@tokens_app.command("issue")
def issue_command(
    recipient: RecipientOption = None,
    ig_lead: IgLeadOption = None,
    days: DaysOption = DEFAULT_DAYS,
    add: AddOption = False,
) -> None:
    """Make a new API token for each recipient (or IG lead) and print them (shown
    only once; only their hashes are kept)."""
    _issue(recipient, ig_lead, days=days, add=add)


def _parties() -> dict[str, dict[str, object]]:
    try:
        parties = load_parties(policies_dir() / "parties.yaml")
    except BundleError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    return parties


def _issue(recipient: list[str] | None, ig_lead: list[str] | None, *, days: int, add: bool) -> None:
    if recipient and ig_lead:
        typer.echo("error: give --recipient or --ig-lead, not both", err=True)
        raise typer.Exit(2)
    parties = _parties()
    recipients = set(parties["recipients"])
    if ig_lead:
        role, chosen, known = IG, ig_lead, recipients | set(parties["authorities"])
    else:
        role, known = ANALYST, recipients
        chosen = recipient or sorted(r for r in recipients if r != "public")
    unknown = [party for party in chosen if party not in known]
    if unknown:
        what = "party (discloser or recipient)" if role == IG else "recipient"
        typer.echo(
            f"error: no {what} {', '.join(map(repr, unknown))} in "
            f"{policies_dir() / 'parties.yaml'}; tokens are issued only to parties that exist "
            f"(choose from {', '.join(sorted(known))})",
            err=True,
        )
        raise typer.Exit(2)
    try:
        made = issue_tokens(
            tokens_file(), chosen, role, days=days, known=known, replace_existing=not add
        )
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for issued in made:
        name = issued.entry.party + (" (IG lead)" if role == IG else "")
        typer.echo(f"{name:<{30 if role == IG else 20}} {issued.token}")
    for issued in made:
        typer.echo(
            f"{issued.entry.party}: token id {issued.entry.id}, expires "
            f"{timestamp(issued.entry.expires or issued.entry.issued)}",
            err=True,
        )
    typer.echo(f"(hashes in {tokens_file()}; the tokens are not stored)", err=True)


def _state(entry: TokenEntry) -> str:
    return "active" if entry.status(now_utc()) == "ok" else entry.status(now_utc())


@tokens_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """Every token issued: id, party, role, issued, expires, revoked and whether it
    is active (never the token or its hash)."""
    try:
        entries = listing(tokens_file())
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        for entry in entries:
            shown = {k: v for k, v in entry.to_dict().items() if k != "sha256"}
            typer.echo(json.dumps({**shown, "status": _state(entry)}))
        return
    typer.echo(
        f"{'ID':<12}  {'PARTY':<20} {'ROLE':<8} {'ISSUED':<20}  {'EXPIRES':<20}  "
        f"{'REVOKED':<20}  STATUS"
    )
    for entry in entries:
        typer.echo(
            f"{entry.id:<12}  {entry.party:<20} {entry.role:<8} {timestamp(entry.issued):<20}  "
            f"{'-' if entry.expires is None else timestamp(entry.expires):<20}  "
            f"{'-' if entry.revoked is None else timestamp(entry.revoked):<20}  {_state(entry)}"
        )


@tokens_app.command("revoke")
def revoke_command(
    token_id: Annotated[
        str | None, typer.Argument(metavar="[TOKEN-ID]", help="The token's id (`tokens list`).")
    ] = None,
    party: Annotated[
        str | None, typer.Option("--party", help="Instead, every token of this party.")
    ] = None,
    role: Annotated[
        str | None,
        typer.Option("--role", help="With --party: only its analyst or ig tokens."),
    ] = None,
) -> None:
    """Revoke a token (or every token of a party) at once: the API re-reads the
    tokens file when it changes, so no restart is needed."""
    if (token_id is None) == (party is None):
        typer.echo("error: give a TOKEN-ID or --party, not both", err=True)
        raise typer.Exit(2)
    if role is not None and role not in (ANALYST, IG):
        typer.echo(f"error: --role must be {ANALYST} or {IG}", err=True)
        raise typer.Exit(2)
    try:
        revoked = revoke(tokens_file(), token_id=token_id, party=party, role=role)
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for entry in revoked:
        typer.echo(f"revoked {entry.id} ({entry.party}, {entry.role})")
