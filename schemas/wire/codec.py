"""AvroCodec: Avro binary in single-object encoding, resolved without a registry.

Every encoded value is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO
fingerprint of the writer's schema + the Avro binary body. The codec knows the
fingerprints of the current schemas and of every released version shipped in
this package, so it can read data written by an older connector: the writer
schema is found by fingerprint and the record is resolved into the current
(reader) schema by Avro's own resolution rules.

Encoding and decoding do no I/O. Every failure is a :class:`CodecError`
subclass that says what was wrong; decoding arbitrary bytes raises nothing
else (the test suite fuzzes it).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from wire.schemas import NAMESPACE, SchemaSet

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8


class CodecError(Exception):
    """Bytes could not be decoded, or a record could not be encoded."""


class NotSingleObject(CodecError):
    """The bytes do not start with the single-object marker C3 01."""


class UnknownFingerprint(CodecError):
    """The writer schema's fingerprint is not one this package ships."""

    def __init__(self, fingerprint: bytes) -> None:
        self.fingerprint = fingerprint
        super().__init__(
            f"unknown schema fingerprint {fingerprint.hex()}: written with a schema "
            "this version of svdhub does not ship (upgrade the reader?)"
        )


class TruncatedData(CodecError):
    """The bytes end before the record does."""


class MalformedData(CodecError):
    """The bytes are not a valid encoding of the writer schema."""


class RecordTypeError(CodecError):
    """A record does not match its schema; the message names the field path."""


class AvroCodec:
    """Encodes records of the current schemas; decodes any shipped version.

    Thread-safe and immutable after construction, so one instance serves a
    whole process."""

    def __init__(self, current: SchemaSet, older: Iterable[SchemaSet] = ()) -> None:
        self.current = current
        self._writers: dict[bytes, tuple[str, dict[str, Any]]] = {}
        for schema_set in [*older, current]:  # current last: it wins on equal fingerprints
            for name in schema_set.records():
                self._writers[schema_set.fingerprint(name)] = (name, schema_set.schema(name))
        self._fingerprints = {name: current.fingerprint(name) for name in current.records()}

    def fingerprint(self, name: str) -> bytes:
        """The current schema's fingerprint for record ``name``."""
        try:
            return self._fingerprints[name]
        except KeyError:
            raise CodecError(f"no record schema named {name!r}") from None

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        """Encode ``record`` with the current schema ``name``."""
        schema = self.current.schema(name)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(self.fingerprint(name))
        try:
            schemaless_writer(out, schema, record)
        except Exception as exc:
            raise RecordTypeError(f"{name}: {_explain(self.current, name, record, exc)}") from exc
        return out.getvalue()

    def decode(self, data: bytes, expect: str | None = None) -> tuple[str, dict[str, Any]]:
        """Return ``(record name, record)``, resolved into the current schema.

        ``expect`` names the record the caller requires; anything else raises."""
        if len(data) < HEADER_SIZE:
            if data[: len(MAGIC)] != MAGIC[: len(data)]:
                raise NotSingleObject("not Avro single-object encoding (no C3 01 marker)")
            raise TruncatedData(f"{len(data)} bytes is shorter than the {HEADER_SIZE}-byte header")
        if data[:2] != MAGIC:
            raise NotSingleObject(
                f"not Avro single-object encoding: starts {data[:2].hex()}, expected c301"
            )
        fingerprint = data[2:HEADER_SIZE]
        try:
            name, writer = self._writers[fingerprint]
        except KeyError:
            raise UnknownFingerprint(fingerprint) from None
        if expect is not None and name != expect:
            raise CodecError(f"expected a {expect} record, got {name}")
        stream = io.BytesIO(data)
        stream.seek(HEADER_SIZE)
        try:
            record = schemaless_reader(stream, writer, self.current.schema(name))
        except EOFError as exc:
            raise TruncatedData(f"{name}: the bytes end inside the record") from exc
        except Exception as exc:
            raise MalformedData(f"{name}: {type(exc).__name__}: {exc}") from exc
        if stream.tell() != len(data):
            raise MalformedData(
                f"{name}: {len(data) - stream.tell()} unexpected bytes after the record"
            )
        if not isinstance(record, dict):
            raise MalformedData(f"{name}: decoded to {type(record).__name__}, not a record")
        return name, record


def _explain(schema_set: SchemaSet, name: str, record: Mapping[str, Any], exc: Exception) -> str:
    """Name the field that made fastavro fail, as a path from the top record
    (``geo.lad_cd``), using fastavro's validator to find it."""
    try:
        validate(record, schema_set.schema(name), raise_errors=True)
    except ValidationError as invalid:
        prefixes = _type_paths(schema_set, name)
        expected: dict[str, list[str]] = {}
        got: dict[str, str] = {}
        for error in invalid.errors:
            owner, _, field = str(error.field).rpartition(".")
            short = owner.removeprefix(f"{NAMESPACE}.")
            path = f"{prefixes.get(short, short + '.')}{field}".removeprefix(".")
            expected.setdefault(path, []).append(_schema_label(error.schema))
            got[path] = f"{error.datum!r} ({type(error.datum).__name__})"
        return "; ".join(
            f"{path}: got {got[path]}, expected {' or '.join(kinds)}"
            for path, kinds in expected.items()
        )
    return f"{type(exc).__name__}: {exc}"


def _type_paths(schema_set: SchemaSet, name: str) -> dict[str, str]:
    """Where each nested record type first appears in record ``name``: {'Geography': 'geo.'}."""
    paths = {name: ""}
    for field in schema_set.fields(name):
        paths.setdefault(field.type, f"{field.path}.")
    return paths


def _schema_label(schema: Any) -> str:
    if isinstance(schema, dict):
        label = schema.get("logicalType") or schema.get("name") or schema.get("type")
        return str(label).removeprefix(f"{NAMESPACE}.")
    return str(schema).removeprefix(f"{NAMESPACE}.")
