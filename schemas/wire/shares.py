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
        _check(self.to_dict())
        size = len(self.to_bytes())
        if size > MAX_BYTES:
            raise ShareError("(value)", "too_large", f"{size} bytes is more than {MAX_BYTES}")

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in KEYS}

    def to_bytes(self) -> bytes:
        """The share as canonical JSON: what goes on the topic."""
        return canonical_json(self.to_dict())

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
