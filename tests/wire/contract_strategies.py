"""Hypothesis strategies for the hub's outputs, and the garbage their parsers must refuse.

``valid_shares()``, ``audit_records()``, ``REASONS`` and ``quarantine_entries()``
generate valid records across the whole space their contracts allow: every event and
record type, optional values present or None, text of any Unicode (quotes,
backslashes, control characters other than NUL, emoji), strings at their
maximum lengths and integers at their bounds. A generated record is always
within its contract's byte limit: where the largest values could together
exceed it, fields (of a share) or reasons (of an audit record) are dropped
until the record fits.

``garbage(valid)`` turns valid encodings into bytes a parser must either
accept as a record that round-trips or refuse with its own error
(``assert_parses_or_refuses``): keys dropped or added, values of another type,
strings past their limits, NULs, deep nesting, out-of-range numbers, lone
surrogates, reordered keys, whitespace, other encodings.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import string
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st

from wire import audit, shares
from wire.audit import ALLOW, DECISIONS, NO_AGREEMENT, AuditRecord, Reason, SharedIds
from wire.canonical import ContractError, canonical_json
from wire.quarantine import EXCERPT_BYTES, KEY_EXCERPT_BYTES, QuarantineEntry
from wire.schemas import PAYLOADS
from wire.shares import Share

# ------------------------------------------------------------------------ text

#: Characters that stress an encoder: JSON's own, control characters other than
#: NUL, DEL, line and paragraph separators, a BOM, non-ASCII and an emoji.
AWKWARD = '"\\/\x01\x07\x08\t\n\x0c\r\x1f\x7f\u0085\u2028\u2029\ufeffé中\U0001f600'

#: Any character a record may hold: UTF-8 encodable (no lone surrogates), not NUL.
CHARACTERS = st.one_of(
    st.characters(codec="utf-8", exclude_characters="\x00"),
    st.sampled_from(AWKWARD),
)


def at_limit(alphabet: st.SearchStrategy[str], length: int) -> st.SearchStrategy[str]:
    """Strings of exactly ``length`` characters from ``alphabet`` (a short run, repeated,
    so that long strings cost no more to generate than short ones)."""
    return st.text(alphabet, min_size=1, max_size=8).map(lambda run: (run * length)[:length])


def texts(max_length: int, *, min_length: int = 0) -> st.SearchStrategy[str]:
    """Free text of ``min_length`` to ``max_length`` characters, often exactly ``max_length``."""
    short = st.text(CHARACTERS, min_size=min_length, max_size=min(max_length, 24))
    return st.one_of(short, at_limit(CHARACTERS, max_length))


def names(first: str, rest: str, max_length: int) -> st.SearchStrategy[str]:
    """Identifiers of one character from ``first`` and up to ``max_length - 1`` from
    ``rest``, often exactly ``max_length`` long."""
    head = st.sampled_from(first)
    tail = st.one_of(
        st.text(st.sampled_from(rest), max_size=min(max_length - 1, 12)),
        at_limit(st.sampled_from(rest), max_length - 1),
    )
    return st.builds(str.__add__, head, tail)


LOWER_DIGITS = string.ascii_lowercase + string.digits
ALNUM = string.ascii_letters + string.digits

PARTY_IDS = names(LOWER_DIGITS, LOWER_DIGITS + "-", 40)
AGREEMENT_IDS = names(LOWER_DIGITS, LOWER_DIGITS + "-", 63)
REVISIONS = names(ALNUM, ALNUM + "._:-", 128)
CODES = names(string.ascii_lowercase, LOWER_DIGITS + "_", 64)
FIELD_NAMES = names(string.ascii_lowercase, LOWER_DIGITS + "_", 64)
LAWFUL_BASES = names(string.ascii_uppercase, string.ascii_uppercase + string.digits + "_", 32)
TOPICS = names(ALNUM + "._-", ALNUM + "._-", 249)
PSEUDONYMS = names(ALNUM + "+/=_-", ALNUM + "+/=_-", 128)
UUIDS = st.uuids().map(str)
SHA256S = st.binary(min_size=32, max_size=32).map(bytes.hex)
#: Times as the hub writes them: to the second or the microsecond, years 1 to 9999.
TIMES = st.datetimes(timezones=st.just(UTC)).map(
    lambda moment: moment.isoformat().replace("+00:00", "Z")
) | st.just(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC).isoformat()[:-6] + "Z")
#: A partition (Kafka's int32) and an offset or sequence number (int64), bounds included.
PARTITIONS = st.one_of(st.sampled_from([0, 2**31 - 1]), st.integers(0, 2**31 - 1))
OFFSETS = st.one_of(st.sampled_from([0, 2**63 - 1]), st.integers(0, 2**63 - 1))


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


# ---------------------------------------------------------------------- shares

#: Scalars a share's fields may hold: any integer JSON can carry (here up to
#: 100 digits), finite floats of every magnitude, booleans, null and text.
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([-(2**63), 2**63 - 1, -(10**99), 10**99]),
    st.floats(allow_nan=False, allow_infinity=False),
    texts(shares.MAX_VALUE_LENGTH),
)
#: A geography object, as a share carries ``geo`` or ``home_geo``.
GEOS = st.dictionaries(
    st.sampled_from(["lsoa21cd", "msoa21cd", "lad_cd", "ward_cd", "region_cd"]),
    optional(st.from_regex(r"^E0[0-9]{7}$", fullmatch=True)),
)


def containers(items: st.SearchStrategy[Any], max_items: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(items, max_size=max_items),
        st.dictionaries(texts(shares.MAX_VALUE_LENGTH), items, max_size=max_items),
    )


#: Values as deep as a share allows (share > fields > value > value > scalar), a few
#: entries each.
FIELD_VALUES = st.one_of(
    SCALARS, GEOS, containers(st.one_of(SCALARS, GEOS, containers(SCALARS, 3)), 3)
)
#: Containers at the item limit, of strings at the length limit: a value this
#: large is valid on its own, though a few together exceed the byte limit.
LARGE_VALUES = st.tuples(
    at_limit(CHARACTERS, shares.MAX_VALUE_LENGTH), st.integers(0, shares.MAX_ITEMS)
).map(lambda pair: [pair[0]] * pair[1])


@st.composite
def share_values(draw: st.DrawFn, *, large: bool = False) -> dict[str, Any]:
    """The constructor arguments of a share, each field within its own limits
    (``large``: fields values are often large, so the whole may be over MAX_BYTES)."""
    event_type = draw(st.sampled_from(sorted(PAYLOADS)))
    record_type = PAYLOADS[event_type]
    names_ = sorted(shares.payload_fields(record_type))
    values = st.one_of(FIELD_VALUES, LARGE_VALUES) if large else FIELD_VALUES
    fields = draw(st.dictionaries(st.sampled_from(names_), values))
    return {
        "share_id": draw(UUIDS),
        "event_id": draw(UUIDS),
        "event_type": event_type,
        "record_type": record_type,
        "source_authority": draw(PARTY_IDS),
        "source_authority_type": draw(st.sampled_from(shares.authority_types())),
        "supersedes": draw(optional(UUIDS)),
        "recipient": draw(PARTY_IDS),
        "agreement_id": draw(AGREEMENT_IDS),
        "policy_revision": draw(REVISIONS),
        "fields": fields,
    }


def fit(values: dict[str, Any], trim: Callable[[dict[str, Any]], bool], limit: int) -> None:
    """Call ``trim`` on ``values`` until their canonical JSON is within ``limit`` bytes."""
    while len(canonical_json(values)) > limit:
        if not trim(values):
            raise AssertionError("cannot trim the record to its byte limit")  # pragma: no cover


def _drop_largest_field(values: dict[str, Any]) -> bool:
    fields: dict[str, Any] = values["fields"]
    if not fields:
        return False
    del fields[max(fields, key=lambda key: len(canonical_json(fields[key])))]
    return True


@st.composite
def valid_shares(draw: st.DrawFn) -> Share:
    """Valid shares (largest fields dropped until the share is within MAX_BYTES)."""
    values = draw(share_values())
    fit(values, _drop_largest_field, shares.MAX_BYTES)
    return Share(**values)


# ----------------------------------------------------------------------- audit

REASONS = st.builds(Reason, CODES, texts(audit.MAX_MESSAGE))


@st.composite
def audit_values(draw: st.DrawFn, *, sequenced: bool = False) -> dict[str, Any]:
    """The constructor arguments of an audit record, each field within its own limits,
    consistent with its decision; the whole may be over MAX_BYTES."""
    decision = draw(st.sampled_from(DECISIONS))
    event_type = draw(optional(st.sampled_from(sorted(PAYLOADS))))
    if decision == ALLOW:
        reasons: tuple[Reason, ...] = ()
        recipient = draw(PARTY_IDS)
        agreement = draw(AGREEMENT_IDS)
        released = tuple(draw(st.lists(FIELD_NAMES, max_size=audit.MAX_FIELDS)))
        # "-" is a legal topic name, but it is the record's mark for "none".
        shared_topic = draw(TOPICS.filter(lambda topic: topic != NO_AGREEMENT))
        payload = draw(SHA256S)
        shared_ids: SharedIds | None = SharedIds(
            event_id=draw(UUIDS),
            share_id=draw(UUIDS),
            supersedes=draw(optional(UUIDS)),
            retracted_event_id=draw(optional(UUIDS)),
            message_key=draw(st.one_of(UUIDS, PSEUDONYMS)),
        )
    else:
        shared_ids = None
        reasons = tuple(draw(st.lists(REASONS, min_size=1, max_size=audit.MAX_REASONS)))
        recipient = draw(optional(st.one_of(st.just(NO_AGREEMENT), PARTY_IDS)))
        agreement = draw(optional(st.one_of(st.just(NO_AGREEMENT), AGREEMENT_IDS)))
        released, shared_topic, payload = (), None, None
    return {
        "decision_id": draw(UUIDS),
        "decided_at": draw(TIMES),
        "decision": decision,
        "reasons": reasons,
        "event_id": draw(optional(UUIDS)),
        "event_type": event_type,
        "record_type": None if event_type is None else PAYLOADS[event_type],
        "source_authority": draw(optional(PARTY_IDS)),
        "source_topic": draw(TOPICS),
        "source_partition": draw(PARTITIONS),
        "source_offset": draw(OFFSETS),
        "raw_sha256": draw(SHA256S),
        "subject_pseudonym": draw(optional(PSEUDONYMS)),
        "recipient": recipient,
        "agreement_id": agreement,
        "lawful_basis": draw(optional(LAWFUL_BASES)),
        "purpose": draw(optional(texts(audit.MAX_MESSAGE))),
        "policy_revision": draw(optional(REVISIONS)),
        "fields_released": released,
        "shared_topic": shared_topic,
        "payload_sha256": payload,
        "supersedes": draw(optional(UUIDS)),
        "retracts": draw(optional(UUIDS)),
        "shared_ids": shared_ids,
        "seq": draw(OFFSETS) if sequenced else None,
    }


def audit_json(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as the record's JSON object (what ``AuditRecord.to_dict`` gives)."""
    out = {**values, "reasons": [r.to_dict() for r in values["reasons"]]}
    out["fields_released"] = list(values["fields_released"])
    ids = values["shared_ids"]
    out["shared_ids"] = None if ids is None else ids.to_dict()
    if out["seq"] is None:
        del out["seq"]
    return out


