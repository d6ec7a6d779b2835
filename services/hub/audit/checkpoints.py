"""Signed checkpoints of the audit ledger's Merkle tree, as C2SP signed notes.

A checkpoint says "the log had ``tree_size`` records and this root", signed
with the hub's audit key (Ed25519). It is a c2sp.org/tlog-checkpoint inside a
c2sp.org/signed-note (``hub.audit.note``), so standard transparency-log tools
(Go's ``golang.org/x/mod/sumdb/note``, transparency-dev's checkpoint parser)
read it::

    svdhub.example.gov.uk/wm-vrp/audit        <- the origin: one per deployment
    40923                                     <- tree size
    t2bS0sJ1...=                              <- root hash, base64
    issued_at 2026-12-06T07:00:00Z            <- extension line

    — svdhub.example.gov.uk/wm-vrp/audit Az3g...   <- the log's signature

The key name is the origin, and partners pin the log's verifier key
(``svdhub audit public-key``: ``<origin>+<key hash>+<key>``). The origin is
``$SVDHUB_AUDIT_ORIGIN``, else ``svdhub.local/<hash of the audit key>/audit``.
Partners keep checkpoints: a later ledger that does not reproduce a kept
checkpoint's root at its size, or is not consistent with it, has been
altered, and an inclusion proof checked against a checkpoint shows that one
decision is in the log.

Checkpoints issued before the note format (``svdhub-audit-checkpoint/v1``, a
JSON object with a signature over its own message; no ``origin``) are still
verified as they were signed.

Threat model: whoever holds the audit private key can issue checkpoints for
any tree, so the key lives in ``$SVDHUB_HOME/keys/audit`` (0600), apart from
the database. Someone who can edit the database but not read the key can
change rows, but cannot issue a checkpoint that covers the change. Whoever
holds the key too can rewrite and re-sign everything; what stops that is the
partners' witnesses (see ``hub.audit.witness``) and the checkpoints partners keep.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hub.audit.note import (
    ED25519,
    CheckpointBody,
    Note,
    NoteError,
    Signature,
    Verifier,
    key_id,
    verifier_key,
)
from wire import ed25519
from wire.signing import Signer, generate_signer

FORMAT = "svdhub-audit-checkpoint/v1"  # the JSON form, and the legacy signed message
#: The environment variable naming the log's origin.
ORIGIN_ENV = "SVDHUB_AUDIT_ORIGIN"
#: The environment variable giving the verifier key the log must sign with.
VERIFIER_ENV = "SVDHUB_AUDIT_VERIFIER_KEY"
#: The extension line carrying the time a checkpoint was issued.
ISSUED = "issued_at "
AUTHORITY = "hub"  # the owner named in the audit key's id


class CheckpointError(Exception):
    """A checkpoint file that is malformed or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root: str  # hex
    issued_at: str  # ISO 8601, UTC
    key_id: str  # the ledger's name for its audit key
    public_key: str  # base64 of the 32 raw bytes
    signature: str  # base64: of key ID || signature (a note); of the signature (legacy)
    origin: str | None = None  # None: a checkpoint from before the note format

    @staticmethod
    def message(tree_size: int, root: str, issued_at: str) -> bytes:
        """What a legacy (``svdhub-audit-checkpoint/v1``) checkpoint signed."""
        return f"{FORMAT}\n{tree_size}\n{root}\n{issued_at}\n".encode()

    @classmethod
    def issue(
        cls, signer: Signer, tree_size: int, root: str, issued_at: str, origin: str
    ) -> Checkpoint:
        body = CheckpointBody(origin, tree_size, bytes.fromhex(root), (ISSUED + issued_at,))
        public = signer.public_key().raw_bytes()
        signed = signer.sign(body.text().encode())
        return cls(
            tree_size,
            root,
            issued_at,
            signer.key_id,
            base64.b64encode(public).decode(),
            base64.b64encode(key_id(origin, ED25519, public) + signed).decode(),
            origin,
        )

    def body(self) -> CheckpointBody:
        if self.origin is None:
            raise CheckpointError(
                f"checkpoint of size {self.tree_size} predates the note format; it has no C2SP form"
            )
        extensions = (ISSUED + self.issued_at,) if self.issued_at else ()
        return CheckpointBody(self.origin, self.tree_size, bytes.fromhex(self.root), extensions)

    def note(self) -> Note:
        """The checkpoint as a signed note (its text and the log's signature)."""
        raw = base64.b64decode(self.signature)
        return Note(self.body().text(), (Signature(str(self.origin), raw[:4], raw[4:]),))

    def to_note(self) -> str:
        """The C2SP signed note, as partners and transparency-log tools read it."""
        return str(self.note())

    def verifier(self) -> str:
        """The log's verifier key, ``<origin>+<key hash>+<key>``."""
        return verifier_key(str(self.origin), base64.b64decode(self.public_key))

    def verify(self, public_key: str | None = None) -> None:
        """Raise CheckpointError unless the signature verifies under the
        checkpoint's own key, and that key is ``public_key`` when one is given."""
        if public_key is not None and public_key != self.public_key:
            raise CheckpointError(
                f"checkpoint of size {self.tree_size} is signed by key {self.key_id} "
                f"({self.public_key}), not the pinned key {public_key}"
            )
        try:
            key = base64.b64decode(self.public_key)
            ed25519.check_public_key(key)
            if self.origin is None:
                signed = ed25519.verify(
                    key,
                    base64.b64decode(self.signature),
                    self.message(self.tree_size, self.root, self.issued_at),
                )
            else:
                signed = self.note().signed_by(Verifier(self.origin, key))
            if not signed:
                raise ValueError("the signature does not match")
        except (ValueError, NoteError) as exc:
            raise CheckpointError(
                f"checkpoint of size {self.tree_size} (root {self.root[:16]}…): "
                "the signature does not verify"
            ) from exc

    @classmethod
    def from_note(cls, text: str, verifier: Verifier, key_name: str = "hub-audit") -> Checkpoint:
        """The checkpoint in a signed note, verified with ``verifier`` (whose name is
        the log's origin); CheckpointError if it is malformed or not signed by it."""
        try:
            note = Note.parse(text)
            body = CheckpointBody.parse(note.text)
        except NoteError as exc:
            raise CheckpointError(f"not a checkpoint note: {exc}") from exc
        if body.origin != verifier.name:
            raise CheckpointError(
                f"the checkpoint is of log {body.origin!r}, not {verifier.name!r}"
            )
        if not note.signed_by(verifier):
            raise CheckpointError(
                f"checkpoint of size {body.size}: no valid signature by {verifier.name}"
            )
        wanted = key_id(verifier.name, ED25519, verifier.public_key)
        line = next(s for s in note.signatures if s.key_id == wanted and s.name == verifier.name)
        issued = next((e[len(ISSUED) :] for e in body.extensions if e.startswith(ISSUED)), "")
        return cls(
            body.size,
            body.root.hex(),
            issued,
            key_name,
            base64.b64encode(verifier.public_key).decode(),
            base64.b64encode(line.key_id + line.signature).decode(),
            body.origin,
        )

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str = "checkpoint") -> Checkpoint:
        if not isinstance(data, dict) or data.get("format", FORMAT) != FORMAT:
            raise CheckpointError(f"{source}: not an {FORMAT} checkpoint")
        try:
            origin = data.get("origin")
            return cls(
                tree_size=int(data["tree_size"]),
                root=str(data["root"]),
                issued_at=str(data["issued_at"]),
                key_id=str(data["key_id"]),
                public_key=str(data["public_key"]),
                signature=str(data["signature"]),
                origin=None if origin is None else str(origin),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: missing or malformed field {exc}") from exc

    @classmethod
    def load(cls, path: Path, verifier: Verifier | None = None) -> Checkpoint:
        """A checkpoint file: the JSON form, or a signed note (which needs the log's
        ``verifier`` key, since a note does not carry it)."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot read a checkpoint: {exc}") from exc
        if not text.lstrip().startswith("{"):
            if verifier is None:
                raise CheckpointError(
                    f"{path}: a checkpoint note is checked with the log's verifier key "
                    "(--verifier-key; `svdhub audit public-key` prints it)"
                )
            return cls.from_note(text, verifier)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CheckpointError(f"{path}: cannot read a checkpoint: {exc}") from exc
        return cls.from_dict(data, str(path))


def log_origin(signer: Signer, environ: Mapping[str, str] = os.environ) -> str:
    """The log's origin: ``$SVDHUB_AUDIT_ORIGIN``, else one made from the audit key
    (so it is unique per deployment): ``svdhub.local/<16 hex>/audit``."""
    given = environ.get(ORIGIN_ENV, "").strip()
    if given:
        if not given or any(c.isspace() or c == "+" for c in given):
            raise CheckpointError(f"${ORIGIN_ENV}: {given!r} holds whitespace or '+'")
        return given
    digest = hashlib.sha256(signer.public_key().raw_bytes()).hexdigest()[:16]
    return f"svdhub.local/{digest}/audit"


def log_verifier(signer: Signer, origin: str) -> str:
    """The verifier key of the log signed by ``signer`` under ``origin``."""
    return verifier_key(origin, signer.public_key().raw_bytes())


def check_verifier(signer: Signer, origin: str, environ: Mapping[str, str] = os.environ) -> None:
    """Refuse (CheckpointError) a signing key or origin that is not the configured
    verifier key ``$SVDHUB_AUDIT_VERIFIER_KEY``, the one partners pinned."""
    configured = environ.get(VERIFIER_ENV, "").strip()
    if not configured:
        return
    try:
        wanted = Verifier.parse(configured)
    except NoteError as exc:
        raise CheckpointError(f"${VERIFIER_ENV}: {exc}") from exc
    actual = log_verifier(signer, origin)
    if str(wanted) != actual:
        raise CheckpointError(
            f"the audit key and origin sign as {actual}, but ${VERIFIER_ENV} (the key partners "
            f"pinned) is {configured}: refusing to sign checkpoints partners would not accept"
        )


def audit_signer(home: Path) -> Signer:
    """The hub's audit key: ``<home>/keys/audit/checkpoint.pem``, made on first use."""
    path = home / "keys" / "audit" / "checkpoint.pem"
    key_id = "hub-audit-1"
    if path.is_file():
        return Signer.load(path, key_id, AUTHORITY)
    signer = generate_signer(key_id, AUTHORITY)
    signer.save(path)
    return signer
