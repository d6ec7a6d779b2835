"""Apply a decision's field obligations to one event before it goes to one recipient.

When OPA allows an (agreement, recipient) pair, its decision carries
``obligations.fields``: one action per payload field the agreement names (see
``docs/policy.md``). :meth:`Anonymiser.apply` turns one decoded event into the
fields that recipient may see. Default deny holds here too: only the fields
the obligations name are released; every other field is left out. The
envelope is not handled here; the caller adds what travels with the event.

The actions:

* ``keep``: the value unchanged (a copy, so the output never aliases the input).
* ``drop``: the field is omitted.
* ``generalise`` (``level``: ``lsoa``, ``msoa``, ``lad`` or ``region``) on a
  Geography record: returns ``lsoa21cd``, ``msoa21cd``, ``lad_cd`` and
  ``region_cd``, with the codes finer than ``level`` set to None. The ward is
  never released (wards do not nest in the LSOA chain, so a ward would narrow
  an MSOA or LAD back down). Missing MSOA and LAD codes are filled from the
  geography lookup when it knows the LSOA.
* ``band`` (``scheme``: ``age_svd`` or ``age5``) on an AgeBand symbol:
  ``age_svd`` gives the Serious Violence Duty bands 0-9, 10-17, 18-24 and 25+;
  ``age5`` gives five-year bands, which the wire bands already are at least.
* ``truncate`` (``unit``: ``hour``, ``day``, ``week`` or ``month``) on a
  timezone-aware datetime (truncated in UTC) or a date.
* ``pseudonymise`` (``scope``: ``recipient``) on a pseudonym or a list of them.

Pseudonymisation is per recipient. Connectors pseudonymise record and person
keys with the partnership linkage key before anything leaves an authority;
the hub re-keys each of those source pseudonyms for the recipient, so a
recipient sees ``HMAC(recipient_key, source_pseudonym)``. Two recipients
therefore cannot join their data unless an agreement grants a shared scope.
The same keys scope every identifier a share carries
(:meth:`Anonymiser.scoped_id`), so event and share ids cannot join streams
either.
The hub holds the recipient keys (:class:`RecipientKeys`) and never the
partnership linkage key, so it can neither reverse a source pseudonym nor
make one from an identifier.

Every problem raises :class:`AnonymiseError` naming the field and what was
wrong, so the enforcer can fail closed: an event that cannot be anonymised as
agreed is not shared. A value of None stays None under every action but
``drop``. Inputs are never mutated.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import os
import secrets
import stat
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from wire.canonical import uuid_text
from wire.geography import GeographyLookup
from wire.private_files import private_dir
from wire.topics import PARTY_ID

#: Recipient ids as ``policies/parties.yaml`` and the agreement schema allow them.
KEY_BYTES = 32

#: What a scoped id's HMAC input starts with (a pseudonym's input never does).
_ID_PREFIX = b"svdhub-id\x1f"

#: Wire AgeBand symbol -> Serious Violence Duty age band.
AGE_SVD: dict[str, str] = {
    "AGE_0_9": "0-9",
    "AGE_10_17": "10-17",
    "AGE_18_24": "18-24",
    "AGE_25_34": "25+",
    "AGE_35_44": "25+",
    "AGE_45_54": "25+",
    "AGE_55_64": "25+",
    "AGE_65_PLUS": "25+",
    "UNKNOWN": "UNKNOWN",
}

#: Geography levels, finest first.
LEVELS = ("lsoa", "msoa", "lad", "region")

#: Geography code -> the level it belongs to.
_GEO_CODES = {"lsoa21cd": "lsoa", "msoa21cd": "msoa", "lad_cd": "lad"}


class AnonymiseError(Exception):
    """An obligation could not be applied; the message names the field and why."""


class RecipientKeys:
    """HMAC keys the hub holds, one per recipient scope.

    Each is a hex file ``<folder>/<recipient>.key`` (mode 0600). A missing
    key is created on first use with 32 random bytes. A key is read once and
    then cached in memory; the object is safe to share between threads.
    Losing or replacing a key file changes every pseudonym that recipient
    sees, so the folder must be backed up with the hub's state.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def key(self, recipient: str) -> bytes:
        """The recipient's key: read from its file, or created there if there is none.

        Raises AnonymiseError for a recipient id that is not a party id, a key
        file that group or others can access (``chmod 600`` fixes it), or one
        that does not hold at least 32 bytes of hex.
        """
        if not PARTY_ID.fullmatch(recipient):
            raise AnonymiseError(f"recipient {recipient!r} is not a valid party id")
        with self._lock:
            cached = self._cache.get(recipient)
            if cached is None:
                path = self.folder / f"{recipient}.key"
                if not path.exists():
                    _create_key(path)
                cached = _read_key(path)
                self._cache[recipient] = cached
            return cached


