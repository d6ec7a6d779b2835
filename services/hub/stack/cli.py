"""``svdhub stack``: install, start, inspect and stop the local stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.stack import COMPONENTS, ConfigError, Stack, StackConfig, StackError
from hub.stack.browser import install_chromium
from hub.stack.opa import ROLES, Opa

app = typer.Typer(
    help="Run the local stack: Apache Kafka (KRaft), OPA and PostgreSQL on loopback.",
    no_args_is_help=True,
)

EXIT_FAILED = 1
EXIT_DOWN = 3

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Stack settings (default: deploy/local/stack.toml, or $SVDHUB_STACK_CONFIG).",
        exists=True,
        dir_okay=False,
    ),
]
StateOption = Annotated[
    Path | None,
    typer.Option("--state-dir", help="State folder (default: .hub/, or $SVDHUB_HOME)."),
]
OnlyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        help=f"Act on these components only ({', '.join(COMPONENTS)}).",
        show_default=False,
    ),
]


def _stack(config: Path | None, state_dir: Path | None, only: list[str] | None) -> Stack:
    try:
        settings = StackConfig.load(config_file=config, state_dir=state_dir)
        return Stack(settings, only=only or COMPONENTS, say=lambda msg: typer.echo(msg, err=True))
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from exc


def _fail(exc: StackError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(EXIT_FAILED)


@app.command()
def install(
    config: ConfigOption = None, state_dir: StateOption = None, only: OnlyOption = None
) -> None:
    """Fetch the Kafka jars (Maven), build OPA (go install), install PostgreSQL and
    Chromium (apt; Chromium only when installing everything)."""
    stack = _stack(config, state_dir, only)
    try:
        stack.install()
        if not only:
            browser = install_chromium()  # for the dashboard's browser test
            typer.echo(f"chromium: {browser}")
    except StackError as exc:
        raise _fail(exc) from exc
    typer.echo(f"installed in {stack.config.tools_dir}")


@app.command()
def up(config: ConfigOption = None, state_dir: StateOption = None, only: OnlyOption = None) -> None:
    """Start whatever is not running, wait until each service answers, write stack.env.

    Running it again when everything is up changes nothing."""
    stack = _stack(config, state_dir, only)
    try:
        outcomes = stack.up()
    except StackError as exc:
        raise _fail(exc) from exc
    for outcome in outcomes:
        timing = f" (ready after {outcome.seconds:.1f} s)" if outcome.action == "started" else ""
        typer.echo(f"{outcome.name:<9} {outcome.action}{timing}")
    if stack.config.env_file.is_file():
        typer.echo(f"\nwrote {stack.config.env_file}:")
    for key, value in stack.env().items():
        typer.echo(f"  {key}={value}")


@app.command()
def status(
    config: ConfigOption = None, state_dir: StateOption = None, only: OnlyOption = None
) -> None:
    """Show each component as up or down, with its version and address.

    Exits 0 when everything is up and 3 when anything is down."""
    stack = _stack(config, state_dir, only)
    try:
        rows = stack.status()
    except StackError as exc:
        raise _fail(exc) from exc
    for row in rows:
        state = "up" if row.up else "down"
        detail = f"  ({row.detail})" if row.detail else ""
        typer.echo(f"{row.name:<9} {state:<5} {row.version:<10} {row.address}{detail}")
    if not all(row.up for row in rows):
        raise typer.Exit(EXIT_DOWN)


@app.command()
def down(
    config: ConfigOption = None,
    state_dir: StateOption = None,
    only: OnlyOption = None,
    *,
    purge: Annotated[
        bool,
        typer.Option(
            "--purge",
            help="Then delete the state folder (data, logs, keys, ledger, views) and "
            "PostgreSQL's data wherever it lives.",
        ),
    ] = False,
) -> None:
    """Stop the processes this stack started (found through its pid files)."""
    if purge and only:
        typer.echo("error: --purge acts on the whole stack; leave out --only", err=True)
        raise typer.Exit(2)
    stack = _stack(config, state_dir, only)
    try:
        stopped = stack.down()
        if purge:
            stack.purge()
    except StackError as exc:
        raise _fail(exc) from exc
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    if purge:
        typer.echo(f"deleted {stack.config.state_dir}")


@app.command("kafka-files")
def kafka_files(config: ConfigOption = None, state_dir: StateOption = None) -> None:
    """Write docker compose's Kafka settings (SASL_SSL, SCRAM, ACL authorizer), key
    store and CA to <state>/compose/kafka; the admin's credentials stay in <state>/access."""
    from hub.stack.kafka import Kafka  # noqa: PLC0415

    stack = _stack(config, state_dir, ["kafka"])
    try:
        folder = Kafka(stack.config).compose_files(stack.config.state_dir / "compose" / "kafka")
    except (StackError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"kafka     {folder}")
    typer.echo(f"admin     {stack.config.state_dir / 'access' / 'admin.properties'}")


@app.command()
def tokens(config: ConfigOption = None, state_dir: StateOption = None) -> None:
    """Make OPA's bearer tokens (kept when they exist) and the authz bundle of their
    SHA-256s; print where they are. `stack up` does this too; docker compose needs it."""
    opa = Opa(_stack(config, state_dir, ["opa"]).config)
    try:
        opa.prepare_auth()
    except StackError as exc:
        raise _fail(exc) from exc
    for role in ROLES:
        typer.echo(f"{role:<9} {opa.token_file(role)}")
    typer.echo(f"authz     {opa.authz_dir}")


@app.command()
def env(config: ConfigOption = None, state_dir: StateOption = None) -> None:
    """Print the stack's addresses as shell variables (eval "$(svdhub stack env)")."""
    stack = _stack(config, state_dir, None)
    for key, value in stack.env().items():
        typer.echo(f"export {key}='{value}'")
