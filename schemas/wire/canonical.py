"""Canonical JSON, the time format, and the strict reading every hub output goes through.

The hub's own outputs (shares, audit records, quarantine entries; see
``wire.shares``, ``wire.audit`` and ``wire.quarantine``) are JSON objects in
one canonical form, so the same record always has the same bytes and anyone
holding a message can recompute its SHA-256:

* keys sorted, no insignificant whitespace (``,`` and ``:`` separators);
* UTF-8, with non-ASCII characters as themselves (no ``\\u`` escapes except
  those JSON requires);
* no NaN or infinities; numbers as Python's ``json`` writes them;
* times as :data:`TIME_PATTERN`: ISO 8601 in UTC with a ``Z``, to the second,
  or to the microsecond when there is a fraction (``iso``).

Reading is strict because the topics these records travel on can carry
anything a producer writes. :func:`load_object` refuses, with a
:class:`ContractError` that names the field and the reason, a value that is
empty, larger than the contract's byte limit, not UTF-8, not JSON, nested
deeper than the contract's depth limit, not an object, holds a duplicate key,
a NaN, a lone surrogate (``\\ud800``, which no UTF-8 can encode) or a number
beyond the range of a float (``1e999``), or is not in canonical form.
:class:`ObjectReader` then takes the object apart key by key: a missing key,
an unexpected key, a wrong type, an over-long string, a string with a NUL
(which PostgreSQL cannot store) or a value outside its pattern each raise the
same error, naming the dotted path of the field. Nothing here raises anything
else for bad input, so a consumer can catch one error type, record the
message and move on.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any, NoReturn, TypeVar

#: A time as the hub writes it: UTC, ``Z``, seconds or microseconds.
TIME_PATTERN = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z$")

#: A UUID in its canonical text form (lower-case, hyphenated).
UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: A SHA-256 in lower-case hex.
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")

#: A machine-readable reason code (Rego ``custom.code``, quarantine and reject codes).
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_E = TypeVar("_E", bound="ContractError")


class ContractError(ValueError):
    """A value that is not a valid record of a contract.

    ``field`` is the dotted path of the offending field (``(value)`` for the
    value as a whole), ``code`` a short machine-readable kind (``missing``,
    ``wrong_type``, ``too_long``, ``nul``, ``not_utf8``, ``too_deep``, ...)
    and ``reason`` the explanation. Each contract raises its own subclass.
    An empty key (``{"": 1}``) is named ``""``, so ``field`` is never empty."""

    contract = "record"

    def __init__(self, field: str, code: str, reason: str) -> None:
        field = field or '""'
        super().__init__(f"{self.contract}: {field}: {reason}")
        self.field = field
        self.code = code
        self.reason = reason


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes (see the module docstring).

    Datetimes must be timezone-aware and become :func:`iso` text; dates become
    ISO dates and UUIDs their text. Raises TypeError or ValueError for anything else JSON cannot
    hold (a naive datetime, NaN)."""
    return _ENCODER.encode(value).encode("utf-8")


def json_value(value: Any) -> Any:
    """``json.loads(canonical_json(value))`` without the text between: times,
    dates and UUIDs become the text :func:`canonical_json` writes, tuples become
    lists, dicts and lists are copied. Anything else is kept as it is, for the
    contract's own check to judge (a NaN, a key that is not text)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {key: json_value(child) for key, child in value.items()}
    if kind is list or kind is tuple:
        return [json_value(child) for child in value]
    if isinstance(value, (datetime, date, uuid.UUID)):
        return _jsonable(value)
    return value


def uuid5(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, without the UUID object: SHA-1 of the
    namespace's bytes and the name in UTF-8, as :func:`uuid_text` of version 5."""
    digest = hashlib.sha1(namespace.bytes + name.encode("utf-8"), usedforsecurity=False)
    return uuid_text(digest.digest(), 5)


