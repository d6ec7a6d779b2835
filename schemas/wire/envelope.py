"""Events on the wire: deterministic ids, and the write and read pipelines.

Out (connector): ``EventWriter.write`` fills in the envelope's fingerprint
and key id, encodes the payload (``AvroCodec``), signs those exact bytes
(``Signer``) and frames body + signature as a ``SignedEvent``.

In (hub): ``EventReader.read`` unframes, verifies the signature over the body
(``Verifier``) and only then decodes it, resolving older schema versions into
the current one. It then checks that the envelope agrees with the frame: the
key id inside the signed body is the one that signed it, the key belongs to
the authority the envelope names, and the event type matches the record.

Each step is an injected object with one job, so the two directions mirror
each other and each step can be tested alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from wire.canonical import uuid5
from wire.codec import AvroCodec, CodecError
from wire.schemas import FRAME, PAYLOADS
from wire.signing import Signer, Verifier, WrongAuthority

#: The largest published event, in bytes. Connectors refuse to write a larger
#: one and the hub refuses to read one, before decoding anything.
MAX_EVENT_BYTES = 64 * 1024

#: Namespace of every event_id (UUIDv5). Changing it changes every id.
EVENT_NAMESPACE = uuid.UUID("6f1c0d8e-5b7a-5c3e-9a41-2d9b8e7f4c10")

_RECORD_EVENT_TYPES = {record: event_type for event_type, record in PAYLOADS.items()}


def event_id(source_authority: str, record_key: str, version: int | str) -> str:
    """The deterministic id of one version of one source record.

    ``record_key`` must be the pseudonymised key, never the raw source
    reference: a UUIDv5 has no secret, so an id made from a raw crime
    reference could be reversed by trying likely references. Publishing the
    same record version twice gives the same id, which makes replays harmless.
    """
    _check_id_parts(source_authority, record_key)
    return uuid5(EVENT_NAMESPACE, f"{source_authority}\x1f{record_key}\x1f{version}")


def retraction_id(source_authority: str, record_key: str, version: int) -> str:
    """The deterministic id of the Retraction that withdraws
    ``event_id(source_authority, record_key, version)``.

    Distinct from every record event id (the word ``retraction`` is hashed in),
    and the same however often the withdrawal is published, so a replayed
    retraction is harmless too. ``record_key`` is the pseudonymised key, as
    for :func:`event_id`.
    """
    _check_id_parts(source_authority, record_key)
    name = f"{source_authority}\x1f{record_key}\x1fretraction\x1f{version}"
    return uuid5(EVENT_NAMESPACE, name)


def _check_id_parts(source_authority: str, record_key: str) -> None:
    for label, part in (("source_authority", source_authority), ("record_key", record_key)):
        if not part or "\x1f" in part:
            raise ValueError(f"{label} must be non-empty and must not contain \\x1f")


class EnvelopeError(CodecError):
    """A decoded event contradicts its own frame or type."""


class TooLarge(CodecError):
    """A published value is larger than MAX_EVENT_BYTES."""


@dataclass(frozen=True)
class Event:
    """A verified, decoded event."""

    record_type: str  # "Incident", "Referral", "Outcome" or "Retraction"
    record: dict[str, Any]  # the payload, envelope included
    key_id: str  # the key that signed it

    @property
    def envelope(self) -> dict[str, Any]:
        envelope: dict[str, Any] = self.record["envelope"]
        return envelope

    @cached_property
    def event_id(self) -> str:
        return str(self.envelope["event_id"])


class EventWriter:
    """encode -> sign -> frame. Used by connectors; one per signing key."""

    def __init__(self, codec: AvroCodec, signer: Signer) -> None:
        self.codec = codec
        self.signer = signer

    def write(self, record_type: str, record: Mapping[str, Any]) -> bytes:
        """The bytes to publish for ``record``. Raises CodecError if the record
        does not match its schema (the message names the field)."""
        if record_type not in _RECORD_EVENT_TYPES:
            raise CodecError(
                f"{record_type!r} is not an event record; expected one of "
                f"{', '.join(sorted(_RECORD_EVENT_TYPES))}"
            )
        envelope = record.get("envelope")
        if not isinstance(envelope, Mapping):
            raise CodecError(f"{record_type}: envelope: missing")
        stamped = {
            **record,
            "envelope": {
                **envelope,
                "event_type": _RECORD_EVENT_TYPES[record_type],
                "schema_fingerprint": self.codec.fingerprint(record_type).hex(),
                "signing_key_id": self.signer.key_id,
            },
        }
        body = self.codec.encode(record_type, stamped)
        frame = {"key_id": self.signer.key_id, "body": body, "signature": self.signer.sign(body)}
        framed = self.codec.encode(FRAME, frame)
        if len(framed) > MAX_EVENT_BYTES:
            raise TooLarge(f"{record_type}: {len(framed)} bytes is more than {MAX_EVENT_BYTES}")
        return framed


class EventReader:
    """unframe -> verify -> decode -> check. Used by the hub.

    Raises CodecError (bad bytes), a ``wire.signing.SignatureError`` (unknown,
    revoked or wrong key; bad signature) or EnvelopeError (an envelope that
    contradicts its frame)."""

    def __init__(self, codec: AvroCodec, verifier: Verifier) -> None:
        self.codec = codec
        self.verifier = verifier

    def read(
        self, data: bytes, authority: str | None = None, received_at: datetime | None = None
    ) -> Event:
        """Verify and decode one published value. ``authority`` is the one the
        topic belongs to; when given, a key of any other authority is refused.
        ``received_at`` is when the hub received it (the raw message's broker
        timestamp; None: now): a key revoked by then is refused
        (:meth:`wire.signing.Verifier.verify`)."""
        if len(data) > MAX_EVENT_BYTES:
            raise TooLarge(f"{len(data)} bytes is more than {MAX_EVENT_BYTES}")
        _, frame = self.codec.decode(data, expect=FRAME)
        key_id, body, signature = frame["key_id"], frame["body"], frame["signature"]
        key = self.verifier.verify(
            key_id, body, signature, authority=authority, received_at=received_at
        )
        record_type, record = self.codec.decode(body)
        if record_type not in _RECORD_EVENT_TYPES:
            raise EnvelopeError(f"a SignedEvent body must hold an event record, not {record_type}")
        envelope = record["envelope"]
        if envelope["signing_key_id"] != key_id:
            raise EnvelopeError(
                f"{record_type} {envelope['event_id']}: envelope names key "
                f"{envelope['signing_key_id']!r} but {key_id!r} signed it"
            )
        if envelope["source_authority"] != key.authority:
            raise WrongAuthority(
                key_id,
                f"key {key_id!r} belongs to {key.authority!r}, but the "
                f"event claims to come from {envelope['source_authority']!r}",
            )
        if envelope["event_type"] != _RECORD_EVENT_TYPES[record_type]:
            raise EnvelopeError(
                f"{record_type} {envelope['event_id']}: envelope says "
                f"event_type {envelope['event_type']}"
            )
        if envelope["schema_fingerprint"] != body[2:10].hex():
            raise EnvelopeError(
                f"{record_type} {envelope['event_id']}: envelope fingerprint "
                f"{envelope['schema_fingerprint']} is not the body's "
                f"{body[2:10].hex()}"
            )
        return Event(record_type, record, key_id)
