"""Fixtures of the enforcer's real-stack tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub.enforcer.pipeline import Pipeline
from wire.kafka_client import ClientSettings


@pytest.fixture
def pipeline(
    kafka_admin: ClientSettings, opa_url: str, opa_token: str, tmp_path: Path
) -> Iterator[Pipeline]:
    """A pipeline of the test's own (topics in a fresh namespace), stopped after it."""
    made = Pipeline(kafka_admin, opa_url, opa_token, tmp_path / "home")
    yield made
    made.stop()
