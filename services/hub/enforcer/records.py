"""What the enforcer writes: shared messages, audit records and quarantine entries.

All three are JSON in one canonical form (sorted keys, no spaces, UTF-8,
times in ISO 8601 UTC with ``Z``), so the same input always gives the same
bytes and a payload's SHA-256 can be recomputed by anyone holding it.

Ids are deterministic (UUIDv5), so a replay after a crash produces the same
ids and every sink can be idempotent:

* ``decision_id`` = uuid5(event_id, recipient, agreement_id); a share's id is
  the id of the decision that allowed it;
* an event no agreement covers gets one decision with recipient and agreement
  ``-``;
* a quarantined message gets uuid5("quarantine", topic, partition, offset),
  since it may have no event id that can be trusted.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

#: Namespace of every decision_id (UUIDv5). Changing it changes every id.
DECISION_NAMESPACE = uuid.UUID("0b6a3f52-94d1-5e8c-b7a0-4c2e9f1d8a36")

#: The envelope fields that travel with every share. Fine-grained times
#: (occurred_at, recorded_at, published_at) do not: an agreement decides how
#: precisely a time is released, through the payload's own time fields.
SHARED_ENVELOPE = (
    "event_id",
    "event_type",
    "source_authority",
    "source_authority_type",
    "supersedes",
)

#: Audit ``decision`` values.
ALLOW, DENY, QUARANTINE = "allow", "deny", "quarantine"

#: recipient and agreement_id of the decision for an event no agreement covers.
NO_AGREEMENT = "-"


def decision_id(event_id: str, recipient: str, agreement_id: str) -> str:
    return str(uuid.uuid5(DECISION_NAMESPACE, f"{event_id}\x1f{recipient}\x1f{agreement_id}"))


def quarantine_id(topic: str, partition: int, offset: int) -> str:
    return str(uuid.uuid5(DECISION_NAMESPACE, f"quarantine\x1f{topic}\x1f{partition}\x1f{offset}"))


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable
    ).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iso(moment: datetime) -> str:
    """A timezone-aware time in UTC, ISO 8601 with ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise TypeError(f"naive datetime {value!r} cannot be shared")
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
