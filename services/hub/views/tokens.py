"""API tokens: analysts' (one recipient's views) and IG leads' (one party's
audit proofs), each with an id, an expiry and a revocation.

``$SVDHUB_HOME/api/tokens.yaml`` (0600, replaced whole on every change) lists
one entry per token ever issued::

    version: 2
    tokens:
    - id: 3f9c0a1be27d          # shown by `svdhub api tokens list`, used to revoke
      party: vrp
      role: analyst             # analyst (views) or ig (audit proofs)
      sha256: <hex>             # the SHA-256 of the token; the token is never stored
      issued: '2026-12-06T15:58:18Z'
      expires: '2027-03-06T15:58:18Z'
      revoked: null             # or when it was revoked

The token itself is shown once, when it is made.

* An analyst's token sees only its own recipient's views.
* An IG lead's token sees no view; it reads the audit ledger's inclusion
  proofs, records and all, of the decisions its party disclosed or received.
  Those are kept from analysts: an audit record carries the hub's internal ids
  and its position in the log, which would link one recipient's shares with
  another's (``hub.views.audit_routes``).

A file in the earlier format (``sha256:`` and ``ig_sha256:`` mappings of party
to hash) is still read: its entries are analysts' and IG leads' tokens that
expire :data:`DEFAULT_DAYS` days after the file was last written (its mtime),
with the first 12 hex digits of their hash as id. The next issue or revocation
rewrites the file in the new format, with those expiries written out.

:class:`Tokens` loaded from a file re-reads it when it changes (one ``stat``
per lookup), so tokens issued or revoked while the API runs take effect at
once. A file that cannot be read then makes every token unknown until it is
fixed (failing closed), and says so in the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

from wire.private_files import create_private, write_private
from wire.topics import PARTY_ID

log = logging.getLogger(__name__)


class TokenError(Exception):
    """A tokens file that cannot be read, a party that is not valid or not
    known, or a token id that does not exist."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: The roles of a token: an analyst's (views) and an IG lead's (audit proofs).
ANALYST, IG = "analyst", "ig"
ROLES = (ANALYST, IG)
#: The sections of the earlier file format, by role.
LEGACY_SECTIONS = {"sha256": ANALYST, "ig_sha256": IG}
#: How long a token lasts unless told otherwise.
DEFAULT_DAYS = 90
FORMAT_VERSION = 2
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TOKEN_ID = re.compile(r"^[0-9a-f]{12}$")

Status = Literal["ok", "missing", "unknown", "expired", "revoked"]


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: object, where: str) -> datetime:
    if isinstance(value, datetime):  # YAML reads an unquoted timestamp as one
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TokenError(f"{where}: expected an ISO 8601 time, not {value!r}")


@dataclass(frozen=True)
class TokenEntry:
    """One issued token, as the tokens file keeps it (its hash, never itself)."""

    id: str
    party: str
    role: str
    sha256: str
    issued: datetime
    expires: datetime | None  # None: never (only tokens made in memory)
    revoked: datetime | None = None

    def status(self, now: datetime) -> Status:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "party": self.party,
            "role": self.role,
            "sha256": self.sha256,
            "issued": timestamp(self.issued),
            "expires": None if self.expires is None else timestamp(self.expires),
            "revoked": None if self.revoked is None else timestamp(self.revoked),
        }

    @classmethod
    def from_dict(cls, raw: object, where: str) -> TokenEntry:
        if not isinstance(raw, dict):
            raise TokenError(f"{where}: expected a mapping")
        missing = {"id", "party", "role", "sha256", "issued", "expires"} - set(raw)
        if missing:
            raise TokenError(f"{where}: missing {', '.join(sorted(missing))}")
        token_id, party, role, hashed = (str(raw[k]) for k in ("id", "party", "role", "sha256"))
        if role not in ROLES:
            raise TokenError(f"{where}: role must be {' or '.join(ROLES)}, not {role!r}")
        if not _HEX64.fullmatch(hashed):
            raise TokenError(f"{where}: sha256 must be 64 lower-case hex digits")
        revoked = raw.get("revoked")
        return cls(
            id=token_id,
            party=party,
            role=role,
            sha256=hashed,
            issued=_parse_time(raw["issued"], f"{where}.issued"),
            expires=None
            if raw["expires"] is None
            else _parse_time(raw["expires"], f"{where}.expires"),
            revoked=None if revoked is None else _parse_time(revoked, f"{where}.revoked"),
        )


@dataclass(frozen=True)
class Lookup:
    """What a presented token is: ``ok`` (with its entry), ``missing`` (none was
    given), ``unknown``, ``expired`` or ``revoked`` (with its entry)."""

    status: Status
    entry: TokenEntry | None = None

    @property
    def valid(self) -> bool:
        return self.status == "ok"


