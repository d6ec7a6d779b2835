"""``svdhub demo``: bring the stack up and run the hub on synthetic data.

What exists so far runs end to end: the local stack starts; seeded, clearly
synthetic West Midlands extracts are written; each sample authority gets its
signing key (and the partnership its linkage key); every sample connector
publishes its extract as signed, pseudonymised events; the enforcer runs until
it has decided every event, and the demo summarises the audit topic: events
in per authority, shares per recipient, denials and quarantined events by
reason, then the re-identification risk of every shared stream (``svdhub risk
report``: the share of records with k<5, and what each agreement's min_k
held back and withheld). The audit ledger then takes in every decision, and is verified and
reconciled against the shares; the views are built, and the demo prints the
VRP's top hotspots and the share of ED assault attendances not in police
records, makes dashboard tokens and serves the dashboard until Ctrl-C
(``--exit`` stops after the summary).

Connectors run as their own processes (``svdhub connector run``), as they
would inside each authority, so the hub never imports connector code.
Reruns are idempotent: nothing is published twice.

Key custody, as the demo simulates it. Each authority has a folder of its own
(``$SVDHUB_AUTHORITIES/<authority>``, default ``<project>/.authorities/<authority>``),
standing for its own machine: its extract, its signing key, its copy of the
partnership linkage key and its connector's checkpoint and rejects. Each
connector runs with ``SVDHUB_AUTHORITY_HOME`` set to that folder. The
partnership's linkage key is made once in ``.authorities/partnership/``
(standing for the partnership's out-of-band hand-over) and copied into each
authority's folder (``svdhub connector keys import``). Only each authority's
exported *public* key reaches the hub, through ``svdhub keys register``, and
the linkage key's fingerprint, through ``svdhub linkage register``. The hub's state folder
(``SVDHUB_HOME``) holds public keys and the hub's own keys and credentials;
the hub's processes run with no authority folder in their environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from hub.access.store import ADMIN, CredentialStore
from hub.audit.ledger import load_checkpoints
from hub.database import open_engine
from hub.stack import Stack, StackConfig, StackError
from hub.views import figures, queries
from hub.views.catalogue import load as load_catalogue
from wire.audit import ALLOW, QUARANTINE, AuditRecord, read_audit_message
from wire.canonical import ContractError
from wire.kafka_client import ClientSettings
from wire.private_files import private_dir, write_private
from wire.reading import partitions, read_to_end
from wire.topics import ENFORCER_GROUP, TopicNames

DAYS = 30
SEED = 1


def demo(
    *,
    exit_after: Annotated[
        bool,
        typer.Option("--exit", help="Stop after the summary instead of serving the dashboard."),
    ] = False,
    port: Annotated[int, typer.Option(help="Port of the dashboard.")] = 8090,
) -> None:
    """Start the stack, generate synthetic data, run connectors, enforcer, ledger and views;
    print a summary; serve the dashboard until Ctrl-C."""
    config = StackConfig.load()
    env = _stack_up(config)
    home = config.state_dir
    admin = CredentialStore(home).load(ADMIN)
    _publish(config, home)
    _enforce(home, admin, env["OPA_URL"])
    witnesses = _ledger(home, authorities_home(config))
    _views(home)
    tokens = _svdhub(["api", "tokens", "--recipient", "vrp", "--recipient", "csp-birmingham"], home)
    typer.echo("10. dashboard tokens (new each run; only their hashes are kept)")
    for line in tokens.stdout.splitlines():
        typer.echo(f"   {line}")
    typer.echo("\nThe stack stays up after the demo; `make down` stops it.")
    if exit_after:
        return
    _serve(home, env["OPA_URL"], port, witnesses)


def _enforcer_args(opa_url: str) -> list[str]:
    """``svdhub enforcer run`` as the demo runs it: to catch up, then to follow.
    Each service connects as its own principal (its file in .hub/access/)."""
    return [
        "enforcer",
        "run",
        "--group",
        ENFORCER_GROUP,
        "--opa-url",
        opa_url,
        "--geography",
        "synthetic",
    ]


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _serve(home: Path, opa_url: str, port: int, witnesses: list[list[str]]) -> None:
    """Keep the enforcer, the ledger, the partners' witnesses (every 5 s) and the
    views following new events, and serve the dashboard, until Ctrl-C; then stop
    them all."""
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    followers = []
    for name, args in (
        ("enforcer", _enforcer_args(opa_url)),
        ("audit", ["audit", "run"]),
        ("views", ["views", "run"]),
        *((f"witness-{n}", [*command, "--every", "5"]) for n, command in enumerate(witnesses)),
    ):
        with (logs / f"{name}.log").open("ab") as log:
            followers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "hub.cli", *args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=_env(home),
                )
            )
    typer.echo(
        f"Following new events: enforcer, audit ledger, {len(witnesses)} witnesses and views "
        f"(logs in {logs}).\n"
        f"Dashboard: http://127.0.0.1:{port}/  (paste a token above; Ctrl-C stops everything)"
    )
    signal.signal(signal.SIGTERM, _interrupt)  # stopped by a supervisor: as Ctrl-C
    processes = list(followers)
    try:
        api = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "api", "--port", str(port)], env=_env(home)
        )
        processes.append(api)
        api.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _stack_up(config: StackConfig) -> dict[str, str]:
    try:
        stack = Stack(config, say=lambda msg: typer.echo(msg, err=True))
        typer.echo("1. local stack")
        for outcome in stack.up():
            typer.echo(f"   {outcome.name:<9} {outcome.action}")
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    return stack.env()


AUTHORITIES_ENV = "SVDHUB_AUTHORITIES"
AUTHORITY_HOME_ENV = "SVDHUB_AUTHORITY_HOME"


def authorities_home(config: StackConfig) -> Path:
    """Where the demo keeps the simulated authorities' folders: $SVDHUB_AUTHORITIES,
    else ``<project>/.authorities``. Never inside the hub's state folder."""
    if value := os.environ.get(AUTHORITIES_ENV):
        return Path(value).resolve()
    return config.project_root / ".authorities"


