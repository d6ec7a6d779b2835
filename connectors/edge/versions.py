"""Record versions from content, for sources without a version column.

A source that overwrites a record in place (police.uk republishes a crime
with its latest outcome; a spreadsheet row is edited) has no version column.
With ``record_version: {content: true}`` the connector numbers the versions
itself: the first content it publishes for a record key is version 1, and
each later different content the next number, superseding the one before
(``envelope.supersedes``). The content is a SHA-256 of every cell the config
reads, apart from the record key and the ``withdrawn`` column, each trimmed:
a change in a column the config does not read is not a new version.

The numbering lives in the connector's checkpoint (table ``versions``).
Each version is recorded there before the batch that publishes it is begun,
so after a crash the same row gets the same version, hence the same event
id, and the hub drops the repeat. A check or a dry run numbers in memory
only. A withdrawal (``withdrawn``, ``deleted_rows``) withdraws the latest
version published.

Limits: the numbering is this connector's own. Two connectors publishing one
source, or a checkpoint deleted, start again from version 1 (the hub then
sees a new version 1 of an event it already holds as a replay).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from edge.checkpoint import Checkpoint


def digest(row: Mapping[str, str | None], columns: Iterable[str]) -> str:
    """The content of ``row`` in ``columns`` (sorted; trimmed cells), as hex."""
    hashed = hashlib.sha256()
    for column in sorted(columns):
        cell = (row.get(column) or "").strip()
        hashed.update(
            f"{len(column)}:{column}{len(cell)}:{cell}".encode("utf-8", "surrogateescape")
        )
    return hashed.hexdigest()


class Versions:
    """Versions by content, over a checkpoint (or none: in memory only)."""

    def __init__(self, checkpoint: Checkpoint | None) -> None:
        self.checkpoint = checkpoint
        self._pending: dict[str, tuple[int, str]] = {}  # this run's, not yet recorded

    def _latest(self, record_key: str) -> tuple[int, str] | None:
        if record_key in self._pending:
            return self._pending[record_key]
        return self.checkpoint.version(record_key) if self.checkpoint is not None else None

    def assign(self, record_key: str, content: str) -> int:
        """The version of ``record_key`` with ``content``: the latest one if its
        content is the same, else the next."""
        latest = self._latest(record_key)
        if latest is not None and latest[1] == content:
            return latest[0]
        version = 1 if latest is None else latest[0] + 1
        self._pending[record_key] = (version, content)
        return version

    def current(self, record_key: str) -> int | None:
        """The latest version of ``record_key`` (None: never published)."""
        latest = self._latest(record_key)
        return latest[0] if latest is not None else None

    def record(self) -> None:
        """Write this run's new versions to the checkpoint (before a batch begins)."""
        if self.checkpoint is not None and self._pending:
            self.checkpoint.set_versions(
                (key, version, content) for key, (version, content) in self._pending.items()
            )
        self._pending.clear()
