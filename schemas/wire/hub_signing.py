"""Ed25519 signatures on the hub's outputs: the enforcer signs, sinks and recipients verify.

.. warning:: Threat model.

    **What signing is for.** Kafka topics do not authenticate producers, so
    anyone who can write to ``svd.shared.<recipient>.<type>`` or
    ``svd.audit.decisions`` could otherwise forge a share (and have the views
    count it) or an audit record (and have the ledger seal it). So the
    enforcer signs every share, audit record, quarantine entry and policy
    revision record it produces with the **hub's** Ed25519 key, and every
    consumer verifies before it applies anything: the view builder, the audit
    ledger, ``svdhub audit reconcile``, and recipients with the hub's public
    key file (``svdhub access hub-key``). A message that does not verify is
    recorded and counted as a reject, never applied, never sealed.

    * The signature covers the **exact Kafka message value bytes** (canonical
      JSON, :mod:`wire.canonical`). Any change to any byte fails. Sign after
      encoding, verify before parsing. A tombstone (no value) is verified as
      the empty value; the enforcer never produces one.
    * The signature does **not** cover the topic, the key, the other headers
      or the timestamp. A validly signed message copied to another topic still
      verifies, so what binds a message to its topic is in the value: a share
      names its ``recipient`` and event type, and the views refuse a share on
      another recipient's topic (code ``wrong_topic``); an audit record copied
      within the audit topic is a replay that the ledger's one row per
      ``decision_id`` absorbs.
    * The hub's key is separate from the audit ledger's checkpoint key
      (``hub.audit.checkpoints``) and from every authority's connector key
      (:mod:`wire.signing`): a leak of one does not let anyone sign as another.

    **What it does NOT protect against.** Whoever holds the hub's private key
    (``<state>/keys/hub/signing.pem``) can sign anything; replays of validly
    signed messages verify again (absorbed by deterministic ids); signing gives
    integrity and origin, not confidentiality.

Header format (two Kafka record headers, beside the enforcer's informational
``decision_id``/``agreement_id``/``policy_revision`` headers)::

    svd-hub-key-id     the key id, UTF-8, matching KEY_ID_PATTERN (e.g. hub-1f0c2a9d4b7e8a31)
    svd-hub-signature  the raw 64-byte Ed25519 signature over the message value

Each must appear exactly once. :meth:`HubKeys.verify` reads headers
defensively: anything missing, repeated, not bytes, not UTF-8, of the wrong
length or signed by an unknown key is a :class:`HubSignatureError` with one
of the codes in :data:`CODES`, never another exception.

The hub's key id is ``hub-`` and the first 16 hex digits of the SHA-256 of
the 32 raw public key bytes (:func:`key_id_for`), so it is stable and
recipients can recompute it.

Public key file format (:meth:`HubKeys.to_json`, :meth:`HubKeys.load`), what
the hub publishes to recipients; it lists every key whose signatures are
still in topics (after a rotation, the old key stays listed)::

    {
      "format": "svdhub-hub-keys/v1",
      "keys": [
        {"algorithm": "Ed25519", "key_id": "hub-1f0c2a9d4b7e8a31",
         "public_key": "<base64 of the 32 raw public key bytes>"}
      ]
    }

The private key is an unencrypted PEM PKCS8 file, mode 0600 in a 0700 folder
(:func:`wire.signing.write_private_key`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from wire import ed25519
from wire.canonical import ContractError
from wire.private_files import write_private
from wire.signing import (
    SIGNATURE_SIZE,
    decode_public_key,
    encode_public_key,
    read_private_key,
    write_private_key,
)

KEY_ID_HEADER = "svd-hub-key-id"
SIGNATURE_HEADER = "svd-hub-signature"

#: What a hub key id looks like (at most 64 characters).
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

KEY_FILE_FORMAT = "svdhub-hub-keys/v1"
ALGORITHM = "Ed25519"

# Reject codes (``HubSignatureError.code``).
UNSIGNED = "unsigned"  # neither header
MISSING_HEADER = "missing_header"  # one of the two headers only
DUPLICATE_HEADER = "duplicate_header"  # a header more than once
BAD_HEADER = "bad_header"  # not (name, bytes) pairs, a key id that is not one, a wrong length
UNKNOWN_KEY = "unknown_key"  # a key id the hub's key file does not list
BAD_SIGNATURE = "bad_signature"  # the signature does not verify over the value

#: Every code a :class:`HubSignatureError` can carry.
CODES = frozenset(
    (UNSIGNED, MISSING_HEADER, DUPLICATE_HEADER, BAD_HEADER, UNKNOWN_KEY, BAD_SIGNATURE)
)

Headers = list[tuple[str, bytes]]


class HubSignatureError(ContractError):
    """A message that is not signed by the hub's key: reject it, never apply it.

    ``code`` is one of :data:`CODES`; ``field`` the header at fault
    (``(headers)`` when there is none to name); ``key_id`` the key id the
    message claimed, when it claimed a readable one. A ContractError, so a
    sink records it like any other unusable message."""

    contract = "hub signature"

    def __init__(
        self, code: str, reason: str, header: str = "(headers)", key_id: str | None = None
    ) -> None:
        super().__init__(header, code, reason)
        self.key_id = key_id


class HubKeyFileError(Exception):
    """A hub public key file that is missing or malformed; the message names the
    file and the field."""


def key_id_for(public_key: Ed25519PublicKey) -> str:
    """``hub-`` and the first 16 hex digits of SHA-256 of the 32 raw key bytes."""
    return "hub-" + hashlib.sha256(public_key.public_bytes_raw()).hexdigest()[:16]


@dataclass(frozen=True)
class HubPublicKey:
    """One public key of the hub."""

    key_id: str
    # Not hashable itself; equality still compares it.
    public_key: Ed25519PublicKey = field(hash=False)
    #: The 32 raw bytes, which :func:`wire.ed25519.verify` takes.
    raw: bytes = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not KEY_ID_PATTERN.fullmatch(self.key_id):
            raise ValueError(f"hub key id {self.key_id!r} must match {KEY_ID_PATTERN.pattern}")
        object.__setattr__(self, "raw", self.public_key.public_bytes_raw())

    def to_dict(self) -> dict[str, str]:
        return {
            "algorithm": ALGORITHM,
            "key_id": self.key_id,
            "public_key": encode_public_key(self.public_key),
        }


class HubSigner:
    """The hub's private key; used by the enforcer on every message it produces.

    Ed25519 signing is deterministic: the same value always gets the same
    headers, so a replayed event produces byte-identical messages."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str | None = None) -> None:
        self._private_key = private_key
        self._signing_key = ed25519.SigningKey(private_key)
        self.key_id = key_id or key_id_for(private_key.public_key())
        self._key_id_bytes = self.key_id.encode("utf-8")
        self.public_key()  # checks the key id

    def __repr__(self) -> str:
        return f"HubSigner(key_id={self.key_id!r})"

    @classmethod
    def generate(cls) -> HubSigner:
        """A signer with a new random key."""
        return cls(Ed25519PrivateKey.generate())

    def sign(self, value: bytes) -> Headers:
        """The two headers to send with ``value``: the key id and the signature
        over exactly ``value``."""
        return [
            (KEY_ID_HEADER, self._key_id_bytes),
            (SIGNATURE_HEADER, self._signing_key.sign(value)),
        ]

    def public_key(self) -> HubPublicKey:
        return HubPublicKey(self.key_id, self._private_key.public_key())

    def keys(self) -> HubKeys:
        """The public keys that verify this signer's messages."""
        return HubKeys([self.public_key()])

    @classmethod
    def load(cls, path: Path, key_id: str | None = None) -> HubSigner:
        """Read the private key (PEM PKCS8, must be 0600); the key id defaults to
        :func:`key_id_for`. ``ValueError``/``OSError`` as
        :func:`wire.signing.read_private_key`."""
        return cls(read_private_key(path), key_id)

    def save(self, path: Path) -> None:
        """Write the private key, 0600 in a 0700 folder; never over an existing file
        (``FileExistsError``)."""
        write_private_key(path, self._private_key)


