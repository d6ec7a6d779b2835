"""``svdhub audit``: the tamper-evident ledger of every decision, for IG leads.

Exit codes: 0 success; 1 a check failed (``verify`` found tampering,
``check-proof`` rejected a proof, ``reconcile`` found a difference) or the
command could not run; 2 bad usage.
"""

from __future__ import annotations

import base64
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select

from hub.access.plan import LEDGER
from hub.access.store import ADMIN
from hub.audit import proofs
from hub.audit.checkpoints import (
    VERIFIER_ENV,
    Checkpoint,
    CheckpointError,
    audit_signer,
    check_verifier,
    log_origin,
    log_verifier,
)
from hub.audit.ledger import (
    Appended,
    Ledger,
    entries,
    load_checkpoints,
    load_cosignatures,
    metadata,
)
from hub.audit.note import NoteError, Verifier, cosigner_key, parse_cosigner_key, raw_public_key
from hub.audit.proofs import ProofError
from hub.audit.quorum import quorum
from hub.audit.reports import (
    SHARED_ID,
    Filters,
    forged_audit_records,
    query,
    reconcile,
    render,
)
from hub.audit.verify import check_proof, prove, verify
from hub.audit.witness import (
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    DatabaseLog,
    HttpLog,
    Log,
    Refused,
    Witness,
    WitnessError,
)
from hub.cli_support import BatchWait, Bootstrap, Credentials, kafka_client
from hub.database import local_engine
from hub.hub_key_cli import HubKeyOption, keys_or_exit
from hub.runtime import settle_heap
from hub.settings import state_home
from wire.audit import AuditRecordError
from wire.signing import read_private_key, write_private_key
from wire.topics import TopicNames

app = typer.Typer(
    help="The audit ledger: every decision in a Merkle tree with signed checkpoints.",
    no_args_is_help=True,
)

DATABASE_ENV = "SVDHUB_AUDIT_DATABASE"

Database = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar=DATABASE_ENV,
        help="SQLAlchemy URL of the ledger (default: SQLite in $SVDHUB_HOME/audit/ledger.sqlite).",
    ),
]
PublicKey = Annotated[
    str | None,
    typer.Option(
        help="The hub's audit public key (base64) to pin; checkpoints by any other key fail."
    ),
]


VerifierKey = Annotated[
    str | None,
    typer.Option(
        "--verifier-key",
        envvar=VERIFIER_ENV,
        help="The log's verifier key as partners pin it (<origin>+<hash>+<key>; "
        "`svdhub audit public-key` prints it): needed to read a checkpoint note.",
    ),
]


def open_ledger(engine: Engine, **options: Any) -> Ledger:
    """The ledger with the hub's audit key; exit 1 if the key or origin is not the
    configured verifier key ($SVDHUB_AUDIT_VERIFIER_KEY) that partners pinned."""
    try:
        return Ledger(engine, audit_signer(state_home()), **options)
    except CheckpointError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def parse_verifier(text: str | None) -> Verifier | None:
    if text is None:
        return None
    try:
        return Verifier.parse(text)
    except NoteError as exc:
        typer.echo(f"error: --verifier-key: {exc}", err=True)
        raise typer.Exit(2) from exc


def engine_for(url: str | None) -> Engine:
    engine = local_engine(url, "audit", "ledger.sqlite")
    metadata.create_all(engine)
    return engine


@app.command()
def run(
    *,
    database: Database = None,
    credentials: Credentials = None,
    bootstrap: Bootstrap = None,
    once: Annotated[
        bool, typer.Option(help="Stop at the end of the topic instead of following it.")
    ] = False,
    every_records: Annotated[
        int, typer.Option(min=1, help="Issue a checkpoint after this many new rows.")
    ] = 1000,
    every_seconds: Annotated[
        float, typer.Option(min=0.1, help="...or after this many seconds.")
    ] = 10.0,
    hub_key: HubKeyOption = None,
    batch_wait: BatchWait = None,
) -> None:
    """Consume svd.audit.decisions into the ledger (one row per decision_id)."""
    from hub.sink import consume, new_consumer  # noqa: PLC0415 - keeps `svdhub --help` quick

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    ledger = open_ledger(
        engine_for(database),
        every_records=every_records,
        every_seconds=every_seconds,
        keys=keys_or_exit(hub_key),
    )
    if batch_wait is not None:
        ledger.batch_wait_ms = batch_wait
    kafka = kafka_client(LEDGER, credentials, bootstrap)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    totals = Appended()
    settle_heap()

    def report(batch: Appended) -> None:
        totals.added += batch.added
        totals.replayed += batch.replayed
        totals.rejected += batch.rejected
        totals.forged += batch.forged
        if batch.checkpoint is not None:
            typer.echo(
                f"checkpoint: {batch.checkpoint.tree_size} rows, root {batch.checkpoint.root}",
                err=True,
            )

    consume(
        ledger,
        new_consumer(kafka, "svdhub-audit", ledger.batch_wait_ms),
        once=once,
        should_stop=lambda: stopping,
        on_batch=report,
        wait_for_topics=60.0,
    )
    typer.echo(
        f"ledger: {ledger.size} rows ({totals.added} added, {totals.replayed} replays "
        f"skipped, {totals.rejected} rejected, {totals.forged} of them not signed by the hub)"
    )


