"""The JSON Schema of what each recipient receives, generated from the agreements.

Recipients subscribe to ``svd.shared.<recipient>.<event_type>`` directly, so
each needs to know exactly what a share on its topics holds. For every
recipient and every event type some agreement sends it, :func:`share_schemas`
gives one JSON Schema (draft 2020-12): the share envelope of
``wire.shares.envelope_schema`` with ``recipient``, ``event_type`` and
``record_type`` fixed (``const``), ``source_authority`` narrowed to the
agreements' disclosers, and a ``oneOf`` with one branch per agreement. Each
branch fixes ``agreement_id`` and lists exactly the fields that agreement
releases for that record type (every action but ``drop``), all required,
nothing else allowed; each field has its JSON type after the action, the
action (``x-action``), the wire field's classification
(``x-classification``) and its doc (``description``).

The types follow what the hub does, not only what the agreements say, so a
share the enforcer produces is valid against its schema:

* each action's output is what ``hub.enforcer.anonymise`` makes of the wire
  type (see :meth:`PayloadFields.released`), then canonical JSON
  (``wire.canonical``): times in UTC with ``Z``, dates ``YYYY-MM-DD``, UUIDs
  in lower case; a nullable wire field may also be null;
* the sensitive-location rule of ``policies/svd/share/share.rego``: for a
  local recipient, a geography field (``geo``, ``*_geo``) the agreement keeps
  or generalises to LSOA arrives generalised to MSOA when the event is
  flagged domestic abuse or sexual offence or happened at home. The type
  allows both, and where the agreement releases those flags unchanged the
  schema requires MSOA when they say so;
* with ``scope: recipient_area`` a local recipient gets only events in its
  own area, so the LAD of the geography the decision was made on (``geo``,
  else ``home_geo``, as ``hub.enforcer.core.Enforcer.decision_input`` reads
  it) is the recipient's area (retractions carry no place);
* an agreement that names a field classified ``direct_identifier`` or
  ``free_text`` (with any action but ``drop``) is always denied for that
  record type, so it has no branch there.

An agreement whose action cannot apply to its field's wire type (``truncate``
on an enum, ``generalise`` on a string) would have every such share denied;
it raises :class:`ShareSchemaError` naming the agreement and the field.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub.bundle import load_agreements, load_parties
from hub.enforcer.anonymise import AGE_SVD, LEVELS
from hub.enforcer.hierarchy import AGE, GEO, field_kinds
from wire import schemas
from wire.canonical import SHA256_PATTERN, TIME_PATTERN, UUID_PATTERN
from wire.schemas import NAMESPACE, PAYLOADS, SchemaSet
from wire.shares import envelope_schema, schema_pattern
from wire.topics import shared_topic

#: The recipient level the sensitive-location and area rules apply to.
LOCAL = "local"
#: What makes a location sensitive (share.rego ``_sensitive_location``): the
#: decision input takes these from the record's fields of the same names.
SENSITIVE_LOCATION: tuple[tuple[str, object], ...] = (
    ("domestic_abuse_flag", True),
    ("sexual_offence_flag", True),
    ("location_type", "HOME"),
)
#: The fields a decision takes the event's LAD from, first present wins.
AREA_FIELDS = ("geo", "home_geo")
#: Classifications no agreement may release (share.rego ``_never_shared``).
NEVER_SHARED = frozenset({"direct_identifier", "free_text"})
#: The codes ``generalise`` releases besides ``region_cd``, with the level of each.
GEO_CODES = {"lsoa21cd": "lsoa", "msoa21cd": "msoa", "lad_cd": "lad"}

_DIGITS = "[0-9]"
_TIME = TIME_PATTERN.pattern.replace(r"\d", _DIGITS)
_DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
#: ``truncate``'s output, by unit, for a time and for a date.
_TRUNCATED_TIME = {
    "hour": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:00:00Z$",
    "day": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T00:00:00Z$",
    "week": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T00:00:00Z$",
    "month": "^[0-9]{4}-[0-9]{2}-01T00:00:00Z$",
}
_TRUNCATED_DATE = {
    "hour": _DATE,
    "day": _DATE,
    "week": _DATE,
    "month": "^[0-9]{4}-[0-9]{2}-01$",
}
_TIME_TYPES = frozenset({"timestamp-millis", "timestamp-micros"})
_PRIMITIVES: dict[str, dict[str, Any]] = {
    "null": {"type": "null"},
    "boolean": {"type": "boolean"},
    "int": {"type": "integer"},
    "long": {"type": "integer"},
    "float": {"type": "number"},
    "double": {"type": "number"},
    "string": {"type": "string"},
}


class ShareSchemaError(Exception):
    """An agreement's action cannot apply to its field; the message names both."""


