"""Fixtures of the connector's real-stack tests: synthetic extracts, a scratch
home, and a topic namespace of each test's own with its principals."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.synthetic import generate
from tests.fixtures.kafka import Principals
from wire.kafka_client import CREDENTIALS_ENV
from wire.topics import NAMESPACE_ENV, TopicNames


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Thirty days of synthetic extracts (outcomes need weeks), made once per session."""
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, days=30, seed=7)
    return out


@pytest.fixture
def home(tmp_path: Path, synthetic_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch folder with the synthetic extracts; the hub's state folder
    (``hub``) and the authorities' folders (``authorities``) inside it."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "synthetic").symlink_to(synthetic_dir)
    monkeypatch.setenv("SVDHUB_HOME", str(home / "hub"))
    monkeypatch.setenv("SVDHUB_AUTHORITIES", str(home / "authorities"))
    monkeypatch.delenv("SVDHUB_AUTHORITY_HOME", raising=False)
    monkeypatch.delenv(CREDENTIALS_ENV, raising=False)  # the connector's own, never admin's
    return home


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> TopicNames:
    """A topic namespace of this test's own; the connector follows
    $SVDHUB_TOPIC_NAMESPACE, in this process and in those it starts."""
    names = TopicNames(f"t-{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv(NAMESPACE_ENV, names.namespace)
    return names


@pytest.fixture
def principals(grant_access: Callable[[TopicNames], Principals], names: TopicNames) -> Principals:
    """The namespace's principals, ACLs and raw topics, as `svdhub access apply` makes them."""
    return grant_access(names)
