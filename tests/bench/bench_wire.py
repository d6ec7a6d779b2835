"""Wire benchmarks: encode+sign and verify+decode, beside raw fastavro; the
Ed25519 verify and sign the wire uses, beside cryptography's (the rates
tests.bench.ceilings works out each figure's ceiling from)."""

from __future__ import annotations

import io

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastavro import schemaless_reader, schemaless_writer

from tests.bench.harness import Result, rate
from tests.wire import samples
from wire import ed25519, schemas
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

    # The Ed25519 verify the wire uses (libsodium), beside cryptography's (OpenSSL),
    # over the published event's bytes: the floor of every reader of the wire.
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    public_raw = public.public_bytes_raw()
    signature = private.sign(published)

    def verify_sodium() -> None:
        for _ in range(count):
            ed25519.verify(public_raw, signature, published)

    def verify_openssl() -> None:
        for _ in range(count):
            public.verify(signature, published)

    # And the signature every hub output and every raw event carries.
    sodium_key = ed25519.SigningKey(private)

    def sign_sodium() -> None:
        for _ in range(count):
            sodium_key.sign(published)

    def sign_openssl() -> None:
        for _ in range(count):
            private.sign(published)

    raw_encode_rate, raw_decode_rate = rate(raw_encode, count), rate(raw_decode, count)
    return [
        Result(
            "wire",
            "Ed25519 verify, libsodium (what the wire uses)",
            rate(verify_sodium, count),
            "cryptography's OpenSSL verify",
            rate(verify_openssl, count),
            "verifies/s",
        ),
        Result(
            "wire",
            "Ed25519 sign, libsodium (what the wire uses)",
            rate(sign_sodium, count),
            "cryptography's OpenSSL sign",
            rate(sign_openssl, count),
            "signatures/s",
        ),
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
