"""AvroCodec: single-object encoding, round trips, old versions, clear errors."""

import contextlib
import copy

import pytest
from fastavro.schema import fingerprint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.wire import samples
from tests.wire.strategies import records
from wire import schemas
from wire.codec import (
    MAGIC,
    AvroCodec,
    CodecError,
    MalformedData,
    NotSingleObject,
    RecordTypeError,
    TruncatedData,
    UnknownFingerprint,
)
from wire.schemas import SchemaSet

CURRENT = schemas.current()
CODEC = AvroCodec(CURRENT, schemas.released().values())
RECORDS = CURRENT.records()


@pytest.mark.parametrize("name", RECORDS)
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_record_type_round_trips(name: str, data: st.DataObject) -> None:
    record = data.draw(records(CURRENT, name))
    encoded = CODEC.encode(name, record)
    assert encoded[:2] == MAGIC
    assert encoded[2:10] == CURRENT.fingerprint(name)
    assert CODEC.decode(encoded) == (name, record)


def test_fingerprint_is_crc64_avro_little_endian() -> None:
    # The Avro specification's CRC-64-AVRO of the schema "null" is 0x63dd24e7cc258f8a;
    # single-object encoding stores it little-endian, as SchemaSet.fingerprint returns it.
    assert bytes.fromhex(fingerprint('"null"', "CRC-64-AVRO")) == (0x63DD24E7CC258F8A).to_bytes(
        8, "little"
    )


def test_fingerprint_covers_nested_types() -> None:
    """A payload's fingerprint changes when a type it uses (here the envelope) changes,
    so data written with an older envelope is never read as the current one."""
    sources = copy.deepcopy(CURRENT.sources)
    sources["Envelope"]["fields"][2]["name"] = "schema_fingerprint_hex"
    changed = SchemaSet("edited", sources)
    for name in ("Incident", "Referral", "Outcome", "Retraction"):
        assert changed.fingerprint(name) != CURRENT.fingerprint(name), name
        assert "schema_fingerprint_hex" in changed.canonical(name)
    assert changed.fingerprint("SignedEvent") == CURRENT.fingerprint("SignedEvent")


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_codec_errors(data: bytes) -> None:
    with pytest.raises(CodecError):
        CODEC.decode(data)


@pytest.mark.parametrize("name", RECORDS)
@settings(max_examples=150)
@given(body=st.binary(max_size=300))
def test_random_bodies_behind_a_valid_header_raise_only_codec_errors(
    name: str, body: bytes
) -> None:
    with contextlib.suppress(CodecError):  # a lucky valid body may also decode
        CODEC.decode(MAGIC + CURRENT.fingerprint(name) + body)


def test_errors_are_specific() -> None:
    with pytest.raises(NotSingleObject):
        CODEC.decode(b"{json: maybe}")
    with pytest.raises(TruncatedData, match="shorter than the 10-byte header"):
        CODEC.decode(MAGIC + b"\x00\x01")
    with pytest.raises(UnknownFingerprint, match="0102030405060708"):
        CODEC.decode(MAGIC + bytes(range(1, 9)) + b"\x00")
    good = CODEC.encode("SignedEvent", {"key_id": "k", "body": b"x", "signature": bytes(64)})
    with pytest.raises(TruncatedData, match="SignedEvent"):
        CODEC.decode(good[:-5])
    with pytest.raises(MalformedData, match="unexpected bytes"):
        CODEC.decode(good + b"\x00")
    with pytest.raises(CodecError, match="expected a Incident record, got SignedEvent"):
        CODEC.decode(good, expect="Incident")


def test_type_errors_name_the_field_path() -> None:
    incident = samples.incident()
    incident["geo"] = {**incident["geo"], "lad_cd": 25}
    with pytest.raises(RecordTypeError, match=r"Incident: geo\.lad_cd: got 25 \(int\)"):
        CODEC.encode("Incident", incident)
    incident = samples.incident()
    incident["envelope"] = {**incident["envelope"], "occurred_at": "yesterday"}
    with pytest.raises(RecordTypeError, match=r"envelope\.occurred_at: got 'yesterday'"):
        CODEC.encode("Incident", incident)
    with pytest.raises(RecordTypeError, match="victim_sex: got 'DOG'"):
        CODEC.encode("Incident", samples.incident(victim_sex="DOG"))


def old_outcome_schemas() -> SchemaSet:
    """An older Outcome: without measure_code and measure_score (added later,
    with defaults), so the current schema can read what it wrote."""
    sources = copy.deepcopy(CURRENT.sources)
    sources["Outcome"]["fields"] = [
        f
        for f in sources["Outcome"]["fields"]
        if f["name"] not in {"measure_code", "measure_score"}
    ]
    return SchemaSet("v0", sources)


def test_data_written_with_an_old_version_reads_under_the_current_schema() -> None:
    old = old_outcome_schemas()
    assert old.fingerprint("Outcome") != CURRENT.fingerprint("Outcome")
    writer = AvroCodec(old)
    reader = AvroCodec(CURRENT, [old])
    record = samples.outcome()
    del record["measure_code"], record["measure_score"]
    name, decoded = reader.decode(writer.encode("Outcome", record))
    assert name == "Outcome"
    assert decoded["measure_code"] is None
    assert decoded["measure_score"] is None
    assert {
        k: v for k, v in decoded.items() if k not in {"measure_code", "measure_score"}
    } == record


def test_a_reader_without_the_old_version_names_the_fingerprint() -> None:
    old = old_outcome_schemas()
    record = samples.outcome()
    del record["measure_code"], record["measure_score"]
    data = AvroCodec(old).encode("Outcome", record)
    with pytest.raises(UnknownFingerprint, match=old.fingerprint("Outcome").hex()):
        AvroCodec(CURRENT).decode(data)
