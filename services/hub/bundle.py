"""The policy bundle: agreements, parties and Rego, built into what OPA serves.

``build`` validates every agreement (JSON Schema, id = file name, parties
known, fields present in the wire schemas) and writes ``<out>/``: the Rego
files of ``policies/svd/`` (tests left out), one ``data.json`` with
``svd.agreements``, ``svd.parties``, ``svd.classifications`` and
``svd.meta.revision``, and a ``.manifest``. The revision is a SHA-256 of the
bundle's content, so any change to a policy or an agreement gives a new one,
and every decision names the revision it was made under.

The bundle's root is ``svd``. ``policies/system/`` (OPA's own ``system.authz``)
is not part of it: the local stack serves that as a bundle of its own, with
the token digests of its state folder (:mod:`hub.stack.opa`).

Files are rewritten only when their content changes, so an OPA server run
with ``--watch`` on the folder picks up a new revision without a restart.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from wire import schemas
from wire.partnership import Partnership, PartnershipError

SCHEMA_FILE = "agreement.schema.json"


class BundleError(Exception):
    """An agreement or the parties file is invalid; the message names the file and where."""


@dataclass(frozen=True)
class Built:
    folder: Path
    revision: str
    agreements: dict[str, dict[str, Any]]
    parties: dict[str, Any]


def _plain(value: Any) -> Any:
    """YAML dates as ISO strings, recursively (JSON has no dates)."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _read_yaml(path: Path) -> Any:
    try:
        return _plain(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise BundleError(f"{path}: cannot read: {exc}") from exc


def normalise_action(action: Any) -> dict[str, str]:
    """``keep`` -> ``{"action": "keep"}``; ``{generalise: msoa}`` ->
    ``{"action": "generalise", "level": "msoa"}`` and so on."""
    if isinstance(action, str):
        return {"action": action}
    ((kind, value),) = action.items()
    key = {"generalise": "level", "band": "scheme", "truncate": "unit", "pseudonymise": "scope"}[
        kind
    ]
    return {"action": kind, key: value}


def load_partnership(policies: Path) -> Partnership:
    """``partnership.yaml`` of a policies folder: the partnership's area and districts."""
    try:
        return Partnership.load(policies / "partnership.yaml")
    except PartnershipError as exc:
        raise BundleError(str(exc)) from exc


def load_parties(path: Path) -> dict[str, Any]:
    """``parties.yaml``, with the partnership of ``partnership.yaml`` beside it
    under ``partnership`` (its name, ``area`` and ``districts``). A regional
    recipient's area must be the partnership's area and a local recipient's
    one of its districts, so a share is never scoped to a place the hub's
    geography does not know."""
    partnership = load_partnership(path.parent)
    raw = _read_yaml(path)
    if not isinstance(raw, dict) or not {"authorities", "recipients"} <= set(raw):
        raise BundleError(f"{path}: needs 'authorities' and 'recipients' mappings")
    for section in ("authorities", "recipients"):
        if not isinstance(raw[section], dict) or not raw[section]:
            raise BundleError(f"{path}: {section}: must be a non-empty mapping")
        for party, details in raw[section].items():
            if not isinstance(details, dict) or "name" not in details:
                raise BundleError(f"{path}: {section}.{party}: needs a name")
    for recipient, details in raw["recipients"].items():
        if details.get("level") not in ("regional", "local", "public"):
            raise BundleError(
                f"{path}: recipients.{recipient}.level: must be regional, local or public"
            )
        if details["level"] != "public" and not details.get("area"):
            raise BundleError(
                f"{path}: recipients.{recipient}.area: needed for a {details['level']} recipient"
            )
        area = details.get("area")
        if details["level"] == "regional" and area != partnership.area_code:
            raise BundleError(
                f"{path}: recipients.{recipient}.area: {area!r} is not the partnership's area "
                f"{partnership.area_code} ({partnership.area_name}, {partnership.source})"
            )
        if details["level"] == "local" and area not in partnership:
            raise BundleError(
                f"{path}: recipients.{recipient}.area: {area!r} is not one of the partnership's "
                f"districts ({', '.join(partnership.districts)}, {partnership.source})"
            )
    if "partnership" in raw:
        raise BundleError(f"{path}: partnership: belongs in partnership.yaml beside it")
    raw["partnership"] = {
        "name": partnership.name,
        "area": {"code": partnership.area_code, "name": partnership.area_name},
        "districts": dict(partnership.districts),
    }
    parties: dict[str, Any] = raw
    return parties


def load_agreements(folder: Path, parties: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every agreement, validated and normalised, by id."""
    schema = json.loads((folder / SCHEMA_FILE).read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    current = schemas.current()
    record_fields = {
        record: {f["name"] for f in current.expanded(record)["fields"]}
        for record in schemas.PAYLOADS.values()
    }
    classified = classifications()
    agreements: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")):
        raw = _read_yaml(path)
        errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.absolute_path) or "(top level)"
            raise BundleError(f"{path}: {where}: {first.message}")
        if raw["id"] != path.stem:
            raise BundleError(f"{path}: id: {raw['id']!r} must equal the file name {path.stem!r}")
        for role, known in (("disclosers", "authorities"), ("recipients", "recipients")):
            for party in raw[role]:
                if party not in parties[known]:
                    raise BundleError(f"{path}: {role}: {party!r} is not in parties.yaml {known}")
        allowed = set().union(*(record_fields[schemas.PAYLOADS[t]] for t in raw["event_types"]))
        for name in raw["fields"]:
            if name not in allowed:
                raise BundleError(
                    f"{path}: fields.{name}: no such field in "
                    f"{', '.join(schemas.PAYLOADS[t] for t in raw['event_types'])}"
                )
        if raw["review_by"] < raw["valid_from"]:
            raise BundleError(f"{path}: review_by: {raw['review_by']} is before valid_from")
        agreement = dict(raw)
        agreement["fields"] = {k: normalise_action(v) for k, v in raw["fields"].items()}
        _check_releases(path, agreement, classified)
        agreements[raw["id"]] = agreement
    if not agreements:
        raise BundleError(f"{folder}: no agreements (*.yaml)")
    return agreements


#: Classifications of fields never shared, whatever an agreement says.
NEVER_SHARED = frozenset({"direct_identifier", "free_text"})


def release_problem(classification: str, action: Mapping[str, str]) -> str | None:
    """Why releasing a field of this classification with this (normalised)
    action is never allowed, or None. The Rego policy denies the same, and
    the enforcer checks every answer against it again."""
    if action.get("action") == "drop":
        return None
    if classification in NEVER_SHARED:
        return f"classified {classification}, so it is never shared (only drop)"
    if classification == "pseudonym" and action != {"action": "pseudonymise", "scope": "recipient"}:
        return (
            f"a pseudonym may only be dropped or re-keyed for the recipient "
            f"(pseudonymise: recipient), not {action.get('action')}"
        )
    return None


def _check_releases(
    path: Path, agreement: Mapping[str, Any], classified: Mapping[str, Mapping[str, str]]
) -> None:
    """Raise BundleError for a field an agreement would release that no
    agreement may (see :func:`release_problem`)."""
    for name, action in agreement["fields"].items():
        for record in (schemas.PAYLOADS[t] for t in agreement["event_types"]):
            if problem := release_problem(classified.get(record, {}).get(name, ""), action):
                raise BundleError(f"{path}: fields.{name}: {problem} ({record})")


def classifications() -> dict[str, dict[str, str]]:
    current = schemas.current()
    return {
        record: {
            f["name"]: str(f.get("classification", "")) for f in current.expanded(record)["fields"]
        }
        for record in schemas.PAYLOADS.values()
    }


def build(policies: Path, out: Path) -> Built:
    """Validate and write the bundle; return its revision."""
    parties = load_parties(policies / "parties.yaml")
    agreements = load_agreements(policies / "agreements", parties)
    rego = {
        path.relative_to(policies).as_posix(): path.read_bytes()
        for path in sorted((policies / "svd").rglob("*.rego"))
        if not path.stem.endswith("_test")
    }
    data = {
        "svd": {"agreements": agreements, "parties": parties, "classifications": classifications()}
    }
    digest = hashlib.sha256()
    for name, content in sorted(rego.items()):
        digest.update(name.encode() + b"\0" + content + b"\0")
    digest.update(json.dumps(data, sort_keys=True).encode())
    revision = f"sha256:{digest.hexdigest()}"
    data["svd"]["meta"] = {"revision": revision}
    files = {
        **rego,
        "data.json": json.dumps(data, indent=1, sort_keys=True).encode(),
        ".manifest": json.dumps(
            {"revision": revision, "roots": ["svd"], "rego_version": 1}
        ).encode(),
    }
    out.mkdir(parents=True, exist_ok=True)
    for stale in (p for p in out.rglob("*") if p.is_file()):
        if stale.relative_to(out).as_posix() not in files:
            stale.unlink()
    for name, content in files.items():
        target = out / name
        if not target.is_file() or target.read_bytes() != content:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    return Built(out, revision, agreements, parties)