def _create_key(path: Path) -> None:
    """Write a new random key to ``path`` (0600, exclusively); keep one another process made."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_key(path: Path) -> bytes:
    """The key in ``path``, refusing a file group or others can access."""
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if stat.S_IMODE(mode) & 0o077:
                raise AnonymiseError(
                    f"{path}: key file is accessible by group or others "
                    f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
                )
            text = handle.read().decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AnonymiseError(f"{path}: cannot read the key file: {exc}") from exc
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < KEY_BYTES:
        raise AnonymiseError(f"{path}: key file must hold at least {KEY_BYTES} bytes as hex")
    return key


_Action = Callable[[str, Any, Mapping[str, str], str], Any]


class Anonymiser:
    """Applies field obligations, with one geography lookup and the hub's recipient keys."""

    def __init__(self, lookup: GeographyLookup, keys: RecipientKeys) -> None:
        self.lookup = lookup
        self.keys = keys
        self._actions: dict[str, _Action] = {
            "keep": self._keep,
            "generalise": self._generalise,
            "band": self._band,
            "truncate": self._truncate,
            "pseudonymise": self._pseudonymise,
        }

    def apply(
        self,
        record: Mapping[str, Any],
        obligations: Mapping[str, Mapping[str, str]],
        recipient: str,
    ) -> dict[str, Any]:
        """The fields of ``record`` that ``recipient`` may see, each transformed.

        ``obligations`` is the ``fields`` object of an allowed decision. Only the
        fields it names are released; a named field the record lacks is
        skipped, and a ``drop`` field is omitted. ``record`` is not mutated.
        Raises AnonymiseError naming the field for an unknown action, a
        missing or unknown parameter, or a value of the wrong type.
        """
        released: dict[str, Any] = {}
        precision = record.get("occurred_precision")
        for field, given in obligations.items():
            if field not in record:
                continue
            action = _action_name(field, given)
            if action == "drop":
                continue
            obligation = given
            if action == "truncate" and field in OCCURRENCE_TIMES and precision in _AT_LEAST:
                obligation = _no_finer(given, precision)
            handler = self._actions.get(action)
            if handler is None:
                raise AnonymiseError(f"field {field!r}: unknown action {action!r}")
            value = record[field]
            released[field] = (
                None if value is None else handler(field, value, obligation, recipient)
            )
        return released

    # ------------------------------------------------------------------ actions

    def _keep(self, field: str, value: Any, obligation: Mapping[str, str], recipient: str) -> Any:
        return copy.deepcopy(value)

    def _generalise(
        self, field: str, value: Any, obligation: Mapping[str, str], recipient: str
    ) -> dict[str, str | None]:
        rank = LEVELS.index(_parameter(field, obligation, "level", LEVELS))
        codes = self._complete_geography(field, value)
        released: dict[str, str | None] = {
            code: codes[code] if rank <= LEVELS.index(level) else None
            for code, level in _GEO_CODES.items()
        }
        released["region_cd"] = self.lookup.partnership.area_code
        return released

    def _complete_geography(self, field: str, value: Any) -> dict[str, str | None]:
        """The LSOA, MSOA and LAD codes of a Geography value, filled in from the lookup.

        An LSOA the lookup knows fixes its MSOA and LAD: missing ones are filled
        and contradicting ones are refused. An LSOA it does not know is
        refused when the MSOA is missing, since it cannot be rolled up.
        """
        codes = _geography_codes(field, value)
        lsoa = codes["lsoa21cd"]
        if lsoa is None:
            return codes
        if lsoa not in self.lookup:
            if codes["msoa21cd"] is None:
                raise AnonymiseError(
                    f"field {field!r}: LSOA {lsoa!r} is not in the geography lookup "
                    "and the MSOA is missing, so it cannot be generalised"
                )
            return codes
        area = self.lookup.area(lsoa)
        for code, known in (("msoa21cd", area.msoa21cd), ("lad_cd", area.lad_cd)):
            given = codes[code]
            if given is not None and given != known:
                raise AnonymiseError(
                    f"field {field!r}: {code} {given!r} contradicts the geography lookup, "
                    f"which puts LSOA {lsoa!r} in {known!r}"
                )
            codes[code] = known
        return codes

    def _band(self, field: str, value: Any, obligation: Mapping[str, str], recipient: str) -> str:
        """``age_svd``: the SVD band. ``age5``: the symbol unchanged, because every
        wire AgeBand is already at least five years wide."""
        scheme = _parameter(field, obligation, "scheme", ("age_svd", "age5"))
        if not isinstance(value, str) or value not in AGE_SVD:
            raise AnonymiseError(
                f"field {field!r}: band needs an AgeBand symbol, got {_describe(value)}"
            )
        return AGE_SVD[value] if scheme == "age_svd" else value

    def _truncate(
        self, field: str, value: Any, obligation: Mapping[str, str], recipient: str
    ) -> date:
        unit = _parameter(field, obligation, "unit", ("hour", "day", "week", "month"))
        if isinstance(value, datetime):
            if value.utcoffset() is None:
                raise AnonymiseError(f"field {field!r}: truncate needs a timezone-aware datetime")
            return _truncate_datetime(value.astimezone(UTC), unit)
        if isinstance(value, date):
            return _truncate_date(value, unit)
        raise AnonymiseError(
            f"field {field!r}: truncate needs a datetime or a date, got {_describe(value)}"
        )

    def _pseudonymise(
        self, field: str, value: Any, obligation: Mapping[str, str], recipient: str
    ) -> str | list[str]:
        _parameter(field, obligation, "scope", ("recipient",))
        if isinstance(value, str):
            return self.pseudonym(value, recipient)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return [self.pseudonym(item, recipient) for item in value]
        raise AnonymiseError(
            f"field {field!r}: pseudonymise needs a string or a list of strings, "
            f"got {type(value).__name__}"
        )

    def pseudonym(self, source_pseudonym: str, recipient: str) -> str:
        """``HMAC-SHA256(recipient_key, source_pseudonym)`` as hex."""
        key = self.keys.key(recipient)
        return hmac.new(key, source_pseudonym.encode(), hashlib.sha256).hexdigest()

    def scoped_id(self, internal_id: str, recipient: str) -> str:
        """The id ``recipient`` sees for a hub-internal id (an event, decision or
        retraction id): the first 128 bits of ``HMAC-SHA256(recipient_key,
        "svdhub-id" 0x1F internal_id)`` as a UUID (version 8, RFC 9562).

        The same internal id always gives the same scoped id for one recipient
        (so a correction's ``supersedes`` and a retraction's
        ``retracted_event_id`` name the event that recipient received), and
        unrelated ids for two recipients. The prefix keeps ids apart from
        pseudonyms made with the same key."""
        key = self.keys.key(recipient)
        message = _ID_PREFIX + internal_id.encode()
        return uuid_text(hmac.new(key, message, hashlib.sha256).digest(), 8)


