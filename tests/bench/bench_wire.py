"""Wire benchmarks: encode+sign and verify+decode, beside raw fastavro."""

from __future__ import annotations

import io

from fastavro import schemaless_reader, schemaless_writer

from tests.bench.harness import Result, rate
from tests.wire import samples
from wire import schemas
from wire.codec import AvroCodec
from wire.envelope import EventReader, EventWriter
from wire.signing import KeyRegistry, Verifier, generate_signer


def run(count: int) -> list[Result]:
    current = schemas.current()
    codec = AvroCodec(current, schemas.released().values())
    signer = generate_signer("bench-1", "wmp")
    writer = EventWriter(codec, signer)
    reader = EventReader(codec, Verifier(KeyRegistry([signer.public_key()])))
    record = samples.incident()
    schema = current.schema("Incident")
    published = writer.write("Incident", record)
    stamped = reader.read(published).record
    raw = io.BytesIO()
    schemaless_writer(raw, schema, stamped)
    raw_bytes = raw.getvalue()

    def raw_encode() -> None:
        for _ in range(count):
            schemaless_writer(io.BytesIO(), schema, stamped)

    def raw_decode() -> None:
        for _ in range(count):
            schemaless_reader(io.BytesIO(raw_bytes), schema, schema)

    def encode_sign() -> None:
        for _ in range(count):
            writer.write("Incident", record)

    def verify_decode() -> None:
        for _ in range(count):
            reader.read(published)

    raw_encode_rate, raw_decode_rate = rate(raw_encode, count), rate(raw_decode, count)
    return [
        Result(
            "wire",
            "encode + sign + frame (Incident)",
            rate(encode_sign, count),
            "fastavro schemaless_writer",
            raw_encode_rate,
            "events/s",
        ),
        Result(
            "wire",
            "unframe + verify + decode (Incident)",
            rate(verify_decode, count),
            "fastavro schemaless_reader",
            raw_decode_rate,
            "events/s",
        ),
    ]