def _legacy_entries(
    sections: Mapping[str, Mapping[str, str]], issued: datetime, expires: datetime | None
) -> list[TokenEntry]:
    return [
        TokenEntry(
            id=str(hashed)[:12],
            party=str(party),
            role=role,
            sha256=str(hashed),
            issued=issued,
            expires=expires,
        )
        for section, role in LEGACY_SECTIONS.items()
        for party, hashed in (sections.get(section) or {}).items()
    ]


def read_entries(path: Path) -> list[TokenEntry]:
    """Every entry of the tokens file (none if it does not exist), in either
    format; TokenError if it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(microsecond=0)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise TokenError(f"{path}: cannot read the tokens file: {exc}") from exc
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise TokenError(f"{path}: cannot read the tokens file: {exc}") from exc
    if not isinstance(document, dict):
        raise TokenError(f"{path}: expected a mapping with a 'tokens' list")
    if "tokens" in document:
        listed = document["tokens"] or []
        if not isinstance(listed, list):
            raise TokenError(f"{path}: tokens: expected a list")
        entries = [
            TokenEntry.from_dict(raw, f"{path}: tokens[{n}]") for n, raw in enumerate(listed)
        ]
    else:
        for section in LEGACY_SECTIONS:
            if not isinstance(document.get(section, {}), dict):
                raise TokenError(f"{path}: expected a mapping '{section}: {{party: hash}}'")
        entries = _legacy_entries(document, written, written + timedelta(days=DEFAULT_DAYS))
    ids = [entry.id for entry in entries]
    if len(set(ids)) != len(ids):
        raise TokenError(f"{path}: two tokens share an id")
    return entries


def _find(entries: Iterable[TokenEntry], token: str) -> TokenEntry | None:
    """The entry whose hash is the token's: every entry is compared, in constant
    time, whichever matches."""
    wanted = digest(token)
    found = None
    for entry in entries:
        if hmac.compare_digest(entry.sha256, wanted):
            found = entry
    return found


class Tokens:
    """The tokens the API accepts: who each belongs to, its role, whether it has
    expired or been revoked.

    ``Tokens(hashes, ig_hashes)`` makes a set in memory from party -> hash
    mappings (tokens that never expire); :meth:`load` reads the tokens file and
    follows it as it changes."""

    def __init__(
        self,
        hashes: Mapping[str, str] | None = None,
        ig_hashes: Mapping[str, str] | None = None,
        *,
        entries: Iterable[TokenEntry] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        made = _legacy_entries(
            {"sha256": hashes or {}, "ig_sha256": ig_hashes or {}}, now_utc(), None
        )
        self._entries: tuple[TokenEntry, ...] = (*made, *entries)
        self._clock = clock or now_utc
        self._path: Path | None = None
        self._seen: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path, *, clock: Callable[[], datetime] | None = None) -> Tokens:
        """The tokens in ``path`` (none if it does not exist), re-read whenever
        the file changes; TokenError if it cannot be read now."""
        loaded = cls(entries=read_entries(path), clock=clock)
        loaded._path = path
        loaded._seen = _signature(path)
        return loaded

    def _refresh(self) -> None:
        if self._path is None:
            return
        seen = _signature(self._path)
        if seen == self._seen:
            return
        with self._lock:
            if seen == self._seen:
                return
            try:
                self._entries = tuple(read_entries(self._path))
            except TokenError as exc:
                log.error("every API token is refused until the tokens file is fixed: %s", exc)
                self._entries = ()
            self._seen = seen

    def entries(self) -> list[TokenEntry]:
        self._refresh()
        return list(self._entries)

    def lookup(self, token: str) -> Lookup:
        """What ``token`` is, now."""
        if not token:
            return Lookup("missing")
        self._refresh()
        entry = _find(self._entries, token)
        if entry is None:
            return Lookup("unknown")
        return Lookup(entry.status(self._clock()), entry)

    def _owner(self, token: str, role: str) -> str | None:
        found = self.lookup(token)
        if found.valid and found.entry is not None and found.entry.role == role:
            return found.entry.party
        return None

    def recipient(self, token: str) -> str | None:
        """The recipient an analyst's token belongs to (None when the token is
        unknown, expired, revoked or an IG lead's)."""
        return self._owner(token, ANALYST)

    def ig_lead(self, token: str) -> str | None:
        """The party an IG lead's token belongs to (None when the token is
        unknown, expired, revoked or an analyst's)."""
        return self._owner(token, IG)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size, found.st_ino)


