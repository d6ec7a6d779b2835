"""``svdhub connector`` and ``svdhub generate``: the authority-side commands.

These register with the ``svdhub`` command through the ``svdhub.commands``
entry points, so the hub package never imports this one.

Exit codes of ``connector run``: 0 every row accepted; 4 some rows or files
were rejected (see the reject file); 1 the run could not proceed (bad config,
missing key, Kafka unreachable); 2 bad usage.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from edge import commands, synthetic
from edge.config import ConfigError, ConnectorConfig, home
from edge.pseudonymise import PseudonymError, generate_key_file
from edge.publisher import PublishError
from edge.runner import Connector
from wire.geography import GeographyError, GeographyLookup
from wire.kafka_client import CREDENTIALS_ENV, ClientSettings, CredentialsError, find_credentials
from wire.private_files import write_private
from wire.signing import KeyRegistry, KeyRegistryError, Signer, generate_signer
from wire.topics import NAMESPACE_ENV

EXIT_REJECTS = 4

connector_app = typer.Typer(help=commands.CONNECTOR_HELP, no_args_is_help=True)

Configs = Annotated[
    list[Path], typer.Argument(help="Connector config file(s) (YAML).", exists=True, dir_okay=False)
]


def kafka_settings(
    authority: str, credentials: Path | None, bootstrap: str | None
) -> ClientSettings:
    """The connector's Kafka client settings: ``--credentials``, else
    $SVDHUB_KAFKA_CREDENTIALS, else ``access/connector-<authority>.properties``
    in the state folder (where `svdhub access apply` writes them on a machine
    that runs the hub too; ``<namespace>.connector-<authority>`` under
    $SVDHUB_TOPIC_NAMESPACE, whose principals are namespaced like its topics).
    ``--bootstrap`` replaces the file's servers."""
    namespace = os.environ.get(NAMESPACE_ENV, "")
    principal = f"connector-{authority}"
    name = f"{namespace}.{principal}" if namespace else principal
    default = home() / "access" / f"{name}.properties"
    path = find_credentials(credentials, default, os.environ)
    return ClientSettings.load(path).with_bootstrap(bootstrap)


def _load(path: Path) -> ConnectorConfig:
    try:
        return ConnectorConfig.load(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@connector_app.command()
def run(
    config: Annotated[
        Path,
        typer.Argument(help="The connector's config file (YAML).", exists=True, dir_okay=False),
    ],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print what would be sent, after pseudonymisation; publish nothing."
        ),
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow/--once",
            help="Keep polling the source for new rows (Ctrl-C stops), or run once.",
        ),
    ] = False,
    credentials: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            dir_okay=False,
            help="Kafka client settings (KEY=VALUE) of connector-<authority> (default: "
            f"${CREDENTIALS_ENV}, else .hub/access/connector-<authority>.properties).",
        ),
    ] = None,
    bootstrap: Annotated[
        str | None,
        typer.Option(
            "--bootstrap",
            help="Kafka bootstrap servers, replacing the credentials file's bootstrap.servers.",
        ),
    ] = None,
) -> None:
    """Publish the new rows of one extract as signed, pseudonymised events."""
    settings = _load(config)
    kafka = None
    if not dry_run:
        try:
            kafka = kafka_settings(settings.authority, credentials, bootstrap)
        except CredentialsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    with _progress() as progress:
        task = progress.add_task("reading", total=None) if progress else None

        def show(name: str, position: int, total: int) -> None:
            if progress is not None and task is not None:
                progress.update(task, description=name, completed=position, total=total)

        try:
            connector = Connector(
                settings,
                kafka,
                dry_run=dry_run,
                echo=typer.echo,
                progress=show,
            )
        except (
            PseudonymError,
            KeyRegistryError,
            GeographyError,
            ValueError,
            OSError,
            ConfigError,
            PublishError,
        ) as exc:
            typer.echo(f"error: {config}: {exc}", err=True)
            raise typer.Exit(1) from exc
        previous = signal.signal(signal.SIGINT, stop) if follow else None
        clean = True
        try:
            while True:
                summary = connector.run()
                clean = clean and summary.clean
                if not follow or summary.published or summary.rejected_total:
                    for line in summary.lines(dry_run):
                        typer.echo(line, err=True)
                if not follow or stopping.wait(settings.poll_seconds):
                    break
        except PublishError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        finally:
            connector.close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
    if not clean:
        raise typer.Exit(EXIT_REJECTS)


class _NoProgress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _progress() -> Progress | _NoProgress:
    if not sys.stderr.isatty():
        return _NoProgress()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        transient=True,
    )


@connector_app.command()
def keys(
    configs: Configs,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            help="Public key registry to add the keys to (default: "
            "$SVDHUB_HOME/keys/registry.yaml).",
        ),
    ] = None,
) -> None:
    """Create each config's signing key and linkage key if missing, and register the
    public keys. Existing keys are never replaced."""
    target = registry or home() / "keys" / "registry.yaml"
    try:
        loaded = KeyRegistry.load(target) if target.is_file() else KeyRegistry([])
    except KeyRegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    known = {key_id: loaded.get(key_id) for key_id in loaded.key_ids()}
    for path in configs:
        settings = _load(path)
        key_file = settings.keys.signing_key
        if key_file.is_file():
            signer = Signer.load(key_file, settings.keys.signing_key_id, settings.authority)
        else:
            signer = generate_signer(settings.keys.signing_key_id, settings.authority)
            signer.save(key_file)
            typer.echo(f"{settings.authority}: new signing key {signer.key_id} in {key_file}")
        public = signer.public_key()
        existing = known.get(public.key_id)
        if existing is not None and existing.raw_bytes() != public.raw_bytes():
            typer.echo(
                f"error: {target}: key {public.key_id} is registered with another "
                "public key; give the new key a new key id",
                err=True,
            )
            raise typer.Exit(1)
        known[public.key_id] = existing or public
        if not settings.keys.linkage_key.is_file():
            generate_key_file(settings.keys.linkage_key)
            typer.echo(f"new partnership linkage key in {settings.keys.linkage_key}")
    write_private(target, KeyRegistry(known.values()).to_yaml())
    typer.echo(f"registry: {target} ({len(known)} keys)")


@connector_app.command()
def check(configs: Configs) -> None:
    """Validate config files without reading any data."""
    for path in configs:
        settings = _load(path)
        typer.echo(f"ok: {path} ({settings.authority} -> {settings.record_type})")


def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files to.")] = Path(
        ".hub/synthetic"
    ),
    days: Annotated[int, typer.Option("--days", min=1, help="Days of data.")] = 30,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 1,
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")] = "2026-10-01",
    lookup: Annotated[
        Path | None,
        typer.Option(
            "--lookup",
            help="ONS LSOA21->MSOA21->LAD lookup CSV (default: the synthetic sample).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Write realistic, seeded, clearly SYNTHETIC West Midlands extracts in each
    source's own format (police, two ED trusts, ambulance, youth service, youth justice)."""
    try:
        first = date.fromisoformat(start)
        geography = GeographyLookup.load(lookup)
    except ValueError as exc:
        typer.echo(f"error: --start: {exc}", err=True)
        raise typer.Exit(2) from exc
    except GeographyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    manifest = synthetic.generate(
        out,
        days=days,
        seed=seed,
        start=first,
        lookup=geography,
        progress=lambda msg: typer.echo(msg, err=True),
    )
    for name, rows in manifest.files.items():
        typer.echo(f"{rows:>8}  {out / name}")
    typer.echo(
        f"ED attendances {manifest.ed_attendances}, of which matched to a police record "
        f"{manifest.ed_matched_to_police}"
    )