@app.command("verify")
def verify_command(
    *,
    database: Database = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            exists=True, dir_okay=False, help="A checkpoint file a partner kept (repeatable)."
        ),
    ] = None,
    public_key: PublicKey = None,
    verifier_key: VerifierKey = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            help="A partner witness's key (<name>+<hash>+<key>, from `audit witness-key`); "
            "repeatable. With --quorum.",
        ),
    ] = None,
    needed: Annotated[
        int,
        typer.Option(
            "--quorum",
            min=0,
            help="Fail unless this many of the --witness keys co-signed a checkpoint of at "
            "least --witnessed-size records.",
        ),
    ] = 0,
    witnessed_size: Annotated[
        int | None,
        typer.Option(
            "--witnessed-size",
            min=0,
            help="The size the quorum must reach (default: the latest checkpoint's).",
        ),
    ] = None,
) -> None:
    """Recompute the tree from the rows and check every checkpoint, each against the
    one before; with --witness and --quorum, that partners' witnesses co-signed it.
    Exit 1 on tampering or a missing quorum."""
    engine = engine_for(database)
    verifier = parse_verifier(verifier_key)
    if verifier is not None and public_key is None:
        public_key = base64.b64encode(verifier.public_key).decode()
    try:
        witnesses = [parse_cosigner_key(text) for text in witness or []]
    except NoteError as exc:
        typer.echo(f"error: --witness: {exc}", err=True)
        raise typer.Exit(2) from exc
    if needed > len(witnesses):
        typer.echo(f"error: --quorum {needed} needs at least {needed} --witness keys", err=True)
        raise typer.Exit(2)
    try:
        given = [Checkpoint.load(path, verifier) for path in checkpoint or []]
    except CheckpointError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    with engine.connect() as conn:
        total = conn.execute(select(entries.c.seq).order_by(entries.c.seq.desc()).limit(1)).scalar()
    length = int(total or 0) + 1
    with typer.progressbar(length=length, label="verifying", file=sys.stderr) as bar:
        report = verify(engine, given, public_key, progress=bar.update)
    witnessed = ""
    if witnesses and needed:
        stored = load_checkpoints(engine)
        lines = load_cosignatures(engine)
        size = witnessed_size
        if size is None:
            size = stored[-1].tree_size if stored else 0
        counted = quorum(
            [(c, lines.get(c.tree_size, [])) for c in stored],
            [
                path.read_text("utf-8")
                for path, c in zip(checkpoint or [], given, strict=True)
                if c.origin is not None
            ],
            witnesses,
            needed,
            size,
        )
        if problem := counted.problem([name for name, _ in witnesses]):
            report.problems.append(problem)
        witnessed = f"; {needed} of {len(witnesses)} witnesses co-signed {size} records or more"
    if not report.ok:
        typer.echo(f"FAILED: {len(report.problems)} problems; the first:", err=True)
        for problem in report.problems[:20]:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"OK: {report.rows} rows, {report.checkpoints} checkpoints"
        f"{f' and {len(given)} given' if given else ''} verified "
        f"({report.consistent} consistency proofs); root {report.root}{witnessed}"
    )


@app.command("prove")
def prove_command(
    decision_id: Annotated[str, typer.Argument(help="The decision to prove.")],
    *,
    database: Database = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the proof here instead of printing it.")
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(help="Prove against the checkpoint of this many rows (default: the latest)."),
    ] = None,
) -> None:
    """Print a JSON inclusion proof of one decision against a checkpoint."""
    try:
        proof = prove(engine_for(database), decision_id, size)
    except ProofError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    text = json.dumps(proof, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out} (tree of {proof['tree_size']} rows)", err=True)


