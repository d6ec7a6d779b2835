"""Record versions from content: numbered by the connector, kept in its
checkpoint, the same after a crash, superseding the version before."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.checkpoint import Checkpoint
from edge.config import ConfigError, ConnectorConfig
from edge.mapping import Mapper, RowError
from edge.pseudonymise import Pseudonymiser
from edge.versions import Versions, digest
from tests.edge.test_mapping import crime
from wire import schemas
from wire.envelope import event_id
from wire.geography import GeographyLookup

CONFIGS = Path(__file__).parents[2] / "connectors" / "config"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PSEUDO = Pseudonymiser(bytes(range(32)), "test-1")


def content_config(tmp_path: Path, **change: Any) -> ConnectorConfig:
    raw = yaml.safe_load((CONFIGS / "wmp-crime.yaml").read_text(encoding="utf-8"))
    raw.update(record_version={"content": True}, **change)
    path = tmp_path / "content.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return ConnectorConfig.load(path)


def test_digest_is_of_the_cells_not_their_order_or_padding() -> None:
    assert digest({"a": "1", "b": "2"}, ["a", "b"]) == digest({"b": " 2 ", "a": "1"}, ["b", "a"])
    assert digest({"a": "1", "b": "2"}, ["a", "b"]) != digest({"a": "12", "b": ""}, ["a", "b"])
    assert digest({"a": "1"}, ["a"]) == digest({"a": "1", "c": "ignored"}, ["a"])
    assert digest({"a": None}, ["a"]) == digest({}, ["a"]) == digest({"a": ""}, ["a"])


def test_versions_follow_content_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.sqlite"
    versions = Versions(Checkpoint(path))
    assert versions.assign("k", "c1") == 1
    assert versions.assign("k", "c1") == 1  # the same content: the same version
    assert versions.assign("k", "c2") == 2
    assert versions.assign("other", "c2") == 1
    assert versions.current("k") == 2
    versions.record()
    # A new run (or one after a crash) reads what was recorded.
    again = Versions(Checkpoint(path))
    assert again.current("k") == 2
    assert again.assign("k", "c2") == 2
    assert again.assign("k", "c1") == 3  # back to an old content: a new version all the same
    # Not recorded: after a crash, the same rows get the same numbers again.
    crashed = Versions(Checkpoint(path))
    assert crashed.assign("k", "c1") == 3
    assert Versions(None).current("k") is None


def test_recording_never_moves_a_version_back(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "checkpoint.sqlite")
    checkpoint.set_versions([("k", 3, "c3")])
    checkpoint.set_versions([("k", 2, "c2")])
    assert checkpoint.version("k") == (3, "c3")


def test_a_changed_row_is_the_next_version_superseding_the_last(tmp_path: Path) -> None:
    config = content_config(tmp_path)
    versions = Versions(Checkpoint(tmp_path / "checkpoint.sqlite"))
    m = Mapper(
        config, schemas.current(), PSEUDO, GeographyLookup.synthetic_sample(), versions=versions
    )
    first = m.map(crime(), NOW)
    key = PSEUDO.record("wmp", "CR-2026-0000001")
    assert first.event_id == event_id("wmp", key, 1)
    assert first.record["envelope"]["supersedes"] is None
    # A column the config does not read, or the status, is not a new version.
    assert m.map(crime(MOText="other words"), NOW).event_id == first.event_id
    assert m.map(crime(Status=""), NOW).event_id == first.event_id
    changed = m.map(crime(OffenceGroup="Robbery"), NOW)
    assert changed.event_id == event_id("wmp", key, 2)
    assert changed.record["envelope"]["supersedes"] == first.event_id
    # A withdrawal withdraws the latest version.
    withdrawn = m.map(crime(OffenceGroup="Robbery", Status="Deleted"), NOW)
    assert withdrawn.record["retracted_event_id"] == changed.event_id
    with pytest.raises(RowError, match="no version of this record was published"):
        m.map(crime(CrimeReference="CR-NEVER", Status="Deleted"), NOW)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"content": False}, r"record_version: a mapping must be \{content: true\}"),
        ({"column": "V"}, r"record_version: a mapping must be \{content: true\}"),
        ("", r"record_version: must be a column name or \{content: true\}"),
    ],
)
def test_record_version_errors(tmp_path: Path, value: object, message: str) -> None:
    raw = yaml.safe_load((CONFIGS / "wmp-crime.yaml").read_text(encoding="utf-8"))
    raw["record_version"] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        ConnectorConfig.load(path)
