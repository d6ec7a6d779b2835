"""The C2SP formats of the audit log, as the specifications write them."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit.note import (
    COSIGNATURE_V1,
    ED25519,
    CheckpointBody,
    Note,
    NoteError,
    Signature,
    Verifier,
    cosign,
    cosigned_at,
    cosigner_key,
    key_id,
    parse_cosigner_key,
    raw_public_key,
    sign,
    verifier_key,
    verify_note,
)
from tests.wire.test_ed25519 import FORGERY, IDENTITY, SMALL_ORDER

LOG = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
WITNESS = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
ORIGIN = "svdhub.example/wm-vrp/audit"
BODY = CheckpointBody(ORIGIN, 20852163, bytes(range(32)), ("issued 2026-12-06T07:00:00Z",))


def signed() -> str:
    text = BODY.text()
    return str(Note(text, (sign(text, ORIGIN, LOG),)))


def test_a_checkpoint_note_has_the_c2sp_layout() -> None:
    lines = signed().split("\n")
    assert lines[:4] == [
        ORIGIN,
        "20852163",
        base64.b64encode(bytes(range(32))).decode(),
        "issued 2026-12-06T07:00:00Z",
    ]
    assert lines[4] == ""
    assert lines[5].startswith(f"\u2014 {ORIGIN} ")
    raw = base64.b64decode(lines[5].split(" ")[2])
    public = raw_public_key(LOG.public_key())
    assert raw[:4] == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + public).digest()[:4]
    assert len(raw) == 4 + 64
    assert lines[6:] == [""]


def test_a_note_verifies_under_its_key_and_not_after_a_change() -> None:
    verifier = Verifier.parse(verifier_key(ORIGIN, raw_public_key(LOG.public_key())))
    note = verify_note(signed(), [verifier])
    assert CheckpointBody.parse(note.text) == BODY
    tampered = signed().replace("20852163", "20852162")
    with pytest.raises(NoteError, match="no valid signature"):
        verify_note(tampered, [verifier])
    other = Verifier.parse(verifier_key(ORIGIN, raw_public_key(WITNESS.public_key())))
    with pytest.raises(NoteError):
        verify_note(signed(), [other])


def test_a_verifier_key_is_name_hash_and_key() -> None:
    public = raw_public_key(LOG.public_key())
    text = verifier_key(ORIGIN, public)
    name, hash_hex, encoded = text.split("+", 2)
    assert (name, bytes.fromhex(hash_hex)) == (ORIGIN, key_id(ORIGIN, 1, public))
    assert base64.b64decode(encoded) == b"\x01" + public
    assert str(Verifier.parse(text)) == text
    for bad in (f"{name}+00000000+{encoded}", f"{name}+{hash_hex}", "a b+00+AA=="):
        with pytest.raises(NoteError):
            Verifier.parse(bad)


def test_a_cosignature_is_timestamped_and_bound_to_the_checkpoint() -> None:
    text = BODY.text()
    line = cosign(text, "witness.example/w1", WITNESS, 1679315147)
    note = Note(text, (sign(text, ORIGIN, LOG), line))
    public = raw_public_key(WITNESS.public_key())
    again = Note.parse(str(note))
    assert cosigned_at(again, "witness.example/w1", public) == 1679315147
    assert base64.b64decode(str(again).split("\n")[-2].split(" ")[2])[4:12] == (
        1679315147
    ).to_bytes(8, "big")
    other = Note(BODY.text().replace("20852163", "1"), again.signatures)
    assert cosigned_at(other, "witness.example/w1", public) is None
    assert parse_cosigner_key(cosigner_key("witness.example/w1", public)) == (
        "witness.example/w1",
        public,
    )


@pytest.mark.parametrize(
    "text",
    [
        "o\n1\nAAAA\n",  # a root of 3 bytes
        "o\n01\n" + base64.b64encode(bytes(32)).decode() + "\n",  # a leading zero
        "o\n1\n" + base64.b64encode(bytes(32)).decode(),  # no final newline
        "o\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "\n1\n" + base64.b64encode(bytes(32)).decode() + "\n",
    ],
)
def test_a_malformed_checkpoint_is_refused(text: str) -> None:
    with pytest.raises(NoteError):
        CheckpointBody.parse(text)


@pytest.mark.parametrize(
    "data",
    ["no signatures\n", "text\n\nnot a signature\n", "text\n\n\u2014 name !!!\n", "t\r\n\n"],
)
def test_a_malformed_note_is_refused(data: str) -> None:
    with pytest.raises(NoteError):
        Note.parse(data)


def test_note_keys_of_small_order_are_refused() -> None:
    """Such a key would verify a forged signature (tests/wire/test_ed25519.py)."""
    for raw in SMALL_ORDER:
        with pytest.raises(NoteError, match="small order"):
            Verifier.parse(verifier_key(ORIGIN, raw))
        with pytest.raises(NoteError, match="small order"):
            parse_cosigner_key(cosigner_key("witness.example", raw))


def test_a_forged_signature_and_cosignature_under_the_identity_key_verify_nothing() -> None:
    text = BODY.text()
    forged = Note(
        text,
        (
            Signature(ORIGIN, key_id(ORIGIN, ED25519, IDENTITY), FORGERY),
            Signature("w", key_id("w", COSIGNATURE_V1, IDENTITY), struct.pack(">Q", 1) + FORGERY),
        ),
    )
    assert not forged.signed_by(Verifier(ORIGIN, IDENTITY))
    assert cosigned_at(forged, "w", IDENTITY) is None
