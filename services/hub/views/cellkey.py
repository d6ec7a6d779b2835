"""Record keys for cell-key perturbation (``hub.views.disclosure``).

Each fact row gets a record key, 0-255: the first byte of
``HMAC-SHA256(secret, recipient || 0x00 || event id)``. The secret is the
views' own, ``$SVDHUB_HOME/keys/views/cell.key`` (32 random bytes, 0600, made
on first use), so a recipient who holds the records cannot compute the keys,
and with them the noise. Changing the secret changes every perturbation, so
it is kept like any key: replace it only with a rebuild of the views, and
know that figures published before and after differ by their noise.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from hub.settings import state_home
from wire.private_files import write_private

SIZE = 32


class CellKeyError(Exception):
    """The secret exists but cannot be used."""


def secret_file(home: Path | None = None) -> Path:
    return (home or state_home()) / "keys" / "views" / "cell.key"


def load_secret(path: Path | None = None) -> bytes:
    """The views' secret, made (32 random bytes, 0600) if there is none yet."""
    path = path or secret_file()
    if not path.exists():
        # Made beside it and linked into place: a process starting at the same
        # time never reads a partial secret, and only one secret ever wins.
        partial = path.with_name(f".{path.name}.{os.getpid()}.new")
        write_private(partial, secrets.token_bytes(SIZE))
        with contextlib.suppress(FileExistsError):
            os.link(partial, path)
        partial.unlink()
    data = path.read_bytes()
    if len(data) != SIZE:
        raise CellKeyError(f"{path}: a cell-key secret is {SIZE} bytes, this one {len(data)}")
    return data


class RecordKeys:
    """Record keys under one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != SIZE:
            raise CellKeyError(f"a cell-key secret is {SIZE} bytes")
        self._secret = secret

    def __call__(self, recipient: str, event_id: str) -> int:
        message = recipient.encode() + b"\x00" + event_id.encode()
        return hmac.new(self._secret, message, hashlib.sha256).digest()[0]
