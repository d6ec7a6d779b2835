"""A share: what one recipient receives about one event, on ``svd.shared.<recipient>.<type>``.

Recipients subscribe to their shared topics directly, so this is a public
contract. A share is one canonical JSON object (``wire.canonical``) with the
envelope below and ``fields``, the payload fields its agreement releases,
already anonymised as the agreement says. ``svdhub schemas shares`` prints a
JSON Schema per (recipient, event type) with exactly the fields each
agreement releases; the envelope's own schema is frozen in
``released/shares/`` and checked by ``svdhub schemas check``.

The envelope:

* ``share_id``: the id of the decision that allowed this share (UUID);
* ``event_id``, ``event_type``, ``record_type``, ``source_authority``,
  ``source_authority_type``, ``supersedes``: from the event's envelope. The
  envelope's fine-grained times do not travel: an agreement decides how
  precisely a time is released, through the payload's own time fields;
* ``recipient``, ``agreement_id``, ``policy_revision``: who it is for, under
  which agreement, decided under which policy bundle.

Limits (a value beyond them is refused by :meth:`Share.from_bytes`, and by
the constructor, so the hub never writes a share its readers refuse): the
whole share at most :data:`MAX_BYTES` bytes and :data:`MAX_DEPTH` deep; each
string in ``fields`` at most :data:`MAX_VALUE_LENGTH` characters; each array
or object in ``fields`` at most :data:`MAX_ITEMS` entries; ``fields`` keys
only top-level fields of the record type (never ``envelope``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from wire.canonical import (
    UUID_PATTERN,
    ContractError,
    ObjectReader,
    canonical_json,
    check_json,
    check_keys,
    checked,
    load_object,
)
from wire.schemas import CURRENT_DIR, PAYLOADS
from wire.topics import PARTY_ID

#: The largest share, in bytes of canonical JSON.
MAX_BYTES = 64 * 1024
#: The deepest nesting, counting the share itself as 1 (share > fields > geo > code).
MAX_DEPTH = 4
#: The longest string in ``fields``, in characters.
MAX_VALUE_LENGTH = 256
#: The most entries in one array or object of ``fields``.
MAX_ITEMS = 64

#: An agreement id, as the agreement schema allows it.
AGREEMENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: A policy bundle revision.
REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

#: Every key of a share, in order.
KEYS = (
    "share_id",
    "event_id",
    "event_type",
    "record_type",
    "source_authority",
    "source_authority_type",
    "supersedes",
    "recipient",
    "agreement_id",
    "policy_revision",
    "fields",
)


class ShareError(ContractError):
    """Not a valid share; names the field and the reason."""

    contract = "share"


@cache
def authority_types() -> tuple[str, ...]:
    """The envelope's SourceAuthorityType symbols."""
    source = json.loads((CURRENT_DIR / "Envelope.avsc").read_text(encoding="utf-8"))
    for field in source["fields"]:
        if field["name"] == "source_authority_type":
            return tuple(field["type"]["symbols"])
    raise LookupError("Envelope.avsc has no source_authority_type")  # pragma: no cover


@cache
def payload_fields(record_type: str) -> frozenset[str]:
    """The top-level fields of a payload record a share may release (not ``envelope``)."""
    source = json.loads((CURRENT_DIR / f"{record_type}.avsc").read_text(encoding="utf-8"))
    return frozenset(f["name"] for f in source["fields"] if f["name"] != "envelope")


@dataclass(frozen=True)
class Share:
    """One share. Constructing one checks it; :meth:`to_bytes` is its only encoding."""

    share_id: str
    event_id: str
    event_type: str
    record_type: str
    source_authority: str
    source_authority_type: str
    supersedes: str | None
    recipient: str
    agreement_id: str
    policy_revision: str
    fields: dict[str, Any]

    def __post_init__(self) -> None:
        value = self.to_dict()
        _check(value)
        encoded = canonical_json(value)
        if len(encoded) > MAX_BYTES:
            raise ShareError(
                "(value)", "too_large", f"{len(encoded)} bytes is more than {MAX_BYTES}"
            )
        object.__setattr__(self, "_encoded", encoded)

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in KEYS}

    def to_bytes(self) -> bytes:
        """The share as canonical JSON: what goes on the topic. Encoded once:
        every field is immutable (``fields`` is never changed after it is checked)."""
        encoded: bytes | None = self.__dict__.get("_encoded")
        if encoded is None:
            encoded = canonical_json(self.to_dict())
            object.__setattr__(self, "_encoded", encoded)
        return encoded

    @classmethod
    def from_bytes(cls, data: bytes | None) -> Share:
        """The share in ``data``, or ShareError naming the field and the reason."""
        value = load_object(data, ShareError, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH)
        check_keys(value, KEYS, ShareError)
        _check(value)
        return checked(cls, value)


