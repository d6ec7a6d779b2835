"""Pseudonymiser: keyed HMAC-SHA256 of normalised identifiers, inside the authority.

Person and record identifiers never leave the authority. The connector
replaces each with ``HMAC-SHA256(linkage_key, normalised identifier)``.
The linkage key is shared by the partnership's authorities (so ED and police
records of one person get the same pseudonym and can be linked under an
agreement) and is never given to the hub: without it a pseudonym cannot be
reversed by trying likely names, dates of birth or NHS numbers.

Normalisation makes the same person look the same in every source:

* NHS number: digits only, 10 of them, with a valid modulus-11 check digit;
* name + date of birth: upper-case letters of each name part, sorted (so
  ``SMITH, John`` and ``John Smith`` agree), then the ISO date of birth;
* record references: trimmed and upper-cased, and namespaced by authority
  (two authorities' ``12345`` are different records).

Every event with pseudonyms also carries the key's fingerprint
(:func:`wire.linkage.fingerprint`, a keyed hash that reveals nothing about
the key), so the hub can refuse events made with another key than the
partnership's without ever holding it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from wire.linkage import fingerprint
from wire.private_files import private_dir

KEY_BYTES = 32


class PseudonymError(ValueError):
    """An identifier cannot be normalised (the message says why)."""


def nhs_number(value: str) -> str:
    """The 10 digits of a valid NHS number, else PseudonymError."""
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"\d{10}", digits):
        raise PseudonymError("NHS number must have 10 digits")
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    if check == 10 or check != int(digits[9]):
        raise PseudonymError("NHS number check digit is wrong")
    return digits


def person_name(*parts: str) -> str:
    """Upper-case letter runs of all name parts, accents removed, sorted."""
    text = " ".join(parts)
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    tokens = sorted(re.findall(r"[A-Z]+", folded.upper()))
    if not tokens:
        raise PseudonymError("name is blank")
    return " ".join(tokens)


def reference(value: str) -> str:
    normalised = value.strip().upper()
    if not normalised:
        raise PseudonymError("reference is blank")
    return normalised


class Pseudonymiser:
    """Turns identifiers into pseudonyms with one linkage key (and its version)."""

    def __init__(self, key: bytes, version: str) -> None:
        if len(key) < 16:
            raise ValueError("linkage key must be at least 16 bytes")
        self._key = key
        # The key's HMAC state, made once and copied for each identifier (the
        # same digest as hmac.new(key, message, sha256), without re-keying).
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)
        self.version = version
        #: The key's fingerprint, for the envelope and for people to compare.
        self.fingerprint = fingerprint(key)

    @classmethod
    def load(cls, path: Path, version: str) -> Pseudonymiser:
        """Read a key file (hex); refuse one that others can read."""
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="ascii").strip()
        except OSError as exc:
            raise PseudonymError(f"{path}: cannot read the linkage key: {exc}") from exc
        if mode & 0o077:
            raise PseudonymError(
                f"{path}: linkage key is readable by others (mode "
                f"{mode & 0o777:o}); run: chmod 600 {path}"
            )
        try:
            return cls(bytes.fromhex(text), version)
        except ValueError as exc:
            raise PseudonymError(f"{path}: not a hex linkage key of at least 16 bytes") from exc

    def _mac(self, message: str) -> str:
        mac = self._keyed.copy()
        mac.update(message.encode("utf-8"))
        return mac.hexdigest()

    def record(self, authority: str, value: str) -> str:
        """Pseudonym of a record reference of ``authority``."""
        return self._mac(f"record\x1f{authority}\x1f{reference(value)}")

    def hashed_record(self, authority: str, cells: Sequence[str]) -> str:
        """Pseudonym of a record of ``authority`` that has no id, from the cells
        that identify it (``record_key: {hash: [...]}``). Each cell is written
        with its length, so the encoding is one-to-one: different cells (in
        case, spacing inside, or where one cell ends) give different input,
        and the domain differs from :meth:`record`'s, so it never equals the
        pseudonym of a one-column key."""
        body = "".join(f"{len(cell)}:{cell}" for cell in cells)
        return self._mac(f"hashed-record\x1f{authority}\x1f{len(cells)}\x1f{body}")

    def person_by_name(self, name_parts: list[str], date_of_birth: date) -> str:
        """Pseudonym of a person from name and date of birth."""
        return self._mac(f"person\x1f{person_name(*name_parts)}\x1f{date_of_birth.isoformat()}")

    def person_by_nhs_number(self, value: str) -> str:
        """Pseudonym of a person from an NHS number."""
        return self._mac(f"nhs\x1f{nhs_number(value)}")


def new_key_text() -> str:
    """A new random linkage key as a key file holds it: hex, then a newline."""
    return secrets.token_hex(KEY_BYTES) + "\n"


def key_fingerprint(text: str) -> str:
    """The fingerprint of a key file's text (hex), else PseudonymError."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise PseudonymError("not a hex linkage key") from exc
    if len(key) < 16:
        raise PseudonymError("not a hex linkage key of at least 16 bytes")
    return fingerprint(key)


def generate_key_file(path: Path) -> None:
    """Write a new random linkage key (hex, mode 0600). Refuses to overwrite:
    replacing a linkage key breaks linkage with every earlier pseudonym."""
    private_dir(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(new_key_text())