def _publish(config: StackConfig, home: Path) -> None:
    """Steps 2-4: synthetic extracts, keys, and every sample connector, each
    authority in a folder of its own."""
    configs = sorted((config.project_root / "connectors" / "config").glob("*.yaml"))
    owners = {path: _authority_of(path) for path in configs}
    authorities = authorities_home(config)
    if authorities.is_relative_to(home):
        typer.echo(f"error: ${AUTHORITIES_ENV} ({authorities}) is inside {home}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"2. synthetic data ({DAYS} days, seed {SEED}) in {authorities / 'synthetic'}, "
        f"each extract copied to its authority's folder, {authorities}/<authority>/extracts"
    )
    for name, rows in _synthetic(authorities, set(owners.values())).items():
        typer.echo(f"   {rows:>6} rows  {name}")

    typer.echo(
        "3. keys: each authority's signing key and its copy of the partnership linkage key\n"
        f"   in its own folder; only public keys are registered with the hub ({home / 'keys'})"
    )
    _move_old_keys(home, authorities, set(owners.values()))
    linkage = authorities / "partnership" / "linkage.key"
    if not linkage.is_file():
        _svdhub(["connector", "linkage-key", str(linkage)], _authority_env(authorities, None))
    # One run for every authority, each key in its own folder (<authorities>/<authority>):
    # the partnership's linkage key imported, then the signing keys made.
    as_authorities = _authority_env(authorities, None)
    _svdhub(["connector", "keys", "import", str(linkage), *map(str, configs)], as_authorities)
    _svdhub(["connector", "keys", *map(str, configs)], as_authorities)
    # The partnership publishes the key's fingerprint; the hub registers it per key version.
    fingerprint = _svdhub(
        ["connector", "linkage-key", "--fingerprint", str(linkage)], as_authorities
    ).stdout.strip()
    for version in sorted({_linkage_key_version(path) for path in configs}):
        _svdhub(["linkage", "register", "--version", version, fingerprint], _env(home))
        typer.echo(f"   linkage key {version}: fingerprint {fingerprint} registered with the hub")
    public = [
        str(file)
        for authority in sorted(set(owners.values()))
        for file in sorted((authorities / authority / "public").glob("*.yaml"))
    ]
    registered = _svdhub(["keys", "register", *public], _env(home)).stdout.splitlines()
    typer.echo(f"   {registered[-1] if registered else ''}")

    typer.echo("4. connectors: extract -> pseudonymise -> sign -> svd.raw.<authority>.<type>")
    access = CredentialStore(home)
    for path, authority in owners.items():
        # The hub's operator hands each authority its connector's Kafka settings.
        folder = authorities / authority
        write_private(
            folder / "kafka.properties",
            access.load(f"connector-{authority}").to_properties(),
        )
        env = _authority_env(authorities, folder)
        done = _svdhub(["connector", "run", str(path)], env, check=False)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
        fallback = lines[-1] if lines else ""
        accepted = next((line for line in lines if line.startswith("accepted")), fallback)
        typer.echo(f"   {path.stem:<26} {status:<7} {accepted}")


