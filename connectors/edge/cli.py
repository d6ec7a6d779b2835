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
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from typer._click import Context
from typer.core import TyperGroup

from edge import commands, synthetic
from edge.boundaries import BoundaryError
from edge.config import (
    AUTHORITY_HOME_ENV,
    ConfigError,
    ConnectorConfig,
    authorities_home,
    authority_home,
    home,
)
from edge.pseudonymise import (
    PseudonymError,
    Pseudonymiser,
    generate_key_file,
    key_fingerprint,
    new_key_text,
)
from edge.publisher import PublishError
from edge.runner import Connector, RevokedSigningKey
from edge.workers import MAX_WORKERS, WorkerError
from wire.geography import SYNTHETIC, GeographyError, GeographyLookup
from wire.kafka_client import CREDENTIALS_ENV, ClientSettings, CredentialsError, find_credentials
from wire.partnership import Partnership, PartnershipError
from wire.private_files import write_private
from wire.signing import (
    KeyRegistry,
    KeyRegistryError,
    PublicKey,
    Signer,
    UnknownKey,
    format_time,
    generate_signer,
    parse_revocation_time,
)
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
    *,
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
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=MAX_WORKERS,
            help="Processes that map, pseudonymise, encode and sign rows (1: this process "
            "alone). More pays on large files with cores to spare; rows are published in "
            "file order either way. Configs versioned by content map in this process.",
        ),
    ] = 1,
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
                workers=workers,
            )
        except (
            PseudonymError,
            KeyRegistryError,
            GeographyError,
            PartnershipError,
            BoundaryError,
            ValueError,
            OSError,
            ConfigError,
            PublishError,
        ) as exc:
            typer.echo(f"error: {_naming(config, exc)}", err=True)
            raise typer.Exit(1) from exc
        if warning := connector.mapper.lookup.coverage_warning():
            typer.echo(f"warning: {config}: {warning}", err=True)
        previous = signal.signal(signal.SIGINT, stop) if follow else None
        clean = True
        try:
            while True:
                summary = connector.run()
                clean = clean and summary.clean
                if not follow or summary.published or summary.rejected_total:
                    for line in summary.lines(dry_run) + connector.readers():
                        typer.echo(line, err=True)
                if not follow or stopping.wait(settings.poll_seconds):
                    break
        except (PublishError, RevokedSigningKey, WorkerError) as exc:
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
    new_linkage_key: Annotated[
        bool,
        typer.Option(
            "--new-linkage-key",
            help="Make a new partnership linkage key for the configs, none of which has "
            "one yet. Only for the partnership's first authority: every other authority "
            "must then import this same key (`connector keys import`).",
        ),
    ] = False,
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
    (`svdhub keys register FILE`). Existing keys are never replaced. Prints the
    fingerprint of each config's linkage key, for the hub to register and the
    partnership to compare."""
    settings = [_load(path) for path in configs]
    authorities = sorted({config.authority for config in settings})
    if os.environ.get(AUTHORITY_HOME_ENV) and len(authorities) > 1:
        typer.echo(
            f"error: ${AUTHORITY_HOME_ENV} names one authority's folder, but the configs "
            f"are of {', '.join(authorities)}: run `connector keys` once per authority",
            err=True,
        )
        raise typer.Exit(1)
    partnership_key: bytes | None
    if new_linkage_key:
        linkage_key, partnership_key = None, _new_partnership_key(settings, linkage_key)
    else:
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
        public = _recorded_revocation(config.public_key_file, signer.public_key())
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
    made by one authority alone would never link with the others' pseudonyms
    (``--new-linkage-key`` makes one explicitly, as ``partnership_key``).
    Prints the installed key's fingerprint."""
    target = config.keys.linkage_key
    if target.is_file():
        installed = _installed_fingerprint(target)
        if partnership_key is not None and installed != _fingerprint_of(partnership_key):
            typer.echo(
                f"error: {target} holds another linkage key than "
                f"{source or 'the new one'}; pseudonyms made with different keys never "
                "link, so it is left as it is",
                err=True,
            )
            raise typer.Exit(1)
        _echo_fingerprint(config, installed)
        return
    if partnership_key is None:
        typer.echo(
            f"error: {config.authority}: no partnership linkage key at {target}: install "
            "the copy the partnership gave you (`connector keys import FILE CONFIG...`, or "
            "--linkage-key FILE); only the partnership's first authority makes one, with "
            "--new-linkage-key",
            err=True,
        )
        raise typer.Exit(1)
    write_private(target, partnership_key)
    typer.echo(f"{config.authority}: partnership linkage key copied to {target}")
    _echo_fingerprint(config, _fingerprint_of(partnership_key))


