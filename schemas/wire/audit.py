"""An audit record: one decision of the enforcer, on ``svd.audit.decisions``.

The enforcer writes one record per decision: per (event, agreement,
recipient) pair, allowed or denied; one for an event no agreement covers;
and one for every message it quarantines. The audit ledger keeps each record
once, as the leaf of a Merkle tree, with its position ``seq`` added (a
record on the topic never carries ``seq``; a record in the ledger always
does). Records are canonical JSON (``wire.canonical``).

What a record holds meets DPA 2018 s.62 logging: the justification (agreement,
lawful basis, purpose, policy revision), the time, the discloser and the
recipient, with the SHA-256 of the exact message received and of the share
sent. Why a pair was denied, or a message quarantined, is a list of
:class:`Reason`: a machine-readable ``code`` (for a denial, the Rego rule's
``custom.code``) and a message for people. Code reads codes, never messages.

Identifiers are hub-internal: ``event_id``, ``decision_id``, ``supersedes``
(the event a correction replaces) and ``retracts`` (the event a retraction
withdraws). A share carries none of them: each recipient receives its own
keyed hash of each id (``hub.enforcer.anonymise``), so two recipients'
streams cannot be joined. An allow record therefore also names those
recipient-scoped ids, in ``shared_ids`` (:class:`SharedIds`), so an auditor
can go from what a recipient holds to the decision that sent it.

Ids are deterministic (UUIDv5), so a replay after a crash produces the same
ids and every sink can be idempotent:

* :func:`decision_id` = uuid5(event_id, recipient, agreement_id); a share's
  id is the id of the decision that allowed it;
* an event no agreement covers gets one decision with recipient and
  agreement :data:`NO_AGREEMENT`;
* a quarantined message gets :func:`quarantine_id` = uuid5("quarantine",
  topic, partition, offset), since it may have no event id that can be trusted.

Limits (a value beyond them is refused by :meth:`AuditRecord.from_bytes`, and
by the constructor, so the enforcer never writes a record the ledger
refuses): the record at most :data:`MAX_BYTES` bytes and :data:`MAX_DEPTH` deep; at most
:data:`MAX_REASONS` reasons with messages of at most :data:`MAX_MESSAGE`
characters; every string within the length of the ledger column it is copied
to (:data:`QUERY_COLUMNS`), so a hostile record cannot fail an insert.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wire.canonical import (
    CODE_PATTERN,
    SHA256_PATTERN,
    UUID_PATTERN,
    ContractError,
    ObjectReader,
    canonical_json,
    check_keys,
    checked,
    depth,
    load_object,
    uuid5,
)
from wire.schemas import PAYLOADS
from wire.shares import AGREEMENT_ID, REVISION
from wire.topics import PARTY_ID

#: ``decision`` values.
ALLOW, DENY, QUARANTINE = "allow", "deny", "quarantine"
DECISIONS = (ALLOW, DENY, QUARANTINE)

#: recipient and agreement_id of the decision for an event no agreement covers.
NO_AGREEMENT = "-"

#: Namespace of every decision_id (UUIDv5). Changing it changes every id.
DECISION_NAMESPACE = uuid.UUID("0b6a3f52-94d1-5e8c-b7a0-4c2e9f1d8a36")

#: The largest record, in bytes of canonical JSON.
MAX_BYTES = 64 * 1024
#: The deepest nesting: record > reasons > reason.
MAX_DEPTH = 3
#: The most reasons one decision carries.
MAX_REASONS = 16
#: The longest reason message, in characters.
MAX_MESSAGE = 1000
#: The most fields one share releases.
MAX_FIELDS = 128
#: The most records in one :class:`AuditBatch`.
MAX_BATCH_RECORDS = 256
#: The largest batch, in bytes: under Kafka's default largest message (1 MiB).
MAX_BATCH_BYTES = 960 * 1024
#: Room for records in a batch, once its wrapper is counted.
_ROOM = MAX_BATCH_BYTES - len(b'{"records":[]}')

#: The columns the ledger copies out of each record for queries, with their
#: lengths: every value the parser accepts fits.
QUERY_COLUMNS: tuple[tuple[str, int], ...] = (
    ("decision_id", 64),
    ("decided_at", 40),
    ("decision", 16),
    ("source_authority", 64),
    ("recipient", 64),
    ("agreement_id", 64),
    ("event_type", 16),
    ("event_id", 64),
    ("subject_pseudonym", 128),
)

#: A Kafka topic name (Kafka allows at most 249 of these characters).
TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
#: A pseudonym as connectors write them (hex or base64 of an HMAC).
PSEUDONYM = re.compile(r"^[A-Za-z0-9+/=_-]{1,128}$")
#: A payload field name.
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: A lawful basis code from the agreement schema.
LAWFUL_BASIS = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")


class AuditRecordError(ContractError):
    """Not a valid audit record; names the field and the reason."""

    contract = "audit record"


def decision_id(event_id: str, recipient: str, agreement_id: str) -> str:
    """The id of the decision on one (event, recipient, agreement)."""
    return uuid5(DECISION_NAMESPACE, f"{event_id}\x1f{recipient}\x1f{agreement_id}")


def quarantine_id(topic: str, partition: int, offset: int) -> str:
    """The id of the decision to quarantine the message at one place in one topic."""
    return uuid5(DECISION_NAMESPACE, f"quarantine\x1f{topic}\x1f{partition}\x1f{offset}")


@dataclass(frozen=True)
class Reason:
    """Why a pair was denied or a message quarantined: a code for code, a message for people."""

    code: str
    message: str

    def __post_init__(self) -> None:
        _check_reason(ObjectReader(self.to_dict(), AuditRecordError, "reason"))

    @classmethod
    def bounded(cls, code: str, message: str) -> Reason:
        """A reason whose message (often from an exception about untrusted input) is
        cut to :data:`MAX_MESSAGE` characters, with any NUL or lone surrogate replaced."""
        text = message.replace("\x00", "\\0")
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1] + "…"
        return cls(code, text)

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _check_reason(reader: ObjectReader) -> Reason:
    code = reader.text("code", 64, pattern=CODE_PATTERN)
    message = reader.text("message", MAX_MESSAGE)
    reader.done()
    return checked(Reason, {"code": code, "message": message})


#: Every key of an audit record, in order (``seq`` only in the ledger).
KEYS = (
    "decision_id",
    "decided_at",
    "decision",
    "reasons",
    "event_id",
    "event_type",
    "record_type",
    "source_authority",
    "source_topic",
    "source_partition",
    "source_offset",
    "raw_sha256",
    "subject_pseudonym",
    "recipient",
    "agreement_id",
    "lawful_basis",
    "purpose",
    "policy_revision",
    "fields_released",
    "shared_topic",
    "payload_sha256",
    "supersedes",
    "retracts",
    "shared_ids",
)

#: The keys a record written before the hub scoped ids lacks.
SCOPED_KEYS = ("supersedes", "retracts", "shared_ids")

#: Every key of ``shared_ids``, in order.
SHARED_ID_KEYS = ("event_id", "share_id", "supersedes", "retracted_event_id", "message_key")


@dataclass(frozen=True)
class SharedIds:
    """The recipient-scoped identifiers one share carries (``wire.shares``), beside
    the hub-internal ones in the rest of the record, so an auditor can prove
    who received what without the recipients' streams being linkable."""

    event_id: str
    share_id: str
    supersedes: str | None
    retracted_event_id: str | None
    message_key: str

    def __post_init__(self) -> None:
        _check_shared_ids(ObjectReader(self.to_dict(), AuditRecordError, "shared_ids"))

    def to_dict(self) -> dict[str, str | None]:
        return {key: getattr(self, key) for key in SHARED_ID_KEYS}


