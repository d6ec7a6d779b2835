"""``svdhub views``: build the views from the shared streams.

Exit codes: 0 success, 1 failure, 2 bad usage.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from hub.access.plan import VIEWS
from hub.cli_support import BatchWait, Bootstrap, Credentials, kafka_client
from hub.database import local_engine
from hub.hub_key_cli import HubKeyOption, keys_or_exit
from hub.runtime import settle_heap
from hub.views import tables
from hub.views.builder import Applied, ViewBuilder
from wire.kafka_client import ClientSettings
from wire.topics import TopicNames

app = typer.Typer(
    help="Views for the VRP and the community safety partnerships, from svd.shared.*.",
    no_args_is_help=True,
)

DATABASE_ENV = "SVDHUB_VIEWS_DATABASE"

Database = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar=DATABASE_ENV,
        help="SQLAlchemy URL of the views (default: SQLite in $SVDHUB_HOME/views/views.sqlite).",
    ),
]
Recipients = Annotated[
    list[str] | None,
    typer.Option("--recipient", help="Build views for this recipient only (repeatable)."),
]


def engine_for(url: str | None) -> Engine:
    return local_engine(url, "views", "views.sqlite", durable=False)


def _run(
    database: str | None,
    kafka: ClientSettings,
    recipients: list[str] | None,
    once: bool,
    hub_key: Path | None,
    *,
    batch_wait: float | None = None,
) -> None:
    from hub.sink import consume, new_consumer  # noqa: PLC0415 - keeps `svdhub --help` quick

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    builder = ViewBuilder(
        engine_for(database), TopicNames.from_env(), recipients, keys=keys_or_exit(hub_key)
    )
    if batch_wait is not None:
        builder.batch_wait_ms = batch_wait
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    totals = Applied()
    settle_heap()

    def report(batch: Applied) -> None:
        totals.shares += batch.shares
        totals.replayed += batch.replayed
        totals.rejected += batch.rejected
        totals.forged += batch.forged

    consume(
        builder,
        new_consumer(kafka, "svdhub-views", builder.batch_wait_ms),
        once=once,
        should_stop=lambda: stopping,
        on_batch=report,
    )
    typer.echo(
        f"views: {totals.shares} shares applied, {totals.replayed} replays skipped, "
        f"{totals.rejected} rejected ({totals.forged} not signed by the hub; see view_rejects)"
    )


@app.command()
def run(
    *,
    database: Database = None,
    credentials: Credentials = None,
    bootstrap: Bootstrap = None,
    recipient: Recipients = None,
    once: Annotated[
        bool, typer.Option(help="Stop at the end of the topics instead of following them.")
    ] = False,
    hub_key: HubKeyOption = None,
    batch_wait: BatchWait = None,
) -> None:
    """Apply svd.shared.<recipient>.* to the view tables (offsets in the same transaction)."""
    kafka = kafka_client(VIEWS, credentials, bootstrap)
    _run(database, kafka, recipient, once, hub_key, batch_wait=batch_wait)


@app.command()
def rebuild(
    *,
    database: Database = None,
    credentials: Credentials = None,
    bootstrap: Bootstrap = None,
    recipient: Recipients = None,
    hub_key: HubKeyOption = None,
) -> None:
    """Drop the view tables and replay every shared topic from the beginning."""
    kafka = kafka_client(VIEWS, credentials, bootstrap)
    tables.drop(engine_for(database))
    _run(database, kafka, recipient, once=True, hub_key=hub_key)