def _new_partnership_key(settings: list[ConnectorConfig], given: Path | None) -> bytes:
    """A new partnership linkage key for configs that have none (``--new-linkage-key``);
    refuses when a key was given or any config already has one."""
    if given is not None:
        typer.echo("error: give either --linkage-key FILE or --new-linkage-key", err=True)
        raise typer.Exit(2)
    existing = sorted({str(c.keys.linkage_key) for c in settings if c.keys.linkage_key.exists()})
    if existing:
        typer.echo(
            f"error: --new-linkage-key: there is a linkage key already at {', '.join(existing)}; "
            "a partnership has one key, so no new one was made (install the partnership's "
            "with `connector keys import FILE CONFIG...`)",
            err=True,
        )
        raise typer.Exit(1)
    key = new_key_text().encode("ascii")
    typer.echo(
        f"new partnership linkage key, fingerprint {_fingerprint_of(key)}\n"
        "warning: every other authority of the partnership must import this same key "
        "(`svdhub connector keys import FILE CONFIG...`), and the hub's operator must "
        "register its fingerprint (`svdhub linkage register --version V FINGERPRINT`); "
        "pseudonyms made with another key never link",
        err=True,
    )
    return key


def _fingerprint_of(key_text: bytes) -> str:
    try:
        return key_fingerprint(key_text.decode("ascii", "replace"))
    except PseudonymError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _installed_fingerprint(path: Path) -> str:
    """The fingerprint of the key at ``path`` (checked as the connector checks it)."""
    try:
        return Pseudonymiser.load(path, "installed").fingerprint
    except PseudonymError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _echo_fingerprint(config: ConnectorConfig, fingerprint: str) -> None:
    typer.echo(
        f"{config.authority}: linkage key {config.keys.linkage_key_version} at "
        f"{config.keys.linkage_key}, fingerprint {fingerprint}"
    )


def _register(target: Path, exported: list[PublicKey]) -> None:
    try:
        loaded = KeyRegistry.load(target) if target.is_file() else KeyRegistry([])
    except KeyRegistryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    known = {key_id: loaded.get(key_id) for key_id in loaded.key_ids()}
    for public in exported:
        existing = known.get(public.key_id)
        if existing is not None and (
            existing.raw_bytes() != public.raw_bytes() or existing.authority != public.authority
        ):
            typer.echo(
                f"error: {target}: key {public.key_id} is registered with another "
                "public key; give the new key a new key id",
                err=True,
            )
            raise typer.Exit(1)
        known[public.key_id] = existing.merge(public) if existing else public
    write_private(target, KeyRegistry(known.values()).to_yaml())
    typer.echo(f"registry: {target} ({len(known)} keys)")


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The signing key id to revoke.")],
    config: Annotated[
        list[Path] | None,
        typer.Option(
            "--config",
            help="A connector config that signs with the key (finds the authority's "
            "folder). Default: the one authority folder whose public/ holds KEY_ID.yaml.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="From when (ISO 8601 with a time zone, e.g. 2026-03-01T09:30:00Z); "
            "default now. Give the time a leak may have begun.",
        ),
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept with the key).")] = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            help="Also apply the revocation to this public key registry (a hub on the "
            "same machine), as `svdhub keys register` would.",
        ),
    ] = None,
) -> None:
    """Revoke a signing key (it leaked, or its host is retired): record it in the
    exported public key file <authority home>/public/<key_id>.yaml, for the
    hub's operator to apply with `svdhub keys register FILE`. From then on
    `connector run` refuses to sign with it; make a new key under a new key id.
    A revocation is never undone, and the earliest time given wins."""
    try:
        moment = parse_revocation_time(at) if at is not None else datetime.now(UTC)
    except ValueError as exc:
        typer.echo(f"error: --at: {exc}", err=True)
        raise typer.Exit(2) from exc
    path = _public_key_file(key_id, config or [])
    try:
        key = KeyRegistry.load(path).get(key_id)
    except (KeyRegistryError, UnknownKey) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    revoked = key.revoke(moment, reason)
    if key.revoked_at is not None and revoked.revoked_at == key.revoked_at:
        typer.echo(
            f"{key_id} was already {key.revocation()}; kept the earlier time "
            f"(asked: {format_time(moment)})"
        )
    if revoked != key:
        write_private(path, KeyRegistry([revoked]).to_yaml())
    if revoked.revoked_at != key.revoked_at:
        typer.echo(f"{key.authority}: {key_id} {revoked.revocation()}, recorded in {path}")
    typer.echo(
        f"hand {path} to the hub's operator (`svdhub keys register {path.name}`); "
        "give the connector a new key under a new key id"
    )
    if registry is not None:
        _register(registry, [revoked])