def _move_old_keys(home: Path, authorities: Path, owners: set[str]) -> None:
    """Move private keys that an older demo kept in the hub's folder
    (``keys/<authority>/signing.pem``, ``keys/partnership/linkage.key``) to the
    authorities' folders, where they belong. Their public keys are already
    registered, so they replace any key made there since."""
    old = home / "keys"
    moved = False
    for authority in sorted(owners):
        key = old / authority / "signing.pem"
        if key.is_file():
            _move(key, authorities / authority / "keys" / "signing.pem")
            moved = True
    linkage = old / "partnership" / "linkage.key"
    if linkage.is_file():
        for authority in sorted(owners):
            copy = authorities / authority / "keys" / "linkage.key"
            if copy.is_file():
                write_private(copy, linkage.read_bytes())
        _move(linkage, authorities / "partnership" / "linkage.key")
        moved = True
    if moved:
        typer.echo(f"   moved private keys an older demo kept in {old} to {authorities}")


def _move(old: Path, new: Path) -> None:
    private_dir(new.parent)
    write_private(new, old.read_bytes())
    old.unlink()
    with contextlib.suppress(OSError):
        old.parent.rmdir()  # the authority's old key folder, if nothing else is in it


def _authority_of(config: Path) -> str:
    """The ``authority`` a connector config names (read as plain YAML: the hub
    never imports connector code)."""
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    authority = document.get("authority") if isinstance(document, dict) else None
    if not isinstance(authority, str):
        typer.echo(f"error: {config}: no authority", err=True)
        raise typer.Exit(1)
    return authority


def _linkage_key_version(config: Path) -> str:
    """The linkage key version a connector config names (``keys.linkage_key_version``)."""
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    keys = document.get("keys") if isinstance(document, dict) else None
    version = keys.get("linkage_key_version") if isinstance(keys, dict) else None
    if not isinstance(version, str):
        typer.echo(f"error: {config}: no keys.linkage_key_version", err=True)
        raise typer.Exit(1)
    return version


def _enforce(home: Path, admin: ClientSettings, opa_url: str) -> None:
    """Steps 5-7: the enforcer until caught up, what the audit topic says, and the
    re-identification risk of what recipients received."""
    typer.echo("5. enforcer: verify -> OPA decision -> anonymise -> svd.shared.<recipient>.<type>")
    seconds = _run_enforcer_until_caught_up(admin, opa_url, home)
    typer.echo(f"   caught up with every raw topic in {seconds:.0f} s (log: {home / 'logs'})")
    summary = _audit_summary(admin)
    for title, counts in (
        ("events in, per authority:", sorted(summary.events.items())),
        ("shares, per recipient:", sorted(summary.shares.items())),
        ("denials, by reason (top 8):", summary.denials.most_common(8)),
        ("quarantined, by reason:", summary.quarantined.most_common() or [("none", 0)]),
    ):
        typer.echo(f"   {title}")
        for name, count in counts:
            typer.echo(f"   {count:>7}  {name}")
    if summary.unreadable:
        typer.echo(f"   {summary.unreadable:>7}  messages on the audit topic that are not records")
    typer.echo("6. policy revision in force")
    typer.echo(f"   {', '.join(sorted(summary.revisions)) or 'none yet'}")
    _risk(home)