def _check_shared_ids(reader: ObjectReader) -> SharedIds:
    values = {
        "event_id": reader.text("event_id", 36, pattern=UUID_PATTERN),
        "share_id": reader.text("share_id", 36, pattern=UUID_PATTERN),
        "supersedes": reader.text("supersedes", 36, pattern=UUID_PATTERN, optional=True),
        "retracted_event_id": reader.text(
            "retracted_event_id", 36, pattern=UUID_PATTERN, optional=True
        ),
        "message_key": reader.text("message_key", 128, pattern=PSEUDONYM),
    }
    reader.done()
    return checked(SharedIds, values)


@dataclass(frozen=True)
class AuditRecord:
    """One decision. Constructing one checks it; :meth:`to_bytes` is its only encoding."""

    decision_id: str
    decided_at: str
    decision: str
    reasons: tuple[Reason, ...]
    event_id: str | None
    event_type: str | None
    record_type: str | None
    source_authority: str | None
    source_topic: str
    source_partition: int
    source_offset: int
    raw_sha256: str
    subject_pseudonym: str | None
    recipient: str | None
    agreement_id: str | None
    lawful_basis: str | None
    purpose: str | None
    policy_revision: str | None
    fields_released: tuple[str, ...]
    shared_topic: str | None
    payload_sha256: str | None
    supersedes: str | None = None  # the event this one corrects (hub-internal id)
    retracts: str | None = None  # the event this retraction withdraws (hub-internal id)
    shared_ids: SharedIds | None = None  # what the share carries instead (allow only)
    seq: int | None = None  # the record's position in the ledger; never on the topic

    def __post_init__(self) -> None:
        value = self.to_dict()
        _check(value, self.seq is not None)
        self._encode(value)

    def _encode(self, value: dict[str, Any]) -> None:
        """Keep ``value`` (this record's :meth:`to_dict`) as canonical JSON, or
        raise AuditRecordError if that is too large."""
        encoded = canonical_json(value)
        if len(encoded) > MAX_BYTES:
            raise AuditRecordError(
                "(value)", "too_large", f"{len(encoded)} bytes is more than {MAX_BYTES}"
            )
        object.__setattr__(self, "_encoded", encoded)

    def to_dict(self) -> dict[str, Any]:
        out = {key: getattr(self, key) for key in KEYS}
        out["reasons"] = [reason.to_dict() for reason in self.reasons]
        out["fields_released"] = list(self.fields_released)
        out["shared_ids"] = None if self.shared_ids is None else self.shared_ids.to_dict()
        if self.seq is not None:
            out["seq"] = self.seq
        return out

    def to_bytes(self) -> bytes:
        """The record as canonical JSON: what goes on the topic (or, with ``seq``,
        in the ledger). Encoded once: every field is immutable."""
        encoded: bytes | None = self.__dict__.get("_encoded")
        if encoded is None:
            encoded = canonical_json(self.to_dict())
            object.__setattr__(self, "_encoded", encoded)
        return encoded

    def sequenced(self, seq: int) -> AuditRecord:
        """This record at position ``seq`` of the ledger. The record was checked when
        it was made or read, and a position is any integer from 0, so only that
        is checked here."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise AuditRecordError("seq", "out_of_range", f"{seq!r} is not a position from 0")
        return checked(AuditRecord, {**self._fields(), "seq": seq})

    def sequenced_bytes(self, seq: int) -> bytes:
        """``self.sequenced(seq).to_bytes()``, the bytes the ledger keeps, made
        without building and checking the record again: canonical JSON sorts
        its keys, so ``"seq"`` goes just before ``"shared_ids"``, a key every
        record has. No string value can hold ``,"shared_ids":`` (a quote in a
        string is escaped), and no object before it has that key, so the first
        is the record's own."""
        if self.seq is not None or isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            return self.sequenced(seq).to_bytes()
        encoded = self.to_bytes()
        at = encoded.find(b',"shared_ids":') + 1
        return b'%s"seq":%d,%s' % (encoded[:at], seq, encoded[at:])

    def _fields(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in (*KEYS, "seq")}

    @classmethod
    def from_bytes(cls, data: bytes | None, *, sequenced: bool = False) -> AuditRecord:
        """The record in ``data`` (from the topic; with ``sequenced``, from the ledger,
        where it carries its ``seq``), or AuditRecordError naming the field and the reason."""
        value = load_object(data, AuditRecordError, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH)
        return cls.from_value(value, sequenced=sequenced)

    @classmethod
    def from_value(
        cls, value: dict[str, Any], *, sequenced: bool = False, base_checked: bool = False
    ) -> AuditRecord:
        """The record in ``value``, a JSON object already read (see :meth:`from_bytes`).
        ``base_checked``: the values of :data:`BASE_KEYS` are those of a record
        already checked (:func:`base_values`), so they are not checked again."""
        # A record written before the hub scoped ids has none of their keys: it
        # is still read (the ledger and the audit topic keep it), as having none.
        legacy = not any(key in value for key in SCOPED_KEYS)
        keys = tuple(k for k in KEYS if k not in SCOPED_KEYS) if legacy else KEYS
        check_keys(value, (*keys, "seq") if sequenced else keys, AuditRecordError)
        if legacy:
            value.update(dict.fromkeys(SCOPED_KEYS))
        reasons, shared_ids = _check(value, sequenced, strict=not legacy, base=not base_checked)
        value["reasons"] = reasons
        value["shared_ids"] = shared_ids
        value["fields_released"] = tuple(value["fields_released"])
        value.setdefault("seq", None)
        return checked(cls, value)