def uuid_text(digest: bytes, version: int) -> str:
    """The UUID made of the first 16 bytes of ``digest`` with ``version`` and the
    RFC 9562 variant set, as text (8-4-4-4-12 hex digits)."""
    raw = bytearray(digest[:16])
    raw[6] = (raw[6] & 0x0F) | (version << 4)
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def iso(moment: datetime) -> str:
    """A timezone-aware time in UTC, ISO 8601 with ``Z`` (:data:`TIME_PATTERN`)."""
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r} has no time zone")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """The time :func:`iso` wrote, or ValueError: the pattern, a real date and
    time, and written as :func:`iso` writes it (so ``.000000`` is refused)."""
    if not TIME_PATTERN.fullmatch(text):
        raise ValueError(f"{text!r} is not a UTC time like 2025-01-31T23:59:59Z")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if iso(moment) != text:
        raise ValueError(f"{text!r} is not written as the hub writes times")
    return moment


def sha256(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# One encoder for every call (json.dumps would build one per call): it keeps
# no state between calls.
_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    default=_jsonable,
)


# ---------------------------------------------------------------------- reading


def load_object(data: bytes | None, error: type[_E], *, max_bytes: int, max_depth: int) -> Any:
    """The JSON object in ``data``, which must be canonical; raise ``error`` otherwise.

    The size limit is checked before anything is decoded, and the depth limit
    before the value is used, so a hostile value costs at most ``max_bytes``
    of parsing."""
    if not data:
        raise error("(value)", "empty", "the message has no value")
    if len(data) > max_bytes:
        raise error("(value)", "too_large", f"{len(data)} bytes is more than {max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error("(value)", "not_utf8", f"not UTF-8: {exc.reason} at byte {exc.start}") from exc
    value = canonical_object(text, data, max_depth)
    if value is not None:
        return value
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError as exc:
        raise error("(value)", "too_deep", f"nested deeper than {max_depth}") from exc
    except _Duplicate as exc:
        raise error(str(exc), "duplicate_key", "the key appears more than once") from exc
    except ValueError as exc:  # JSONDecodeError and the NaN refusal
        raise error("(value)", "not_json", f"not JSON: {exc}") from exc
    if _depth(value, max_depth) > max_depth:
        raise error("(value)", "too_deep", f"nested deeper than {max_depth}")
    if not isinstance(value, dict):
        raise error("(value)", "not_object", f"a JSON {_kind(value)}, not an object")
    try:
        again = canonical_json(value)
    except UnicodeEncodeError as exc:  # an escaped lone surrogate, such as \ud800
        raise error("(value)", "not_utf8", f"holds a lone surrogate: {exc.reason}") from exc
    except ValueError as exc:  # a number such as 1e999, read as infinity
        raise error("(value)", "bad_value", "holds a number beyond the range of a float") from exc
    if again != data:
        raise error(
            "(value)", "not_canonical", "not canonical JSON (sorted keys, no spaces, UTF-8)"
        )
    return value


def canonical_object(text: str, data: bytes, max_depth: int) -> Any:
    """The JSON object in ``text`` (``data`` decoded) if ``data`` is already its
    canonical JSON and nests at most ``max_depth`` deep; otherwise None, and
    :func:`load_object` reads it again step by step to say what is wrong.

    This is the common case, read by the C parser with no hook per object:
    whatever it accepts, the checks one by one accept too. A duplicate key
    re-encodes shorter, and NaN, infinity or a lone surrogate do not encode at
    all, so none of them is canonical."""
    try:
        value = json.loads(text)
        if type(value) is not dict or canonical_json(value) != data:
            return None
    except (ValueError, RecursionError):
        return None
    return value if _depth(value, max_depth) <= max_depth else None


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed value (a scalar is 0), counting no further than limit + 1."""
    return _depth(value, limit)


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed value (a scalar is 0), counting no further than limit + 1.

    Only containers go on the stack: a record is mostly strings, which are
    looked at once and never pushed."""
    if not isinstance(value, _CONTAINERS):
        return 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, _CONTAINERS):
                stack.append((child, depth + 1))
    return deepest


# A tuple made once: ``dict | list`` in the loop would build a union for every value.
_CONTAINERS = (dict, list)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class ObjectReader:
    """Takes one JSON object apart, key by key, raising ``error`` with the field's path.

    Call the typed getters for every key the contract defines, then
    :meth:`done`, which refuses any key left over."""

    def __init__(self, value: Any, error: type[ContractError], path: str = "") -> None:
        if not isinstance(value, dict):
            raise error(path or "(value)", "wrong_type", f"a {_kind(value)}, not an object")
        self.value: dict[str, Any] = value
        self.error = error
        self.path = path
        self._seen: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, code: str, reason: str) -> NoReturn:
        raise self.error(self.where(key), code, reason)

    def _get(self, key: str, optional: bool) -> Any:
        self._seen.add(key)
        if key not in self.value:
            self.fail(key, "missing", "required, but missing")
        found = self.value[key]
        if found is None and not optional:
            self.fail(key, "wrong_type", "null, but a value is required")
        return found

    def text(
        self,
        key: str,
        max_length: int,
        *,
        pattern: re.Pattern[str] | None = None,
        choices: Sequence[str] | None = None,
        optional: bool = False,
    ) -> Any:
        """A string (or None when ``optional``) of at most ``max_length`` characters."""
        found = self._get(key, optional)
        if found is None or (
            isinstance(found, str)
            and len(found) <= max_length
            and found.isascii()
            and "\x00" not in found
            and (pattern is None or pattern.fullmatch(found))
            and (choices is None or found in choices)
        ):
            return found  # the common case, checked without naming the field
        if found is not None:
            check_text(
                found,
                max_length,
                pattern=pattern,
                choices=choices,
                error=self.error,
                where=self.where(key),
            )
        return found

    def time(self, key: str) -> str:
        """A time as :func:`iso` writes it: a real date and time in UTC."""
        found: str = self.text(key, 27, pattern=TIME_PATTERN)
        try:
            parse_time(found)
        except ValueError as exc:
            self.fail(key, "bad_value", str(exc))
        return found

    def integer(self, key: str, minimum: int = 0, maximum: int = 2**63 - 1) -> int:
        found = self._get(key, False)
        if not isinstance(found, int) or isinstance(found, bool):
            self.fail(key, "wrong_type", f"a {_kind(found)}, not an integer")
        if not minimum <= found <= maximum:
            self.fail(key, "out_of_range", f"{found} is outside {minimum}..{maximum}")
        return found

    def texts(
        self, key: str, max_items: int, max_length: int, pattern: re.Pattern[str] | None = None
    ) -> tuple[str, ...]:
        """An array of strings."""
        found = self._get(key, False)
        if not isinstance(found, list):
            self.fail(key, "wrong_type", f"a {_kind(found)}, not an array")
        if len(found) > max_items:
            self.fail(key, "too_long", f"{len(found)} items is more than {max_items}")
        for index, item in enumerate(found):
            check_text(
                item,
                max_length,
                pattern=pattern,
                error=self.error,
                where=f"{self.where(key)}[{index}]",
            )
        return tuple(found)

    def objects(self, key: str, max_items: int) -> Iterator[ObjectReader]:
        """An array of objects, each as a reader of its own."""
        found = self._get(key, False)
        if not isinstance(found, list):
            self.fail(key, "wrong_type", f"a {_kind(found)}, not an array")
        if len(found) > max_items:
            self.fail(key, "too_long", f"{len(found)} items is more than {max_items}")
        for index, item in enumerate(found):
            yield ObjectReader(item, self.error, f"{self.where(key)}[{index}]")

    def any(self, key: str) -> Any:
        """The value as it is, for the caller to check."""
        return self._get(key, True)

    def taken(self, keys: Sequence[str]) -> None:
        """Count ``keys`` as read: the caller checked their values before."""
        self._seen.update(keys)

    def done(self) -> None:
        extra = sorted(set(self.value) - self._seen)
        if extra:
            self.fail(extra[0], "unexpected", "not a field of this record")


def check_text(
    value: Any,
    max_length: int,
    *,
    pattern: re.Pattern[str] | None = None,
    choices: Sequence[str] | None = None,
    error: type[ContractError],
    where: str,
) -> None:
    """Raise ``error`` unless ``value`` is a string within the limits."""
    if not isinstance(value, str):
        raise error(where, "wrong_type", f"a {_kind(value)}, not a string")
    if len(value) > max_length:
        raise error(where, "too_long", f"{len(value)} characters is more than {max_length}")
    if "\x00" in value:
        raise error(where, "nul", "holds a NUL character")
    if not value.isascii() and not _encodable(value):
        raise error(where, "not_utf8", "holds a lone surrogate, which UTF-8 cannot encode")
    if pattern is not None and not pattern.fullmatch(value):
        raise error(where, "bad_value", f"{_show(value)} does not match {pattern.pattern}")
    if choices is not None and value not in choices:
        raise error(where, "bad_value", f"{_show(value)} is not one of {', '.join(choices)}")


def check_json(
    value: Any,
    error: type[ContractError],
    where: str,
    *,
    max_depth: int,
    max_length: int,
    max_items: int,
) -> None:
    """Raise ``error`` unless ``value`` is a JSON value within the limits: strings of at
    most ``max_length`` characters without NUL, arrays and objects of at most
    ``max_items`` entries, nested at most ``max_depth`` deep, finite numbers."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            check_text(node, max_length, error=error, where=path)
        elif isinstance(node, bool) or node is None or isinstance(node, int):
            continue
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise error(path, "bad_value", "not a finite number")
        elif isinstance(node, _CONTAINERS):
            if depth >= max_depth:
                raise error(path, "too_deep", f"nested deeper than {max_depth}")
            if len(node) > max_items:
                raise error(path, "too_long", f"{len(node)} entries is more than {max_items}")
            if isinstance(node, dict):
                for key, child in node.items():
                    check_text(key, max_length, error=error, where=f"{path}.{key!r:.40}")
                    stack.append((child, f"{path}.{key}", depth + 1))
            else:
                stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(node))
        else:
            raise error(path, "wrong_type", f"{type(node).__name__} is not a JSON value")


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _show(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def check_keys(value: dict[str, Any], keys: Sequence[str], error: type[ContractError]) -> None:
    """Raise ``error`` for the first key of ``keys`` missing from ``value``, or the
    first key of ``value`` not in ``keys``."""
    for key in keys:
        if key not in value:
            raise error(key, "missing", "required, but missing")
    extra = sorted(set(value) - set(keys))
    if extra:
        raise error(extra[0], "unexpected", "not a field of this record")


_T = TypeVar("_T")


def checked(cls: type[_T], values: dict[str, Any]) -> _T:
    """An instance of the frozen dataclass ``cls`` from ``values`` that its parser has
    already checked, without checking them a second time in ``__post_init__``."""
    instance = object.__new__(cls)
    # A frozen dataclass (none of the contracts has slots) keeps its fields in
    # its __dict__: filling it at once is what __init__ does, field by field.
    instance.__dict__.update(values)
    return instance