def _risk(home: Path) -> None:
    """Step 7: ``svdhub risk report``: per stream, the share of records with k<5
    over each stream's last 28 days, and what each agreement's min_k cost."""
    done = _svdhub(["risk", "report", "--format", "json"], home, check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        typer.echo(f"error: svdhub risk report failed:\n{done.stderr}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"7. k-anonymity: per stream, share of records with k<{report['report_k']} over its "
        f"last {report['window_days']} days (svdhub risk report: "
        f"{'every stream meets its min_k' if report['ok'] else 'SOME STREAM IS BELOW ITS MIN_K'})"
    )
    for stream in report["streams"]:
        share = stream[f"share_below_{report['report_k']}"]
        shown = "-" if share is None else f"{share:.1%}"
        terms = "no min_k"
        if stream["min_k"] is not None:
            terms = f"min_k {stream['min_k']}: {stream['below_min_k']} below"
            decided = stream["decisions"]
            if decided is not None:
                terms += (
                    f"; {decided['released']} shared, {decided['withheld']} withheld, "
                    f"{decided['held_back']} held back"
                )
        typer.echo(
            f"   {shown:>6}  {stream['recipient']:<17} {stream['agreement_id']:<20} "
            f"{stream['record_type']:<9} {stream['records']:>5} records  ({terms})"
        )


#: The partner authorities whose witnesses co-sign the demo's audit log.
WITNESSES = ("wmp", "uhb-ed")


def _ledger(home: Path, authorities: Path) -> list[list[str]]:
    """Step 8: the ledger, checked, co-signed by two partners' witnesses and
    reconciled; return the witnesses' commands, for following."""
    typer.echo("8. audit ledger: every decision in a Merkle tree with signed checkpoints")
    ledger = _svdhub(["audit", "run", "--once"], home).stdout.strip()
    database = home / "audit" / "ledger.sqlite"
    typer.echo(f"   {ledger}  (SQLite: {database})")
    log_key = _svdhub(["audit", "public-key"], home).stdout.strip()
    typer.echo(f"   the log's verifier key, for partners to pin: {log_key}")
    commands, keys = [], []
    for authority in WITNESSES:
        command, key = _witness(authorities / authority, authority, log_key, database)
        done = _svdhub(command, _authority_env(authorities, authorities / authority))
        typer.echo(f"   {authority}'s witness: {done.stdout.strip()}")
        commands.append(command)
        keys += ["--witness", key]
    verified = _svdhub(["audit", "verify", *keys, "--quorum", str(len(WITNESSES))], home, False)
    typer.echo(f"   audit verify: {(verified.stdout or verified.stderr).strip()}")
    _partner_check(home, database, log_key)
    reconciled = _svdhub(["audit", "reconcile"], home, check=False)
    verdict = "exact" if reconciled.returncode == 0 else "DIFFERENT: see `svdhub audit reconcile`"
    typer.echo(f"   audit reconcile (allow decisions == shares, per recipient): {verdict}")
    return commands


def _partner_check(home: Path, database: Path, log_key: str) -> None:
    """What a partner who kept the ledger's first checkpoint does with the latest:
    check, offline, a consistency proof that the latest extends it."""
    engine = open_engine(f"sqlite:///{database}")
    sizes = [c.tree_size for c in load_checkpoints(engine) if c.origin is not None]
    engine.dispose()
    if len(sizes) < 2:
        typer.echo("   consistency: one checkpoint so far; nothing to check it against")
        return
    folder = home / "audit" / "partner"
    private_dir(folder)
    kept, latest, proof = folder / "kept.note", folder / "latest.note", folder / "c.proof"
    for size, path in ((sizes[0], kept), (sizes[-1], latest)):
        _svdhub(["audit", "checkpoint", "--size", str(size), "--out", str(path)], home)
    _svdhub(["audit", "consistency", "--from", str(sizes[0]), "--out", str(proof)], home)
    checked = _svdhub(
        [
            "audit",
            "check-consistency",
            str(kept),
            str(latest),
            str(proof),
            "--verifier-key",
            log_key,
        ],
        home,
        False,
    )
    typer.echo(f"   a partner's consistency check: {(checked.stdout or checked.stderr).strip()}")


def _witness(folder: Path, authority: str, log_key: str, database: Path) -> tuple[list[str], str]:
    """An authority's witness of the log: its key (made once, in the authority's own
    folder) and the command that runs it. Its state is kept per log (per origin),
    so a fresh hub's log starts a fresh history instead of looking truncated."""
    name = f"witness.{authority}.svdhub.local"
    witness = folder / "witness"
    key, public = witness / "key.pem", witness / "key.pub"
    if not key.is_file():
        made = _svdhub(["audit", "witness-key", str(key), "--name", name], _env(witness))
        write_private(public, made.stdout)
    origin = log_key.split("+", 1)[0]
    state = witness / "logs" / hashlib.sha256(origin.encode()).hexdigest()[:16]
    command = [
        "audit",
        "witness",
        "--log",
        f"sqlite:///{database}",
        "--key",
        str(key),
        "--name",
        name,
        "--state",
        str(state),
        "--verifier-key",
        log_key,
    ]
    return command, public.read_text(encoding="utf-8").strip()


def _views(home: Path) -> None:
    typer.echo("9. views for the VRP and the 7 community safety partnerships")
    applied = _svdhub(["views", "run", "--once"], home).stdout.strip()
    typer.echo(f"   {applied}  (SQLite: {home / 'views' / 'views.sqlite'})")
    engine = open_engine(f"sqlite:///{home / 'views' / 'views.sqlite'}")
    try:
        catalogue = load_catalogue()
        hot = figures.hotspots(engine, "vrp", catalogue, "lsoa", queries.Filters(), top=5)
        ed = figures.ed_vs_police(engine, "vrp", queries.Filters())
    finally:
        engine.dispose()
    share = "-" if hot["top_tenth_share"] is None else f"{hot['top_tenth_share']:.0%}"
    typer.echo(
        f"   top hotspots (VRP, LSOA by year): the top 10% of areas hold {share} of incidents "
        f"(of {hot['areas_with_a_published_count']} areas with a published count; "
        "disclosure control applied)"
    )
    for row in hot["rows"]:
        typer.echo(f"   {row['count']:>7}  {row['area']}")
    if ed["available"]:
        unreported = "-" if ed["unreported_share"] is None else f"{ed['unreported_share']:.0%}"
        typer.echo(
            f"   ED assault attendances not in police records (VRP, linked): {unreported} "
            f"({ed['not_in_police_records']} of {ed['ed_attendances']}, published counts)"
        )
    else:
        typer.echo(f"   ED assault attendances not in police records (VRP): {ed['reason']}")


def _svdhub(
    args: list[str], env: Path | dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``svdhub``: as the hub (``env`` the hub's state folder) or, given a whole
    environment, as an authority (:func:`_authority_env`)."""
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env=_env(env) if isinstance(env, Path) else env,
    )
    if check and done.returncode != 0:
        typer.echo(f"error: svdhub {' '.join(args)} failed:\n{done.stderr}", err=True)
        raise typer.Exit(1)
    return done


def _env(home: Path) -> dict[str, str]:
    """A hub process's environment: its state folder, and no authority's folder."""
    env = {**os.environ, "SVDHUB_HOME": str(home)}
    env.pop(AUTHORITY_HOME_ENV, None)
    env.pop(AUTHORITIES_ENV, None)
    return env


def _authority_env(authorities: Path, folder: Path | None) -> dict[str, str]:
    """An authority's environment: its own folder (``None``: every authority in
    ``<authorities>/<authority>``, and the partnership's own)."""
    env = {**os.environ, AUTHORITIES_ENV: str(authorities)}
    env.pop(AUTHORITY_HOME_ENV, None)
    if folder is not None:
        env[AUTHORITY_HOME_ENV] = str(folder)
    return env


def _synthetic(authorities: Path, owners: set[str]) -> dict[str, int]:
    """Write the synthetic extracts (and copy each to its authority's folder) unless
    this seed and length are there already; return the rows per file."""
    out = authorities / "synthetic"
    manifest_file = out / "manifest.json"
    manifest: dict[str, Any] = {}
    if manifest_file.is_file():
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    copied = all((authorities / owner / "extracts").is_dir() for owner in owners)
    if manifest.get("seed") != SEED or manifest.get("days") != DAYS or not copied:
        args = ["generate", "--out", str(out), "--days", str(DAYS), "--seed", str(SEED)]
        _svdhub([*args, "--authorities", str(authorities)], _authority_env(authorities, None))
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    return {str(name): int(rows) for name, rows in manifest["files"].items()}


def _run_enforcer_until_caught_up(admin: ClientSettings, opa_url: str, home: Path) -> float:
    """Run ``svdhub enforcer run`` until it has committed every raw topic's end
    offset, then stop it; return the seconds it took. Raises typer.Exit if it fails."""
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (logs / "enforcer.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *_enforcer_args(opa_url)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_env(home),
        )
    try:
        while not _caught_up(admin, ENFORCER_GROUP):
            if process.poll() is not None:
                typer.echo(
                    f"error: the enforcer stopped (exit {process.returncode}); "
                    f"see {logs / 'enforcer.log'}",
                    err=True,
                )
                raise typer.Exit(1)
            if time.monotonic() - started > ENFORCER_TIMEOUT:
                typer.echo(
                    f"error: the enforcer did not catch up in {ENFORCER_TIMEOUT} s; "
                    f"see {logs / 'enforcer.log'}",
                    err=True,
                )
                raise typer.Exit(1)
            time.sleep(1)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    return time.monotonic() - started


ENFORCER_TIMEOUT = 600


def _caught_up(kafka: ClientSettings, group: str) -> bool:
    """Whether ``group`` has committed the end offset of every raw topic partition
    (the demo looks as the stack's admin)."""
    consumer = KafkaConsumer(**kafka.kafka_python(), client_id="svdhub-demo")
    admin = KafkaAdminClient(**kafka.kafka_python(), client_id="svdhub-demo")
    try:
        names = TopicNames.from_env()
        raw = [t for t in consumer.topics() if names.is_raw(t)]
        parts = [TopicPartition(t, p) for t in raw for p in consumer.partitions_for_topic(t) or ()]
        ends = consumer.end_offsets(parts)
        try:
            offsets = admin.list_group_offsets({group: None}).get(group, {})
        except KafkaError:
            return False  # e.g. the group coordinator is not up yet on a new broker
        committed = {tp: meta.offset for tp, meta in offsets.items()}
        return bool(parts) and all(committed.get(tp, 0) >= end for tp, end in ends.items())
    finally:
        consumer.close()
        admin.close()


@dataclass
class AuditSummary:
    events: Counter[str] = field(default_factory=Counter)
    shares: Counter[str] = field(default_factory=Counter)
    denials: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    revisions: set[str] = field(default_factory=set)
    unreadable: int = 0  # messages on the audit topic that are not audit records


def _audit_summary(kafka: ClientSettings) -> AuditSummary:
    """Counts over the whole audit topic, one per decision_id (replays count once)."""
    consumer = KafkaConsumer(
        **kafka.kafka_python(), client_id="svdhub-demo", enable_auto_commit=False
    )
    topic = TopicNames.from_env().audit_decisions
    summary = AuditSummary()
    seen: set[str] = set()
    events: set[str] = set()
    try:
        for message in read_to_end(consumer, partitions(consumer, [topic])):
            try:
                records = read_audit_message(message.value)
            except ContractError:
                summary.unreadable += 1
                continue
            for record in records:
                _count(summary, record, seen, events)
    finally:
        consumer.close()
    return summary


def _count(summary: AuditSummary, record: AuditRecord, seen: set[str], events: set[str]) -> None:
    if record.decision_id in seen:
        return
    seen.add(record.decision_id)
    if record.decision == QUARANTINE:
        for reason in record.reasons:
            summary.quarantined[reason.code] += 1
        return
    if record.event_id is not None and record.event_id not in events:
        events.add(record.event_id)
        summary.events[str(record.source_authority)] += 1
    if record.policy_revision:
        summary.revisions.add(record.policy_revision)
    if record.decision == ALLOW:
        summary.shares[str(record.recipient)] += 1
    else:
        for reason in record.reasons:
            summary.denials[reason.message] += 1
