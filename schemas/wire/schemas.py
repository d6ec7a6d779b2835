"""The schema catalogue: the ``.avsc`` files shipped in this package.

``avro/`` holds the current schemas, one named type per file. ``released/vN/``
holds frozen copies of each released version; the codec reads data written
with any of them, and ``wire.compat`` proves the current schemas can.

Every field carries a ``doc`` and a ``classification`` (see
:data:`CLASSIFICATIONS`); policies and scanners read the classification to
decide what may leave an authority and what may reach a recipient.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro.schema import (
    SchemaParseException,
    UnknownType,
    parse_schema,
    to_parsing_canonical_form,
)
from fastavro.schema import fingerprint as _fingerprint

PACKAGE_DIR = Path(__file__).resolve().parent
CURRENT_DIR = PACKAGE_DIR / "avro"
RELEASED_DIR = PACKAGE_DIR / "released"
NAMESPACE = "svd.wire"

#: From least to most protective. A field may move up this list freely; moving
#: it down (weakening it) needs a new released version.
CLASSIFICATIONS = (
    "none",
    "quasi_identifier",
    "pseudonym",
    "sensitive",
    "free_text",
    "direct_identifier",
)

#: The records that travel as the body of a SignedEvent, by envelope event_type.
PAYLOADS = {
    "INCIDENT": "Incident",
    "REFERRAL": "Referral",
    "OUTCOME": "Outcome",
    "RETRACTION": "Retraction",
}
FRAME = "SignedEvent"


class SchemaError(Exception):
    """A schema file is missing, malformed or refers to an unknown type."""


@dataclass(frozen=True)
class FieldInfo:
    """One field, reached by a dotted path from a top-level record."""

    path: str
    type: str
    classification: str
    doc: str


class SchemaSet:
    """All named types of one version (current, or a released vN)."""

    def __init__(self, label: str, sources: dict[str, dict[str, Any]]) -> None:
        self.label = label
        self.sources = sources  # short name -> the JSON as written in the file
        self.parsed: dict[str, dict[str, Any]] = {}  # as parsed from the files, to check them
        self._standalone: dict[str, dict[str, Any]] = {}
        named: dict[str, Any] = {}
        pending = dict(sources)
        while pending:  # parse in dependency order: retry until nothing new resolves
            before = len(pending)
            unresolved: dict[str, str] = {}
            for name, source in list(pending.items()):
                try:
                    parsed = parse_schema(source, named_schemas=named)
                except UnknownType as exc:
                    unresolved[name] = f"refers to unknown type {exc.name}"
                    continue
                except SchemaParseException as exc:
                    raise SchemaError(f"{label}/{name}.avsc: {exc}") from exc
                if not isinstance(parsed, dict):
                    raise SchemaError(f"{label}/{name}.avsc: not a named type")
                self.parsed[name] = parsed
                del pending[name]
            if len(pending) == before:
                raise SchemaError(
                    "; ".join(f"{label}/{name}.avsc: {why}" for name, why in unresolved.items())
                )

    @classmethod
    def load(cls, folder: Path, label: str | None = None) -> SchemaSet:
        sources: dict[str, dict[str, Any]] = {}
        files = sorted(folder.glob("*.avsc"))
        if not files:
            raise SchemaError(f"{folder}: no .avsc files")
        for path in files:
            try:
                source = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise SchemaError(f"{path}: {exc}") from exc
            if not isinstance(source, dict) or source.get("name") != path.stem:
                raise SchemaError(f"{path}: must hold one named type called {path.stem!r}")
            sources[path.stem] = source
        return cls(label or folder.name, sources)

    def names(self) -> list[str]:
        return sorted(self.sources)

    def records(self) -> list[str]:
        """Top-level records that travel on their own (payloads and the frame)."""
        return [name for name in [*PAYLOADS.values(), FRAME] if name in self.sources]

    def schema(self, name: str) -> dict[str, Any]:
        """The parsed schema of ``name``, self-contained: every named type it
        uses is inlined, so its canonical form (and fingerprint) covers them."""
        if name not in self.sources:
            raise SchemaError(f"{self.label}: no schema named {name!r}")
        if name not in self._standalone:
            parsed = parse_schema(self.expanded(name), named_schemas={})
            if not isinstance(parsed, dict):
                raise SchemaError(f"{self.label}/{name}.avsc: not a named type")
            self._standalone[name] = parsed
        return self._standalone[name]

    def canonical(self, name: str) -> str:
        """Parsing Canonical Form: what the fingerprint is computed over."""
        return str(to_parsing_canonical_form(self.schema(name)))

    def fingerprint(self, name: str) -> bytes:
        """CRC-64-AVRO fingerprint, as the 8 little-endian bytes that follow C3 01."""
        return bytes.fromhex(_fingerprint(self.canonical(name), "CRC-64-AVRO"))

    def expanded(self, name: str) -> dict[str, Any]:
        """The schema with every named type inlined (docs and attributes kept),
        for tools that cannot resolve names across files."""
        seen: set[str] = set()

        def expand(node: Any) -> Any:
            if isinstance(node, str):
                short = node.removeprefix(f"{NAMESPACE}.")
                if short in self.sources and short not in seen:
                    seen.add(short)
                    return expand(self.sources[short])
                return f"{NAMESPACE}.{short}" if short in self.sources else node
            if isinstance(node, list):
                return [expand(item) for item in node]
            if isinstance(node, dict):
                if node.get("type") in ("record", "enum", "fixed") and "name" in node:
                    seen.add(node["name"])
                return {
                    key: expand(value) if key in {"type", "items", "values", "fields"} else value
                    for key, value in node.items()
                }
            return node

        return dict(expand(self.sources[name]))

    def fields(self, name: str) -> list[FieldInfo]:
        """Every field of a record, nested records included, depth first."""
        return list(_walk_fields(self.expanded(name), ""))


def _type_label(node: Any) -> str:
    """A short human label for a field type: ``null | uuid``, ``array<ReferralReason>``."""
    if isinstance(node, list):
        return " | ".join(_type_label(item) for item in node)
    if not isinstance(node, dict):
        return str(node).removeprefix(f"{NAMESPACE}.")
    kind = node.get("type")
    if kind == "array":
        return f"array<{_type_label(node['items'])}>"
    label = node["name"] if kind in ("record", "enum", "fixed") else node.get("logicalType")
    return str(label) if label else _type_label(kind)


def _walk_fields(record: dict[str, Any], prefix: str) -> Iterator[FieldInfo]:
    for field in record.get("fields", []):
        path = f"{prefix}{field['name']}"
        yield FieldInfo(
            path,
            _type_label(field["type"]),
            str(field.get("classification", "")),
            str(field.get("doc", "")),
        )
        for branch in field["type"] if isinstance(field["type"], list) else [field["type"]]:
            if isinstance(branch, dict) and branch.get("type") == "record":
                yield from _walk_fields(branch, f"{path}.")
            if isinstance(branch, dict) and branch.get("type") == "array":
                items = branch["items"]
                if isinstance(items, dict) and items.get("type") == "record":
                    yield from _walk_fields(items, f"{path}[].")


def current() -> SchemaSet:
    return SchemaSet.load(CURRENT_DIR, "current")


def released(folder: Path = RELEASED_DIR) -> dict[str, SchemaSet]:
    """Every frozen release, oldest first (v1, v2, ...)."""
    folders = [p for p in folder.glob("v*") if p.is_dir() and p.name[1:].isdigit()]
    return {p.name: SchemaSet.load(p) for p in sorted(folders, key=lambda p: int(p.name[1:]))}
