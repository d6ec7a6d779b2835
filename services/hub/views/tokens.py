"""API tokens, one per recipient.

``$SVDHUB_HOME/api/tokens.yaml`` (0600) maps each recipient to the SHA-256 of
its token; the token itself is shown once, when it is made, and is never
stored. A token sees only its own recipient's views.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

import yaml

from wire.private_files import write_private
from wire.topics import PARTY_ID


class TokenError(Exception):
    """A tokens file that cannot be read, or a recipient id that is not valid."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """The recipient each token hash belongs to."""

    def __init__(self, hashes: dict[str, str]) -> None:
        self._by_hash = {value: recipient for recipient, value in hashes.items()}

    @classmethod
    def load(cls, path: Path) -> Tokens:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            return cls({})
        except (OSError, yaml.YAMLError) as exc:
            raise TokenError(f"{path}: cannot read the tokens file: {exc}") from exc
        hashes = document.get("sha256", {}) if isinstance(document, dict) else None
        if not isinstance(hashes, dict):
            raise TokenError(f"{path}: expected a mapping 'sha256: {{recipient: hash}}'")
        return cls({str(k): str(v) for k, v in hashes.items()})

    def recipient(self, token: str) -> str | None:
        wanted = digest(token)
        for known, recipient in self._by_hash.items():
            if hmac.compare_digest(known, wanted):
                return recipient
        return None


def issue(path: Path, recipients: list[str]) -> dict[str, str]:
    """New tokens for ``recipients`` (replacing theirs); returns recipient -> token."""
    for recipient in recipients:
        if not PARTY_ID.fullmatch(recipient):
            raise TokenError(f"{recipient!r} is not a valid recipient id")
    hashes: dict[str, str] = {}
    if path.is_file():
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        hashes = dict(document.get("sha256", {}))
    made = {recipient: secrets.token_urlsafe(24) for recipient in recipients}
    hashes.update({recipient: digest(token) for recipient, token in made.items()})
    write_private(  # 0600, replacing the file whole
        path,
        "# SHA-256 of each recipient's API token (svdhub api tokens)\n"
        + yaml.safe_dump({"sha256": dict(sorted(hashes.items()))}),
    )
    return made
