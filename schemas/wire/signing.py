"""Ed25519 signatures on events: the connector signs, the hub verifies.

.. warning:: Threat model.

    **What signing is for.** Kafka topics do not authenticate producers: any
    client able to write to a raw topic (``svd.raw.<authority>.<type>``) could
    inject events that look like they came from an authority. So every event is
    signed by its authority's connector with an Ed25519 private key that is
    generated inside the authority and never leaves it. The hub verifies each
    event against a registry of PUBLIC keys (a YAML file, format below) that the
    hub's operators maintain; the hub holds no private key of any authority.

    * A **key id** names one key of one authority (``wmp-2026-01``). An authority
      may have several keys (rotation); a key never belongs to two authorities.
    * The hub passes the authority it expects (from the topic name) to
      :meth:`Verifier.verify`, so a valid key of one authority cannot vouch for
      an event on another authority's topic (:class:`WrongAuthority`).
    * The signature covers the **exact encoded bytes** of the event. Any change
      to any byte, including re-encoding an equal value differently, fails
      verification. Sign after encoding, verify before decoding.
    * **Revocation** has a time, ``revoked_at``. An event the hub *received*
      before that time still verifies; one received at or after it raises
      :class:`RevokedKey`. "Received" is the time the hub observed, never a
      time the event claims: the enforcer passes the raw topic's broker
      timestamp (raw topics are ``message.timestamp.type=LogAppendTime``, so
      the broker stamps each message as it appends it) as ``received_at``.
      Envelope times are written by the signer, and whoever stole the key
      could backdate them. Events a thief appended before the revocation
      still verify: revoke as soon as a leak is suspected, with ``--at`` the
      time it may have begun, and find what was shared since in the audit.

    **What signing does NOT protect against.**

    * A **compromised connector key**: whoever holds it can sign anything as
      that authority until operators revoke the key in the registry, and
      until the enforcer next looks at the registry (about a second later).
    * A wrong **broker clock**: the broker's time is the hub's own measure of
      "received", trusted as the hub trusts its other services.
    * **Replay** of a validly signed event: the same bytes verify again. Replays
      are absorbed downstream by deterministic event ids (idempotent processing).
    * **Disclosure**: signing gives integrity and origin, not confidentiality.
      The events are pseudonymised, not encrypted.
    * A tampered **registry**: the registry is the root of trust; guard it like
      the hub's configuration (review every change).

Registry format (:meth:`KeyRegistry.load`; :meth:`KeyRegistry.to_yaml` writes it)::

    # Public keys of the authorities' connectors.
    keys:
      - key_id: wmp-2026-01
        authority: wmp
        public_key: <base64 of the 32 raw public key bytes>
        revoked_at: '2026-03-01T09:30:00Z'  # optional: UTC, ISO 8601 with Z, to the second
        revoked_reason: key leaked           # optional, only with a revocation

Registries written before revocation times read ``revoked_on: 2026-03-01`` (a
YAML date), meaning 00:00 UTC that day; :meth:`KeyRegistry.to_yaml` writes it
back as ``revoked_at``. An entry gives one or the other, not both.

Private keys (:meth:`Signer.save` / :meth:`Signer.load`) are unencrypted PEM
PKCS8 files readable by their owner only (mode 0600): the connector's host and
its file permissions protect them.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from wire import ed25519
from wire.private_files import private_dir

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32
AUTHORITY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")

_REGISTRY_HEADER = "# Public keys of the authorities' connectors.\n"
_ENTRY_FIELDS = (
    "key_id",
    "authority",
    "public_key",
    "revoked_at",
    "revoked_on",
    "revoked_reason",
)
_REVOKED_AT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")


# ---------------------------------------------------------------- errors


class SignatureError(Exception):
    """An event's signature was not accepted; the event must be quarantined.

    ``key_id`` is the key id the event claimed; the message says why.
    """

    def __init__(self, key_id: str, reason: str) -> None:
        super().__init__(f"signature by key {key_id!r} rejected: {reason}")
        self.key_id = key_id


class UnknownKey(SignatureError):
    """The key id is not in the registry."""


class RevokedKey(SignatureError):
    """The key was revoked at or before the time the hub received the event."""


class BadSignature(SignatureError):
    """The signature does not verify over the bytes (or is not 64 bytes long)."""


class WrongAuthority(SignatureError):
    """The key belongs to another authority than the one claimed."""


class KeyRegistryError(Exception):
    """A key registry (or a registry entry) is malformed.

    Messages loaded from a file read ``<file>: key <n>: <field>: <problem>``,
    with ``n`` counting entries from 1.
    """


# ---------------------------------------------------------------- keys


@dataclass(frozen=True)
class PublicKey:
    """One registered public key of one authority's connector."""

    key_id: str
    authority: str
    # Not hashable itself; equality still compares it.
    public_key: Ed25519PublicKey = field(hash=False)
    #: From this time on (UTC, whole seconds) the key verifies nothing.
    revoked_at: datetime.datetime | None = None
    revoked_reason: str | None = None
    #: The 32 raw bytes, which :func:`wire.ed25519.verify` takes.
    raw: bytes = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        _check_names(self.key_id, self.authority)
        object.__setattr__(self, "raw", self.public_key.public_bytes_raw())
        if self.revoked_at is not None and self.revoked_at != revocation_time(self.revoked_at):
            raise ValueError(
                f"key {self.key_id!r}: revoked_at must be a UTC time in whole seconds, "
                f"not {self.revoked_at!r}"
            )
        if self.revoked_reason is not None and self.revoked_at is None:
            raise ValueError(f"key {self.key_id!r}: revoked_reason given without revoked_at")

    def raw_bytes(self) -> bytes:
        """The 32 raw public key bytes (base64 of these goes in the registry)."""
        return self.raw

    def revoked_by(self, moment: datetime.datetime) -> bool:
        """Whether the key is revoked for an event the hub received at ``moment``
        (timezone-aware): revoked at that moment or earlier."""
        return self.revoked_at is not None and moment >= self.revoked_at

    def revoke(self, at: datetime.datetime, reason: str | None = None) -> PublicKey:
        """This key revoked at ``at`` (made UTC, whole seconds), unless it was
        revoked earlier already: the earliest revocation always wins, so no
        later step can narrow or undo one. ``reason`` goes with the time kept,
        and fills in a missing reason."""
        at = revocation_time(at)
        if self.revoked_at is not None and self.revoked_at <= at:
            return replace(self, revoked_reason=self.revoked_reason or reason)
        return replace(self, revoked_at=at, revoked_reason=reason or self.revoked_reason)

    def merge(self, other: PublicKey) -> PublicKey:
        """This key with ``other``'s revocation applied (the earliest wins); ``other``
        must be the same key (same id, authority and public key) or ValueError."""
        if (other.key_id, other.authority, other.raw_bytes()) != (
            self.key_id,
            self.authority,
            self.raw_bytes(),
        ):
            raise ValueError(f"key {other.key_id!r} is not key {self.key_id!r}")
        if other.revoked_at is None:
            return self
        return self.revoke(other.revoked_at, other.revoked_reason)

    def revocation(self) -> str:
        """``revoked 2026-03-01T09:30:00Z (reason)``, or "" when not revoked."""
        if self.revoked_at is None:
            return ""
        reason = f" ({self.revoked_reason})" if self.revoked_reason else ""
        return f"revoked {format_time(self.revoked_at)}{reason}"


