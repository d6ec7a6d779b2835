"""The linkage key's fingerprint (``wire.linkage``) and the envelope field that
carries it, as released in v2 and readable from v1."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tests.wire import samples
from wire import compat, schemas
from wire.codec import AvroCodec
from wire.linkage import FINGERPRINT_LENGTH, FINGERPRINT_MESSAGE, fingerprint, is_fingerprint

KEY = bytes.fromhex("00112233445566778899aabbccddeeff" * 2)


def test_the_fingerprint_is_the_documented_hmac_and_stable() -> None:
    expected = hmac.new(KEY, b"svdhub linkage-key fingerprint v1", hashlib.sha256).hexdigest()
    assert fingerprint(KEY) == expected[:32]
    assert fingerprint(KEY) == fingerprint(bytes(KEY))
    # A fixed value: changing the scheme changes every registration, so it must show here.
    assert fingerprint(KEY) == "8f7a0b1e7f8d5557af9c1a979617d13f"
    assert len(fingerprint(KEY)) == FINGERPRINT_LENGTH and is_fingerprint(fingerprint(KEY))


def test_another_key_has_another_fingerprint() -> None:
    others = {fingerprint(bytes([n]) * 32) for n in range(64)}
    assert len(others) == 64
    assert fingerprint(KEY) not in others
    assert fingerprint(KEY[:-1] + b"\x00") != fingerprint(KEY)


def test_the_fingerprint_never_shows_the_key() -> None:
    printed = fingerprint(KEY)
    hex_key = KEY.hex()
    for size in (8, 16):  # no run of the key's hex, nor of its bytes as text
        assert not any(hex_key[i : i + size] in printed for i in range(len(hex_key) - size))
    assert printed != hashlib.sha256(KEY).hexdigest()[:FINGERPRINT_LENGTH]  # keyed, not a hash


def test_the_fingerprint_is_never_a_pseudonym_of_the_same_key() -> None:
    """The pseudonymiser MACs messages that start with a kind and a separator;
    the fingerprint's fixed message is none of them."""
    assert b"\x1f" not in FINGERPRINT_MESSAGE
    pseudonym = hmac.new(KEY, b"record\x1fwmp\x1fCRIME-1", hashlib.sha256).hexdigest()
    assert not pseudonym.startswith(fingerprint(KEY))


def test_an_empty_key_has_no_fingerprint() -> None:
    with pytest.raises(ValueError, match="never empty"):
        fingerprint(b"")


@pytest.mark.parametrize(
    "text", ["", "ABCDEF" * 6, "0" * 31, "0" * 33, "g" * 32, " " + "0" * 31, "0" * 32 + "\n"]
)
def test_only_32_lowercase_hex_characters_look_like_a_fingerprint(text: str) -> None:
    assert not is_fingerprint(text)


def test_the_envelope_field_is_released_optional_and_unclassified() -> None:
    current = schemas.current()
    fields = {f.path: f for f in current.fields("Incident")}
    field = fields["envelope.linkage_key_fingerprint"]
    assert field.classification == "none" and "HMAC-SHA256" in field.doc
    releases = schemas.released()
    assert compat.check(current, releases) == []
    latest = releases[list(releases)[-1]]
    for record in current.records():  # the current schemas are the latest release
        assert latest.fingerprint(record) == current.fingerprint(record), record


def test_an_event_written_with_v1_reads_with_a_null_fingerprint() -> None:
    v1 = schemas.released()["v1"]
    assert "envelope.linkage_key_fingerprint" not in {f.path for f in v1.fields("Incident")}
    record = samples.incident()
    del record["envelope"]["linkage_key_fingerprint"]
    reader = AvroCodec(schemas.current(), schemas.released().values())
    name, decoded = reader.decode(AvroCodec(v1).encode("Incident", record))
    assert name == "Incident"
    assert decoded["envelope"]["linkage_key_fingerprint"] is None
    assert decoded["envelope"]["pseudonym_key_version"] == samples.LINKAGE_KEY_VERSION