def load(policies: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The validated agreements and parties of a policies folder (``hub.bundle``).

    Raises BundleError naming the file and the problem."""
    parties = load_parties(policies / "parties.yaml")
    return load_agreements(policies / "agreements", parties), parties


def file_name(recipient: str, event_type: str) -> str:
    """``csp-birmingham.incident.schema.json``: named like the topic it describes."""
    return f"{recipient}.{event_type.lower()}.schema.json"


def share_schemas(
    agreements: Mapping[str, Mapping[str, Any]],
    parties: Mapping[str, Any],
    wire: SchemaSet | None = None,
    recipients: tuple[str, ...] | None = None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """``(recipient, event_type) -> JSON Schema`` for every pair some agreement covers.

    ``agreements`` and ``parties`` are as :func:`load` gives them (actions
    normalised by ``hub.bundle``); ``wire`` the Avro schemas the shares are
    made from (the current ones by default); ``recipients`` limits the output
    to those (every recipient in ``parties`` by default). Pairs come in the
    order of ``parties`` and of ``wire.schemas.PAYLOADS``. Raises
    ShareSchemaError for an action its field cannot take."""
    wire = wire or schemas.current()
    area = str(parties["partnership"]["area"]["code"])
    records = {record: PayloadFields(wire, record, area) for record in PAYLOADS.values()}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for recipient, details in parties["recipients"].items():
        if recipients is not None and recipient not in recipients:
            continue
        for event_type, record_type in PAYLOADS.items():
            senders = [
                agreement
                for _, agreement in sorted(agreements.items())
                if recipient in agreement["recipients"] and event_type in agreement["event_types"]
            ]
            branches = [
                branch
                for agreement in senders
                if (
                    branch := _branch(
                        agreement, recipient, details, event_type, records[record_type]
                    )
                )
                is not None
            ]
            if branches:
                out[(recipient, event_type)] = _share_schema(
                    recipient, event_type, record_type, branches
                )
    return out


def _share_schema(
    recipient: str, event_type: str, record_type: str, branches: list[dict[str, Any]]
) -> dict[str, Any]:
    schema = envelope_schema()
    ids = [branch["properties"]["agreement_id"]["const"] for branch in branches]
    authorities = sorted({a for b in branches for a in b["properties"]["source_authority"]["enum"]})
    topic = shared_topic(recipient, event_type)
    schema["title"] = f"svdhub share to {recipient}: {event_type}"
    schema["description"] = (
        f"A share on {topic}, under one of the agreements {', '.join(ids)}: the envelope is "
        "the frozen share envelope's (released/shares), with recipient and event type fixed; "
        "fields holds exactly what the share's agreement releases (oneOf, by agreement_id). "
        "Generated from the agreements by `svdhub schemas shares`."
    )
    properties = schema["properties"]
    properties["recipient"]["const"] = recipient
    properties["event_type"]["const"] = event_type
    properties["record_type"]["const"] = record_type
    properties["agreement_id"]["enum"] = ids
    properties["source_authority"]["enum"] = authorities
    schema["oneOf"] = branches
    return schema


def _branch(
    agreement: Mapping[str, Any],
    recipient: str,
    details: Mapping[str, Any],
    event_type: str,
    record: PayloadFields,
) -> dict[str, Any] | None:
    """The oneOf branch of one agreement, or None if the policy always denies it here."""
    name = agreement["id"]
    actions = {
        field: action
        for field, action in agreement["fields"].items()
        if action["action"] != "drop" and (field in record.fields or field == "envelope")
    }
    if "envelope" in actions:
        raise ShareSchemaError(
            f"agreement {name}: fields.envelope: the envelope is never a field of a share; "
            "it travels as the share's own keys (drop it from the agreement)"
        )
    if any(record.classification(field) in NEVER_SHARED for field in actions):
        return None
    local = details.get("level") == LOCAL
    area = (
        str(details["area"])
        if local and agreement.get("scope") == "recipient_area" and event_type != "RETRACTION"
        else None
    )
    area_field = next((f for f in AREA_FIELDS if f in record.fields), None)
    areas = {area_field: area} if area is not None and area_field is not None else {}
    properties: dict[str, Any] = {}
    for field, action in actions.items():
        try:
            released = record.released(
                field, action, sensitive=local and _finer_than_msoa(field, action)
            )
        except ShareSchemaError as exc:
            raise ShareSchemaError(f"agreement {name}: fields.{field}: {exc}") from None
        if agreement.get("min_k") is not None:
            released = _k_anonymised(record, field, action, released)
        properties[field] = _in_area(released, areas[field]) if field in areas else released
    fields: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    rule = _sensitive_rule(record, actions, areas) if local else None
    if rule is not None:
        fields["allOf"] = [rule]
    return {
        "title": f"{name}: {agreement['title']}",
        "description": str(agreement["purpose"]),
        "properties": {
            "agreement_id": {"const": name},
            "source_authority": {"enum": sorted(agreement["disclosers"])},
            "fields": fields,
        },
    }


def _k_anonymised(
    record: PayloadFields, field: str, action: Mapping[str, str], schema: dict[str, Any]
) -> dict[str, Any]:
    """Under an agreement with min_k, a quasi-identifier may arrive coarser than
    the agreement's action (``hub.enforcer.hierarchy``): a kept age band as its
    SVD band, a kept geography generalised, a time at the start of its part of
    the day, day or week (still a whole hour, so every time schema allows it)."""
    kind = field_kinds(record.name).get(field)
    if kind is None:
        return schema
    out = dict(schema)
    out["description"] = (
        f"{schema.get('description', '')} The agreement sets min_k, so it may arrive "
        "generalised further (see docs/risk.md)."
    ).strip()
    if kind == AGE and action["action"] in ("keep", "band") and "enum" in out:
        out["enum"] = list(dict.fromkeys([*out["enum"], *AGE_SVD.values()]))
        if None in schema["enum"]:
            out["enum"] = [*[v for v in out["enum"] if v is not None], None]
    if kind == GEO and action["action"] == "keep":
        geography = record._geography(record._branches(record.fields[field]["type"])[0])
        if geography is not None:
            coarser = record._generalised(geography, "lsoa")
            kept = {
                k: v
                for k, v in out.items()
                if k not in ("description", "x-classification", "x-action")
            }
            out = {
                k: v for k, v in out.items() if k in ("description", "x-classification", "x-action")
            }
            out["anyOf"] = [kept, coarser]
    return out


def _geo_field(field: str) -> bool:
    return field == "geo" or field.endswith("_geo")


def _finer_than_msoa(field: str, action: Mapping[str, str]) -> bool:
    """Whether share.rego coarsens this field to MSOA for a local recipient on a
    sensitive event (``_geo_field`` and ``_finer_than_msoa``)."""
    return _geo_field(field) and (
        action["action"] == "keep"
        or (action["action"] == "generalise" and action.get("level") == "lsoa")
    )


def _sensitive_rule(
    record: PayloadFields, actions: Mapping[str, Mapping[str, str]], areas: Mapping[str, str]
) -> dict[str, Any] | None:
    """``if`` a released indicator says the location is sensitive, ``then`` every
    geography field finer than MSOA arrives at MSOA (in its area, for a field in
    ``areas``); None when the agreement releases no such field or no indicator
    unchanged."""
    coarsened = [f for f, action in actions.items() if _finer_than_msoa(f, action)]
    indicators = [
        (field, value)
        for field, value in SENSITIVE_LOCATION
        if actions.get(field, {}).get("action") == "keep"
    ]
    if not coarsened or not indicators:
        return None
    then: dict[str, Any] = {}
    for field in coarsened:
        msoa = record.released(field, {"action": "generalise", "level": "msoa"}, sensitive=False)
        then[field] = _in_area(msoa, areas[field]) if field in areas else msoa
    return {
        "if": {
            "anyOf": [
                {"properties": {field: {"const": value}}, "required": [field]}
                for field, value in indicators
            ]
        },
        "then": {"properties": then},
    }


def _in_area(schema: dict[str, Any], area: str) -> dict[str, Any]:
    """``schema`` with every non-null ``lad_cd`` it holds fixed to ``area``."""
    out = copy.deepcopy(schema)
    for node in _objects(out):
        lad = node["properties"].get("lad_cd")
        if lad is None or lad.get("type") == "null":
            continue
        fixed = {k: v for k, v in lad.items() if k not in ("type", "pattern", "enum", "const")}
        nullable = isinstance(lad.get("type"), list) and "null" in lad["type"]
        fixed.update({"enum": [area, None]} if nullable else {"const": area})
        fixed["description"] = (
            f"{lad.get('description', '')} Always the recipient's area: the agreement "
            "shares only events in it."
        ).strip()
        node["properties"]["lad_cd"] = fixed
    return out


def _objects(schema: Any) -> list[dict[str, Any]]:
    """The object schemas with ``properties`` in ``schema`` and its ``anyOf`` branches."""
    if not isinstance(schema, dict):
        return []
    found = [schema] if isinstance(schema.get("properties"), dict) else []
    for branch in schema.get("anyOf", []):
        found.extend(_objects(branch))
    return found


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or null."""
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return schema
    if isinstance(kind, str) and "const" not in schema:
        out = {**schema, "type": [kind, "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


class PayloadFields:
    """One payload record's wire fields, and the JSON each action makes of them."""

    def __init__(self, wire: SchemaSet, name: str, area_code: str) -> None:
        self.name = name
        self.area_code = area_code  # the partnership's: region_cd of every geography
        expanded = wire.expanded(name)
        self.named: dict[str, dict[str, Any]] = {}
        self._collect(expanded)
        self.fields: dict[str, dict[str, Any]] = {
            f["name"]: f for f in expanded["fields"] if f["name"] != "envelope"
        }

    def _collect(self, node: Any) -> None:
        """Remember every named type defined in ``node``, by short and full name."""
        if isinstance(node, list):
            for item in node:
                self._collect(item)
        elif isinstance(node, dict):
            if node.get("type") in ("record", "enum", "fixed") and "name" in node:
                short = str(node["name"]).removeprefix(f"{NAMESPACE}.")
                self.named[short] = self.named[f"{NAMESPACE}.{short}"] = node
            for key in ("type", "items", "values", "fields"):
                if key in node:
                    self._collect(node[key])

    def resolve(self, node: Any) -> Any:
        if isinstance(node, str) and node in self.named:
            return self.named[node]
        return node

    def classification(self, field: str) -> str:
        return str(self.fields[field].get("classification", ""))

    def _branches(self, node: Any) -> tuple[list[Any], bool]:
        """The non-null branches of a (union) type, and whether null is one."""
        node = self.resolve(node)
        branches = node if isinstance(node, list) else [node]
        kept = [self.resolve(b) for b in branches if b != "null"]
        return kept, len(kept) < len(branches)

    # ------------------------------------------------------------------ keep

    def json(self, node: Any) -> dict[str, Any]:  # noqa: PLR0911 - one return per wire type
        """The JSON a wire value of type ``node`` becomes in a share, unchanged (``keep``)."""
        node = self.resolve(node)
        if isinstance(node, list):
            kept, nullable = self._branches(node)
            inner = (
                self.json(kept[0]) if len(kept) == 1 else {"anyOf": [self.json(b) for b in kept]}
            )
            return _or_null(inner) if nullable else inner
        if isinstance(node, str):
            if node in _PRIMITIVES:
                return dict(_PRIMITIVES[node])
            raise ShareSchemaError(f"wire type {node!r} cannot travel in a share")
        logical = node.get("logicalType")
        if logical in _TIME_TYPES:
            return {"type": "string", "format": "date-time", "pattern": schema_pattern(_TIME)}
        if logical == "date":
            return {"type": "string", "format": "date", "pattern": schema_pattern(_DATE)}
        if logical == "uuid":
            return {"type": "string", "format": "uuid", "pattern": schema_pattern(UUID_PATTERN)}
        if logical is not None:
            raise ShareSchemaError(f"wire logical type {logical!r} cannot travel in a share")
        kind = node["type"]
        if kind == "enum":
            return {"type": "string", "enum": list(node["symbols"])}
        if kind == "array":
            return {"type": "array", "items": self.json(node["items"])}
        if kind == "record":
            properties = {
                f["name"]: self._annotated(f, self.json(f["type"])) for f in node["fields"]
            }
            return {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            }
        if kind in _PRIMITIVES:
            return dict(_PRIMITIVES[kind])
        raise ShareSchemaError(f"wire type {kind!r} cannot travel in a share")

    @staticmethod
    def _annotated(field: Mapping[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": str(field.get("doc", "")), **schema}

    # ------------------------------------------------------------------ actions

    def released(self, field: str, action: Mapping[str, str], *, sensitive: bool) -> dict[str, Any]:
        """What ``field`` becomes under ``action`` (as ``hub.enforcer.anonymise`` applies
        it), with its doc, classification and action as annotations. ``sensitive``:
        the policy may coarsen it to MSOA instead (a local recipient's geography)."""
        wire_field = self.fields[field]
        kept, nullable = self._branches(wire_field["type"])
        kind = action["action"]
        if kind == "keep":
            schema = self.json(wire_field["type"])
            geography = self._geography(kept)
            if sensitive and geography is not None:
                msoa = self._generalised(geography, "msoa")
                schema = {"anyOf": [self.json(geography), msoa]}
                schema = _or_null(schema) if nullable else schema
        else:
            schema = self._transformed(kind, action, kept)
            schema = _or_null(schema) if nullable else schema
        description = str(wire_field.get("doc", ""))
        if sensitive:
            description += (
                " For this recipient it arrives generalised to MSOA when the incident is flagged "
                "domestic abuse or sexual offence, or happened at home."
            )
        return {
            "description": description,
            "x-classification": str(wire_field.get("classification", "")),
            "x-action": dict(action),
            **schema,
        }

    def _transformed(self, kind: str, action: Mapping[str, str], kept: list[Any]) -> dict[str, Any]:
        if kind == "generalise":
            geography = self._geography(kept)
            if geography is None:
                raise ShareSchemaError("generalise needs a Geography record")
            return self._generalised(geography, action["level"])
        if kind == "band":
            return self._banded(kept, action["scheme"])
        if kind == "truncate":
            return self._truncated(kept, action["unit"])
        if kind == "pseudonymise":
            return self._pseudonymised(kept)
        raise ShareSchemaError(f"unknown action {kind!r}")

    def _geography(self, kept: list[Any]) -> dict[str, Any] | None:
        """The one record type a geography field holds, or None."""
        if len(kept) == 1 and isinstance(kept[0], dict) and kept[0].get("type") == "record":
            record: dict[str, Any] = kept[0]
            return record
        return None

    def _generalised(self, geography: Mapping[str, Any], level: str) -> dict[str, Any]:
        """``generalise`` to ``level``: the codes finer than it null, the ward left
        out, region_cd the hub's region; a code may be null where its wire field
        may (the lookup fills MSOA and LAD from a known LSOA)."""
        rank = LEVELS.index(level)
        wire_codes = {f["name"]: f for f in geography["fields"]}
        properties: dict[str, Any] = {}
        for code, code_level in GEO_CODES.items():
            if LEVELS.index(code_level) < rank:
                properties[code] = {"description": f"Null: finer than {level}.", "type": "null"}
            elif code in wire_codes:
                wire_code = wire_codes[code]
                properties[code] = self._annotated(wire_code, self.json(wire_code["type"]))
            else:
                properties[code] = {"type": ["string", "null"]}
        properties["region_cd"] = {
            "description": "The partnership's area (policies/partnership.yaml).",
            "const": self.area_code,
        }
        return {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }

    def _banded(self, kept: list[Any], scheme: str) -> dict[str, Any]:
        """The band of each AgeBand symbol (``age_svd``), or the symbol (``age5``)."""
        enum = kept[0] if len(kept) == 1 and isinstance(kept[0], dict) else {}
        symbols = enum.get("symbols", []) if enum.get("type") == "enum" else []
        if not symbols or not set(symbols) <= set(AGE_SVD):
            raise ShareSchemaError("band needs an AgeBand symbol")
        bands = [AGE_SVD[s] for s in symbols] if scheme == "age_svd" else symbols
        return {"type": "string", "enum": list(dict.fromkeys(bands))}

    def _truncated(self, kept: list[Any], unit: str) -> dict[str, Any]:
        logical = (
            kept[0].get("logicalType") if len(kept) == 1 and isinstance(kept[0], dict) else None
        )
        if logical in _TIME_TYPES:
            pattern, form = _TRUNCATED_TIME[unit], "date-time"
        elif logical == "date":
            pattern, form = _TRUNCATED_DATE[unit], "date"
        else:
            raise ShareSchemaError("truncate needs a time (timestamp-millis) or a date")
        return {"type": "string", "format": form, "pattern": schema_pattern(pattern)}

    def _pseudonymised(self, kept: list[Any]) -> dict[str, Any]:
        """HMAC-SHA256 hex of a string, or of each string in an array (a UUID or any
        other type is refused by the anonymiser, so it is here)."""
        pseudonym = {"type": "string", "pattern": schema_pattern(SHA256_PATTERN)}
        if len(kept) == 1 and self._is_string(kept[0]):
            return pseudonym
        if (
            len(kept) == 1
            and isinstance(kept[0], dict)
            and kept[0].get("type") == "array"
            and self._is_string(kept[0]["items"])
        ):
            return {"type": "array", "items": pseudonym}
        raise ShareSchemaError("pseudonymise needs a string or an array of strings")

    def _is_string(self, node: Any) -> bool:
        node = self.resolve(node)
        return node == "string" or (
            isinstance(node, dict) and node.get("type") == "string" and "logicalType" not in node
        )