def revocation_time(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` in UTC, cut to the whole second (never later than given, so a
    revocation never starts later than asked). ValueError for a naive time."""
    if moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; give one, such as Z for UTC")
    return moment.astimezone(datetime.UTC).replace(microsecond=0)


def parse_revocation_time(text: str) -> datetime.datetime:
    """A revocation time given by a person (``--at``): ISO 8601 with a time zone
    (``2026-03-01T09:30:00Z``, ``2026-03-01T10:30+01:00``), made UTC and cut to
    the whole second; ValueError saying what to give otherwise."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time such as 2026-03-01T09:30:00Z") from None
    return revocation_time(moment)


def format_time(moment: datetime.datetime) -> str:
    """A revocation time as the registry writes it: ``2026-03-01T09:30:00Z``."""
    return revocation_time(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_names(key_id: str, authority: str) -> None:
    if not key_id.strip():
        raise ValueError("key_id must be a non-empty string")
    if not AUTHORITY_PATTERN.match(authority):
        raise ValueError(f"authority {authority!r} must match {AUTHORITY_PATTERN.pattern}")


class KeyRegistry:
    """The public keys the hub trusts, by key id. Immutable once built."""

    def __init__(self, keys: Iterable[PublicKey]) -> None:
        self._keys: dict[str, PublicKey] = {}
        for key in keys:
            if key.key_id in self._keys:
                raise KeyRegistryError(f"duplicate key id {key.key_id!r}")
            self._keys[key.key_id] = key

    @classmethod
    def load(cls, path: Path) -> KeyRegistry:
        """Read and validate a registry file; any problem is a :class:`KeyRegistryError`."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyRegistryError(f"{path}: key registry file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyRegistryError(f"{path}: cannot read key registry: {exc}") from exc
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise KeyRegistryError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise KeyRegistryError(f"{path}: keys: expected a top-level mapping with a 'keys' list")
        extra = sorted(str(name) for name in document if name != "keys")
        if extra:
            raise KeyRegistryError(f"{path}: {extra[0]}: unknown top-level field")
        keys: list[PublicKey] = []
        first_index: dict[str, int] = {}
        for index, entry in enumerate(document["keys"], start=1):
            key = _parse_entry(entry, f"{path}: key {index}")
            if key.key_id in first_index:
                raise KeyRegistryError(
                    f"{path}: key {index}: key_id: {key.key_id!r} duplicates "
                    f"key {first_index[key.key_id]}"
                )
            first_index[key.key_id] = index
            keys.append(key)
        return cls(keys)

    def get(self, key_id: str) -> PublicKey:
        """The key with this id; :class:`UnknownKey` if there is none."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownKey(key_id, "no such key id in the registry") from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def key_ids(self) -> list[str]:
        """Key ids in registry order."""
        return list(self._keys)

    def to_yaml(self) -> str:
        """The registry in the format :meth:`load` reads."""
        entries: list[dict[str, Any]] = []
        for key in self._keys.values():
            entry: dict[str, Any] = {
                "key_id": key.key_id,
                "authority": key.authority,
                "public_key": base64.b64encode(key.raw_bytes()).decode("ascii"),
            }
            if key.revoked_at is not None:
                entry["revoked_at"] = format_time(key.revoked_at)
            if key.revoked_reason is not None:
                entry["revoked_reason"] = key.revoked_reason
            entries.append(entry)
        body = yaml.safe_dump({"keys": entries}, sort_keys=False, allow_unicode=True)
        return _REGISTRY_HEADER + body


def _parse_entry(entry: object, where: str) -> PublicKey:
    """One registry entry; ``where`` is ``"<file>: key <n>"`` for messages."""
    if not isinstance(entry, dict):
        raise KeyRegistryError(f"{where}: expected a mapping of fields")
    for name in entry:
        if name not in _ENTRY_FIELDS:
            raise KeyRegistryError(
                f"{where}: {name}: unknown field (expected one of {', '.join(_ENTRY_FIELDS)})"
            )
    key_id = _required_string(entry, "key_id", where)
    authority = _required_string(entry, "authority", where)
    if not AUTHORITY_PATTERN.match(authority):
        raise KeyRegistryError(
            f"{where}: authority: {authority!r} must match {AUTHORITY_PATTERN.pattern}"
        )
    public_key = _parse_public_key(_required_string(entry, "public_key", where), where)
    revoked_at = _parse_revoked(entry, where)
    revoked_reason = entry.get("revoked_reason")
    if revoked_reason is not None:
        if not isinstance(revoked_reason, str):
            raise KeyRegistryError(f"{where}: revoked_reason: not a string")
        if revoked_at is None:
            raise KeyRegistryError(f"{where}: revoked_reason: given without revoked_at")
    return PublicKey(key_id, authority, public_key, revoked_at, revoked_reason)


def _parse_revoked(entry: dict[Any, Any], where: str) -> datetime.datetime | None:
    """The entry's revocation time: ``revoked_at`` (UTC with Z, to the second;
    YAML reads it unquoted as a time, quoted as text) or the older
    ``revoked_on`` (a date: 00:00 UTC that day)."""
    revoked_at, revoked_on = entry.get("revoked_at"), entry.get("revoked_on")
    if revoked_at is not None and revoked_on is not None:
        raise KeyRegistryError(f"{where}: revoked_on: give revoked_at or revoked_on, not both")
    if revoked_on is not None:
        if not isinstance(revoked_on, datetime.date) or isinstance(revoked_on, datetime.datetime):
            raise KeyRegistryError(
                f"{where}: revoked_on: {revoked_on!r} is not a date (YYYY-MM-DD)"
            )
        return datetime.datetime.combine(revoked_on, datetime.time(), datetime.UTC)
    if revoked_at is None:
        return None
    problem = f"{where}: revoked_at: {revoked_at!r} is not a UTC time like 2026-03-01T09:30:00Z"
    if isinstance(revoked_at, str):
        if not _REVOKED_AT.fullmatch(revoked_at):
            raise KeyRegistryError(problem)
        try:
            return datetime.datetime.fromisoformat(revoked_at.replace("Z", "+00:00"))
        except ValueError:
            raise KeyRegistryError(problem) from None
    if (
        isinstance(revoked_at, datetime.datetime)
        and revoked_at.utcoffset() == datetime.timedelta(0)
        and revoked_at.microsecond == 0
    ):
        return revoked_at.astimezone(datetime.UTC)
    raise KeyRegistryError(problem)


def _required_string(entry: dict[Any, Any], name: str, where: str) -> str:
    value = entry.get(name)
    if value is None:
        raise KeyRegistryError(f"{where}: {name}: missing")
    if not isinstance(value, str) or not value.strip():
        raise KeyRegistryError(f"{where}: {name}: must be a non-empty string, got {value!r}")
    return value


def _parse_public_key(text: str, where: str) -> Ed25519PublicKey:
    try:
        return decode_public_key(text)
    except ValueError as exc:
        raise KeyRegistryError(f"{where}: public_key: {exc}") from None


def decode_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from the base64 of its 32 raw bytes (as key files
    hold them); ``ValueError`` saying what is wrong otherwise."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    if len(raw) != PUBLIC_KEY_SIZE:
        raise ValueError(f"not {PUBLIC_KEY_SIZE} bytes of base64 (got {len(raw)})")
    try:
        ed25519.check_public_key(raw)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise ValueError(f"not an Ed25519 public key: {exc}") from None


def encode_public_key(key: Ed25519PublicKey) -> str:
    """The base64 of the key's 32 raw bytes (what :func:`decode_public_key` reads)."""
    return base64.b64encode(key.public_bytes_raw()).decode("ascii")


# ---------------------------------------------------------------- sign / verify


class Signer:
    """Holds one authority's private key; used by the connector, inside the authority.

    The connector calls :meth:`sign` on each event's encoded bytes and publishes
    the signature and :attr:`key_id` with it. Ed25519 signing is deterministic:
    the same bytes always give the same signature.
    """

    def __init__(self, key_id: str, authority: str, private_key: Ed25519PrivateKey) -> None:
        _check_names(key_id, authority)
        self.key_id = key_id
        self.authority = authority
        self._private_key = private_key
        self._signing_key = ed25519.SigningKey(private_key)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r}, authority={self.authority!r})"

    def sign(self, data: bytes) -> bytes:
        """The 64-byte signature over exactly ``data``."""
        return self._signing_key.sign(data)

    def public_key(self) -> PublicKey:
        """The registry entry the hub's operators add for this key."""
        return PublicKey(self.key_id, self.authority, self._private_key.public_key())

    @classmethod
    def load(cls, path: Path, key_id: str, authority: str) -> Signer:
        """Read an unencrypted PEM PKCS8 Ed25519 private key (:func:`read_private_key`)."""
        return cls(key_id, authority, read_private_key(path))

    def save(self, path: Path) -> None:
        """Write the private key as unencrypted PEM PKCS8, mode 0600
        (:func:`write_private_key`)."""
        write_private_key(path, self._private_key)


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an unencrypted PEM PKCS8 Ed25519 private key.

    Raises ``ValueError`` if the file is readable by group or others (the
    message says which ``chmod`` to run) or does not hold such a key, and
    ``OSError`` if it cannot be read.
    """
    with path.open("rb") as file:
        mode = os.fstat(file.fileno()).st_mode & 0o777
        if mode & 0o077:
            raise ValueError(
                f"{path}: private key file is readable by group or others "
                f"(mode {mode:04o}); run: chmod 600 {shlex.quote(str(path))}"
            )
        pem = file.read()
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(
            f"{path}: not an unencrypted PEM PKCS8 Ed25519 private key: {exc}"
        ) from None
    if not isinstance(private_key, Ed25519PrivateKey):
        raise ValueError(
            f"{path}: holds a {type(private_key).__name__}, not an Ed25519 private key"
        )
    return private_key


def write_private_key(path: Path, private_key: Ed25519PrivateKey) -> None:
    """Write ``private_key`` as unencrypted PEM PKCS8, mode 0600.

    Creates missing parent directories (mode 0700). Refuses to overwrite an
    existing file (``FileExistsError``): a new key gets a new key id, and
    overwriting would orphan the key the registry knows. The file appears
    whole or not at all (written beside it, then linked into place), so a
    process that finds it never reads half a key.
    """
    pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    private_dir(path.parent)
    if path.exists():
        raise FileExistsError(f"{path}: a private key is there already")
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(pem)
        os.link(partial, path)  # FileExistsError if another process was first
    finally:
        partial.unlink(missing_ok=True)


class Verifier:
    """Checks signatures against a :class:`KeyRegistry`; used by the hub.

    The enforcer calls :meth:`verify` on each raw event before decoding it; any
    :class:`SignatureError` means the event goes to quarantine, never onward.
    """

    def __init__(self, registry: KeyRegistry) -> None:
        self.registry = registry

    def verify(
        self,
        key_id: str,
        data: bytes,
        signature: bytes,
        authority: str | None = None,
        received_at: datetime.datetime | None = None,
    ) -> PublicKey:
        """Return the key that signed ``data``, or raise why the signature is not accepted.

        ``received_at`` is when the hub received the event, as the hub observed
        it (the raw message's broker timestamp), never a time the event
        claims; None means now. A key revoked at or before that time is
        refused; one revoked later still verifies.

        Raises, in this order of checking: :class:`UnknownKey`, :class:`RevokedKey`,
        :class:`WrongAuthority` (only when ``authority`` is given), :class:`BadSignature`.
        """
        key = self.registry.get(key_id)
        moment = datetime.datetime.now(datetime.UTC) if received_at is None else received_at
        if moment.utcoffset() is None:
            raise ValueError(f"received_at {moment.isoformat()} has no time zone")
        if key.revoked_by(moment):
            raise RevokedKey(
                key_id,
                f"key of {key.authority!r} was {key.revocation()}; the hub received "
                f"this event at {moment.astimezone(datetime.UTC).isoformat()}",
            )
        if authority is not None and key.authority != authority:
            raise WrongAuthority(
                key_id, f"key belongs to authority {key.authority!r}, not {authority!r}"
            )
        if len(signature) != SIGNATURE_SIZE:
            raise BadSignature(
                key_id, f"signature is {len(signature)} bytes, expected {SIGNATURE_SIZE}"
            )
        if not ed25519.verify(key.raw, signature, data):
            raise BadSignature(key_id, "signature does not match the data")
        return key


def generate_signer(key_id: str, authority: str) -> Signer:
    """A signer with a new random key (run inside the authority; register its public key)."""
    return Signer(key_id, authority, Ed25519PrivateKey.generate())
