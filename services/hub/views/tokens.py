"""API tokens: one per recipient (analysts), and one per IG lead.

``$SVDHUB_HOME/api/tokens.yaml`` (0600) maps each recipient (``sha256``) and
each IG lead's party (``ig_sha256``) to the SHA-256 of its token; the token
itself is shown once, when it is made, and is never stored.

* A recipient's token sees only its own recipient's views.
* An IG lead's token sees no view; it reads the audit ledger's inclusion
  proofs, records and all, of the decisions its party disclosed or received.
  Those are kept from analysts: an audit record carries the hub's internal ids
  and its position in the log, which would link one recipient's shares with
  another's (``hub.views.audit_routes``).
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


#: The sections of the tokens file, by role.
ANALYST, IG = "sha256", "ig_sha256"


class Tokens:
    """The recipient (or, for IG leads, the party) each token hash belongs to."""

    def __init__(self, hashes: dict[str, str], ig_hashes: dict[str, str] | None = None) -> None:
        self._by_hash = {value: recipient for recipient, value in hashes.items()}
        self._ig_by_hash = {value: party for party, value in (ig_hashes or {}).items()}

    @classmethod
    def load(cls, path: Path) -> Tokens:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            return cls({})
        except (OSError, yaml.YAMLError) as exc:
            raise TokenError(f"{path}: cannot read the tokens file: {exc}") from exc
        sections = []
        for section in (ANALYST, IG):
            hashes = document.get(section, {}) if isinstance(document, dict) else None
            if not isinstance(hashes, dict):
                raise TokenError(f"{path}: expected a mapping '{section}: {{party: hash}}'")
            sections.append({str(k): str(v) for k, v in hashes.items()})
        return cls(*sections)

    def recipient(self, token: str) -> str | None:
        """The recipient an analyst's token belongs to."""
        return _find(self._by_hash, token)

    def ig_lead(self, token: str) -> str | None:
        """The party an IG lead's token belongs to."""
        return _find(self._ig_by_hash, token)


def _find(by_hash: dict[str, str], token: str) -> str | None:
    wanted = digest(token)
    found = None
    for known, owner in by_hash.items():
        if hmac.compare_digest(known, wanted):
            found = owner
    return found


def issue(path: Path, recipients: list[str], role: str = ANALYST) -> dict[str, str]:
    """New tokens for ``recipients`` (or, with ``role=IG``, for IG leads of those
    parties), replacing theirs; returns party -> token."""
    if role not in {ANALYST, IG}:
        raise TokenError(f"unknown token role {role!r}")
    for recipient in recipients:
        if not PARTY_ID.fullmatch(recipient):
            raise TokenError(f"{recipient!r} is not a valid party id")
    document: dict[str, dict[str, str]] = {ANALYST: {}, IG: {}}
    if path.is_file():
        found = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for section in (ANALYST, IG):
            document[section] = dict(found.get(section) or {})
    made = {recipient: secrets.token_urlsafe(24) for recipient in recipients}
    document[role].update({recipient: digest(token) for recipient, token in made.items()})
    ordered = {section: dict(sorted(hashes.items())) for section, hashes in document.items()}
    write_private(  # 0600, replacing the file whole
        path,
        "# SHA-256 of each recipient's (sha256) and IG lead's (ig_sha256) API token\n"
        "# (svdhub api tokens)\n" + yaml.safe_dump(ordered),
    )
    return made
