"""Ed25519 signing and verifying on the hot path, through libsodium (PyNaCl).

Every raw event, share and audit batch is signed once and verified at least
once, so the Ed25519 operations set the floor of the enforcer, the sinks and
any reader of the wire. ``cryptography`` still makes, loads and saves the keys
(PEM PKCS8); this module only signs and verifies with their raw bytes.

Why libsodium, not ``cryptography``'s OpenSSL, for these two operations:

* **Speed.** On the 2-core benchmark machine libsodium verifies in about 70-85
  us against OpenSSL's 125-160 us, and signs in about 30 us against 50 us
  (``make bench`` runs the comparison: ``wire | Ed25519 verify``). Both release
  the GIL, so the sinks' verify threads still run at once.
* **Strictness.** libsodium refuses a public key or a signature's R of small
  order, and an S that is not reduced. OpenSSL checks S but not the orders: with
  a small-order public key (for instance the identity point, ``AQAA...AA=``) it
  accepts ``R = identity, S = 0`` as a signature over *any* message. Such a key
  is refused where keys are read as well (:func:`check_public_key`), so the
  registry, the hub key file and witness keys never hold one.

Signatures are the same bytes either way: Ed25519 signing is deterministic
(RFC 8032), and a key's signature verifies under any standard implementation.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import (
    crypto_core_ed25519_is_valid_point,
    crypto_sign,
    crypto_sign_open,
    crypto_sign_seed_keypair,
)
from nacl.exceptions import BadSignatureError

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32


def check_public_key(raw: bytes) -> None:
    """``ValueError`` unless ``raw`` is 32 bytes encoding a point of the
    prime-order group, canonically: what every properly made key is.

    A key of small order would verify forged signatures (see the module's
    docstring), and one off the group is not a key anybody made."""
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError(f"not {PUBLIC_KEY_SIZE} bytes (got {len(raw)})")
    if not crypto_core_ed25519_is_valid_point(raw):
        raise ValueError(
            "not a point of the prime-order group (a key of small order, or not "
            "canonically encoded): it would verify forged signatures"
        )


def verify(public_key: bytes, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` (64 bytes) over exactly ``data`` verifies under the
    32 raw bytes of ``public_key``. Any other signature length is False; a key
    of another length is a ValueError (every caller's keys were read and
    checked as 32 bytes)."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        # libsodium reads the first 32 bytes of whatever it is given.
        raise ValueError(f"a public key is {PUBLIC_KEY_SIZE} bytes, not {len(public_key)}")
    if len(signature) != SIGNATURE_SIZE:
        # libsodium takes the signature and message joined; a signature of
        # another length would move the split between them.
        return False
    try:
        crypto_sign_open(signature + data, public_key)
    except BadSignatureError:
        return False
    return True


class SigningKey:
    """An Ed25519 private key held in libsodium's form, for :meth:`sign`."""

    __slots__ = ("_secret",)

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        _, self._secret = crypto_sign_seed_keypair(private_key.private_bytes_raw())

    def __repr__(self) -> str:
        return "SigningKey(...)"

    def sign(self, data: bytes) -> bytes:
        """The 64-byte signature over exactly ``data`` (the same bytes as any
        RFC 8032 implementation gives)."""
        return crypto_sign(data, self._secret)[:SIGNATURE_SIZE]
