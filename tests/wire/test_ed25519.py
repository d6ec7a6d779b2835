"""wire.ed25519: libsodium signing and verifying, the same signatures as
``cryptography``, and no key of small order anywhere a key is read."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given
from hypothesis import strategies as st

from wire import ed25519
from wire.hub_signing import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    HubKeyFileError,
    HubKeys,
    HubPublicKey,
    HubSignatureError,
    HubSigner,
)
from wire.signing import (
    BadSignature,
    KeyRegistry,
    KeyRegistryError,
    PublicKey,
    Verifier,
    decode_public_key,
)

#: The eight encodings of the points of small order, as libsodium's block list
#: gives them: the identity, the point of order 2, two of order 4 (y = 0, either
#: sign) and four of order 8.
SMALL_ORDER = [
    bytes.fromhex(text)
    for text in [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    ]
]
IDENTITY = SMALL_ORDER[0]
#: R = the identity, S = 0: under the identity key, [S]B = R + [k]A for any
#: message, so an implementation that does not check the orders accepts it.
FORGERY = IDENTITY + bytes(32)

seeds = st.binary(min_size=32, max_size=32)


@given(seed=seeds, data=st.binary(max_size=600))
def test_property_the_same_signature_as_cryptography_and_each_verifies_the_other(
    seed: bytes, data: bytes
) -> None:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key().public_bytes_raw()
    ours = ed25519.SigningKey(private).sign(data)
    assert ours == private.sign(data)
    assert ed25519.verify(public, ours, data)
    private.public_key().verify(ours, data)  # raises if not


@given(seed=seeds, data=st.binary(min_size=1, max_size=200), index=st.integers(0, 10_000))
def test_property_any_flipped_bit_fails(seed: bytes, data: bytes, index: int) -> None:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key().public_bytes_raw()
    signature = ed25519.SigningKey(private).sign(data)
    joined = bytearray(signature + data)
    bit = index % (8 * len(joined))
    joined[bit // 8] ^= 1 << (bit % 8)
    assert not ed25519.verify(public, bytes(joined[:64]), bytes(joined[64:]))


def test_a_signature_of_another_length_fails_even_where_the_joined_bytes_match() -> None:
    """libsodium takes signature and data joined: a signature one byte longer, and
    the data one byte shorter, join to the same bytes, and must still fail."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    data = b"payload"
    signature = ed25519.SigningKey(private).sign(data)
    assert ed25519.verify(public, signature, data)
    assert not ed25519.verify(public, signature + data[:1], data[1:])
    assert not ed25519.verify(public, signature[:63], signature[63:] + data)


@pytest.mark.parametrize("raw", SMALL_ORDER, ids=[r.hex()[:8] for r in SMALL_ORDER])
def test_every_key_of_small_order_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError, match="small order"):
        ed25519.check_public_key(raw)


def test_a_key_off_the_curve_or_not_canonical_is_refused() -> None:
    not_canonical = bytes([0xED]) + b"\xff" * 30 + b"\x7f"  # y = p, not reduced
    for raw in (not_canonical, b"\x02" + bytes(31), bytes(31)):
        with pytest.raises(ValueError):
            ed25519.check_public_key(raw)


def test_every_made_key_passes() -> None:
    for _ in range(50):
        ed25519.check_public_key(Ed25519PrivateKey.generate().public_key().public_bytes_raw())


def test_the_identity_key_forgery_verifies_nothing() -> None:
    for data in (b"", b"any event", bytes(1000)):
        assert not ed25519.verify(IDENTITY, FORGERY, data)


# ------------------------------------------------------- where keys are read


def test_the_registry_refuses_a_key_of_small_order(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    encoded = base64.b64encode(IDENTITY).decode()
    path.write_text(
        f"keys:\n  - key_id: wmp-1\n    authority: wmp\n    public_key: {encoded}\n",
        encoding="utf-8",
    )
    with pytest.raises(KeyRegistryError, match=r"key 1: public_key: .*small order"):
        KeyRegistry.load(path)
    with pytest.raises(ValueError, match="small order"):
        decode_public_key(encoded)


def test_a_forged_event_under_a_small_order_key_made_in_code_is_refused() -> None:
    """Even a registry built in code around such a key accepts no forgery."""
    key = PublicKey("wmp-1", "wmp", Ed25519PublicKey.from_public_bytes(IDENTITY))
    verifier = Verifier(KeyRegistry([key]))
    with pytest.raises(BadSignature, match="does not match"):
        verifier.verify("wmp-1", b"a forged incident", FORGERY)


def test_a_forged_hub_message_under_a_small_order_key_is_refused() -> None:
    key = HubPublicKey("hub-0000000000000000", Ed25519PublicKey.from_public_bytes(IDENTITY))
    headers = [(KEY_ID_HEADER, key.key_id.encode()), (SIGNATURE_HEADER, FORGERY)]
    with pytest.raises(HubSignatureError) as info:
        HubKeys([key]).verify(b'{"forged": true}', headers)
    assert info.value.code == "bad_signature"


def test_the_hub_key_file_refuses_a_key_of_small_order(tmp_path: Path) -> None:
    signer = HubSigner.generate()
    text = (
        signer.keys()
        .to_json()
        .replace(
            base64.b64encode(signer.public_key().raw).decode(), base64.b64encode(IDENTITY).decode()
        )
    )
    path = tmp_path / "hub-keys.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HubKeyFileError, match=r"key 1: public_key: .*small order"):
        HubKeys.load(path)


def test_a_public_key_of_another_length_is_a_value_error_not_a_pass() -> None:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    signature = ed25519.SigningKey(private).sign(b"x")
    for key in (public[:31], public + b"\x00", b""):
        with pytest.raises(ValueError):
            ed25519.verify(key, signature, b"x")
