"""The schema files themselves: docs, classifications, enum defaults, compatibility."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from wire import compat, schemas
from wire.schemas import CLASSIFICATIONS, SchemaSet

CURRENT = schemas.current()
RELEASES = schemas.released()
FILES = sorted(schemas.CURRENT_DIR.glob("*.avsc"))


def walk(node: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """Every named type and field definition in a schema file, with its path."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, list):
        for branch in node:
            found.extend(walk(branch, path))
    elif isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed"):
            found.append((f"{path}<{node['name']}>", node))
        for field in node.get("fields", []):
            found.append((f"{path}.{field['name']}", field))
            found.extend(walk(field["type"], f"{path}.{field['name']}"))
        if "items" in node:
            found.extend(walk(node["items"], f"{path}[]"))
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_field_has_a_doc_and_a_classification(path: Path) -> None:
    for where, node in walk(json.loads(path.read_text(encoding="utf-8")), path.stem):
        assert str(node.get("doc", "")).strip(), f"{where}: no doc"
        if "name" in node and node.get("type") not in ("record", "enum", "fixed"):
            assert node.get("classification") in CLASSIFICATIONS, f"{where}: classification"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_enum_has_an_unknown_default(path: Path) -> None:
    for where, node in walk(json.loads(path.read_text(encoding="utf-8")), path.stem):
        if node.get("type") == "enum":
            assert node["symbols"][-1] == "UNKNOWN" or "UNKNOWN" in node["symbols"], where
            assert node.get("default") == "UNKNOWN", f"{where}: enum default"


def test_identifiers_and_free_text_never_cross_the_wire() -> None:
    for record in CURRENT.records():
        for field in CURRENT.fields(record):
            assert field.classification not in {"direct_identifier", "free_text"}, field.path


def test_the_annotation_check_catches_a_missing_classification() -> None:
    sources = copy.deepcopy(CURRENT.sources)
    del sources["Geography"]["fields"][0]["classification"]
    problems = compat.annotation_problems(SchemaSet("edited", sources))
    assert any("geo.lsoa21cd: classification '(missing)'" in str(p) for p in problems)


def test_current_schemas_pass_the_release_check() -> None:
    assert RELEASES, "no released version is frozen in the repository"
    assert compat.check(CURRENT, RELEASES) == []


def edited(change: Any) -> SchemaSet:
    sources = copy.deepcopy(CURRENT.sources)
    change(sources)
    return SchemaSet("edited", sources)


def field(sources: dict[str, Any], record: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in sources[record]["fields"] if f["name"] == name)
    return found


def test_a_new_required_field_is_a_breaking_change() -> None:
    def add_required(sources: dict[str, Any]) -> None:
        sources["Incident"]["fields"].append(
            {"name": "weapon_serial", "type": "string", "doc": "x", "classification": "none"}
        )

    problems = compat.check(edited(add_required), RELEASES)
    assert any("Incident" in str(p) and "not BACKWARD compatible" in str(p) for p in problems)


def test_a_changed_type_is_a_breaking_change() -> None:
    def retype(sources: dict[str, Any]) -> None:
        field(sources, "Outcome", "sessions_offered")["type"] = "string"

    problems = compat.check(edited(retype), RELEASES)
    assert any("Outcome" in str(p) and "sessions_offered" in str(p) for p in problems)


def test_a_new_optional_field_is_compatible() -> None:
    def add_optional(sources: dict[str, Any]) -> None:
        sources["Incident"]["fields"].append(
            {
                "name": "night_time_economy",
                "type": ["null", "boolean"],
                "default": None,
                "doc": "x",
                "classification": "quasi_identifier",
            }
        )

    assert compat.check(edited(add_optional), RELEASES) == []


def test_weakening_a_classification_needs_a_release() -> None:
    def weaken(sources: dict[str, Any]) -> None:
        field(sources, "Incident", "domestic_abuse_flag")["classification"] = "none"

    problems = compat.check(edited(weaken), RELEASES)
    assert [p.message for p in problems] == [
        "domestic_abuse_flag: classification weakened from sensitive to none; "
        "if intended, freeze a new release (svdhub schemas freeze)"
    ]


def test_strengthening_a_classification_is_fine() -> None:
    def strengthen(sources: dict[str, Any]) -> None:
        field(sources, "Outcome", "sessions_offered")["classification"] = "sensitive"

    assert compat.check(edited(strengthen), RELEASES) == []


def test_fields_are_listed_with_paths() -> None:
    paths = [f.path for f in CURRENT.fields("Incident")]
    assert paths[0] == "envelope"
    assert "envelope.event_id" in paths
    assert "geo.lad_cd" in paths


def test_an_unresolvable_reference_is_named() -> None:
    sources = copy.deepcopy(CURRENT.sources)
    del sources["Geography"]
    with pytest.raises(schemas.SchemaError, match=r"unknown type svd\.wire\.Geography"):
        SchemaSet("broken", sources)
