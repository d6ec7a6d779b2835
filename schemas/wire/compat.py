"""Schema compatibility: may the current schemas replace the released ones?

Three checks, all run by ``svdhub schemas check`` and ``make check``:

* **BACKWARD_TRANSITIVE**: for every released version and every record in
  it, the current schema (as reader) can read data written with the released
  one (as writer). The verdict comes from the Apache ``avro`` package's
  ``ReaderWriterCompatibilityChecker``, not from code of ours.
* **No silent weakening**: no field's classification moves down
  :data:`wire.schemas.CLASSIFICATIONS` (say ``sensitive`` to ``none``)
  against the latest release, and every field still has a doc and a valid
  classification. Weakening a classification is allowed only by freezing a
  new release (``svdhub schemas freeze``), which a reviewer sees as a new
  folder under ``released/``.
* **A frozen share envelope**: recipients may validate every share against
  the JSON Schema of ``wire.shares.envelope_schema``, so the current one may
  differ from the latest in ``released/shares/vN/share.schema.json`` only in
  annotations (``title``, ``description``, ``$comment``, ``examples``). Any
  other change (a key added, removed or renamed; a type, pattern, length,
  enum or required list changed) needs a new frozen version
  (``svdhub schemas freeze --shares``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as SchemaValidationError

from wire.schemas import CLASSIFICATIONS, CURRENT_DIR, RELEASED_DIR, SchemaError, SchemaSet

_WHOLE = "the record itself"
_RANK = {name: rank for rank, name in enumerate(CLASSIFICATIONS)}


@dataclass(frozen=True)
class Problem:
    """One reason the current schemas may not be released."""

    release: str  # the release compared against, or "current"
    record: str
    message: str

    def __str__(self) -> str:
        return f"{self.record} (against {self.release}): {self.message}"


def check(current: SchemaSet, releases: dict[str, SchemaSet]) -> list[Problem]:
    """Every problem found; an empty list means the current schemas are fine."""
    problems = annotation_problems(current)
    for label, release in releases.items():
        problems.extend(backward_problems(current, release, label))
    if releases:
        latest = list(releases)[-1]
        problems.extend(weakening_problems(current, releases[latest], latest))
    return problems


def annotation_problems(schema_set: SchemaSet) -> list[Problem]:
    """Fields without a doc or a valid classification."""
    problems = []
    for record in schema_set.records():
        for field in schema_set.fields(record):
            if not field.doc.strip():
                problems.append(Problem(schema_set.label, record, f"{field.path}: no doc"))
            if field.classification not in _RANK:
                problems.append(
                    Problem(
                        schema_set.label,
                        record,
                        f"{field.path}: classification {field.classification or '(missing)'!r} "
                        f"is not one of {', '.join(CLASSIFICATIONS)}",
                    )
                )
    return problems


def backward_problems(current: SchemaSet, release: SchemaSet, label: str) -> list[Problem]:
    """Records of ``release`` that the current schemas cannot read."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # avro ships no hints here
    problems = []
    for record in release.records():
        if record not in current.sources:
            problems.append(Problem(label, record, "record removed; readers of old data need it"))
            continue
        expanded = current.expanded(record)
        reader = avro.schema.parse(json.dumps(expanded))
        writer = avro.schema.parse(json.dumps(release.expanded(record)))
        result = checker.get_compatibility(reader, writer)
        if result.compatibility is not SchemaCompatibilityType.compatible:
            paths = {_field_path(expanded, loc) for loc in result.locations}
            where = ", ".join(sorted(paths - {_WHOLE} or paths))
            why = "; ".join(sorted(result.messages)) or "incompatible"
            problems.append(Problem(label, record, f"not BACKWARD compatible at {where}: {why}"))
    return problems


def _field_path(schema: Any, location: str) -> str:
    """Turn a checker location such as ``/fields/7/type`` into ``sessions_offered``."""
    names: list[str] = []
    node = schema
    steps = [step for step in location.split("/") if step]
    for step, following in zip(steps, [*steps[1:], None], strict=False):
        if step == "fields" and following is not None and following.isdigit():
            node = node["fields"][int(following)]
            names.append(str(node["name"]))
        elif step in ("type", "items") and isinstance(node, dict):
            node = node[step]
        elif step.isdigit() and isinstance(node, list):
            node = node[int(step)]
    return ".".join(names) or _WHOLE


