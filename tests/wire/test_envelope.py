"""The write pipeline (encode -> sign -> frame) and the read pipeline
(unframe -> verify -> decode -> check), end to end without Kafka."""

import copy

import pytest

from tests.wire import samples
from wire import schemas
from wire.codec import AvroCodec, CodecError
from wire.envelope import EnvelopeError, EventReader, EventWriter, event_id
from wire.signing import (
    BadSignature,
    KeyRegistry,
    SignatureError,
    UnknownKey,
    Verifier,
    WrongAuthority,
    generate_signer,
)

CODEC = AvroCodec(schemas.current(), schemas.released().values())
WMP = generate_signer("wmp-2026-01", "wmp")
UHB = generate_signer("uhb-ed-2026-01", "uhb-ed")
READER = EventReader(CODEC, Verifier(KeyRegistry([WMP.public_key(), UHB.public_key()])))


def published() -> bytes:
    return EventWriter(CODEC, WMP).write("Incident", samples.incident())


def test_write_then_read_gives_back_the_event() -> None:
    event = READER.read(published(), authority="wmp")
    assert event.record_type == "Incident"
    assert event.key_id == "wmp-2026-01"
    assert event.envelope["signing_key_id"] == "wmp-2026-01"
    assert event.envelope["schema_fingerprint"] == CODEC.fingerprint("Incident").hex()
    expected = samples.incident()
    expected["envelope"] = {
        **expected["envelope"],
        "signing_key_id": "wmp-2026-01",
        "schema_fingerprint": CODEC.fingerprint("Incident").hex(),
    }
    assert event.record == expected


def test_flipping_any_single_byte_fails() -> None:
    data = published()
    for position in range(len(data)):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        with pytest.raises((CodecError, SignatureError)):
            READER.read(bytes(flipped), authority="wmp")


def test_body_change_with_valid_frame_fails_signature() -> None:
    data = published()
    _, frame = CODEC.decode(data)
    _, record = CODEC.decode(frame["body"])
    record["victim_age_band"] = "AGE_65_PLUS"
    forged = {**frame, "body": CODEC.encode("Incident", record)}
    with pytest.raises(BadSignature):
        READER.read(CODEC.encode("SignedEvent", forged))


def test_unknown_key_is_refused() -> None:
    stranger = generate_signer("wmp-stolen", "wmp")
    with pytest.raises(UnknownKey):
        READER.read(EventWriter(CODEC, stranger).write("Incident", samples.incident()))


def test_a_key_cannot_publish_for_another_authority() -> None:
    claims_wmp = EventWriter(CODEC, UHB).write("Incident", samples.incident())  # envelope: wmp
    with pytest.raises(WrongAuthority, match="belongs to 'uhb-ed'"):
        READER.read(claims_wmp)
    with pytest.raises(WrongAuthority):
        READER.read(published(), authority="uhb-ed")  # right key, wrong topic


def test_envelope_must_name_the_key_that_signed() -> None:
    record = samples.incident()
    record["envelope"] = {
        **record["envelope"],
        "signing_key_id": "someone-else",
        "schema_fingerprint": CODEC.fingerprint("Incident").hex(),
    }
    body = CODEC.encode("Incident", record)
    frame = {"key_id": WMP.key_id, "body": body, "signature": WMP.sign(body)}
    with pytest.raises(EnvelopeError, match="names key 'someone-else'"):
        READER.read(CODEC.encode("SignedEvent", frame))


def test_event_type_must_match_the_record() -> None:
    record = samples.incident()
    record["envelope"] = {
        **record["envelope"],
        "event_type": "REFERRAL",
        "signing_key_id": WMP.key_id,
        "schema_fingerprint": CODEC.fingerprint("Incident").hex(),
    }
    body = CODEC.encode("Incident", record)
    frame = {"key_id": WMP.key_id, "body": body, "signature": WMP.sign(body)}
    with pytest.raises(EnvelopeError, match="event_type REFERRAL"):
        READER.read(CODEC.encode("SignedEvent", frame))


def test_writer_refuses_non_event_records_and_bad_fields() -> None:
    writer = EventWriter(CODEC, WMP)
    with pytest.raises(CodecError, match="not an event record"):
        writer.write("Geography", {})
    bad = copy.deepcopy(samples.incident())
    bad["victim_sex"] = "DOG"
    with pytest.raises(CodecError, match="victim_sex"):
        writer.write("Incident", bad)


def test_event_ids_are_deterministic_and_distinct() -> None:
    assert event_id("wmp", "p-1", 1) == event_id("wmp", "p-1", 1)
    assert (
        len(
            {
                event_id("wmp", "p-1", 1),
                event_id("wmp", "p-1", 2),
                event_id("wmp", "p-2", 1),
                event_id("wmas", "p-1", 1),
            }
        )
        == 4
    )
    with pytest.raises(ValueError, match="record_key"):
        event_id("wmp", "", 1)