def _public_key_file(key_id: str, configs: list[Path]) -> Path:
    """Where ``connector keys`` exported ``key_id``: from a config that signs with
    it, else the one authority folder (``$SVDHUB_AUTHORITY_HOME``, or any under
    the authorities' folder) whose ``public/`` holds it."""
    if configs:
        paths = {
            settings.public_key_file
            for settings in map(_load, configs)
            if settings.keys.signing_key_id == key_id
        }
        if not paths:
            typer.echo(f"error: none of the configs signs with key {key_id}", err=True)
            raise typer.Exit(1)
    elif own := os.environ.get(AUTHORITY_HOME_ENV):
        paths = {Path(own).resolve() / "public" / f"{key_id}.yaml"}
    else:
        paths = set(authorities_home().glob(f"*/public/{key_id}.yaml"))
    found = sorted(path for path in paths if path.is_file())
    if len(found) != 1:
        where = ", ".join(map(str, sorted(paths))) or f"{authorities_home()}/*/public/"
        problem = "several exported keys" if found else "no exported public key"
        typer.echo(
            f"error: {problem} for {key_id} ({where}); pass the connector config that "
            "signs with it (--config FILE), after `svdhub connector keys create`",
            err=True,
        )
        raise typer.Exit(1)
    return found[0]


def _recorded_revocation(path: Path, public: PublicKey) -> PublicKey:
    """``public`` with the revocation already recorded in its exported file, if
    any: making the keys again never undoes a revocation."""
    try:
        exported = KeyRegistry.load(path) if path.is_file() else KeyRegistry([])
        return public.merge(exported.get(public.key_id))
    except (KeyRegistryError, UnknownKey, ValueError):
        return public