@app.command("check-proof")
def check_proof_command(
    proof: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="From `audit prove`.")],
    checkpoint: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="From `audit checkpoint`.")
    ],
    *,
    public_key: PublicKey = None,
    verifier_key: VerifierKey = None,
) -> None:
    """Check a proof against a checkpoint, with nothing but the two files (and, for
    a checkpoint note, the log's verifier key)."""
    verifier = parse_verifier(verifier_key)
    if verifier is not None and public_key is None:
        public_key = base64.b64encode(verifier.public_key).decode()
    try:
        said = check_proof(
            json.loads(proof.read_text(encoding="utf-8")),
            Checkpoint.load(checkpoint, verifier),
            public_key,
        )
    except (ProofError, CheckpointError, ValueError) as exc:
        typer.echo(f"INVALID: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"VALID: {said}")
    if public_key is None:
        typer.echo(
            "note: the checkpoint's own key was used; pin the hub's key with --public-key", err=True
        )


@app.command("consistency")
def consistency_command(
    *,
    database: Database = None,
    start: Annotated[
        int, typer.Option("--from", min=1, help="The older tree size (one a partner holds).")
    ],
    end: Annotated[
        int | None,
        typer.Option("--to", min=1, help="The newer tree size (default: the latest checkpoint)."),
    ] = None,
    form: Annotated[
        str,
        typer.Option("--format", help="lines (base64 hashes, one per line) or json."),
    ] = "lines",
    out: Annotated[Path | None, typer.Option(help="Write the proof here.")] = None,
) -> None:
    """Print an RFC 6962 consistency proof that the tree of --from records is a
    prefix of the tree of --to records."""
    if form not in {"lines", "json"}:
        typer.echo("error: --format must be lines or json", err=True)
        raise typer.Exit(2)
    engine = engine_for(database)
    if end is None:
        found = load_checkpoints(engine)
        if not found:
            typer.echo("error: no checkpoint issued yet; give --to", err=True)
            raise typer.Exit(1)
        end = found[-1].tree_size
    try:
        proof = proofs.consistency(engine, start, end)
    except ProofError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    text = (
        json.dumps(proofs.to_json(start, end, proof), indent=2) + "\n"
        if form == "json"
        else proofs.to_lines(proof)
    )
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out} ({start} -> {end}, {len(proof)} hashes)", err=True)


@app.command("check-consistency")
def check_consistency_command(
    old: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The checkpoint kept before.")
    ],
    new: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The newer checkpoint.")],
    proof: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="From `audit consistency`.")
    ],
    *,
    public_key: PublicKey = None,
    verifier_key: VerifierKey = None,
) -> None:
    """Check, offline, that the newer checkpoint's tree extends the older one's:
    both signatures (by the pinned key) and the consistency proof. Exit 1 if not."""
    verifier = parse_verifier(verifier_key)
    if verifier is not None and public_key is None:
        public_key = base64.b64encode(verifier.public_key).decode()
    try:
        said = proofs.check_consistency(
            Checkpoint.load(old, verifier),
            Checkpoint.load(new, verifier),
            proof.read_text(encoding="utf-8"),
            public_key,
        )
    except (ProofError, CheckpointError, OSError) as exc:
        typer.echo(f"INVALID: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"VALID: {said}")
    if public_key is None:
        typer.echo(
            "note: the checkpoints' own key was used; pin the hub's key with --verifier-key",
            err=True,
        )


@app.command("checkpoint")
def checkpoint_command(
    *,
    database: Database = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the checkpoint here (for a partner to keep).")
    ] = None,
    size: Annotated[
        int | None, typer.Option(help="The checkpoint of this tree size (default: the latest).")
    ] = None,
    issue: Annotated[bool, typer.Option(help="First issue one covering every row.")] = False,
    form: Annotated[
        str,
        typer.Option(
            "--format",
            help="note (a C2SP signed note, as transparency-log tools read it) or json.",
        ),
    ] = "note",
) -> None:
    """Export a signed checkpoint: a C2SP tlog-checkpoint signed note (or JSON)."""
    if form not in {"note", "json"}:
        typer.echo("error: --format must be note or json", err=True)
        raise typer.Exit(2)
    engine = engine_for(database)
    if issue:
        open_ledger(engine, keys=keys_or_exit(None)).checkpoint()
    found = load_checkpoints(engine)
    chosen = [c for c in found if size is None or c.tree_size == size]
    if not chosen:
        typer.echo("error: no such checkpoint" + ("" if found else " (none issued yet)"), err=True)
        raise typer.Exit(1)
    latest = chosen[-1]
    if form == "note" and latest.origin is None:
        typer.echo(
            f"error: the checkpoint of size {latest.tree_size} predates the note format; "
            "use --format json, or --issue for a new one",
            err=True,
        )
        raise typer.Exit(1)
    if form == "note":
        # With the cosignatures partners' witnesses handed over for it.
        lines = load_cosignatures(engine).get(latest.tree_size, [])
        text = latest.to_note() + "".join(lines)
    else:
        text = latest.to_json()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out} ({chosen[-1].tree_size} rows)", err=True)


