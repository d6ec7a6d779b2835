"""Schema compatibility: may the current schemas replace the released ones?

Two checks, both run by ``svdhub schemas check`` and ``make check``:

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
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from wire.schemas import CLASSIFICATIONS, CURRENT_DIR, RELEASED_DIR, SchemaSet

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