@keys_app.command("import")
def import_linkage_key(
    key_file: Annotated[
        Path,
        typer.Argument(
            help="The partnership linkage key as the partnership handed it over.",
            exists=True,
            dir_okay=False,
        ),
    ],
    configs: Configs,
) -> None:
    """Install the partnership's linkage key (0600) at each config's linkage_key
    path. A path that holds the same key is left as it is; one that holds another
    key is refused (pseudonyms made with different keys never link). Prints the
    key's fingerprint: compare it with the one the partnership published before
    running any connector."""
    settings = [_load(path) for path in configs]
    try:
        Pseudonymiser.load(key_file, "import")
        text = key_file.read_bytes()
    except (PseudonymError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    fingerprint = _fingerprint_of(text)
    different = [
        config.keys.linkage_key
        for config in settings
        if config.keys.linkage_key.is_file()
        and _installed_fingerprint(config.keys.linkage_key) != fingerprint
    ]
    if different:
        typer.echo(
            f"error: {', '.join(sorted(map(str, set(different))))} already holds another "
            f"linkage key than {key_file}; pseudonyms made with different keys never link, "
            "so nothing was installed (ask the partnership which key is theirs)",
            err=True,
        )
        raise typer.Exit(1)
    for config in settings:
        target = config.keys.linkage_key
        if target.is_file():
            typer.echo(f"{config.authority}: {target} already holds this key")
        else:
            write_private(target, text)
            typer.echo(f"{config.authority}: partnership linkage key installed at {target}")
    versions = ", ".join(sorted({config.keys.linkage_key_version for config in settings}))
    typer.echo(
        f"fingerprint {fingerprint} (key version {versions}): check that it is the one the "
        "partnership published; a different one means a different key"
    )


@connector_app.command("linkage-key")
def linkage_key_command(
    path: Annotated[Path, typer.Argument(help="The file to write the new key to.")],
    fingerprint: Annotated[
        bool,
        typer.Option(
            "--fingerprint",
            help="Make no key: print the fingerprint of the existing key in FILE, alone "
            "on its line (for the hub's `svdhub linkage register`).",
        ),
    ] = False,
) -> None:
    """Make a new partnership linkage key (0600) and print its fingerprint. Done
    once, for the whole partnership: every authority's connector needs the same
    key (`connector keys import FILE CONFIG...`), and the hub must never hold it;
    the hub registers only the fingerprint. Refuses to overwrite."""
    if fingerprint:
        try:
            typer.echo(Pseudonymiser.load(path, "fingerprint").fingerprint)
        except PseudonymError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        return
    if path.exists():
        typer.echo(f"error: {path} exists; a linkage key is never replaced", err=True)
        raise typer.Exit(1)
    generate_key_file(path)
    typer.echo(
        f"new partnership linkage key in {path}, fingerprint "
        f"{Pseudonymiser.load(path, 'new').fingerprint}"
    )


@connector_app.command()
def check(
    configs: Configs,
    rows: Annotated[
        int,
        typer.Option(
            "--rows",
            min=0,
            help="Map, pseudonymise, validate and sign the first N rows of each source as a "
            "run would (with throwaway keys; nothing is published or written), and report "
            "what a run would accept, skip and reject, by reason. 0: the config alone.",
        ),
    ] = 100,
) -> None:
    """Check config files: each setting, the record's required fields, the
    geography, and the first rows of the source through the whole mapping.

    Exit codes: 0 every config is valid and every row checked would be
    accepted or skipped; 4 some rows or files would be rejected; 1 a config
    is invalid."""
    clean = True
    for path in configs:
        settings = _load(path)
        try:
            connector = Connector(settings, None, echo=typer.echo, check_rows=rows)
        except (
            GeographyError,
            PartnershipError,
            BoundaryError,
            ConfigError,
            ValueError,
            OSError,
        ) as exc:
            typer.echo(f"error: {_naming(path, exc)}", err=True)
            raise typer.Exit(1) from exc
        kinds = f"{settings.record_type}, Retraction" if settings.retracts else settings.record_type
        typer.echo(f"ok: {path} ({settings.authority} -> {kinds})")
        if warning := connector.mapper.lookup.coverage_warning():
            typer.echo(f"warning: {path}: {warning}", err=True)
        try:
            if rows:
                summary = connector.run()
                clean = clean and summary.clean
                typer.echo(f"  the first {rows:,} rows, as a run would take them:")
                for line in summary.lines(dry_run=True):
                    typer.echo(f"  {line}")
        finally:
            connector.close()
    if not clean:
        raise typer.Exit(EXIT_REJECTS)


def _naming(path: Path, exc: Exception) -> str:
    """The error's message, prefixed with the config file unless it names it."""
    text = str(exc)
    return text if text.startswith(str(path)) else f"{path}: {text}"


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
            help="ONS LSOA21->MSOA21->LAD lookup CSV (default: the SYNTHETIC sample); "
            "needs --partnership.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    partnership: Annotated[
        Path | None,
        typer.Option(
            "--partnership",
            help="The partnership file (policies/partnership.yaml) whose districts the "
            "extracts cover (default with the SYNTHETIC sample: the demo's).",
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
        geography = GeographyLookup.load(
            lookup or SYNTHETIC, Partnership.load(partnership) if partnership else None
        )
    except ValueError as exc:
        typer.echo(f"error: --start: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (GeographyError, PartnershipError) as exc:
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
