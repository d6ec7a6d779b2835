"""Signed checkpoints of the audit ledger's Merkle tree.

A checkpoint says "the ledger had ``tree_size`` records and this ``root``
at ``issued_at``", signed with the hub's audit key (Ed25519). Partners keep
exported checkpoints: a later ledger that does not reproduce a checkpoint's
root at its size has been altered, and an inclusion proof checked against a
checkpoint shows that one decision is in the ledger.

The signed message is the text ``svdhub-audit-checkpoint/v1``, the size, the
root (hex) and the time, one per line. The checkpoint file carries the key id
and the public key, so it can be checked alone; a partner that has pinned the
hub's public key should check it against the pinned one (``check-proof
--public-key``).

Threat model: whoever holds the audit private key can issue checkpoints for
any tree, so the key lives in ``$SVDHUB_HOME/keys/audit`` (0600), apart from
the database. Someone who can edit the database but not read the key can
change rows, but cannot issue a checkpoint that covers the change.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from wire.signing import Signer, generate_signer

FORMAT = "svdhub-audit-checkpoint/v1"
AUTHORITY = "hub"  # the owner named in the audit key's id


class CheckpointError(Exception):
    """A checkpoint file that is malformed or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root: str  # hex
    issued_at: str  # ISO 8601, UTC
    key_id: str
    public_key: str  # base64 of the 32 raw bytes
    signature: str  # base64 of the 64-byte Ed25519 signature

    @staticmethod
    def message(tree_size: int, root: str, issued_at: str) -> bytes:
        return f"{FORMAT}\n{tree_size}\n{root}\n{issued_at}\n".encode()

    @classmethod
    def issue(cls, signer: Signer, tree_size: int, root: str, issued_at: str) -> Checkpoint:
        signature = signer.sign(cls.message(tree_size, root, issued_at))
        public = signer.public_key().raw_bytes()
        return cls(
            tree_size,
            root,
            issued_at,
            signer.key_id,
            base64.b64encode(public).decode(),
            base64.b64encode(signature).decode(),
        )

    def verify(self, public_key: str | None = None) -> None:
        """Raise CheckpointError unless the signature verifies under the
        checkpoint's own key, and that key is ``public_key`` when one is given."""
        if public_key is not None and public_key != self.public_key:
            raise CheckpointError(
                f"checkpoint of size {self.tree_size} is signed by key {self.key_id} "
                f"({self.public_key}), not the pinned key {public_key}"
            )
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))
            key.verify(
                base64.b64decode(self.signature),
                self.message(self.tree_size, self.root, self.issued_at),
            )
        except (ValueError, InvalidSignature) as exc:
            raise CheckpointError(
                f"checkpoint of size {self.tree_size} (root {self.root[:16]}…): "
                "the signature does not verify"
            ) from exc

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str = "checkpoint") -> Checkpoint:
        if not isinstance(data, dict) or data.get("format", FORMAT) != FORMAT:
            raise CheckpointError(f"{source}: not an {FORMAT} checkpoint")
        try:
            return cls(
                tree_size=int(data["tree_size"]),
                root=str(data["root"]),
                issued_at=str(data["issued_at"]),
                key_id=str(data["key_id"]),
                public_key=str(data["public_key"]),
                signature=str(data["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: missing or malformed field {exc}") from exc

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: cannot read a checkpoint: {exc}") from exc
        return cls.from_dict(data, str(path))


def audit_signer(home: Path) -> Signer:
    """The hub's audit key: ``<home>/keys/audit/checkpoint.pem``, made on first use."""
    path = home / "keys" / "audit" / "checkpoint.pem"
    key_id = "hub-audit-1"
    if path.is_file():
        return Signer.load(path, key_id, AUTHORITY)
    signer = generate_signer(key_id, AUTHORITY)
    signer.save(path)
    return signer