def _drop_last_reason(values: dict[str, Any]) -> bool:
    if len(values["reasons"]) <= 1:
        return False
    values["reasons"] = values["reasons"][:-1]
    return True


@st.composite
def audit_records(draw: st.DrawFn, *, sequenced: bool = False) -> AuditRecord:
    """Valid audit records (last reasons dropped until within MAX_BYTES); with
    ``sequenced``, as the ledger holds them."""
    values = draw(audit_values(sequenced=sequenced))
    while len(canonical_json(audit_json(values))) > audit.MAX_BYTES:
        if not _drop_last_reason(values):
            raise AssertionError("cannot trim the record to its byte limit")  # pragma: no cover
    return AuditRecord(**values)


# ------------------------------------------------------------------ quarantine


def _repeat(length: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=1, max_size=8).map(lambda run: (run * length)[:length])


#: Kept bytes of a value: none, a few, or exactly EXCERPT_BYTES.
EXCERPTS = optional(st.one_of(st.binary(max_size=64), _repeat(EXCERPT_BYTES)))
#: Kept bytes of a key: none, a few, or exactly KEY_EXCERPT_BYTES.
KEY_EXCERPTS = optional(st.one_of(st.binary(max_size=64), _repeat(KEY_EXCERPT_BYTES)))


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


