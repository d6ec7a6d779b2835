"""wire.hub_signing: the hub's signature headers, its public key file and its private key."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.records import HUB_SIGNER, OTHER_SIGNER, a_share, audit_record
from wire.canonical import ContractError
from wire.hub_signing import (
    CODES,
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    HubKeyFileError,
    HubKeys,
    HubPublicKey,
    HubSignatureError,
    HubSigner,
    key_id_for,
)

KEYS = HUB_SIGNER.keys()
VALUE = a_share(1).to_bytes()


def code_of(value: bytes | None, headers: object, keys: HubKeys = KEYS) -> str:
    with pytest.raises(HubSignatureError) as info:
        keys.verify(value, headers)
    assert info.value.code in CODES
    return info.value.code


# ---------------------------------------------------------------- sign / verify


def test_round_trip_gives_two_headers_and_the_key() -> None:
    headers = HUB_SIGNER.sign(VALUE)
    assert [name for name, _ in headers] == [KEY_ID_HEADER, SIGNATURE_HEADER]
    assert headers[0][1] == HUB_SIGNER.key_id.encode()
    assert len(headers[1][1]) == 64
    assert KEYS.verify(VALUE, headers) == HUB_SIGNER.public_key()
    assert HUB_SIGNER.sign(VALUE) == headers  # deterministic


def test_other_headers_and_their_order_do_not_matter() -> None:
    key_id, signature = HUB_SIGNER.sign(VALUE)
    headers = [("decision_id", b"x"), signature, ("other", b"\xff"), key_id]
    assert KEYS.verify(VALUE, headers).key_id == HUB_SIGNER.key_id
    assert KEYS.verify(VALUE, tuple(tuple(h) for h in headers)).key_id == HUB_SIGNER.key_id


def test_the_key_id_is_derived_from_the_public_key() -> None:
    raw = HUB_SIGNER.public_key().public_key.public_bytes_raw()
    assert HUB_SIGNER.key_id == "hub-" + hashlib.sha256(raw).hexdigest()[:16]
    assert key_id_for(HUB_SIGNER.public_key().public_key) == HUB_SIGNER.key_id


def test_flipping_any_byte_of_the_value_fails() -> None:
    value = audit_record(1).to_bytes()
    headers = HUB_SIGNER.sign(value)
    for position in range(0, len(value), 7):
        tampered = bytearray(value)
        tampered[position] ^= 0x01
        assert code_of(bytes(tampered), headers) == "bad_signature"


def test_flipping_any_byte_of_the_signature_fails() -> None:
    (key_id, signature) = HUB_SIGNER.sign(VALUE)
    for position in range(64):
        tampered = bytearray(signature[1])
        tampered[position] ^= 0x80
        assert code_of(VALUE, [key_id, (SIGNATURE_HEADER, bytes(tampered))]) == "bad_signature"


def test_another_key_is_unknown_even_under_the_hubs_key_id() -> None:
    assert code_of(VALUE, OTHER_SIGNER.sign(VALUE)) == "unknown_key"
    impostor = HubSigner(OTHER_SIGNER._private_key, key_id=HUB_SIGNER.key_id)
    assert code_of(VALUE, impostor.sign(VALUE)) == "bad_signature"


def test_a_second_key_verifies_after_rotation() -> None:
    both = KEYS.with_key(OTHER_SIGNER.public_key())
    assert both.key_ids() == [HUB_SIGNER.key_id, OTHER_SIGNER.key_id]
    assert both.verify(VALUE, OTHER_SIGNER.sign(VALUE)).key_id == OTHER_SIGNER.key_id
    assert both.with_key(HUB_SIGNER.public_key()) is both


def test_a_tombstone_is_verified_as_the_empty_value() -> None:
    assert KEYS.verify(None, HUB_SIGNER.sign(b"")).key_id == HUB_SIGNER.key_id
    assert code_of(None, HUB_SIGNER.sign(b"x")) == "bad_signature"


# ---------------------------------------------------------------- headers read defensively

KEY_ID, SIGNATURE = HUB_SIGNER.sign(VALUE)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (None, "unsigned"),
        ([], "unsigned"),
        ((), "unsigned"),
        ([("decision_id", b"x")], "unsigned"),
        ([KEY_ID], "missing_header"),
        ([SIGNATURE], "missing_header"),
        ([KEY_ID, KEY_ID, SIGNATURE], "duplicate_header"),
        ([KEY_ID, SIGNATURE, SIGNATURE], "duplicate_header"),
        ([KEY_ID, (SIGNATURE_HEADER, None)], "bad_header"),
        ([KEY_ID, (SIGNATURE_HEADER, "text")], "bad_header"),
        ([(KEY_ID_HEADER, None), SIGNATURE], "bad_header"),
        ([(KEY_ID_HEADER, b"\xff\xfe"), SIGNATURE], "bad_header"),
        ([(KEY_ID_HEADER, b""), SIGNATURE], "bad_header"),
        ([(KEY_ID_HEADER, b"has space"), SIGNATURE], "bad_header"),
        ([(KEY_ID_HEADER, b"k" * 65), SIGNATURE], "bad_header"),
        ([(KEY_ID_HEADER, b"hub-nobody"), SIGNATURE], "unknown_key"),
        ([KEY_ID, (SIGNATURE_HEADER, b"")], "bad_header"),
        ([KEY_ID, (SIGNATURE_HEADER, SIGNATURE[1][:63])], "bad_header"),
        ([KEY_ID, (SIGNATURE_HEADER, SIGNATURE[1] + b"\x00")], "bad_header"),
        ([KEY_ID, (SIGNATURE_HEADER, b"\x00" * 64)], "bad_signature"),
        ([(KEY_ID_HEADER.encode(), KEY_ID[1]), (SIGNATURE_HEADER.encode(), SIGNATURE[1])], None),
        ([(b"\xff", b"x"), KEY_ID, SIGNATURE], None),
        ([KEY_ID, SIGNATURE, ("x",)], "bad_header"),
        ([KEY_ID, SIGNATURE, "ab"], "bad_header"),
        ([KEY_ID, SIGNATURE, (1, b"x")], "bad_header"),
        ("not a list", "bad_header"),
        (b"not a list", "bad_header"),
        ({KEY_ID_HEADER: KEY_ID[1]}, "bad_header"),
        (42, "bad_header"),
    ],
)
def test_headers_are_read_defensively(headers: object, code: str | None) -> None:
    if code is None:
        assert KEYS.verify(VALUE, headers).key_id == HUB_SIGNER.key_id
    else:
        assert code_of(VALUE, headers) == code


def test_an_error_names_its_header_and_is_a_contract_error() -> None:
    with pytest.raises(HubSignatureError) as info:
        KEYS.verify(VALUE, [KEY_ID, (SIGNATURE_HEADER, b"\x00" * 64)])
    error = info.value
    assert isinstance(error, ContractError)
    assert (error.field, error.code, error.key_id) == (
        SIGNATURE_HEADER,
        "bad_signature",
        HUB_SIGNER.key_id,
    )
    assert str(error).startswith("hub signature: svd-hub-signature: ")


header_names = st.sampled_from([KEY_ID_HEADER, SIGNATURE_HEADER, "decision_id", "x"])
header_values = st.one_of(st.binary(max_size=80), st.none(), st.text(max_size=10), st.integers())
garbage = st.lists(st.tuples(header_names, header_values), max_size=6)


@settings(max_examples=300, deadline=None)
@given(value=st.binary(max_size=512), headers=garbage)
def test_property_garbage_headers_give_a_typed_error_or_a_valid_signature(
    value: bytes, headers: list[tuple[str, Any]]
) -> None:
    try:
        key = KEYS.verify(value, headers)
    except HubSignatureError as exc:
        assert exc.code in CODES
    else:  # only a real signature over exactly these bytes verifies
        assert key.key_id == HUB_SIGNER.key_id
        assert (SIGNATURE_HEADER, HUB_SIGNER.sign(value)[1][1]) in headers


@settings(max_examples=100, deadline=None)
@given(value=st.binary(max_size=2048), extra=st.binary(min_size=1, max_size=8))
def test_property_sign_verify_and_any_change_fails(value: bytes, extra: bytes) -> None:
    headers = HUB_SIGNER.sign(value)
    assert KEYS.verify(value, headers).key_id == HUB_SIGNER.key_id
    assert code_of(value + extra, headers) == "bad_signature"


# ---------------------------------------------------------------- key files


def test_the_public_key_file_round_trips(tmp_path: Path) -> None:
    keys = KEYS.with_key(OTHER_SIGNER.public_key())
    path = tmp_path / "hub.pub.json"
    keys.save(path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == "svdhub-hub-keys/v1"
    assert document["keys"][0] == {
        "algorithm": "Ed25519",
        "key_id": HUB_SIGNER.key_id,
        "public_key": base64.b64encode(
            HUB_SIGNER.public_key().public_key.public_bytes_raw()
        ).decode(),
    }
    loaded = HubKeys.load(path)
    assert loaded.key_ids() == keys.key_ids()
    assert loaded.verify(VALUE, OTHER_SIGNER.sign(VALUE)).key_id == OTHER_SIGNER.key_id


def entry(**changes: Any) -> dict[str, Any]:
    return {**HUB_SIGNER.public_key().to_dict(), **changes}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not JSON"),
        ([], "expected a JSON object"),
        ({"keys": [entry()]}, "format: expected"),
        ({"format": "svdhub-hub-keys/v1", "keys": []}, "keys: expected a non-empty list"),
        ({"format": "svdhub-hub-keys/v1", "keys": [entry()], "x": 1}, "x: unknown field"),
        ({"format": "svdhub-hub-keys/v1", "keys": ["k"]}, "key 1: expected an object"),
        ({"format": "svdhub-hub-keys/v1", "keys": [entry(algorithm="RSA")]}, "algorithm"),
        ({"format": "svdhub-hub-keys/v1", "keys": [entry(key_id="a b")]}, "key 1: key_id"),
        ({"format": "svdhub-hub-keys/v1", "keys": [entry(public_key="!!")]}, "not valid base64"),
        ({"format": "svdhub-hub-keys/v1", "keys": [entry(public_key="AAAA")]}, "not 32 bytes"),
        ({"format": "svdhub-hub-keys/v1", "keys": [entry(public_key=1)]}, "public_key"),
        ({"format": "svdhub-hub-keys/v1", "keys": [entry(), entry()]}, "duplicate hub key id"),
        ({"format": "svdhub-hub-keys/v1", "keys": [entry(extra=1)]}, "extra: unknown field"),
    ],
)
def test_a_malformed_public_key_file_is_named(
    tmp_path: Path, document: object, message: str
) -> None:
    path = tmp_path / "hub.pub.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), "utf-8")
    with pytest.raises(HubKeyFileError, match=message) as info:
        HubKeys.load(path)
    assert str(path) in str(info.value)


def test_a_missing_public_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(HubKeyFileError, match="not found"):
        HubKeys.load(tmp_path / "nothing.json")


def test_the_private_key_is_saved_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "hub" / "signing.pem"
    signer = HubSigner.generate()
    signer.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = HubSigner.load(path)
    assert loaded.key_id == signer.key_id
    assert loaded.sign(VALUE) == signer.sign(VALUE)
    with pytest.raises(FileExistsError):
        HubSigner.generate().save(path)
    assert not list(path.parent.glob(".*partial"))
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        HubSigner.load(path)


def test_a_key_id_must_look_like_one() -> None:
    with pytest.raises(ValueError, match="must match"):
        HubPublicKey("not a key id", HUB_SIGNER.public_key().public_key)