# ------------------------------------------------------------------ helpers


def _action_name(field: str, obligation: Any) -> str:
    if not isinstance(obligation, Mapping) or not isinstance(obligation.get("action"), str):
        raise AnonymiseError(f"field {field!r}: obligation {obligation!r} has no action")
    action: str = obligation["action"]
    return action


def _parameter(
    field: str, obligation: Mapping[str, str], name: str, allowed: tuple[str, ...]
) -> str:
    """The action's parameter ``name``, which must be one of ``allowed``."""
    value = obligation.get(name)
    if not isinstance(value, str) or value not in allowed:
        raise AnonymiseError(
            f"field {field!r}: {obligation.get('action')} needs {name} "
            f"{' | '.join(allowed)}, got {value!r}"
        )
    return value


def _geography_codes(field: str, value: Any) -> dict[str, str | None]:
    """The LSOA, MSOA and LAD codes of a Geography mapping (each a string or None)."""
    if not isinstance(value, Mapping):
        raise AnonymiseError(
            f"field {field!r}: generalise needs a Geography record, got {_describe(value)}"
        )
    codes: dict[str, str | None] = {}
    for code in _GEO_CODES:
        given = value.get(code)
        if given is not None and not isinstance(given, str):
            raise AnonymiseError(
                f"field {field!r}: {code} must be a string or null, got {_describe(given)}"
            )
        codes[code] = given
    return codes


#: The fields whose time the record's ``occurred_precision`` describes.
OCCURRENCE_TIMES = frozenset({"assault_datetime"})
#: A time precise only to the day or the month is never truncated to less.
_AT_LEAST = {"DAY": "day", "MONTH": "month"}
_UNITS = ("hour", "day", "week", "month")


def _no_finer(obligation: Mapping[str, str], precision: str) -> Mapping[str, str]:
    """A ``truncate`` no finer than the source's precision: a police.uk crime
    known only by its month is released by month even where the agreement
    says hour, so a share never shows a time of day the source never gave."""
    floor = _AT_LEAST[precision]
    unit = obligation.get("unit", "")
    if unit in _UNITS and _UNITS.index(unit) >= _UNITS.index(floor):
        return obligation
    return {**obligation, "unit": floor}


def _truncate_datetime(moment: datetime, unit: str) -> datetime:
    """``moment`` (UTC) truncated to the start of its hour, day, ISO week or month."""
    if unit == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return midnight
    if unit == "week":
        return midnight - timedelta(days=midnight.weekday())
    return midnight.replace(day=1)


def _truncate_date(day: date, unit: str) -> date:
    """``day`` truncated to its week's Monday or its month's first day (hour, day: itself)."""
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def _describe(value: Any) -> str:
    """The value's type and a short repr, for messages."""
    return f"{type(value).__name__} {value!r}"[:80]