#: The keys of a record that every decision on one raw event shares (:class:`AuditBase`).
BASE_KEYS = (
    "decided_at",
    "event_id",
    "event_type",
    "record_type",
    "source_authority",
    "source_topic",
    "source_partition",
    "source_offset",
    "raw_sha256",
    "subject_pseudonym",
    "supersedes",
    "retracts",
)

#: The keys :meth:`AuditBase.record` takes: the decision's own.
DECISION_KEYS = tuple(key for key in KEYS if key not in BASE_KEYS)


#: :data:`VERDICT_KEYS` are the decision's keys whose values repeat from event
#: to event: who it is for, under which agreement, what it decided and why,
#: what it releases and where. :meth:`AuditBase.record` checks a combination
#: of them once; the rest (:data:`OWN_KEYS`) are checked for every record.
#: The decision's keys whose values are its own: checked in every record.
OWN_KEYS = ("decision_id", "payload_sha256", "shared_ids")
VERDICT_KEYS = tuple(key for key in DECISION_KEYS if key not in OWN_KEYS)

_SORTED_KEYS = tuple(sorted(KEYS))
#: Verdicts checked before, each with its keys' canonical JSON parts. Bounded:
#: emptied when full (the policy's combinations number far fewer).
_VERDICTS: dict[tuple[Any, ...], dict[str, bytes]] = {}
_MAX_VERDICTS = 4096


