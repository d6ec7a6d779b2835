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
from typer._click import Context
from typer.core import TyperGroup

from edge import commands, synthetic
from edge.config import AUTHORITY_HOME_ENV, ConfigError, ConnectorConfig, authority_home, home
from edge.pseudonymise import PseudonymError, Pseudonymiser, generate_key_file
from edge.publisher import PublishError
from edge.runner import Connector
from wire.geography import GeographyError, GeographyLookup
from wire.kafka_client import CREDENTIALS_ENV, ClientSettings, CredentialsError, find_credentials
from wire.private_files import write_private
from wire.signing import KeyRegistry, KeyRegistryError, PublicKey, Signer, generate_signer
from wire.topics import NAMESPACE_ENV

EXIT_REJECTS = 4

connector_app = typer.Typer(help=commands.CONNECTOR_HELP, no_args_is_help=True)


class _KeysGroup(TyperGroup):
    """``connector keys``: a group whose default command is ``create``, so
    ``connector keys CONFIG...`` still makes the keys, beside subcommands such
    as ``connector keys revoke KEY_ID``."""

    default = "create"

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


keys_app = typer.Typer(
    cls=_KeysGroup,
    help="The authority's keys: its signing key and its copy of the partnership linkage key. "
    "`connector keys CONFIG...` is `connector keys create CONFIG...`.",
    no_args_is_help=True,
)
connector_app.add_typer(keys_app, name="keys")

Configs = Annotated[
    list[Path], typer.Argument(help="Connector config file(s) (YAML).", exists=True, dir_okay=False)
]


#: The connector's Kafka client settings in the authority's own folder.
KAFKA_CREDENTIALS_FILE = "kafka.properties"


def kafka_settings(
    authority: str, credentials: Path | None, bootstrap: str | None
) -> ClientSettings:
    """The connector's Kafka client settings: ``--credentials``, else
    $SVDHUB_KAFKA_CREDENTIALS, else ``kafka.properties`` in the authority's own
    folder (the file the hub's operator handed over), else, on a machine that
    runs the hub too, ``access/connector-<authority>.properties`` in the hub's
    state folder (``<namespace>.connector-<authority>`` under
    $SVDHUB_TOPIC_NAMESPACE, whose principals are namespaced like its topics).
    ``--bootstrap`` replaces the file's servers."""
    namespace = os.environ.get(NAMESPACE_ENV, "")
    principal = f"connector-{authority}"
    name = f"{namespace}.{principal}" if namespace else principal
    own = authority_home(authority) / KAFKA_CREDENTIALS_FILE
    default = own if own.is_file() else home() / "access" / f"{name}.properties"
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


