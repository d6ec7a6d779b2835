"""Shared by the connector tests and benchmarks: a sample config and its keys
in a home of its own, and ways to read what reached a topic."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from typer.testing import CliRunner

from edge.cli import connector_app
from edge.config import ConnectorConfig
from wire.kafka_client import ClientSettings
from wire.signing import KeyRegistry
from wire.topics import TopicNames

CONFIGS = Path(__file__).parents[2] / "connectors" / "config"


@dataclass
class Setup:
    home: Path
    config_file: Path
    config: ConnectorConfig
    registry: KeyRegistry
    topic: str

    @property
    def principal(self) -> str:
        """The connector's principal, without the namespace (``connector-wmp``)."""
        return f"connector-{self.config.authority}"


def prepare(
    home: Path,
    sample: str,
    source: Path | None = None,
    names: TopicNames | None = None,
    **overrides: Any,
) -> Setup:
    """A copy of a sample config, optionally reading another CSV file, and its
    keys in ``home``. The authority stays the sample's (only a party of the
    agreements has a principal), so a test that needs a raw topic of its own
    runs under a topic namespace of its own: ``names``, else
    $SVDHUB_TOPIC_NAMESPACE, which the connector follows."""
    raw = yaml.safe_load((CONFIGS / f"{sample}.yaml").read_text(encoding="utf-8"))
    if source is not None:
        raw["source"]["csv"]["path"] = str(source)
    raw.update(overrides)
    path = home / f"{sample}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    registry = home / "keys" / "registry.yaml"
    result = CliRunner().invoke(connector_app, ["keys", str(path), "--registry", str(registry)])
    assert result.exit_code == 0, result.output
    config = ConnectorConfig.load(path)
    topic = (names or TopicNames.from_env()).raw(config.authority, config.event_type)
    return Setup(home, path, config, KeyRegistry.load(registry), topic)


def topic_configs(kafka: ClientSettings, topic: str) -> dict[str, str]:
    """Every config of a topic, as the broker describes it (waiting up to 10 s
    for a topic just created to be described at all)."""
    admin = KafkaAdminClient(**kafka.kafka_python(), client_id="svdhub-tests")
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