# ----------------------------------------------------------------- changing


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer of the tokens file at a time (an flock on a file beside it)."""
    lock = path.with_name(f".{path.name}.lock")
    create_private(lock)
    with lock.open("r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, entries: Iterable[TokenEntry]) -> None:
    document = {"version": FORMAT_VERSION, "tokens": [entry.to_dict() for entry in entries]}
    write_private(  # 0600, replacing the file whole
        path,
        "# API tokens (svdhub api tokens): the SHA-256 of each, never the token itself.\n"
        "# role analyst: one recipient's views; role ig: an IG lead's audit proofs.\n"
        + yaml.safe_dump(document, sort_keys=False),
    )


def _new_id(taken: set[str]) -> str:
    while True:
        made = secrets.token_hex(6)
        if made not in taken:
            taken.add(made)
            return made


@dataclass(frozen=True)
class Issued:
    """A token just made: its entry, and the token (shown once, never stored)."""

    entry: TokenEntry
    token: str


def issue_tokens(
    path: Path,
    parties: Iterable[str],
    role: str = ANALYST,
    *,
    days: int = DEFAULT_DAYS,
    known: Collection[str] | None = None,
    replace_existing: bool = True,
    now: datetime | None = None,
) -> list[Issued]:
    """A new token for each of ``parties`` in ``role``, valid for ``days`` days.

    ``known``, when given, holds the parties that may have one (others:
    TokenError). With ``replace_existing`` (the default) each party's earlier
    tokens in that role are revoked, so it holds one at a time; without it, the
    new token is added beside them (several analysts of one recipient)."""
    if role not in ROLES:
        raise TokenError(f"unknown token role {role!r}")
    if days < 1:
        raise TokenError(f"a token must last at least a day, not {days}")
    chosen = list(dict.fromkeys(parties))
    for party in chosen:
        if not PARTY_ID.fullmatch(party):
            raise TokenError(f"{party!r} is not a valid party id")
        if known is not None and party not in known:
            raise TokenError(
                f"no party {party!r} in the parties file; choose from {', '.join(sorted(known))}"
            )
    moment = (now or now_utc()).replace(microsecond=0)
    with _locked(path):
        entries = read_entries(path)
        if replace_existing:
            entries = [
                replace(entry, revoked=moment)
                if entry.party in chosen and entry.role == role and entry.revoked is None
                else entry
                for entry in entries
            ]
        taken = {entry.id for entry in entries}
        made = []
        for party in chosen:
            token = secrets.token_urlsafe(24)
            entry = TokenEntry(
                id=_new_id(taken),
                party=party,
                role=role,
                sha256=digest(token),
                issued=moment,
                expires=moment + timedelta(days=days),
            )
            made.append(Issued(entry, token))
        _write(path, [*entries, *(issued.entry for issued in made)])
    return made


def issue(
    path: Path,
    recipients: Iterable[str],
    role: str = ANALYST,
    *,
    days: int = DEFAULT_DAYS,
    known: Collection[str] | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """New tokens for ``recipients`` (or, with ``role=IG``, for IG leads of those
    parties), replacing theirs; returns party -> token."""
    made = issue_tokens(path, recipients, role, days=days, known=known, now=now)
    return {issued.entry.party: issued.token for issued in made}


def revoke(
    path: Path,
    *,
    token_id: str | None = None,
    party: str | None = None,
    role: str | None = None,
    now: datetime | None = None,
) -> list[TokenEntry]:
    """Revoke the token ``token_id``, or every token of ``party`` (in ``role``, if
    given), that is not revoked yet; returns the entries revoked. TokenError if
    none matches."""
    if (token_id is None) == (party is None):
        raise TokenError("name a token id or a party, not both")
    if token_id is not None and not _TOKEN_ID.fullmatch(token_id):
        raise TokenError(f"{token_id!r} is not a token id (12 hex digits, see `tokens list`)")
    moment = (now or now_utc()).replace(microsecond=0)
    with _locked(path):
        entries = read_entries(path)
        revoked: list[TokenEntry] = []
        kept: list[TokenEntry] = []
        for entry in entries:
            chosen = (
                entry.id == token_id
                if token_id is not None
                else entry.party == party and role in (None, entry.role)
            )
            if chosen and entry.revoked is None:
                entry = replace(entry, revoked=moment)  # noqa: PLW2901
                revoked.append(entry)
            kept.append(entry)
        if not revoked:
            what = f"token {token_id}" if token_id is not None else f"token of {party}"
            raise TokenError(f"no {what} that is not revoked already")
        _write(path, kept)
    return revoked


def listing(path: Path) -> list[TokenEntry]:
    """Every token of the file, oldest first (tokens issued together in the
    order they were issued)."""
    return sorted(read_entries(path), key=lambda entry: entry.issued)