class HubKeys:
    """The hub's public keys, by key id: what a consumer of hub outputs trusts."""

    def __init__(self, keys: Iterable[HubPublicKey]) -> None:
        self._keys: dict[str, HubPublicKey] = {}
        for key in keys:
            if key.key_id in self._keys:
                raise ValueError(f"duplicate hub key id {key.key_id!r}")
            self._keys[key.key_id] = key

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def key_ids(self) -> list[str]:
        return list(self._keys)

    def with_key(self, key: HubPublicKey) -> HubKeys:
        """These keys and ``key`` (unchanged if it is listed already)."""
        if key.key_id in self._keys:
            return self
        return HubKeys([*self._keys.values(), key])

    # ------------------------------------------------------------ verify

    def verify(self, value: bytes | None, headers: object) -> HubPublicKey:
        """The hub key that signed ``value``, or :class:`HubSignatureError` saying why not.

        ``headers`` are the Kafka record's headers as a client gives them (a
        list of (name, value) pairs, or None); nothing about them is trusted."""
        key_id_bytes, signature = _signature_headers(headers)
        try:
            key_id = key_id_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise HubSignatureError(BAD_HEADER, "the key id is not UTF-8", KEY_ID_HEADER) from None
        if not KEY_ID_PATTERN.fullmatch(key_id):
            raise HubSignatureError(
                BAD_HEADER,
                f"{key_id[:80]!r} is not a key id (it must match {KEY_ID_PATTERN.pattern})",
                KEY_ID_HEADER,
            )
        key = self._keys.get(key_id)
        if key is None:
            raise HubSignatureError(
                UNKNOWN_KEY, f"key {key_id!r} is not one of the hub's keys", KEY_ID_HEADER, key_id
            )
        if len(signature) != SIGNATURE_SIZE:
            raise HubSignatureError(
                BAD_HEADER,
                f"the signature is {len(signature)} bytes, not {SIGNATURE_SIZE}",
                SIGNATURE_HEADER,
                key_id,
            )
        if not ed25519.verify(key.raw, signature, value or b""):
            raise HubSignatureError(
                BAD_SIGNATURE,
                f"the signature by key {key_id!r} does not match the value",
                SIGNATURE_HEADER,
                key_id,
            )
        return key

    # ------------------------------------------------------------ the public key file

    def to_json(self) -> str:
        """The public key file (format in the module docstring)."""
        document = {
            "format": KEY_FILE_FORMAT,
            "keys": [key.to_dict() for key in self._keys.values()],
        }
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    def save(self, path: Path) -> None:
        """Write the public key file, replaced whole (:func:`wire.private_files.write_private`)."""
        write_private(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> HubKeys:
        """Read a public key file; :class:`HubKeyFileError` naming the file and field."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise HubKeyFileError(f"{path}: hub key file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise HubKeyFileError(f"{path}: cannot read the hub key file: {exc}") from exc
        return cls.from_json(text, str(path))

    @classmethod
    def from_json(cls, text: str, source: str = "hub key file") -> HubKeys:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise HubKeyFileError(f"{source}: not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise HubKeyFileError(f"{source}: expected a JSON object")
        extra = sorted(set(document) - {"format", "keys"})
        if extra:
            raise HubKeyFileError(f"{source}: {extra[0]}: unknown field")
        if document.get("format") != KEY_FILE_FORMAT:
            raise HubKeyFileError(f"{source}: format: expected {KEY_FILE_FORMAT!r}")
        entries = document.get("keys")
        if not isinstance(entries, list) or not entries:
            raise HubKeyFileError(f"{source}: keys: expected a non-empty list")
        keys: list[HubPublicKey] = []
        for index, entry in enumerate(entries, start=1):
            keys.append(_parse_entry(entry, f"{source}: key {index}"))
        try:
            return cls(keys)
        except ValueError as exc:
            raise HubKeyFileError(f"{source}: {exc}") from None


def _parse_entry(entry: Any, where: str) -> HubPublicKey:
    if not isinstance(entry, dict):
        raise HubKeyFileError(f"{where}: expected an object")
    extra = sorted(set(entry) - {"algorithm", "key_id", "public_key"})
    if extra:
        raise HubKeyFileError(f"{where}: {extra[0]}: unknown field")
    if entry.get("algorithm") != ALGORITHM:
        raise HubKeyFileError(f"{where}: algorithm: expected {ALGORITHM!r}")
    key_id, text = entry.get("key_id"), entry.get("public_key")
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise HubKeyFileError(f"{where}: key_id: must match {KEY_ID_PATTERN.pattern}")
    if not isinstance(text, str):
        raise HubKeyFileError(f"{where}: public_key: expected base64 text")
    try:
        return HubPublicKey(key_id, decode_public_key(text))
    except ValueError as exc:
        raise HubKeyFileError(f"{where}: public_key: {exc}") from None


def _signature_headers(headers: object) -> tuple[bytes, bytes]:
    """The key id and signature header values, each present exactly once and bytes."""
    found = _collect(headers)
    if not any(found.values()):
        raise HubSignatureError(UNSIGNED, "the message is not signed by the hub")
    checked: list[bytes] = []
    for name, values in found.items():
        if len(values) > 1:
            raise HubSignatureError(DUPLICATE_HEADER, f"{len(values)} {name} headers", name)
        if not values:
            raise HubSignatureError(MISSING_HEADER, "missing", name)
        value = values[0]
        if not isinstance(value, bytes | bytearray | memoryview):
            raise HubSignatureError(
                BAD_HEADER, f"the value is {type(value).__name__}, not bytes", name
            )
        checked.append(bytes(value))
    return checked[0], checked[1]


def _collect(headers: object) -> dict[str, list[object]]:
    """The values of the two signature headers, in order, however many there are."""
    found: dict[str, list[object]] = {KEY_ID_HEADER: [], SIGNATURE_HEADER: []}
    if headers is None:
        return found
    if isinstance(headers, str | bytes | dict) or not isinstance(headers, Iterable):
        raise HubSignatureError(BAD_HEADER, "the headers are not a list of (name, value) pairs")
    for item in headers:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise HubSignatureError(BAD_HEADER, "a header is not a (name, value) pair")
        name, value = item
        if isinstance(name, bytes | bytearray):
            try:
                name = bytes(name).decode("utf-8")
            except UnicodeDecodeError:
                continue  # not UTF-8: not one of ours
        if not isinstance(name, str):
            raise HubSignatureError(BAD_HEADER, "a header name is not text")
        if name in found:
            found[name].append(value)
    return found
