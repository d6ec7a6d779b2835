"""The ``svdhub`` command.

Command groups load lazily. ``svdhub --help`` lists every command with the
one-line help in :data:`COMMANDS`, and a command's module (with what it
imports: SQLAlchemy, kafka-python, FastAPI, faust, the stack's installers) is
imported only when that command runs, so ``--help`` and every command pay
only for what they use.

Commands that live outside the hub package (the authority-side ``edge``
connectors) register under the ``svdhub.commands`` entry-point group, so
``hub`` never imports ``edge``. An entry point names either a pair of
strings, ``("module:attribute", "one-line help")``, which loads as lazily as
the hub's own commands, or a typer app or function, which is imported when
the command list is built.

Exit codes: 0 success, 1 failure (the message says which component or file),
2 bad usage, 3 a service is down (``stack status``).
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points
from typing import Any

import typer
import typer.main

# typer vendors click; TyperGroup holds (and calls make_context on) its Commands.
from typer._click import Command, Context
from typer.core import TyperCommand, TyperGroup

from hub import __version__
from wire.private_files import UMASK

PLUGIN_GROUP = "svdhub.commands"

# name -> (where the command lives, "module:attribute", and its one-line help).
# tests/hub/test_cli.py checks each help against the loaded command's own.
COMMANDS: dict[str, tuple[str, str]] = {
    "stack": (
        "hub.stack.cli:app",
        "Run the local stack: Apache Kafka (KRaft), OPA and PostgreSQL on loopback.",
    ),
    "schemas": (
        "hub.schemas_cli:app",
        "Inspect the Avro wire schemas and the share envelope, and check their "
        "compatibility; print the JSON Schemas of the shares recipients receive.",
    ),
    "access": (
        "hub.access.cli:app",
        "Kafka access: principals, SCRAM credentials and ACLs derived from the agreements.",
    ),
    "subscribe": (
        "hub.subscribe:subscribe_command",
        "Copy a recipient's shares to a file (JSON Lines, CSV, SQLite, Parquet), "
        "verifying the hub's signature and each stream's schema.",
    ),
    "policy": (
        "hub.policy_cli:app",
        "Build and check the agreements and Rego policies that OPA enforces.",
    ),
    "keys": (
        "hub.keys_cli:app",
        "Register, list and revoke the authorities' public keys the hub trusts.",
    ),
    "linkage": (
        "hub.linkage_cli:app",
        "Register the partnership linkage key's fingerprint per key version, and list them.",
    ),
    "enforcer": (
        "hub.enforcer.cli:app",
        "The enforcer: verify every raw event, ask OPA, share what agreements allow, audit all.",
    ),
    "audit": (
        "hub.audit.cli:app",
        "The audit ledger: every decision in a Merkle tree with signed checkpoints.",
    ),
    "risk": (
        "hub.risk.cli:app",
        "Re-identification risk: k-anonymity of what each recipient received.",
    ),
    "views": (
        "hub.views.cli:app",
        "Views for the VRP and the community safety partnerships, from svd.shared.*.",
    ),
    "api": (
        "hub.views.api_cli:app",
        "The views API (FastAPI, docs at /docs) and the dashboard (at /).",
    ),
    "demo": (
        "hub.demo:demo",
        "Start the stack, generate synthetic data, run connectors, enforcer, ledger and "
        "views; print a summary; serve the dashboard until Ctrl-C.",
    ),
}


def as_command(name: str, target: Any) -> Command:
    """The click command for a typer app (always a group, as ``add_typer``
    makes it) or for a function (a command, as ``app.command`` makes it)."""
    if isinstance(target, typer.Typer):
        command: Command = typer.main.get_group(target)
    elif callable(target):
        single = typer.Typer()
        single.command(name=name)(target)
        command = typer.main.get_command(single)
    else:
        raise TypeError(f"svdhub {name}: {target!r} is neither a typer app nor a function")
    command.name = name
    return command


class LazyCommand(TyperCommand):
    """A placeholder for a command whose module is not imported yet.

    The group lists it with its one-line help. When the group invokes it
    (``TyperGroup.invoke`` calls ``make_context``), it imports the module and
    hands over to the real command, which parses the arguments (``--help``
    included) and runs.
    """

    def __init__(self, name: str, target: str, help_text: str) -> None:
        super().__init__(name, help=help_text, add_help_option=False)
        self.target = target
        self._loaded: Command | None = None

    def load(self) -> Command:
        """Import ``module:attribute`` and build the command (once)."""
        if self._loaded is None:
            module, _, attribute = self.target.partition(":")
            found = getattr(importlib.import_module(module), attribute)
            self._loaded = as_command(self.name or attribute, found)
        return self._loaded

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        return self.load().make_context(info_name, args, parent=parent, **extra)


def _plugins() -> dict[str, Command]:
    """The commands other packages register under ``svdhub.commands``."""
    found: dict[str, Command] = {}
    for entry in entry_points(group=PLUGIN_GROUP):
        target = entry.load()
        if (
            isinstance(target, tuple)
            and len(target) == 2
            and all(isinstance(part, str) for part in target)
        ):
            found[entry.name] = LazyCommand(entry.name, target[0], target[1])
        else:
            found[entry.name] = as_command(entry.name, target)
    return found


class LazyGroup(TyperGroup):
    """The root ``svdhub`` group: the hub's :data:`COMMANDS` and the plugins
    as :class:`LazyCommand` placeholders, then the commands defined here."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        defined = dict(self.commands)
        self.commands.clear()
        for name, (target, help_text) in COMMANDS.items():
            self.commands[name] = LazyCommand(name, target, help_text)
        self.commands.update(defined)
        self.commands.update(_plugins())


app = typer.Typer(
    name="svdhub",
    cls=LazyGroup,
    help="Serious Violence Duty data-sharing hub: connectors, enforcer, audit ledger and views.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    # A callback makes the app a group even though it defines one command itself.
    pass


@app.command()
def version() -> None:
    """Print the svdhub version."""
    typer.echo(__version__)


def main() -> None:
    """The ``svdhub`` entry point. It sets the umask to 077 first, so every
    file the command and the processes it starts create is owner-only (the
    code that writes keys, databases and the like also sets their modes
    itself; :mod:`wire.private_files` says why both)."""
    os.umask(UMASK)
    app()


if __name__ == "__main__":
    main()