def _parts(value: dict[str, Any]) -> dict[str, bytes]:
    """Each key's ``"key":value`` as canonical JSON writes it inside an object."""
    return {key: b'"%s":%s' % (key.encode(), canonical_json(found)) for key, found in value.items()}


def _verdict_key(decision: dict[str, Any]) -> tuple[Any, ...] | None:
    """What identifies a decision's verdict values, each with its type (so ``1``
    and ``True`` are never the same), and whether it names a payload and shared
    ids (what the verdict's own checks look at); None if a value is of a kind a
    checked record never holds (so nothing is remembered of it)."""
    ids = decision["shared_ids"]
    reasons = decision["reasons"]
    released = decision["fields_released"]
    if (
        (ids is not None and type(ids) is not SharedIds)
        or type(reasons) is not tuple
        or any(type(reason) is not Reason for reason in reasons)
        or type(released) is not tuple
        or any(type(name) is not str for name in released)
        or type(decision["decision_id"]) is not str
    ):
        return None
    key = tuple((type(found), found) for found in map(decision.__getitem__, VERDICT_KEYS))
    return (*key, decision["payload_sha256"] is None, ids is None)


def _remember(verdict: tuple[Any, ...], parts: dict[str, bytes]) -> None:
    if len(_VERDICTS) >= _MAX_VERDICTS:
        _VERDICTS.clear()
    _VERDICTS[verdict] = parts


