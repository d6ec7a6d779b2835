"""The ``svdhub`` command.

Command groups of the hub live here. Groups from other packages (the
authority-side ``edge`` connectors) register under the ``svdhub.commands``
entry-point group and are loaded by name, so ``hub`` never imports ``edge``.

Exit codes: 0 success, 1 failure (the message says which component or file),
2 bad usage, 3 a service is down (``stack status``).
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from hub import __version__
from hub.demo import demo
from hub.schemas_cli import app as schemas_app
from hub.stack.cli import app as stack_app

app = typer.Typer(
    name="svdhub",
    help="Serious Violence Duty data-sharing hub: connectors, enforcer, audit ledger and views.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(schemas_app, name="schemas")
app.command()(demo)


@app.command()
def version() -> None:
    """Print the svdhub version."""
    typer.echo(__version__)


def _load_plugins() -> None:
    for entry in entry_points(group="svdhub.commands"):
        group = entry.load()
        if isinstance(group, typer.Typer):
            app.add_typer(group, name=entry.name)


def main() -> None:
    _load_plugins()
    app()


if __name__ == "__main__":
    main()
