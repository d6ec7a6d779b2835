"""``svdhub schemas``: list, show, check and freeze the wire schemas and the share envelope;
print the JSON Schemas of what each recipient receives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hub.bundle import BundleError
from hub.settings import policies_dir
from hub.share_schemas import ShareSchemaError, file_name, load, share_schemas
from wire import compat, schemas, shares

app = typer.Typer(
    help="Inspect the Avro wire schemas and the share envelope, and check their "
    "compatibility; print the JSON Schemas of the shares recipients receive.",
    no_args_is_help=True,
)


CurrentOption = Annotated[
    Path | None,
    typer.Option(
        "--current",
        help="Folder of .avsc files to check instead of the shipped "
        "schemas (e.g. a proposed change).",
        exists=True,
        file_okay=False,
    ),
]
ReleasedOption = Annotated[
    Path | None,
    typer.Option(
        "--released",
        help="Folder of frozen releases (v1/, v2/, ... and shares/v1/, ...) "
        "instead of the shipped ones.",
        exists=True,
        file_okay=False,
    ),
]
EnvelopeOption = Annotated[
    Path | None,
    typer.Option(
        "--current-envelope",
        help="A share envelope JSON Schema to check instead of the one the wire "
        "package builds (e.g. a proposed change).",
        exists=True,
        dir_okay=False,
    ),
]


def _load(
    current: Path | None = None, released: Path | None = None
) -> tuple[schemas.SchemaSet, dict[str, schemas.SchemaSet]]:
    try:
        return (
            schemas.SchemaSet.load(current, "current") if current else schemas.current(),
            schemas.released(released) if released else schemas.released(),
        )
    except schemas.SchemaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command("list")
def list_() -> None:
    """List the record schemas with their fingerprints and field counts."""
    current, releases = _load()
    typer.echo(f"{'record':<12} {'fingerprint':<17} {'fields':>6}  released in")
    for name in current.records():
        fingerprint = current.fingerprint(name).hex()
        shipped = [
            label
            for label, release in releases.items()
            if name in release.sources and release.fingerprint(name).hex() == fingerprint
        ]
        typer.echo(
            f"{name:<12} {fingerprint:<17} {len(current.fields(name)):>6}  "
            f"{', '.join(shipped) or 'unreleased changes'}"
        )


@app.command()
def show(name: Annotated[str, typer.Argument(help="A record name, e.g. Incident.")]) -> None:
    """Print every field of a record with its type, classification and doc."""
    current, _ = _load()
    if name not in current.records():
        typer.echo(
            f"error: no record {name!r}; choose from {', '.join(current.records())}", err=True
        )
        raise typer.Exit(1)
    source = current.sources[name]
    typer.echo(f"{name} ({current.fingerprint(name).hex()}): {source.get('doc', '')}\n")
    for field in current.fields(name):
        typer.echo(f"{field.path:<34} {field.classification:<17} {field.type}")
        typer.echo(f"{'':<34} {field.doc}")


def _envelopes(
    current: Path | None = None, released: Path | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The share envelope schema to check and the frozen ones, or exit 1."""
    try:
        envelope = shares.envelope_schema()
        if current is not None:
            envelope = json.loads(current.read_text(encoding="utf-8"))
            if not isinstance(envelope, dict):
                raise schemas.SchemaError(f"{current}: not a JSON object")
        frozen = compat.released_envelopes(released / "shares" if released else compat.SHARES_DIR)
    except (OSError, ValueError, schemas.SchemaError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    return envelope, frozen


@app.command("check")
def check_(
    current_dir: CurrentOption = None,
    released_dir: ReleasedOption = None,
    current_envelope: EnvelopeOption = None,
) -> None:
    """Prove the current schemas can read every released version (BACKWARD_TRANSITIVE)
    and weaken no field's classification, and that the share envelope differs from
    the latest frozen one (released/shares/vN) in annotations only. Exits 1 on any
    problem."""
    current, releases = _load(current_dir, released_dir)
    envelope, frozen = _envelopes(current_envelope, released_dir)
    problems = [*compat.check(current, releases), *compat.envelope_problems(envelope, frozen)]
    for problem in problems:
        typer.echo(f"problem: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(
        f"ok: {len(current.records())} records are BACKWARD_TRANSITIVE compatible with "
        f"{', '.join(releases) or 'no release'}; every field has a doc and a "
        "classification, and none is weaker than in the latest release; the share "
        + (
            f"envelope matches shares/{list(frozen)[-1]}"
            if frozen
            else "envelope has no frozen version"
        )
    )


@app.command()
def freeze(
    shares_: Annotated[
        bool,
        typer.Option(
            "--shares",
            help="Freeze the share envelope's JSON Schema (released/shares/vN) "
            "instead of the Avro schemas.",
        ),
    ] = False,
) -> None:
    """Freeze the current schemas as the next released version (released/vN), or
    with --shares the share envelope (released/shares/vN)."""
    if shares_:
        _freeze_envelope()
        return
    current, releases = _load()
    problems = [p for p in compat.check(current, releases) if "weakened" not in p.message]
    if problems:
        for problem in problems:
            typer.echo(f"problem: {problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"froze the current schemas as {compat.freeze(releases)}")


def _freeze_envelope() -> None:
    envelope, frozen = _envelopes()
    problems = compat.envelope_problems(envelope, {})
    if problems:
        for problem in problems:
            typer.echo(f"problem: {problem}", err=True)
        raise typer.Exit(1)
    if frozen:
        latest = list(frozen)[-1]
        if not compat.schema_changes(
            compat.structural(frozen[latest]), compat.structural(envelope)
        ):
            typer.echo(
                f"error: the share envelope differs from shares/{latest} in annotations at "
                "most, which needs no new version",
                err=True,
            )
            raise typer.Exit(1)
    label = compat.freeze_envelope(envelope, frozen, compat.SHARES_DIR)
    typer.echo(f"froze the share envelope as shares/{label}")


@app.command("shares")
def shares_(
    recipient: Annotated[
        str | None,
        typer.Option("--recipient", help="Only this recipient (an id from parties.yaml)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write one file per recipient and event type "
            "(<recipient>.<type>.schema.json) to this folder instead of printing.",
            file_okay=False,
        ),
    ] = None,
    policies: Annotated[
        Path | None,
        typer.Option(
            "--policies",
            help="Policies folder (parties.yaml, agreements/) instead of the project's.",
            exists=True,
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Print the JSON Schema (draft 2020-12) of the shares each recipient receives, one per
    recipient and event type, generated from the agreements: the share envelope, and for
    each agreement exactly the fields it releases, typed as anonymised.

    Printed as one JSON object keyed <recipient>.<type>. Exits 1 if an agreement is invalid
    or names an action its field cannot take, 2 for an unknown recipient."""
    try:
        agreements, parties = load(policies or policies_dir())
    except BundleError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    known = list(parties["recipients"])
    if recipient is not None and recipient not in known:
        typer.echo(
            f"error: no recipient {recipient!r} in parties.yaml; choose from {', '.join(known)}",
            err=True,
        )
        raise typer.Exit(2)
    try:
        found = share_schemas(
            agreements, parties, recipients=None if recipient is None else (recipient,)
        )
    except ShareSchemaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    named = {file_name(r, t).removesuffix(".schema.json"): s for (r, t), s in found.items()}
    if out is None:
        typer.echo(json.dumps(named, indent=2, ensure_ascii=False))
        return
    out.mkdir(parents=True, exist_ok=True)
    for stem, schema in named.items():
        (out / f"{stem}.schema.json").write_text(
            json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    typer.echo(f"wrote {len(named)} schemas to {out}")