@st.composite
def quarantine_entries(draw: st.DrawFn) -> QuarantineEntry:
    """Valid quarantine entries, with and without value and key, excerpts up to the limits."""
    kept = draw(EXCERPTS)
    if kept is None:
        size = draw(OFFSETS)
    elif len(kept) < EXCERPT_BYTES:
        size = len(kept)
    else:
        size = draw(st.one_of(st.just(EXCERPT_BYTES), st.integers(EXCERPT_BYTES, 2**63 - 1)))
    return QuarantineEntry(
        quarantine_id=draw(UUIDS),
        quarantined_at=draw(TIMES),
        source_topic=draw(TOPICS),
        source_partition=draw(PARTITIONS),
        source_offset=draw(OFFSETS),
        code=draw(CODES),
        message=draw(texts(audit.MAX_MESSAGE)),
        raw_sha256=draw(SHA256S),
        raw_size=size,
        excerpt=b64(kept),
        key_excerpt=b64(draw(KEY_EXCERPTS)),
    )


# --------------------------------------------------------------------- garbage

#: Any JSON value, nested a few levels.
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(CHARACTERS),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(CHARACTERS), children, max_size=4)
    ),
    max_leaves=12,
)

#: Placeholder strings that garbage replaces by raw JSON text after encoding:
#: numbers JSON allows but Python reads as infinity, or cannot read as an int,
#: non-canonical numbers, lone surrogates, a NUL escape, constants JSON lacks.
RAW = (
    "1e400",
    "-1e400",
    "1" * 5000,
    "1.0e5",
    "-0",
    "1E2",
    '"\\ud800"',
    '"x\\udfff"',
    '"\\ud83d\\ude00"',
    '"\\u0000"',
    '"\\u00e9"',
    "NaN",
    "Infinity",
    "[" * 3000 + "]" * 3000,
    '{"a":' * 2000 + "1" + "}" * 2000,
)
_RAW_MARK = "\ue000raw:"

