"""What the authority side adds to the ``svdhub`` command, cheap to import.

Each pair below is registered under the ``svdhub.commands`` entry points
(``pyproject.toml``): where the command lives (``module:attribute``, a typer
app or a function) and its one-line help. ``svdhub --help`` lists the
command from the pair alone; ``edge.cli``, with everything it imports, is
loaded only when the command runs. Keep this module free of imports.
"""

CONNECTOR_HELP = "Run an authority's connector: extract, pseudonymise, sign, publish."
GENERATE_HELP = (
    "Write realistic, seeded, clearly SYNTHETIC West Midlands extracts in each source's "
    "own format (police, two ED trusts, ambulance, youth service, youth justice)."
)

connector = ("edge.cli:connector_app", CONNECTOR_HELP)
generate = ("edge.cli:generate", GENERATE_HELP)