def _check(value: dict[str, Any]) -> None:
    reader = ObjectReader(value, ShareError)
    reader.text("share_id", 36, pattern=UUID_PATTERN)
    reader.text("event_id", 36, pattern=UUID_PATTERN)
    event_type = reader.text("event_type", 16, choices=tuple(PAYLOADS))
    record_type = reader.text("record_type", 16, choices=(PAYLOADS[event_type],))
    reader.text("source_authority", 40, pattern=PARTY_ID)
    reader.text("source_authority_type", 32, choices=authority_types())
    reader.text("supersedes", 36, pattern=UUID_PATTERN, optional=True)
    reader.text("recipient", 40, pattern=PARTY_ID)
    reader.text("agreement_id", 63, pattern=AGREEMENT_ID)
    reader.text("policy_revision", 128, pattern=REVISION)
    fields = reader.any("fields")
    if not isinstance(fields, dict):
        reader.fail("fields", "wrong_type", "not an object")
    check_json(
        fields,
        ShareError,
        "fields",
        max_depth=MAX_DEPTH - 1,
        max_length=MAX_VALUE_LENGTH,
        max_items=MAX_ITEMS,
    )
    allowed = payload_fields(record_type)
    for key in sorted(fields):
        if key not in allowed:
            raise ShareError(f"fields.{key}", "unexpected", f"not a field of {record_type}")
    reader.done()


# ---------------------------------------------------------------- JSON Schema

#: The JSON Schema dialect of :func:`envelope_schema` and of the per-recipient schemas.
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: A string without a NUL character (the parser refuses NUL anywhere).
_NO_NUL = "^[^\\u0000]*$"


def schema_pattern(pattern: re.Pattern[str] | str) -> str:
    """A parser pattern, written so that a JSON Schema validator matches it exactly.

    The parser's patterns are ``^...$`` and applied with ``fullmatch``. In a
    JSON Schema a pattern is an ECMA-262 regular expression searched for in
    the string, where ``$`` is the end of the string; but Python validators
    use ``re.search``, where ``$`` also matches before a trailing newline.
    Ending the pattern in ``(?!\\n)$`` means the same in both."""
    text = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    if not (text.startswith("^") and text.endswith("$")):
        raise ValueError(f"pattern {text!r} is not anchored with ^ and $")
    return f"{text[:-1]}(?!\\n)$"


def _text_schema(
    max_length: int,
    description: str,
    *,
    pattern: re.Pattern[str] | None = None,
    choices: tuple[str, ...] | None = None,
    optional: bool = False,
) -> dict[str, Any]:
    """The schema of one ``ObjectReader.text`` check."""
    schema: dict[str, Any] = {
        "description": description,
        "type": ["string", "null"] if optional else "string",
        "maxLength": max_length,
    }
    if pattern is not None:
        schema["pattern"] = schema_pattern(pattern)
    if choices is not None:
        schema["enum"] = [*choices, None] if optional else list(choices)
    return schema