@app.command("query")
def query_command(
    *,
    database: Database = None,
    source: Annotated[str | None, typer.Option(help="Disclosing authority id.")] = None,
    recipient: Annotated[str | None, typer.Option(help="Recipient id.")] = None,
    agreement: Annotated[str | None, typer.Option(help="Agreement id.")] = None,
    event_type: Annotated[
        str | None, typer.Option(help="INCIDENT, REFERRAL, OUTCOME or RETRACTION.")
    ] = None,
    decision: Annotated[str | None, typer.Option(help="allow, deny or quarantine.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Decided at or after (ISO date or time, UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Decided before (ISO date or time, UTC).")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="The subject's source pseudonym.")] = None,
    shared_id: Annotated[
        str | None,
        typer.Option(
            "--shared-id",
            help="An id a recipient holds (its share_id, event_id, supersedes, "
            "retracted_event_id or message key): the decisions that sent it.",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1)] = None,
    form: Annotated[
        str, typer.Option("--format", help="table, csv or json (JSON Lines).")
    ] = "table",
) -> None:
    """List decisions, filtered, as a table, CSV or JSON."""
    if form not in {"table", "csv", "json"}:
        typer.echo("error: --format must be table, csv or json", err=True)
        raise typer.Exit(2)
    filters = Filters(
        source, recipient, agreement, event_type, decision, since, until, subject, limit, shared_id
    )
    if shared_id is not None and not SHARED_ID.fullmatch(shared_id):
        typer.echo(f"error: --shared-id: {shared_id!r} is not an id a share carries", err=True)
        raise typer.Exit(2)
    try:
        found = query(engine_for(database), filters)
    except AuditRecordError as exc:
        typer.echo(
            f"error: a ledger row is not a valid audit record ({exc}); "
            "run `svdhub audit verify` to find every change",
            err=True,
        )
        raise typer.Exit(1) from exc
    typer.echo(render(found, form), nl=False)


@app.command("reconcile")
def reconcile_command(
    *,
    database: Database = None,
    credentials: Credentials = None,
    bootstrap: Bootstrap = None,
    hub_key: HubKeyOption = None,
) -> None:
    """Per recipient: allow decisions in the ledger == shares in svd.shared.<recipient>.*?

    Only shares the hub signed count; forgeries in the shared topics (unsigned,
    signed by another key, or on another recipient's topic) and audit records
    the ledger rejected as forged are listed apart. Exit 1 on any difference
    or forgery. It reads every shared topic, so it connects as the stack's
    admin by default."""
    keys = keys_or_exit(hub_key)
    engine = engine_for(database)
    kafka = kafka_client(ADMIN, credentials, bootstrap)
    results = reconcile(engine, kafka, TopicNames.from_env(), keys)
    exact = True
    forgeries = 0
    typer.echo(f"{'recipient':<20} {'allowed':>8} {'shared':>8} {'dups':>6}  result")
    for recipient, found in results.items():
        exact &= found.exact
        verdict = (
            "exact"
            if found.exact
            else (
                f"{len(found.not_shared)} allowed but not shared, "
                f"{len(found.not_allowed)} shared without an allow decision, "
                f"{found.unreadable} not valid shares"
            )
        )
        typer.echo(
            f"{recipient:<20} {found.allowed:>8} {found.shared:>8} {found.duplicates:>6}  {verdict}"
        )
        for label, ids in (("not shared", found.not_shared), ("not allowed", found.not_allowed)):
            for decision_id in sorted(ids)[:10]:
                typer.echo(f"    {label}: {decision_id}")
        for topic, count in sorted(found.forged.items()):
            forgeries += count
            typer.echo(f"    forged: {count} in {topic} (rejected, not counted as shared)")
    forged_records = forged_audit_records(engine)
    forgeries += forged_records
    typer.echo(
        f"forgeries: {sum(sum(r.forged.values()) for r in results.values())} on shared topics, "
        f"{forged_records} audit records rejected by the ledger (none counted as allowed)"
    )
    if not exact or forgeries:
        raise typer.Exit(1)


