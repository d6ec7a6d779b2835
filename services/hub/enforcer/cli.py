"""``svdhub enforcer``: run the enforcer stream processor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.access.plan import ENFORCER
from hub.cli_support import Bootstrap, Credentials, kafka_client, opa_address, opa_token
from hub.settings import policies_dir, state_home
from wire.geography import GeographyError, GeographyLookup
from wire.partnership import Partnership, PartnershipError
from wire.topics import KEEP_DAYS_ENV, TopicNameError, TopicNames

app = typer.Typer(
    help="The enforcer: verify every raw event, ask OPA, share what agreements allow, audit all.",
    no_args_is_help=True,
)


@app.command()
def run(
    *,
    credentials: Credentials = None,
    bootstrap: Bootstrap = None,
    opa_url: Annotated[
        str | None, typer.Option(help="OPA's URL (default: $OPA_URL or .hub/stack.env).")
    ] = None,
    opa_token_file: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            help="File holding the enforcer's bearer token for OPA (default: $OPA_TOKEN, "
            "else .hub/opa/tokens/enforcer.token, made by `svdhub stack up`).",
        ),
    ] = None,
    group: Annotated[
        str, typer.Option(help="Consumer group (faust app id); one per enforcer deployment.")
    ] = "svdhub-enforcer",
    partitions: Annotated[int, typer.Option(min=1, help="Partitions of topics it creates.")] = 3,
    keep_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            envvar=KEEP_DAYS_ENV,
            help="Days the raw, audit, quarantine and policy-revisions topics keep data "
            "(default: indefinitely). Shared topics keep data as their agreements say.",
        ),
    ] = None,
    k_window: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="SVDHUB_K_WINDOW_DAYS",
            help="Days of event time an agreement's min_k is counted over: a record held "
            "back longer than this after the stream's newest event is withheld.",
        ),
    ] = 28,
    revision_interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between checks for a new policy revision.")
    ] = 2.0,
    max_backoff: Annotated[
        float, typer.Option(min=0.5, help="Longest wait between retries while OPA is down.")
    ] = 30.0,
    session_timeout: Annotated[
        float,
        typer.Option(
            min=6.0, help="Seconds before a dead enforcer's partitions go to another one."
        ),
    ] = 10.0,
    geography: Annotated[
        str | None,
        typer.Option(
            envvar="SVDHUB_GEOGRAPHY",
            help="The ONS LSOA21 -> MSOA21 -> LAD lookup CSV, or 'synthetic' for the demo's "
            "SYNTHETIC sample. Required: there is no default.",
        ),
    ] = None,
    partnership: Annotated[
        Path | None,
        typer.Option(
            envvar="SVDHUB_PARTNERSHIP",
            dir_okay=False,
            help="The partnership's area and districts (default: the policies folder's "
            "partnership.yaml).",
        ),
    ] = None,
    fetch_wait_ms: Annotated[
        int,
        typer.Option(
            min=1,
            max=1500,
            help="Longest wait, in ms, for a fetch that finds no new records. Short keeps "
            "latency low when few of the raw topics carry data (faust's own is 1,500).",
        ),
    ] = 50,
    linger_ms: Annotated[
        int,
        typer.Option(
            "--linger",
            metavar="MS",
            min=0,
            max=1000,
            help="How long, in ms, the producer waits to fill a batch of shares and audit "
            "messages. Longer sends fewer, larger requests to the broker (less CPU for "
            "both), and adds up to that much to each share's latency.",
        ),
    ] = 5,
    pickup_interval: Annotated[
        float,
        typer.Option(
            min=0.5,
            help="Seconds between looks for new raw topics (a new authority's), which are "
            "then consumed without a restart.",
        ),
    ] = 5.0,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="This process's state: k-anonymity changelog, waiting retractions "
            "(default: $SVDHUB_HOME/enforcer/<group>). One process at a time: give each "
            "process of a group its own.",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Consume svd.raw.*, share to svd.shared.<recipient>.<type>, audit to svd.audit.decisions.

    Runs until stopped (Ctrl-C or SIGTERM). Keys come from $SVDHUB_HOME/keys:
    registry.yaml (authorities' public keys) and recipients/ (the hub's
    per-recipient pseudonym keys, made on first use). Topic names follow
    $SVDHUB_TOPIC_NAMESPACE when it is set.
    """
    # faust is slow to import; `svdhub --help` should not wait for it.
    from hub.enforcer.app import Settings, StateInUse  # noqa: PLC0415
    from hub.enforcer.app import run as run_enforcer  # noqa: PLC0415

    # The geography first: a setting missing is said before anything connects.
    try:
        area = Partnership.load(partnership or policies_dir() / "partnership.yaml")
        lookup = GeographyLookup.load(geography, area)
    except PartnershipError as exc:
        typer.echo(f"error: --partnership: {exc}", err=True)
        raise typer.Exit(2) from exc
    except GeographyError as exc:
        typer.echo(f"error: --geography: {exc}", err=True)
        raise typer.Exit(2) from exc
    if lookup.uncovered:
        typer.echo(f"warning: {lookup.coverage_warning()}", err=True)
    kafka = kafka_client(ENFORCER, credentials, bootstrap)
    url = opa_address(opa_url)
    token = opa_token(opa_token_file)
    try:
        names = TopicNames.from_env()
    except TopicNameError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    home = state_home()
    registry = home / "keys" / "registry.yaml"
    if not registry.is_file():
        typer.echo(
            f"error: {registry} not found: register each authority's public key with "
            "`svdhub keys register FILE` (exported by `svdhub connector keys`)",
            err=True,
        )
        raise typer.Exit(1)
    settings = Settings(
        kafka=kafka,
        opa_url=url,
        opa_token=token,
        home=home,
        names=names,
        group=group,
        partitions=partitions,
        keep_days=keep_days,
        k_window_days=k_window,
        revision_interval=revision_interval,
        max_backoff=max_backoff,
        session_timeout=session_timeout,
        geography=lookup,
        fetch_wait_ms=fetch_wait_ms,
        linger_ms=linger_ms,
        pickup_interval=pickup_interval,
        state_dir=state_dir,
    )
    try:
        run_enforcer(settings, loglevel=log_level)
    except StateInUse as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