def envelope_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of every share: the envelope, and the limits on ``fields``.

    Built from the constants :func:`_check` applies (:data:`KEYS`, the
    patterns, lengths and choices, :data:`MAX_DEPTH`, :data:`MAX_VALUE_LENGTH`,
    :data:`MAX_ITEMS`), so a share the parser accepts is valid against it,
    and a share it refuses for its structure (a key missing, extra or of the
    wrong type, a value too long, outside its pattern or choices, a
    ``record_type`` that does not go with the ``event_type``, ``fields``
    nested too deep or too large) is invalid against it too.

    What a JSON Schema cannot say, and only the parser checks: the share's
    bytes (canonical form, UTF-8, at most :data:`MAX_BYTES`, no duplicate
    keys), and that ``fields`` names only fields of the record type. The
    per-recipient schemas (``svdhub schemas shares``) say exactly which
    fields each agreement releases.

    Recipients rely on this schema, so it is frozen in
    ``released/shares/vN/share.schema.json`` and ``svdhub schemas check``
    refuses any change a validator would notice (``wire.compat``). It is a
    description, not the parser: :meth:`Share.from_bytes` never uses it."""
    types = tuple(PAYLOADS)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "svdhub share",
        "description": (
            "What one recipient receives about one event on svd.shared.<recipient>.<event_type>: "
            "canonical JSON (sorted keys, no spaces, UTF-8, times in UTC with Z), at most "
            f"{MAX_BYTES} bytes. The envelope comes from the event and the decision; fields "
            "holds the payload fields the agreement releases, already anonymised."
        ),
        "type": "object",
        "required": list(KEYS),
        "additionalProperties": False,
        "properties": {
            "share_id": _text_schema(
                36,
                "The id of the decision that allowed this share (UUIDv5 of event, recipient and "
                "agreement): the same event shared again under the same decision has the same id.",
                pattern=UUID_PATTERN,
            ),
            "event_id": _text_schema(
                36, "The event's id, as its authority published it.", pattern=UUID_PATTERN
            ),
            "event_type": _text_schema(16, "The kind of event.", choices=types),
            "record_type": _text_schema(
                16,
                "The payload record the fields come from; always the one of its event_type.",
                choices=tuple(PAYLOADS[t] for t in types),
            ),
            "source_authority": _text_schema(
                40, "The authority that published the event.", pattern=PARTY_ID
            ),
            "source_authority_type": _text_schema(
                32, "The type of that authority.", choices=authority_types()
            ),
            "supersedes": _text_schema(
                36,
                "The event_id of the earlier event this one corrects; null for a first version.",
                pattern=UUID_PATTERN,
                optional=True,
            ),
            "recipient": _text_schema(40, "The recipient this share is for.", pattern=PARTY_ID),
            "agreement_id": _text_schema(
                63, "The data-sharing agreement it was shared under.", pattern=AGREEMENT_ID
            ),
            "policy_revision": _text_schema(
                128, "The revision of the policy bundle it was decided under.", pattern=REVISION
            ),
            "fields": {
                "description": (
                    "The payload fields the agreement releases, by name, each after its action "
                    "(kept, generalised, banded, truncated or pseudonymised)."
                ),
                **_container("object", "#/$defs/value"),
            },
        },
        "allOf": [
            {
                "if": {"properties": {"event_type": {"const": event_type}}},
                "then": {"properties": {"record_type": {"const": record_type}}},
            }
            for event_type, record_type in PAYLOADS.items()
        ],
        "$defs": _value_defs(),
    }


def _container(kind: str, children: str) -> dict[str, Any]:
    """An object or array of at most :data:`MAX_ITEMS` entries, each valid against ``children``."""
    if kind == "object":
        return {
            "type": "object",
            "maxProperties": MAX_ITEMS,
            "propertyNames": {"$ref": "#/$defs/text"},
            "additionalProperties": {"$ref": children},
        }
    return {"type": "array", "maxItems": MAX_ITEMS, "items": {"$ref": children}}


def _value_defs() -> dict[str, Any]:
    """``$defs`` for the values in ``fields``: nested at most :data:`MAX_DEPTH` deep in the
    share (share > fields > value > value > scalar), strings of at most
    :data:`MAX_VALUE_LENGTH` characters without NUL."""
    defs: dict[str, Any] = {
        "text": {
            "description": f"A string of at most {MAX_VALUE_LENGTH} characters, without NUL.",
            "maxLength": MAX_VALUE_LENGTH,
            "pattern": _NO_NUL,
        },
        "scalar": {
            "description": "A string (as for text), a number, true, false or null.",
            "type": ["string", "number", "boolean", "null"],
            "maxLength": MAX_VALUE_LENGTH,
            "pattern": _NO_NUL,
        },
    }
    # fields is at depth 2 of the share (the share itself is 1), so a value
    # inside it may open MAX_DEPTH - 2 more levels of objects or arrays.
    below = "#/$defs/scalar"
    for level in range(MAX_DEPTH - 2, 0, -1):
        name = "value" if level == 1 else f"value{level}"
        defs[name] = {
            "description": (
                f"A value {level} level{'s' if level > 1 else ''} inside fields: a scalar, or "
                f"an object or array of at most {MAX_ITEMS} entries, each "
                + ("a scalar." if below.endswith("scalar") else "a value one level further in.")
            ),
            "anyOf": [
                {"$ref": "#/$defs/scalar"},
                _container("object", below),
                _container("array", below),
            ],
        }
        below = f"#/$defs/{name}"
    return defs