@app.command("public-key")
def public_key_command() -> None:
    """Print the log's verifier key in note form (<origin>+<key hash>+<base64 key>):
    what partners pin to check checkpoints, proofs and what their witnesses sign.
    The origin is $SVDHUB_AUDIT_ORIGIN, else one made from the audit key."""
    signer = audit_signer(state_home())
    try:
        origin = log_origin(signer)
        check_verifier(signer, origin)
    except CheckpointError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(log_verifier(signer, origin))


@app.command("witness-key")
def witness_key_command(
    path: Annotated[Path, typer.Argument(help="Where to write the witness's private key.")],
    *,
    name: Annotated[
        str,
        typer.Option(
            help="The witness's name: a schema-less URL naming the partner, e.g. "
            "witness.wmp.police.uk/svdhub."
        ),
    ],
) -> None:
    """Make a witness key (Ed25519, 0600) for a partner authority, and print the
    key the hub and IG leads configure (`audit verify --witness`)."""
    key = Ed25519PrivateKey.generate()
    try:
        parse_cosigner_key(cosigner_key(name, raw_public_key(key.public_key())))
    except NoteError as exc:
        typer.echo(f"error: --name: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        write_private_key(path, key)
    except FileExistsError as exc:
        typer.echo(f"error: {path} exists; a witness key is never replaced", err=True)
        raise typer.Exit(1) from exc
    typer.echo(cosigner_key(name, raw_public_key(key.public_key())))


@app.command("witness")
def witness_command(
    *,
    log_source: Annotated[
        str,
        typer.Option(
            "--log",
            help="The log: the ledger's SQLAlchemy URL (a witness beside the hub), or the "
            "API's base URL (https://...).",
        ),
    ],
    key: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, help="The witness's key (`audit witness-key`)."),
    ],
    name: Annotated[str, typer.Option(help="The witness's name, as given to `witness-key`.")],
    state: Annotated[
        Path,
        typer.Option(help="The witness's own folder: the last checkpoint it co-signed, evidence."),
    ],
    verifier_key: Annotated[
        str,
        typer.Option(
            "--verifier-key",
            envvar=VERIFIER_ENV,
            help="The log's verifier key the partner pinned (`audit public-key`).",
        ),
    ],
    token: Annotated[
        str | None, typer.Option(envvar="SVDHUB_API_TOKEN", help="An API token (HTTP logs).")
    ] = None,
    every: Annotated[
        float | None,
        typer.Option(min=0.5, help="Run again every this many seconds (default: once)."),
    ] = None,
) -> None:
    """Check the log's newest checkpoint against the last one this witness co-signed
    (same origin and key, no smaller tree, same root at the same size, a valid
    consistency proof), then co-sign it (C2SP tlog-cosignature). Exit 3, keeping
    both checkpoints and the proof in STATE/evidence/, if the log is not
    append-only; exit 1 if it cannot be read or is not signed by the pinned key."""
    verifier = parse_verifier(verifier_key)
    if verifier is None:  # a required option
        raise typer.Exit(2)
    try:
        private = read_private_key(key)
    except (OSError, ValueError) as exc:
        typer.echo(f"error: --key: {exc}", err=True)
        raise typer.Exit(1) from exc
    source: Log = (
        HttpLog(log_source, token)
        if log_source.startswith(("http://", "https://"))
        else DatabaseLog(engine_for(log_source))
    )
    witness = Witness(name, private, state, verifier)
    while True:
        try:
            done = witness.run(source)
        except Refused as exc:
            typer.echo(f"REFUSED: {exc}", err=True)
            raise typer.Exit(EXIT_REFUSED) from exc
        except WitnessError as exc:
            typer.echo(f"error: {exc}", err=True)
            if every is None:
                raise typer.Exit(EXIT_UNAVAILABLE) from exc
        else:
            grown = (
                "first checkpoint seen"
                if done.grown_from is None
                else f"consistent with {done.grown_from}"
            )
            typer.echo(f"co-signed {done.tree_size} records ({grown})")
        if every is None:
            return
        time.sleep(every)
