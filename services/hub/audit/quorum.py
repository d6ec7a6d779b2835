"""``audit verify --witness KEY ... --quorum N``: did enough partners' witnesses
co-sign this log, far enough?

A witness counts when one of its cosignatures (``hub.audit.note.cosigned_at``)
verifies over the note of a checkpoint of at least ``size`` records: a
checkpoint stored in the ledger (with the cosignatures the witnesses handed
over) or one given on the command line (a witness's own ``latest.note``,
which carries its cosignature). A cosignature covers the exact checkpoint
text, so one over a checkpoint the operator later re-signed with another
root no longer counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hub.audit.checkpoints import Checkpoint
from hub.audit.note import Note, NoteError, cosigned_at


@dataclass
class Quorum:
    """Which witnesses co-signed a checkpoint of at least ``size`` records."""

    size: int
    needed: int
    cosigned: dict[str, int] = field(default_factory=dict)  # witness -> largest size co-signed

    @property
    def met(self) -> bool:
        return sum(1 for s in self.cosigned.values() if s >= self.size) >= self.needed

    def problem(self, witnesses: Sequence[str]) -> str | None:
        if self.met:
            return None
        said = ", ".join(
            f"{name} at {self.cosigned[name]}" if name in self.cosigned else f"{name} never"
            for name in witnesses
        )
        return (
            f"quorum not met: {self.needed} of {len(witnesses)} witnesses must have co-signed "
            f"a checkpoint of at least {self.size} records; co-signed: {said}"
        )


def quorum(
    checkpoints: Iterable[tuple[Checkpoint, Sequence[str]]],
    notes: Iterable[str],
    witnesses: Sequence[tuple[str, bytes]],
    needed: int,
    size: int,
) -> Quorum:
    """Count the witnesses with a valid cosignature at ``size`` or beyond, over the
    stored ``checkpoints`` (each with its cosignature lines) and over ``notes``
    (checkpoint notes with cosignature lines, already checked as the log's)."""
    found = Quorum(size, needed)
    candidates: list[Note] = []
    for checkpoint, lines in checkpoints:
        if checkpoint.origin is None or not lines:
            continue
        try:
            candidates.append(Note.parse(checkpoint.body().text() + "\n" + "".join(lines)))
        except NoteError:
            continue  # an unreadable line counts for nobody
    for text in notes:
        try:
            candidates.append(Note.parse(text))
        except NoteError:
            continue
    for note in candidates:
        tree_size = int(note.text.split("\n", 2)[1])
        for name, public in witnesses:
            if cosigned_at(note, name, public) is not None:
                found.cosigned[name] = max(found.cosigned.get(name, 0), tree_size)
    return found
