"""``svdhub policy``: build, check, test and list the data-sharing policies.

``check`` and ``test`` cover both Rego folders: ``policies/svd`` (the bundle
OPA decides with) and ``policies/system`` (``system.authz``, who may use OPA's
API at all).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer

from hub.bundle import BundleError, build, load_agreements, load_parties
from hub.settings import opa_binary, policies_dir, state_home

app = typer.Typer(
    help="Build and check the agreements and Rego policies that OPA enforces.", no_args_is_help=True
)


#: The Rego folders under policies/: the svd bundle, and OPA's own system.authz.
REGO_FOLDERS = ("svd", "system")


def _policies() -> Path:
    return policies_dir()


def _rego(policies: Path) -> list[str]:
    return [str(policies / folder) for folder in REGO_FOLDERS]


def _agreements(policies: Path) -> dict[str, dict[str, Any]]:
    """The validated agreements, or exit 1 with the first problem."""
    try:
        return load_agreements(policies / "agreements", load_parties(policies / "parties.yaml"))
    except BundleError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _opa() -> str:
    """The OPA that `svdhub stack install` built (``<tools>/bin/opa``)."""
    opa = opa_binary()
    if not (opa.is_file() and os.access(opa, os.X_OK)):
        typer.echo(
            f"error: OPA is not installed ({opa} not found); run `make setup` "
            "(or `svdhub stack install`)",
            err=True,
        )
        raise typer.Exit(1)
    return str(opa)


@app.command("build")
def build_(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Bundle folder (default: the one the local OPA serves, .hub/bundle)."
        ),
    ] = None,
) -> None:
    """Validate every agreement and write the OPA bundle; print its revision."""
    target = out or state_home() / "bundle"
    try:
        built = build(_policies(), target)
    except BundleError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{len(built.agreements)} agreements -> {built.folder}\nrevision {built.revision}")


@app.command()
def check() -> None:
    """Validate the agreements and parties, and run `opa fmt` and `opa check --strict`."""
    policies = _policies()
    agreements = _agreements(policies)
    opa = _opa()
    rego = _rego(policies)
    for command in ([opa, "fmt", "--fail", "--list", *rego], [opa, "check", "--strict", *rego]):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            typer.echo(f"error: {' '.join(command)}:\n{done.stdout}{done.stderr}", err=True)
            raise typer.Exit(1)
    typer.echo(f"ok: {len(agreements)} agreements valid; Rego formatted and checked")


@app.command("test")
def test_() -> None:
    """Run the Rego tests (`opa test`) and report coverage."""
    rego = _rego(_policies())
    opa = _opa()
    done = subprocess.run(
        [opa, "test", *rego, "--coverage", "--format=json"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        typer.echo(done.stdout + done.stderr, err=True)
        raise typer.Exit(1) from None
    failed = subprocess.run([opa, "test", *rego], capture_output=True, text=True, check=False)
    typer.echo(failed.stdout.strip())
    for name, file in sorted(report.get("files", {}).items()):
        typer.echo(f"coverage {file.get('coverage', 0):6.2f}%  {name}")
    typer.echo(f"coverage {report.get('coverage', 0):6.2f}%  overall")
    if failed.returncode != 0:
        raise typer.Exit(1)


@app.command("list")
def list_() -> None:
    """List the agreements: parties, purpose, lawful basis and review date."""
    agreements = _agreements(_policies())
    for agreement in agreements.values():
        typer.echo(
            f"{agreement['id']}  (review by {agreement['review_by']}, {agreement['lawful_basis']})"
        )
        typer.echo(f"  {agreement['title']}")
        typer.echo(
            f"  from {', '.join(agreement['disclosers'])} to {', '.join(agreement['recipients'])}"
        )
        typer.echo(f"  purpose: {agreement['purpose']}")
        typer.echo(
            f"  events: {', '.join(agreement['event_types'])}; "
            f"fields: {', '.join(agreement['fields'])}"
        )
