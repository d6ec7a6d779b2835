"""C2SP signed notes, checkpoints and cosignatures: the audit log's public formats.

* **Signed note** (c2sp.org/signed-note): a UTF-8 text ending in a newline,
  a blank line, then one line per signature, ``— <key name> base64(key ID ||
  signature)``. For Ed25519 the key ID is the first 4 bytes of
  SHA-256(name || "\\n" || 0x01 || public key) and the signature is over the
  text. A verifier key is written ``<name>+<key ID hex>+base64(0x01 ||
  public key)``, the form Go's ``golang.org/x/mod/sumdb/note`` reads.
* **Checkpoint** (c2sp.org/tlog-checkpoint): the note text is the origin line
  (unique per log), the tree size in decimal, the root hash in base64, then
  optional extension lines.
* **Cosignature** (c2sp.org/tlog-cosignature, Ed25519 v1): a witness's
  signature line on a checkpoint. Its key ID uses 0x04 instead of 0x01, and
  its signature is ``timestamp (u64, big-endian) || Ed25519 signature`` over
  ``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint text.

Hand-written, because no maintained Python library implements these formats;
they are small, and the tests check them against the Go reference
implementations (``tests/hub/audit/interop``). Parsing is strict: anything the
specifications do not allow raises :class:`NoteError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from wire import ed25519

#: What starts a signature line: an em dash and a space.
DASH = "\u2014 "
#: The key-ID algorithm byte of an Ed25519 note signature.
ED25519 = 0x01
#: The key-ID algorithm byte of an Ed25519 cosignature (tlog-cosignature v1).
COSIGNATURE_V1 = 0x04
#: The most signature lines a note may carry (Go's note package allows 100).
MAX_SIGNATURES = 100
#: A key name: no whitespace, no "+".
NAME = re.compile(r"^[^\s+]+$")


class NoteError(ValueError):
    """A note, checkpoint, key or signature that is malformed or does not verify."""


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, algorithm: int, public_key: bytes) -> bytes:
    """The 4-byte key ID of ``name``'s key, for the given algorithm byte."""
    _check_name(name)
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([algorithm]) + public_key).digest()
    return digest[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The note verifier key ``<name>+<key ID hex>+base64(0x01 || key)``."""
    encoded = base64.b64encode(bytes([ED25519]) + public_key).decode()
    return f"{name}+{key_id(name, ED25519, public_key).hex()}+{encoded}"


@dataclass(frozen=True)
class Verifier:
    """A parsed verifier key: a name, and its Ed25519 public key."""

    name: str
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """Read ``<name>+<hash>+<base64 key>``; NoteError if it is malformed."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError(f"verifier key {text!r:.80}: not <name>+<hash>+<key>")
        name, hash_hex, encoded = parts
        _check_name(name)
        try:
            key = base64.b64decode(encoded, validate=True)
            given = bytes.fromhex(hash_hex)
        except (binascii.Error, ValueError) as exc:
            raise NoteError(f"verifier key for {name}: bad hash or key encoding") from exc
        if len(key) != 33 or key[0] != ED25519:
            raise NoteError(f"verifier key for {name}: not an Ed25519 key")
        if len(given) != 4 or given != key_id(name, ED25519, key[1:]):
            raise NoteError(f"verifier key for {name}: the key hash does not match the key")
        _check_point(f"verifier key for {name}", key[1:])
        return cls(name, key[1:])

    def __str__(self) -> str:
        return verifier_key(self.name, self.public_key)


@dataclass(frozen=True)
class Signature:
    """One signature line: the key name, the 4-byte key ID and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True)
class Note:
    """A signed note: its text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[Signature, ...]

    def __str__(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    @classmethod
    def parse(cls, data: str) -> Note:
        """Split a signed note into text and signatures; NoteError if malformed."""
        if "\r" in data or any(ord(c) < 0x20 and c != "\n" for c in data):
            raise NoteError("note: control characters other than newline")
        split = data.rfind("\n\n")
        if split < 0 or not data.endswith("\n"):
            raise NoteError("note: no blank line before the signatures, or no final newline")
        text, block = data[: split + 1], data[split + 2 :]
        signatures = []
        for line in block.splitlines():
            if not line.startswith(DASH):
                raise NoteError(f"note: {line!r:.80} is not a signature line")
            name, _, encoded = line[len(DASH) :].partition(" ")
            _check_name(name)
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise NoteError(f"note: the signature of {name} is not base64") from exc
            if len(raw) < 5:
                raise NoteError(f"note: the signature of {name} is too short")
            signatures.append(Signature(name, raw[:4], raw[4:]))
        if not signatures:
            raise NoteError("note: no signature")
        if len(signatures) > MAX_SIGNATURES:
            raise NoteError(f"note: more than {MAX_SIGNATURES} signatures")
        return cls(text, tuple(signatures))

    def signed_by(self, verifier: Verifier) -> bool:
        """Whether a signature line of this note verifies under ``verifier``'s key."""
        wanted = key_id(verifier.name, ED25519, verifier.public_key)
        for found in self.signatures:
            if found.name != verifier.name or found.key_id != wanted:
                continue
            if ed25519.verify(verifier.public_key, found.signature, self.text.encode()):
                return True
        return False

    def with_signature(self, signature: Signature) -> Note:
        """This note with one more signature line (one per key: a repeat replaces it)."""
        kept = tuple(
            s for s in self.signatures if (s.name, s.key_id) != (signature.name, signature.key_id)
        )
        return Note(self.text, (*kept, signature))


def sign(text: str, name: str, private_key: Ed25519PrivateKey) -> Signature:
    """The Ed25519 note signature of ``text`` by ``name``."""
    _check_text(text)
    public = raw_public_key(private_key.public_key())
    return Signature(name, key_id(name, ED25519, public), private_key.sign(text.encode()))


# ---------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class CheckpointBody:
    """The text of a tlog-checkpoint: origin, size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, text: str) -> CheckpointBody:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("checkpoint: fewer than three lines, or no final newline")
        origin, size_text, root_text, *rest = lines[:-1]
        if not origin or origin != origin.strip():
            raise NoteError("checkpoint: the origin line is empty or padded")
        if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size_text) or int(size_text) >= 2**64:
            raise NoteError(f"checkpoint: size {size_text!r:.30} is not a decimal number")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error as exc:
            raise NoteError("checkpoint: the root hash is not base64") from exc
        if len(root) != 32:
            raise NoteError("checkpoint: the root hash is not 32 bytes")
        if any(not line for line in rest):
            raise NoteError("checkpoint: an empty extension line")
        return cls(origin, int(size_text), root, tuple(rest))


# ---------------------------------------------------------------- cosignatures


def cosignature_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def cosign(text: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> Signature:
    """A tlog-cosignature/v1 of the checkpoint ``text`` by witness ``name`` at
    ``timestamp`` (POSIX seconds)."""
    _check_text(text)
    if not 0 <= timestamp < 2**63:
        raise NoteError(f"cosignature: timestamp {timestamp} is out of range")
    public = raw_public_key(private_key.public_key())
    signed = private_key.sign(cosignature_message(text, timestamp))
    return Signature(
        name, key_id(name, COSIGNATURE_V1, public), struct.pack(">Q", timestamp) + signed
    )


def cosigned_at(note: Note, name: str, public_key: bytes) -> int | None:
    """When witness ``name`` (with ``public_key``) co-signed ``note``; None if it did not."""
    wanted = key_id(name, COSIGNATURE_V1, public_key)
    for found in note.signatures:
        if found.name != name or found.key_id != wanted or len(found.signature) != 72:
            continue
        (timestamp,) = struct.unpack(">Q", found.signature[:8])
        if timestamp >= 2**63:
            continue
        if ed25519.verify(
            public_key, found.signature[8:], cosignature_message(note.text, timestamp)
        ):
            return int(timestamp)
    return None


def cosigner_key(name: str, public_key: bytes) -> str:
    """A witness's key written ``<name>+<key ID hex>+base64(0x04 || key)`` (a vkey)."""
    encoded = base64.b64encode(bytes([COSIGNATURE_V1]) + public_key).decode()
    return f"{name}+{key_id(name, COSIGNATURE_V1, public_key).hex()}+{encoded}"


def parse_cosigner_key(text: str) -> tuple[str, bytes]:
    """(name, public key) of a witness key as :func:`cosigner_key` writes it."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"witness key {text!r:.80}: not <name>+<hash>+<key>")
    name, hash_hex, encoded = parts
    _check_name(name)
    try:
        key = base64.b64decode(encoded, validate=True)
        given = bytes.fromhex(hash_hex)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"witness key for {name}: bad hash or key encoding") from exc
    if len(key) != 33 or key[0] != COSIGNATURE_V1:
        raise NoteError(f"witness key for {name}: not an Ed25519 cosignature key")
    if given != key_id(name, COSIGNATURE_V1, key[1:]):
        raise NoteError(f"witness key for {name}: the key hash does not match the key")
    _check_point(f"witness key for {name}", key[1:])
    return name, key[1:]


def _check_point(what: str, public_key: bytes) -> None:
    try:
        ed25519.check_public_key(public_key)
    except ValueError as exc:
        raise NoteError(f"{what}: {exc}") from None


def _check_name(name: str) -> None:
    if not name or not NAME.fullmatch(name):
        raise NoteError(f"key name {name!r:.80}: empty, or holds whitespace or '+'")


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise NoteError("note text: must end in one newline and hold no blank line")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text: control characters other than newline")


def verify_note(data: str, verifiers: Sequence[Verifier]) -> Note:
    """The note, if a signature of every one of ``verifiers`` verifies; else NoteError."""
    note = Note.parse(data)
    for verifier in verifiers:
        if not note.signed_by(verifier):
            raise NoteError(f"note: no valid signature by {verifier.name}")
    return note