def weakening_problems(current: SchemaSet, release: SchemaSet, label: str) -> list[Problem]:
    """Fields whose classification is weaker now than in ``release``."""
    problems = []
    for record in release.records():
        if record not in current.sources:
            continue
        now = {field.path: field.classification for field in current.fields(record)}
        for field in release.fields(record):
            after = now.get(field.path)
            if after in _RANK and _RANK[after] < _RANK.get(field.classification, 0):
                problems.append(
                    Problem(
                        label,
                        record,
                        f"{field.path}: classification weakened from {field.classification} to "
                        f"{after}; if intended, freeze a new release (svdhub schemas freeze)",
                    )
                )
    return problems


def freeze(releases: dict[str, SchemaSet]) -> str:
    """Copy the current schemas to ``released/v<N+1>``; return the new label."""
    label = f"v{len(releases) + 1}"
    target = RELEASED_DIR / label
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    shutil.copytree(CURRENT_DIR, target)
    return label


# ---------------------------------------------------------------- share envelope
#
# Recipients read their shared topics directly and may validate each share
# against the envelope's JSON Schema (wire.shares.envelope_schema), so that
# schema is frozen like the Avro schemas: released/shares/vN/share.schema.json.
# Any change a validator would notice needs a new frozen version; a change to
# annotations alone does not.

#: Where the frozen envelope schemas live: ``<this>/v1/share.schema.json``, ...
SHARES_DIR = RELEASED_DIR / "shares"
SHARE_SCHEMA_FILE = "share.schema.json"
_ENVELOPE = "share envelope"
_FREEZE_HINT = (
    "if intended, freeze a new envelope version (svdhub schemas freeze --shares) "
    "and tell the recipients"
)

#: Keywords that only annotate: changing them changes no validation result.
ANNOTATIONS = frozenset({"title", "description", "$comment", "examples"})
#: Keywords whose value is a map of names to subschemas.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
#: Keywords whose value is one subschema.
_SCHEMA_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "unevaluatedProperties",
        "unevaluatedItems",
    }
)
#: Keywords whose value is a list of subschemas.
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def released_envelopes(folder: Path = SHARES_DIR) -> dict[str, dict[str, Any]]:
    """Every frozen envelope schema, oldest first (v1, v2, ...); {} if there is none."""
    if not folder.is_dir():
        return {}
    versions = [p for p in folder.glob("v*") if p.is_dir() and p.name[1:].isdigit()]
    releases: dict[str, dict[str, Any]] = {}
    for version in sorted(versions, key=lambda p: int(p.name[1:])):
        path = version / SHARE_SCHEMA_FILE
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaError(f"{path}: {exc}") from exc
        if not isinstance(schema, dict):
            raise SchemaError(f"{path}: not a JSON object")
        releases[version.name] = schema
    return releases


def structural(schema: Any) -> Any:
    """``schema`` without its annotations (:data:`ANNOTATIONS`), at every subschema.

    Only subschemas lose them: a property that happens to be called
    ``description``, or an ``enum`` or ``const`` value, is left alone."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS:
            continue
        if keyword in _SCHEMA_MAPS and isinstance(value, dict):
            out[keyword] = {name: structural(sub) for name, sub in value.items()}
        elif keyword in _SCHEMA_ONE:
            out[keyword] = structural(value)
        elif keyword in _SCHEMA_LISTS and isinstance(value, list):
            out[keyword] = [structural(sub) for sub in value]
        else:
            out[keyword] = value
    return out


def envelope_problems(
    current: dict[str, Any], releases: dict[str, dict[str, Any]]
) -> list[Problem]:
    """Why the current envelope schema may not replace the latest frozen one.

    The current schema must be a valid draft 2020-12 schema, describe every
    envelope key, and differ from the latest release in annotations only.
    Each difference names the key and what changed."""
    problems = [
        Problem("current", _ENVELOPE, message) for message in _envelope_annotation_gaps(current)
    ]
    if not releases:
        return problems
    latest = list(releases)[-1]
    label = f"shares/{latest}"
    for where, change in schema_changes(structural(releases[latest]), structural(current)):
        problems.append(Problem(label, _ENVELOPE, f"{where}: {change}; {_FREEZE_HINT}"))
    return problems


def _envelope_annotation_gaps(schema: dict[str, Any]) -> list[str]:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaValidationError as exc:
        return [f"not a valid JSON Schema (draft 2020-12): {exc.message}"]
    properties = schema.get("properties", {})
    return [
        f"{key}: no description"
        for key, sub in properties.items()
        if not str(sub.get("description", "")).strip()
    ]


def schema_changes(old: Any, new: Any, path: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Every difference between two (annotation-free) schemas, as (where, what changed).

    ``where`` names the share key (``supersedes``, ``fields``) or, outside
    ``properties``, the keyword path (``$defs/scalar``); ``share`` is the
    whole share."""
    where = _where(path)
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else [(where, f"changed from {_show(old)} to {_show(new)}")]
    changes: list[tuple[str, str]] = []
    for keyword in [*old, *(k for k in new if k not in old)]:
        if keyword not in new:
            changes.append((where, f"{keyword} removed (was {_show(old[keyword])})"))
        elif keyword not in old:
            changes.append((where, f"{keyword} added ({_show(new[keyword])})"))
        elif old[keyword] != new[keyword]:
            changes.extend(_keyword_changes(keyword, old[keyword], new[keyword], path))
    return changes


