"""The enforcer's check that an event's pseudonyms were made with the partnership's
linkage key.

Pseudonyms made with another key than the partnership's never match anyone
else's, and nothing in them shows it. Every event whose payload holds
pseudonyms (``pseudonym_key_version`` set) carries the key's fingerprint
(``wire.linkage``); :class:`LinkageCheck` compares it with the fingerprint
registered for that version in ``$SVDHUB_HOME/keys/linkage.yaml``
(``hub.linkage``, ``svdhub linkage register``). :meth:`Enforcer.check
<hub.enforcer.core.Enforcer.check>` quarantines the event, after it is read
and verified, when:

* ``missing_linkage_fingerprint``: the event has pseudonyms but no
  fingerprint (a connector older than the fingerprint, or a broken one);
* ``unregistered_linkage_key``: no fingerprint is registered for its key
  version (register it, then reprocess the quarantined events);
* ``foreign_linkage_key``: its fingerprint is not the one registered for its
  key version: the authority pseudonymises with another key.

The check fails closed: with no file, nothing is registered and every event
with pseudonyms is quarantined. The file is read at start (a malformed file
stops the enforcer there) and again when it changes, looked at no more than
once a second. A file that turns malformed while the enforcer runs is
logged and the registrations read before are kept: a registered fingerprint
is never changed, so they still hold.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hub.linkage import LinkageRegistry, LinkageRegistryError
from wire.audit import Reason

log = logging.getLogger(__name__)

MISSING_LINKAGE_FINGERPRINT = "missing_linkage_fingerprint"
UNREGISTERED_LINKAGE_KEY = "unregistered_linkage_key"
FOREIGN_LINKAGE_KEY = "foreign_linkage_key"

#: Seconds between two looks at the file.
RELOAD_INTERVAL = 1.0


class LinkageCheck:
    """Compares events' linkage-key fingerprints with the registered ones.

    Built once per enforcer, called for every verified event; not thread-safe
    (the enforcer handles one event at a time). Raises LinkageRegistryError at
    construction if the file exists but is malformed."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.clock = clock
        self.registry = LinkageRegistry.load(path, missing_ok=True)
        self._stamp = _stamp(path)
        self._looked_at = clock()
        if self._stamp is None:
            log.warning(
                "%s not found: every event with pseudonyms is quarantined as %s until the "
                "partnership's linkage key is registered (svdhub linkage register)",
                path,
                UNREGISTERED_LINKAGE_KEY,
            )

    def problem(self, envelope: Mapping[str, Any]) -> Reason | None:
        """Why an event with this envelope must be quarantined, or None when it
        holds no pseudonyms or its key is the partnership's."""
        version = envelope.get("pseudonym_key_version")
        if version is None:
            return None
        given = envelope.get("linkage_key_fingerprint")
        if given is None:
            return Reason.bounded(
                MISSING_LINKAGE_FINGERPRINT,
                f"the event has pseudonyms (key version {version!r}) but no "
                "linkage_key_fingerprint, so nobody can tell whether they were made with "
                "the partnership's linkage key; upgrade the authority's connector",
            )
        self.refresh()
        registered = self.registry.fingerprint(str(version))
        if registered is None:
            return Reason.bounded(
                UNREGISTERED_LINKAGE_KEY,
                f"no linkage key fingerprint is registered for key version {version!r} "
                f"(the event's is {given}); if that is the partnership's, register it: "
                f"svdhub linkage register --version {version} {given}",
            )
        if not hmac.compare_digest(str(given).encode(), registered.encode()):
            return Reason.bounded(
                FOREIGN_LINKAGE_KEY,
                f"linkage key fingerprint {given} is not the partnership's {registered} for "
                f"key version {version!r}: the authority pseudonymises with another key, so "
                "its pseudonyms would never link; it must import the partnership's key",
            )
        return None

    def refresh(self) -> None:
        """Re-read the file if it changed; look at most once every RELOAD_INTERVAL."""
        now = self.clock()
        if now - self._looked_at < RELOAD_INTERVAL:
            return
        self._looked_at = now
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self.registry = LinkageRegistry.load(self.path, missing_ok=True)
        except LinkageRegistryError as exc:
            log.error("%s; keeping the %d key versions read before", exc, len(self.registry.keys))
            return
        log.info("reloaded %s: %d key versions", self.path, len(self.registry.keys))


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells a changed file: inode, size and modification time (None: no file)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)
