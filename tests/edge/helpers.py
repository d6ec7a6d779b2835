"""Shared by the connector tests and benchmarks: a sample config with a
fresh authority id and its keys, and ways to read what reached a topic.

Keys follow the custody layout: each authority's signing key and its copy of
the partnership linkage key are in its own folder under $SVDHUB_AUTHORITIES
(which the caller sets); only the public key goes to the hub's registry in
$SVDHUB_HOME."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from typer.testing import CliRunner

from edge.cli import connector_app
from edge.config import ConnectorConfig, authorities_home, authority_home
from edge.config import home as hub_home
from edge.pseudonymise import generate_key_file
from wire.signing import KeyRegistry
from wire.topics import raw_topic

CONFIGS = Path(__file__).parents[2] / "connectors" / "config"


@dataclass
class Setup:
    home: Path
    config_file: Path
    config: ConnectorConfig
    registry: KeyRegistry
    topic: str


def prepare(home: Path, sample: str, source: Path | None = None, **overrides: Any) -> Setup:
    """A copy of a sample config with a fresh authority id (so a topic of its own),
    reading another CSV file or else ``home/synthetic`` (as the authority's
    ``extracts`` folder), and its keys in the authority's own folder."""
    raw = yaml.safe_load((CONFIGS / f"{sample}.yaml").read_text(encoding="utf-8"))
    if source is not None:
        raw["source"]["csv"]["path"] = str(source)
    authority = f"{raw['authority']}-{uuid.uuid4().hex[:6]}"
    raw["authority"] = authority
    raw["keys"]["signing_key_id"] = f"{authority}-1"
    raw.update(overrides)
    folder = authority_home(authority)
    if (home / "synthetic").is_dir():
        folder.mkdir(parents=True)
        (folder / "extracts").symlink_to(home / "synthetic")
    path = home / f"{sample}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    registry = hub_home() / "keys" / "registry.yaml"
    result = CliRunner().invoke(
        connector_app,
        ["keys", str(path), "--linkage-key", str(partnership_key()), "--registry", str(registry)],
    )
    assert result.exit_code == 0, result.output
    config = ConnectorConfig.load(path)
    return Setup(
        home, path, config, KeyRegistry.load(registry), raw_topic(authority, config.event_type)
    )


def partnership_key() -> Path:
    """The partnership's linkage key, made once under $SVDHUB_AUTHORITIES."""
    path = authorities_home() / "partnership" / "linkage.key"
    if not path.is_file():
        generate_key_file(path)
    return path


def topic_configs(bootstrap: str, topic: str) -> dict[str, str]:
    """Every config of a topic, as the broker describes it (waiting up to 10 s
    for a topic just created to be described at all)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="svdhub-tests")
    try:
        deadline = time.monotonic() + 10
        while True:
            described = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
            )["topic"].get(topic)
            if described or time.monotonic() > deadline:
                return {key: entry["value"] for key, entry in (described or {}).items()}
            time.sleep(0.2)
    finally:
        admin.close()