def base_values(value: dict[str, Any]) -> tuple[tuple[type, Any], ...]:
    """The values of :data:`BASE_KEYS` in a record read from JSON, each with its
    type: two records whose base values are equal hold the same values (``1``
    and ``True`` are equal in Python, but not of one type), so a check of one
    holds for the other."""
    return tuple((type(found), found) for found in map(value.get, BASE_KEYS))


@dataclass(frozen=True)
class AuditBase:
    """What every decision on one raw event shares (the keys of :data:`BASE_KEYS`),
    checked once when made. The enforcer decides every (recipient, agreement)
    pair of an event at once; :meth:`record` makes the record of each, checking
    only the decision's own values, so each record is exactly as checked as one
    made by :class:`AuditRecord` itself. Of those, the verdict's values
    (:data:`VERDICT_KEYS`: recipient, agreement, decision, reasons, what is
    released) repeat from event to event: a combination checked once is
    remembered, with its canonical JSON, and the record is joined from parts."""

    values: tuple[tuple[str, Any], ...]
    _values: dict[str, Any] = field(init=False, repr=False, compare=False)
    #: Each shared key's ``"key":value`` in canonical JSON, made once for every record.
    _parts: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        value = dict(self.values)
        check_keys(value, BASE_KEYS, AuditRecordError)
        reader = ObjectReader(value, AuditRecordError)
        _check_base(reader)
        reader.done()
        object.__setattr__(self, "_values", value)
        object.__setattr__(self, "_parts", _parts(value))

    @classmethod
    def of(cls, **values: Any) -> AuditBase:
        return cls(tuple(values.items()))

    def replace(self, **values: Any) -> AuditBase:
        """This base with ``values`` changed (checked again)."""
        return AuditBase(tuple({**self._values, **values}.items()))

    def record(self, **decision: Any) -> AuditRecord:
        """The record of one decision on this event: ``decision`` holds the keys of
        :data:`DECISION_KEYS` (``shared_ids`` may be left out when None).
        Raises AuditRecordError as :class:`AuditRecord` does."""
        decision.setdefault("shared_ids", None)
        check_keys(decision, DECISION_KEYS, AuditRecordError)
        record = checked(AuditRecord, {**self._values, **decision, "seq": None})
        verdict = _verdict_key(decision)
        parts = None if verdict is None else _VERDICTS.get(verdict)
        if parts is None:
            value = record.to_dict()
            _check(value, False, base=False)
            record._encode(value)
            if verdict is not None:
                _remember(verdict, _parts({key: value[key] for key in VERDICT_KEYS}))
            return record
        # The verdict's values are those of a record checked before: only the
        # decision's own values are checked, and the record is joined from parts.
        reader = ObjectReader(decision, AuditRecordError)
        reader.text("decision_id", 36, pattern=UUID_PATTERN)
        reader.text("payload_sha256", 64, pattern=SHA256_PATTERN, optional=True)
        ids, payload = decision["shared_ids"], decision["payload_sha256"]
        # Both texts matched their patterns (hex digits and hyphens): nothing to escape.
        own = {
            "decision_id": b'"decision_id":"%s"' % decision["decision_id"].encode(),
            "payload_sha256": b'"payload_sha256":null'
            if payload is None
            else b'"payload_sha256":"%s"' % payload.encode(),
            "shared_ids": b'"shared_ids":%s'
            % canonical_json(None if ids is None else ids.to_dict()),
        }
        every = {**self._parts, **parts, **own}
        encoded = b"{%s}" % b",".join([every[key] for key in _SORTED_KEYS])
        if len(encoded) > MAX_BYTES:
            raise AuditRecordError(
                "(value)", "too_large", f"{len(encoded)} bytes is more than {MAX_BYTES}"
            )
        object.__setattr__(record, "_encoded", encoded)
        return record