def _keyword_changes(
    keyword: str, old: Any, new: Any, path: tuple[str, ...]
) -> list[tuple[str, str]]:
    where = _where(path)
    if keyword in _SCHEMA_MAPS and isinstance(old, dict) and isinstance(new, dict):
        return _map_changes(keyword, old, new, path)
    if keyword in _SCHEMA_ONE:
        return schema_changes(old, new, (*path, keyword))
    if (
        keyword in _SCHEMA_LISTS
        and isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
    ):
        changes: list[tuple[str, str]] = []
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            changes.extend(schema_changes(before, after, (*path, f"{keyword}[{index}]")))
        return changes
    if keyword in ("required", "enum", "type") and isinstance(old, list) and isinstance(new, list):
        # Order means nothing to a validator here: only what was added or removed.
        gone = [item for item in old if item not in new]
        added = [item for item in new if item not in old]
        if not gone and not added:
            return []
        parts = [f"{_show(item)} no longer {_listed(keyword)}" for item in gone]
        parts += [f"{_show(item)} now {_listed(keyword)}" for item in added]
        return [(where, f"{keyword}: {', '.join(parts)}")]
    return [(where, f"{keyword} changed from {_show(old)} to {_show(new)}")]


def _map_changes(
    keyword: str, old: dict[str, Any], new: dict[str, Any], path: tuple[str, ...]
) -> list[tuple[str, str]]:
    what = "key" if keyword == "properties" else f"{keyword} entry"
    inside = _where(path)
    gone = [name for name in old if name not in new]
    added = [name for name in new if name not in old]
    changes: list[tuple[str, str]] = []
    if len(gone) == len(added) == 1 and old[gone[0]] == new[added[0]]:
        changes.append((inside, f"{what} {gone[0]!r} renamed to {added[0]!r}"))
    else:
        changes += [(inside, f"{what} {name!r} removed") for name in gone]
        changes += [(inside, f"{what} {name!r} added") for name in added]
    for name, before in old.items():
        if name in new and before != new[name]:
            changes.extend(schema_changes(before, new[name], (*path, keyword, name)))
    return changes


def _where(path: tuple[str, ...]) -> str:
    """``("properties", "fields", "additionalProperties")`` -> ``fields/additionalProperties``;
    a key under ``properties`` is named by itself."""
    parts: list[str] = []
    steps = iter(path)
    for step in steps:
        if step == "properties":
            parts.append(next(steps, ""))
        else:
            parts.append(step)
    return "/".join(parts) or "share"


def _listed(keyword: str) -> str:
    return "required" if keyword == "required" else "allowed"


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def freeze_envelope(
    schema: dict[str, Any], releases: dict[str, dict[str, Any]], folder: Path = SHARES_DIR
) -> str:
    """Write ``schema`` as the next frozen envelope (``<folder>/v<N+1>``); return its label."""
    label = f"v{len(releases) + 1}"
    target = folder / label
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    target.mkdir(parents=True)
    (target / SHARE_SCHEMA_FILE).write_text(envelope_json(schema), encoding="utf-8")
    return label


def envelope_json(schema: dict[str, Any]) -> str:
    """How a frozen envelope schema is written: indented, keys in the order built, UTF-8."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
