"""A quarantine entry: a raw message the enforcer could not use, on ``svd.quarantine``.

When a message on a raw topic cannot be verified or decoded (bad signature,
unknown key, not Avro, too large, no value, a topic that is not a raw
topic), the enforcer writes a quarantine entry and an audit record with the
same id (``wire.audit.quarantine_id``), and moves on. The entry says where
the message was, why it was refused (a ``code`` and a message), the SHA-256
and size of the whole value, and a bounded excerpt of it: the value whole
when it is at most :data:`EXCERPT_BYTES` (larger than any valid event, so an
event refused for an unknown key can be inspected or sent again), otherwise
only its first :data:`EXCERPT_BYTES`. A quarantine entry is therefore always
small enough to produce, whatever was written to the raw topic.

The same description (hash, size, excerpt) is what every other consumer
keeps of a message it rejects (:func:`describe`), with a shorter excerpt.

Limits: an entry is at most :data:`MAX_BYTES` bytes of canonical JSON
(``wire.canonical``) and :data:`MAX_DEPTH` deep.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from wire.audit import MAX_MESSAGE, TOPIC, Reason
from wire.canonical import (
    CODE_PATTERN,
    SHA256_PATTERN,
    UUID_PATTERN,
    ContractError,
    ObjectReader,
    canonical_json,
    check_keys,
    checked,
    load_object,
    sha256,
)
from wire.envelope import MAX_EVENT_BYTES

#: The most bytes of a refused value a quarantine entry keeps: as many as the
#: largest valid event has.
EXCERPT_BYTES = MAX_EVENT_BYTES
#: The most bytes of a refused message key a quarantine entry keeps.
KEY_EXCERPT_BYTES = 1024
#: The largest entry, in bytes of canonical JSON.
MAX_BYTES = 128 * 1024
#: An entry is one flat object.
MAX_DEPTH = 1

_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")

KEYS = (
    "quarantine_id",
    "quarantined_at",
    "source_topic",
    "source_partition",
    "source_offset",
    "code",
    "message",
    "raw_sha256",
    "raw_size",
    "excerpt",
    "key_excerpt",
)


class QuarantineEntryError(ContractError):
    """Not a valid quarantine entry; names the field and the reason."""

    contract = "quarantine entry"


@dataclass(frozen=True)
class Described:
    """What a consumer keeps of a message it refuses: never the whole of a large value."""

    sha256: str  # of the whole value (of b"" when there is none)
    size: int  # of the whole value, in bytes
    excerpt: bytes  # its first bytes


def describe(value: bytes | None, excerpt_bytes: int) -> Described:
    data = value or b""
    return Described(sha256(data), len(data), data[:excerpt_bytes])


@dataclass(frozen=True)
class QuarantineEntry:
    """One refused raw message. Constructing one checks it; :meth:`to_bytes` encodes it."""

    quarantine_id: str
    quarantined_at: str
    source_topic: str
    source_partition: int
    source_offset: int
    code: str
    message: str
    raw_sha256: str
    raw_size: int
    excerpt: str | None  # base64 of the first EXCERPT_BYTES of the value; None: no value
    key_excerpt: str | None  # base64 of the first KEY_EXCERPT_BYTES of the key; None: no key

    def __post_init__(self) -> None:
        _check(self.to_dict())

    @classmethod
    def of(
        cls,
        quarantine_id: str,
        quarantined_at: str,
        where: tuple[str, int, int],
        reason: Reason,
        *,
        key: bytes | None,
        value: bytes | None,
    ) -> QuarantineEntry:
        """The entry for the message at ``where`` (topic, partition, offset)."""
        described = describe(value, EXCERPT_BYTES)
        topic, partition, offset = where
        return cls(
            quarantine_id,
            quarantined_at,
            topic,
            partition,
            offset,
            reason.code,
            reason.message,
            described.sha256,
            described.size,
            None if value is None else _b64(described.excerpt),
            None if key is None else _b64(key[:KEY_EXCERPT_BYTES]),
        )

    @property
    def reason(self) -> Reason:
        return Reason(self.code, self.message)

    def value_excerpt(self) -> bytes | None:
        """The kept bytes of the value (the whole value when ``raw_size`` <= EXCERPT_BYTES)."""
        return None if self.excerpt is None else base64.b64decode(self.excerpt)

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in KEYS}

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes | None) -> QuarantineEntry:
        """The entry in ``data``, or QuarantineEntryError naming the field and the reason."""
        value = load_object(data, QuarantineEntryError, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH)
        check_keys(value, KEYS, QuarantineEntryError)
        _check(value)
        return checked(cls, value)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check(value: dict[str, Any]) -> None:
    reader = ObjectReader(value, QuarantineEntryError)
    reader.text("quarantine_id", 36, pattern=UUID_PATTERN)
    reader.time("quarantined_at")
    reader.text("source_topic", 249, pattern=TOPIC)
    reader.integer("source_partition", 0, 2**31 - 1)
    reader.integer("source_offset", 0)
    reader.text("code", 64, pattern=CODE_PATTERN)
    reader.text("message", MAX_MESSAGE)
    reader.text("raw_sha256", 64, pattern=SHA256_PATTERN)
    size = reader.integer("raw_size", 0)
    for key, limit in (("excerpt", EXCERPT_BYTES), ("key_excerpt", KEY_EXCERPT_BYTES)):
        text = reader.text(key, (limit + 2) // 3 * 4, pattern=_BASE64, optional=True)
        if text is None:
            continue
        try:
            kept = base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            reader.fail(key, "bad_value", f"not base64: {exc}")
        if key == "excerpt" and len(kept) != min(size, EXCERPT_BYTES):
            reader.fail(key, "bad_value", f"holds {len(kept)} bytes of a {size}-byte value")
        if len(kept) > limit:  # base64 of limit + 1 or + 2 bytes is no longer than of limit
            reader.fail(key, "too_long", f"holds {len(kept)} bytes, more than {limit}")
    reader.done()
