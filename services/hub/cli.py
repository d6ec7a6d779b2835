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
from hub.audit.cli import app as audit_app
from hub.demo import demo
from hub.enforcer.cli import app as enforcer_app
from hub.policy_cli import app as policy_app
from hub.schemas_cli import app as schemas_app
from hub.stack.cli import app as stack_app
from hub.views.api_cli import app as api_app
from hub.views.cli import app as views_app

app = typer.Typer(
    name="svdhub",
    help="Serious Violence Duty data-sharing hub: connectors, enforcer, audit ledger and views.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(schemas_app, name="schemas")
app.add_typer(policy_app, name="policy")
app.add_typer(enforcer_app, name="enforcer")
app.add_typer(audit_app, name="audit")
app.add_typer(views_app, name="views")
app.add_typer(api_app, name="api")
app.command()(demo)


@app.command()
def version() -> None:
    """Print the svdhub version."""
    typer.echo(__version__)


_plugins_loaded = False


def load_plugins() -> None:
    """Add the command groups (typer apps) and commands (functions) that other
    packages register under the ``svdhub.commands`` entry-point group (once)."""
    global _plugins_loaded  # noqa: PLW0603 - a process-wide, load-once switch
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in entry_points(group="svdhub.commands"):
        target = entry.load()
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=entry.name)
        elif callable(target):
            app.command(name=entry.name)(target)


def main() -> None:
    load_plugins()
    app()


if __name__ == "__main__":
    main()