#: Values of every JSON type, to put where a field expects another (draw them
#: through ``OTHERS``, which copies them, since an edit may change them in place).
OTHER_TYPES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**64),
    1.5,
    -0.0,
    1e308,
    "",
    "x",
    "-",
    [],
    [None],
    ["a"],
    {},
    {"code": "x", "message": "y"},
    {"a": 1},
    *(_RAW_MARK + raw for raw in RAW),
)
OTHERS = st.sampled_from(OTHER_TYPES).map(copy.deepcopy)
_LENGTHS = (17, 28, 33, 37, 41, 64, 65, 129, 250, 257, 1001, 1025, 1369, 87385, 70_000)


class _Edit(Protocol):
    def __call__(self, draw: st.DrawFn, value: Any) -> Any: ...


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indexes) to a value inside ``value``, the root excluded."""
    out: list[tuple[Any, ...]] = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        out.append((*path, key))
        out.extend(_places(child, (*path, key)))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _replace(draw: st.DrawFn, value: Any, make: Callable[[Any], Any]) -> Any:
    places = _places(value)
    if not places:
        return make(value)
    path = draw(st.sampled_from(places))
    parent = _get(value, path[:-1])
    parent[path[-1]] = make(parent[path[-1]])
    return value


def _drop(draw: st.DrawFn, value: Any) -> Any:
    places = [p for p in _places(value) if isinstance(_get(value, p[:-1]), dict)]
    if places:
        path = draw(st.sampled_from(places))
        del _get(value, path[:-1])[path[-1]]
    return value


def _add(draw: st.DrawFn, value: Any) -> Any:
    objects = [()] + [p for p in _places(value) if isinstance(_get(value, p), dict)]
    target = _get(value, draw(st.sampled_from(objects)))
    if isinstance(target, dict):
        key = draw(st.one_of(st.sampled_from(["", "seq", "envelope", "geo", "x"]), st.text()))
        target[key] = draw(st.one_of(OTHERS, JSON_VALUES))
    return value


def _retype(draw: st.DrawFn, value: Any) -> Any:
    other = draw(st.one_of(OTHERS, JSON_VALUES))
    return _replace(draw, value, lambda _: other)


def _lengthen(draw: st.DrawFn, value: Any) -> Any:
    length = draw(st.sampled_from(_LENGTHS))
    pad = draw(st.sampled_from(["a", "0", "é", "\x01", "\U0001f600", "="]))
    return _replace(
        draw,
        value,
        lambda old: (old + pad * length)[:length] if isinstance(old, str) else old,
    )


def _nul(draw: st.DrawFn, value: Any) -> Any:
    at = draw(st.integers(0, 64))
    return _replace(
        draw, value, lambda old: old[:at] + "\x00" + old[at:] if isinstance(old, str) else old
    )


def _nest(draw: st.DrawFn, value: Any) -> Any:
    depth = draw(st.one_of(st.integers(1, 6), st.integers(7, 100)))
    kind = draw(st.sampled_from(["list", "object"]))

    def nested(old: Any) -> Any:
        for _ in range(depth):
            old = [old] if kind == "list" else {"a": old}
        return old

    return _replace(draw, value, nested)


EDITS: tuple[_Edit, ...] = (_drop, _add, _retype, _lengthen, _nul, _nest)


def _encode(draw: st.DrawFn, value: Any) -> bytes:
    """``value`` as JSON: canonical, or with its keys in another order; placeholders
    replaced by their raw text."""
    if draw(st.booleans()):
        text = canonical_json(value).decode("utf-8")
    else:
        shuffle = draw(st.randoms(use_true_random=False))

        def reorder(node: Any) -> Any:
            if isinstance(node, dict):
                keys = list(node)
                shuffle.shuffle(keys)
                return {key: reorder(node[key]) for key in keys}
            if isinstance(node, list):
                return [reorder(child) for child in node]
            return node

        text = json.dumps(reorder(value), separators=(",", ":"), ensure_ascii=False)
    for raw in RAW:
        text = text.replace(json.dumps(_RAW_MARK + raw, ensure_ascii=False), raw)
    return text.encode("utf-8")


_TOKENS: tuple[bytes, ...] = (
    *(b" ", b"\n", b"\t", b"\r", b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b'"', b"\\"),
    *(b",", b":", b"{", b"}", b"[", b"]", b"\\ud800", b"\\u0000", b"1e400", b"\xef\xbb\xbf"),
)


def _bytes_edit(draw: st.DrawFn, data: bytes) -> bytes:
    """An edit of the encoded bytes: whitespace or a stray token inserted, a byte
    dropped or changed, the end cut off, or the whole text in another encoding."""
    kind = draw(st.sampled_from(["insert", "drop", "flip", "cut", "encoding"]))
    at = draw(st.integers(0, len(data)))
    if kind == "insert":
        return data[:at] + draw(st.sampled_from(_TOKENS)) + data[at:]
    if kind == "drop":
        return data[:at] + data[at + 1 :]
    if kind == "flip":
        byte = draw(st.integers(0, 255))
        return data[:at] + bytes([byte]) + data[at + 1 :]
    if kind == "cut":
        return data[:at]
    encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"]))
    return data.decode("utf-8").encode(encoding)


@st.composite
def garbage(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    """Mutations of the valid encodings ``valid``: one to three structural edits,
    then perhaps an edit of the bytes."""
    value = json.loads(draw(valid))
    for _ in range(draw(st.integers(1, 3))):
        value = draw(st.sampled_from(EDITS))(draw, value)
    data = _encode(draw, value)
    if draw(st.integers(0, 3)) == 0:
        data = _bytes_edit(draw, data)
    return data


def records_of_any_values(keys: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """Canonical JSON objects with a contract's keys (some missing), each holding any
    JSON value: the parser gets past the syntax and must refuse field by field."""
    return st.fixed_dictionaries(
        {},
        optional={
            key: st.one_of(
                st.sampled_from(OTHER_TYPES[: -len(RAW)]).map(copy.deepcopy), JSON_VALUES
            )
            for key in keys
        },
    ).map(canonical_json)


#: Canonical JSON text of any JSON value (an object or not).
JSON_TEXTS = JSON_VALUES.map(canonical_json)


# ---------------------------------------------------------------------- checks


class Record(Protocol):
    def to_bytes(self) -> bytes: ...


CODE = re.compile(r"^[a-z][a-z0-9_]*$")  # not_utf8 has a digit


def assert_refusal(exc: BaseException, error: type[ContractError]) -> None:
    """``exc`` is exactly ``error``, with a code, a field, and a message naming the field."""
    assert type(exc) is error, f"{type(exc).__name__}: {exc}"
    assert isinstance(exc, ContractError)
    assert isinstance(exc.code, str) and CODE.fullmatch(exc.code), exc.code
    assert isinstance(exc.field, str) and exc.field, repr(exc.field)
    assert isinstance(exc.reason, str) and exc.reason
    assert exc.field in str(exc)


def assert_parses_or_refuses(
    parse: Callable[[bytes], Record], error: type[ContractError], data: bytes
) -> None:
    """``parse(data)`` is a record that round-trips byte for byte, or raises ``error``."""
    try:
        record = parse(data)
    except Exception as exc:  # any other type is the failure under test
        assert_refusal(exc, error)
        return
    assert record.to_bytes() == data
    assert parse(data) == record


# ---------------------------------------------------------------- example tests

#: A failing example of a large record has a long repr; the failure is what matters.
LARGE_REPR = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

_E = TypeVar("_E", bound=ContractError)


def edit(data: bytes, **changes: Any) -> bytes:
    """``data``'s JSON with ``changes`` (a value of ... drops the key), canonical."""
    value = json.loads(data)
    for key, new in changes.items():
        if new is ...:
            del value[key]
        else:
            value[key] = new
    return canonical_json(value)


def refused_by(parse: Callable[[], object], error: type[_E], field: str, code: str) -> _E:
    """The error ``parse()`` raises, checked: that contract's own, with ``field`` and ``code``."""
    with pytest.raises(error) as caught:
        parse()
    assert_refusal(caught.value, error)
    assert (caught.value.field, caught.value.code) == (field, code), caught.value
    return caught.value