@dataclass(frozen=True)
class AuditBatch:
    """The records the enforcer writes for one raw message, as one message.

    The enforcer decides every (recipient, agreement) pair of an event at once;
    it writes those decisions (and those of held records the event released)
    as one batch, signed once, instead of a message per decision. The ledger
    still keeps one leaf per record, so proofs, queries and reconciliation do
    not change. On the topic a batch is the canonical JSON object
    ``{"records": [record, ...]}``: 1 to :data:`MAX_BATCH_RECORDS` records,
    each exactly as :meth:`AuditRecord.to_bytes` writes it, at most
    :data:`MAX_BATCH_BYTES` in all. :func:`read_audit_message` reads either
    form, so records written one per message before batches stay readable."""

    records: tuple[AuditRecord, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.records) <= MAX_BATCH_RECORDS:
            raise AuditRecordError(
                "records", "bad_value", f"{len(self.records)} records, not 1 to {MAX_BATCH_RECORDS}"
            )
        size = len(self.to_bytes())
        if size > MAX_BATCH_BYTES:
            raise AuditRecordError(
                "(value)", "too_large", f"{size} bytes is more than {MAX_BATCH_BYTES}"
            )

    def to_bytes(self) -> bytes:
        return batch_bytes([record.to_bytes() for record in self.records])

    @classmethod
    def from_bytes(cls, data: bytes | None) -> AuditBatch:
        """The batch in ``data``, or AuditRecordError naming the field
        (``records[3].decision_id``) and the reason."""
        found = _canonical_batch(data)
        if found is not None:
            return cls.from_value(found[0], depth_checked=True, encoded=found[1])
        value = load_object(
            data, AuditRecordError, max_bytes=MAX_BATCH_BYTES, max_depth=MAX_DEPTH + 2
        )
        return cls.from_value(value, depth_checked=True)

    @classmethod
    def from_value(
        cls,
        value: dict[str, Any],
        *,
        depth_checked: bool = False,
        encoded: Sequence[bytes] | None = None,
    ) -> AuditBatch:
        """The batch in ``value``, a JSON object already read. ``depth_checked``:
        the whole value is known to nest at most ``MAX_DEPTH + 2`` deep (as
        :meth:`from_bytes` reads it), so no record in it is deeper than a
        record may be, and the records are not walked again. ``encoded``: each
        record's canonical JSON as read, kept as the record's encoding.

        The decisions of one event share the values of :data:`BASE_KEYS`:
        those are checked once, for the first record that holds them."""
        check_keys(value, ("records",), AuditRecordError)
        items = value["records"]
        if not isinstance(items, list):
            raise AuditRecordError("records", "wrong_type", "a list of records")
        if not 1 <= len(items) <= MAX_BATCH_RECORDS:
            raise AuditRecordError(
                "records", "bad_value", f"{len(items)} records, not 1 to {MAX_BATCH_RECORDS}"
            )
        records = []
        checked_base: tuple[tuple[type, Any], ...] | None = None
        for index, item in enumerate(items):
            where = f"records[{index}]"
            if not isinstance(item, dict):
                raise AuditRecordError(where, "wrong_type", "a record is a JSON object")
            if not depth_checked and depth(item, MAX_DEPTH) > MAX_DEPTH:
                raise AuditRecordError(where, "too_deep", f"nested deeper than {MAX_DEPTH}")
            # A record with every key is encoded as it was read; an older one
            # gains the keys it lacked, and is encoded anew.
            as_read = encoded[index] if encoded is not None and "shared_ids" in item else None
            base = base_values(item)
            try:
                record = AuditRecord.from_value(item, base_checked=base == checked_base)
                if as_read is not None:
                    object.__setattr__(record, "_encoded", as_read)
                size = len(record.to_bytes())
            except AuditRecordError as exc:
                raise AuditRecordError(f"{where}.{exc.field}", exc.code, exc.reason) from exc
            if size > MAX_BYTES:
                raise AuditRecordError(where, "too_large", f"{size} bytes is more than {MAX_BYTES}")
            records.append(record)
            checked_base = base
        return checked(cls, {"records": tuple(records)})