@keys_app.command("create")
def keys(
    configs: Configs,
    linkage_key: Annotated[
        Path | None,
        typer.Option(
            "--linkage-key",
            help="The partnership linkage key as the partnership handed it over: copied "
            "(0600) to each config's linkage_key path where that is missing.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            help="Also add the public keys to this public key registry (a hub on the same "
            "machine). Only public keys are ever written to it.",
        ),
    ] = None,
) -> None:
    """Create each config's signing key if missing, in the authority's own folder
    ($SVDHUB_AUTHORITY_HOME), and export its public key to
    <authority home>/public/<key_id>.yaml for the hub to register
    (`svdhub keys register FILE`). Existing keys are never replaced."""
    settings = [_load(path) for path in configs]
    authorities = sorted({config.authority for config in settings})
    if os.environ.get(AUTHORITY_HOME_ENV) and len(authorities) > 1:
        typer.echo(
            f"error: ${AUTHORITY_HOME_ENV} names one authority's folder, but the configs "
            f"are of {', '.join(authorities)}: run `connector keys` once per authority",
            err=True,
        )
        raise typer.Exit(1)
    partnership_key = _read_linkage_key(linkage_key) if linkage_key else None
    exported: list[PublicKey] = []
    for config in settings:
        key_file = config.keys.signing_key
        if key_file.is_file():
            signer = Signer.load(key_file, config.keys.signing_key_id, config.authority)
        else:
            signer = generate_signer(config.keys.signing_key_id, config.authority)
            signer.save(key_file)
            typer.echo(f"{config.authority}: new signing key {signer.key_id} in {key_file}")
        public = signer.public_key()
        write_private(config.public_key_file, KeyRegistry([public]).to_yaml())
        typer.echo(f"{config.authority}: public key {public.key_id} in {config.public_key_file}")
        exported.append(public)
        _install_linkage_key(config, linkage_key, partnership_key)
    if registry is not None:
        _register(registry, exported)


def _read_linkage_key(path: Path) -> bytes:
    try:
        Pseudonymiser.load(path, "check")
        return path.read_bytes()
    except (PseudonymError, OSError) as exc:
        typer.echo(f"error: --linkage-key: {exc}", err=True)
        raise typer.Exit(1) from exc


def _install_linkage_key(
    config: ConnectorConfig, source: Path | None, partnership_key: bytes | None
) -> None:
    """Copy the partnership's linkage key to the config's path if it is missing; refuse
    a copy that differs from the one given. Never makes a key of its own: a key
    made by one authority alone would never link with the others' pseudonyms."""
    target = config.keys.linkage_key
    if target.is_file():
        if partnership_key is not None and target.read_bytes() != partnership_key:
            typer.echo(
                f"error: {target} holds another linkage key than {source}; pseudonyms made "
                "with different keys never link, so it is left as it is",
                err=True,
            )
            raise typer.Exit(1)
        return
    if partnership_key is None:
        typer.echo(
            f"error: {config.authority}: no partnership linkage key at {target}: pass the "
            "copy the partnership gave you with --linkage-key FILE (the partnership makes "
            "one with `svdhub connector linkage-key FILE`)",
            err=True,
        )
        raise typer.Exit(1)
    write_private(target, partnership_key)
    typer.echo(f"{config.authority}: partnership linkage key copied to {target}")


def _register(target: Path, exported: list[PublicKey]) -> None:
    try:
        loaded = KeyRegistry.load(target) if target.is_file() else KeyRegistry([])
    except KeyRegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    known = {key_id: loaded.get(key_id) for key_id in loaded.key_ids()}
    for public in exported:
        existing = known.get(public.key_id)
        if existing is not None and existing.raw_bytes() != public.raw_bytes():
            typer.echo(
                f"error: {target}: key {public.key_id} is registered with another "
                "public key; give the new key a new key id",
                err=True,
            )
            raise typer.Exit(1)
        known[public.key_id] = existing or public
    write_private(target, KeyRegistry(known.values()).to_yaml())
    typer.echo(f"registry: {target} ({len(known)} keys)")


@connector_app.command("linkage-key")
def linkage_key_command(
    path: Annotated[Path, typer.Argument(help="The file to write the new key to.")],
) -> None:
    """Make a new partnership linkage key (0600). Done once, for the whole partnership:
    every authority's connector needs the same key (see `connector keys
    --linkage-key`), and the hub must never hold it. Refuses to overwrite."""
    if path.exists():
        typer.echo(f"error: {path} exists; a linkage key is never replaced", err=True)
        raise typer.Exit(1)
    generate_key_file(path)
    typer.echo(f"new partnership linkage key in {path}")


@connector_app.command()
def check(configs: Configs) -> None:
    """Validate config files without reading any data."""
    for path in configs:
        settings = _load(path)
        kinds = f"{settings.record_type}, Retraction" if settings.retracts else settings.record_type
        typer.echo(f"ok: {path} ({settings.authority} -> {kinds})")


def generate(
    *,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the files to.")] = Path(
        ".authorities/synthetic"
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
    authorities: Annotated[
        Path | None,
        typer.Option(
            "--authorities",
            help="Also copy each extract into <folder>/<authority>/extracts/, where that "
            "authority's sample connector reads it (each authority's own folder).",
            file_okay=False,
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
        if authorities is not None:
            copy = authorities / synthetic.OWNERS[name] / "extracts" / name
            write_private(copy, (out / name).read_bytes())
    typer.echo(
        f"ED attendances {manifest.ed_attendances}, of which matched to a police record "
        f"{manifest.ed_matched_to_police}"
    )
