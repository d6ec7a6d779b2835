"""``svdhub schemas``: list, show and check the wire schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wire import compat, schemas

app = typer.Typer(
    help="Inspect the Avro wire schemas and check their compatibility.", no_args_is_help=True
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
        help="Folder of frozen releases (v1/, v2/, ...) instead of the shipped ones.",
        exists=True,
        file_okay=False,
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


@app.command("check")
def check_(current_dir: CurrentOption = None, released_dir: ReleasedOption = None) -> None:
    """Prove the current schemas can read every released version (BACKWARD_TRANSITIVE)
    and weaken no field's classification. Exits 1 on any problem."""
    current, releases = _load(current_dir, released_dir)
    problems = compat.check(current, releases)
    for problem in problems:
        typer.echo(f"problem: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(
        f"ok: {len(current.records())} records are BACKWARD_TRANSITIVE compatible with "
        f"{', '.join(releases) or 'no release'}; every field has a doc and a "
        "classification, and none is weaker than in the latest release"
    )


@app.command()
def freeze() -> None:
    """Freeze the current schemas as the next released version (released/vN)."""
    current, releases = _load()
    problems = [p for p in compat.check(current, releases) if "weakened" not in p.message]
    if problems:
        for problem in problems:
            typer.echo(f"problem: {problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"froze the current schemas as {compat.freeze(releases)}")