def _canonical_batch(data: bytes | None) -> tuple[dict[str, Any], list[bytes]] | None:
    """The batch in ``data`` and each record's canonical JSON, if ``data`` is
    already the canonical JSON of a batch of JSON objects (the common case);
    otherwise None, and ``load_object`` reads it again step by step to say what
    is wrong. The records' encodings joined are the batch's own, so each is
    encoded once; whatever this accepts, ``load_object`` accepts too (see
    :func:`wire.canonical.canonical_object`)."""
    if data is None or len(data) > MAX_BATCH_BYTES or not data.startswith(b'{"records":['):
        return None
    try:
        value = json.loads(data.decode("utf-8"))
        if type(value) is not dict or len(value) != 1:
            return None
        items = value.get("records")
        if type(items) is not list or not all(type(item) is dict for item in items):
            return None
        encoded = [canonical_json(item) for item in items]
    except (ValueError, RecursionError):
        return None
    if batch_bytes(encoded) != data or depth(value, MAX_DEPTH + 2) > MAX_DEPTH + 2:
        return None
    return value, encoded


def batch_bytes(records: Sequence[bytes]) -> bytes:
    """The canonical JSON of a batch of ``records``, each already canonical JSON
    (:meth:`AuditRecord.to_bytes`), without decoding them again."""
    return b'{"records":[' + b",".join(records) + b"]}"


def batches(records: Sequence[bytes]) -> list[list[bytes]]:
    """``records`` (canonical JSON, each at most :data:`MAX_BYTES`) cut, in order,
    into runs that each make a valid :class:`AuditBatch`."""
    out: list[list[bytes]] = []
    size = 0
    for record in records:
        if not out or len(out[-1]) >= MAX_BATCH_RECORDS or size + len(record) + 1 > _ROOM:
            out.append([])
            size = 0
        out[-1].append(record)
        size += len(record) + 1
    return out


def read_audit_message(data: bytes | None) -> tuple[AuditRecord, ...]:
    """The records of one message on the audit topic: a batch, or one record as
    the enforcer wrote them before batches. Raises AuditRecordError."""
    # Canonical JSON sorts its keys: a batch (only key "records") and a record
    # (first key "agreement_id") are told apart by their first bytes, and each
    # is read once. Anything else is read to say what is wrong with it.
    if data is not None and data.startswith(b'{"records":'):
        return AuditBatch.from_bytes(data).records
    if data is not None and data.startswith(b'{"agreement_id":'):
        return (AuditRecord.from_bytes(data),)
    value = load_object(data, AuditRecordError, max_bytes=MAX_BATCH_BYTES, max_depth=MAX_DEPTH + 2)
    if "records" in value:
        return AuditBatch.from_value(value, depth_checked=True).records
    if data is not None and len(data) > MAX_BYTES:
        raise AuditRecordError(
            "(value)", "too_large", f"{len(data)} bytes is more than {MAX_BYTES}"
        )
    if depth(value, MAX_DEPTH) > MAX_DEPTH:
        raise AuditRecordError("(value)", "too_deep", f"nested deeper than {MAX_DEPTH}")
    return (AuditRecord.from_value(value),)


