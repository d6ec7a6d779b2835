"""Test-suite wiring. Fixture modules are registered here, in one list."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.kafka",
    "tests.fixtures.sql",
    "tests.edge.synthetic.runs",
    "tests.fixtures.modes",
    "tests.fixtures.runtime",
    "tests.hub.audit.interop",
]
