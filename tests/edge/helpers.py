"""Shared by the connector tests and benchmarks: a sample config and its keys,
and ways to read what reached a topic.

Keys follow the custody layout: each authority's signing key and its copy of
the partnership linkage key are in its own folder under $SVDHUB_AUTHORITIES
(which the caller sets); only the public key goes to the hub's registry in
$SVDHUB_HOME. The authority stays the sample's (only a party of the
agreements has a principal), so a test that needs a raw topic of its own runs
under a topic namespace of its own."""

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
from edge.config import ConnectorConfig, authorities_home, authority_home
from edge.config import home as hub_home
from edge.pseudonymise import generate_key_file
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
    """A copy of a sample config, reading another CSV file or else
    ``home/synthetic`` (as the authority's ``extracts`` folder), with its keys
    in the authority's own folder. Its raw topic is under ``names``, else
    $SVDHUB_TOPIC_NAMESPACE, which the connector follows."""
    raw = yaml.safe_load((CONFIGS / f"{sample}.yaml").read_text(encoding="utf-8"))
    if source is not None:
        raw["source"]["csv"]["path"] = str(source)
    raw.update(overrides)
    folder = authority_home(raw["authority"])
    extracts = folder / "extracts"
    if (home / "synthetic").is_dir() and not extracts.exists():
        folder.mkdir(parents=True, exist_ok=True)
        extracts.symlink_to(home / "synthetic")
    path = home / f"{sample}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    registry = hub_home() / "keys" / "registry.yaml"
    result = CliRunner().invoke(
        connector_app,
        ["keys", str(path), "--linkage-key", str(partnership_key()), "--registry", str(registry)],
    )
    assert result.exit_code == 0, result.output
    config = ConnectorConfig.load(path)
    topic = (names or TopicNames.from_env()).raw(config.authority, config.event_type)
    return Setup(home, path, config, KeyRegistry.load(registry), topic)


def partnership_key() -> Path:
    """The partnership's linkage key, made once under $SVDHUB_AUTHORITIES."""
    path = authorities_home() / "partnership" / "linkage.key"
    if not path.is_file():
        generate_key_file(path)
    return path


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