def _check(
    value: dict[str, Any], sequenced: bool, *, strict: bool = False, base: bool = True
) -> tuple[tuple[Reason, ...], SharedIds | None]:
    """Check a record's values; return its reasons and its shared ids. ``strict``:
    an allow must name its shared ids (every record the hub writes now does).
    Without ``base``, the keys of :data:`BASE_KEYS` were checked already (an
    :class:`AuditBase`) and are taken as they are."""
    reader = ObjectReader(value, AuditRecordError)
    if base:
        _check_base(reader)
    else:
        reader.taken(BASE_KEYS)
    reader.text("decision_id", 36, pattern=UUID_PATTERN)
    decision = reader.text("decision", 16, choices=DECISIONS)
    reasons = tuple(_check_reason(r) for r in reader.objects("reasons", MAX_REASONS))
    recipient = reader.text("recipient", 40, optional=True)
    if recipient is not None and recipient != NO_AGREEMENT:
        reader.text("recipient", 40, pattern=PARTY_ID)
    agreement = reader.text("agreement_id", 63, optional=True)
    if agreement is not None and agreement != NO_AGREEMENT:
        reader.text("agreement_id", 63, pattern=AGREEMENT_ID)
    reader.text("lawful_basis", 32, pattern=LAWFUL_BASIS, optional=True)
    reader.text("purpose", MAX_MESSAGE, optional=True)
    reader.text("policy_revision", 128, pattern=REVISION, optional=True)
    released = reader.texts("fields_released", MAX_FIELDS, 64, FIELD_NAME)
    shared_topic = reader.text("shared_topic", 249, pattern=TOPIC, optional=True)
    payload = reader.text("payload_sha256", 64, pattern=SHA256_PATTERN, optional=True)
    found = reader.any("shared_ids")
    shared_ids = (
        None
        if found is None
        else _check_shared_ids(ObjectReader(found, AuditRecordError, "shared_ids"))
    )
    if sequenced:
        reader.integer("seq", 0)
    reader.done()
    _check_verdict(
        reader, decision, reasons, released, (recipient, agreement, shared_topic, payload)
    )
    if shared_ids is not None and decision != ALLOW:
        reader.fail("shared_ids", "bad_value", f"a {decision} decision shares nothing")
    if shared_ids is None and decision == ALLOW and strict:
        reader.fail("shared_ids", "missing", "an allow decision names the ids its share carries")
    return reasons, shared_ids


def _check_base(reader: ObjectReader) -> None:
    """The keys of :data:`BASE_KEYS`: what the raw event and its message say."""
    reader.time("decided_at")
    reader.text("event_id", 36, pattern=UUID_PATTERN, optional=True)
    event_type = reader.text("event_type", 16, choices=tuple(PAYLOADS), optional=True)
    record_type = reader.text("record_type", 16, choices=tuple(PAYLOADS.values()), optional=True)
    if (event_type is None) != (record_type is None) or (
        event_type is not None and PAYLOADS[event_type] != record_type
    ):
        reader.fail("record_type", "bad_value", f"{record_type} does not go with {event_type}")
    reader.text("source_authority", 40, pattern=PARTY_ID, optional=True)
    reader.text("source_topic", 249, pattern=TOPIC)
    reader.integer("source_partition", 0, 2**31 - 1)
    reader.integer("source_offset", 0)
    reader.text("raw_sha256", 64, pattern=SHA256_PATTERN)
    reader.text("subject_pseudonym", 128, pattern=PSEUDONYM, optional=True)
    reader.text("supersedes", 36, pattern=UUID_PATTERN, optional=True)
    reader.text("retracts", 36, pattern=UUID_PATTERN, optional=True)


def _check_verdict(
    reader: ObjectReader,
    decision: str,
    reasons: tuple[Reason, ...],
    released: tuple[str, ...],
    named: tuple[str | None, str | None, str | None, str | None],
) -> None:
    """What the decision implies: an allow names where it shared and gives no
    reason; a denial or quarantine gives a reason and shares nothing."""
    recipient, agreement, shared_topic, payload = named
    if decision == ALLOW:
        if reasons:
            reader.fail("reasons", "bad_value", "an allow decision has no reasons")
        for key, found in (
            ("recipient", recipient),
            ("agreement_id", agreement),
            ("shared_topic", shared_topic),
            ("payload_sha256", payload),
        ):
            if found is None or found == NO_AGREEMENT:
                reader.fail(key, "missing", "an allow decision names it")
    else:
        if not reasons:
            reader.fail("reasons", "missing", f"a {decision} decision gives at least one reason")
        for key, found in (("shared_topic", shared_topic), ("payload_sha256", payload)):
            if found is not None:
                reader.fail(key, "bad_value", f"a {decision} decision shares nothing")
        if released:
            reader.fail("fields_released", "bad_value", f"a {decision} decision releases nothing")
