"""What every file source shares: the files a path or glob names."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from edge.sources import SourceError


class _HasPath(Protocol):
    @property
    def path(self) -> str: ...


Spec = TypeVar("Spec", bound=_HasPath)


class FileReader(Generic[Spec]):
    """A reader of every file its config's ``path`` (a file or a glob) names."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    def files(self) -> list[Path]:
        return matching(self.spec.path)


def matching(pattern: str) -> list[Path]:
    """The files ``pattern`` names, in name order. A plain path that does not
    exist is an error; a glob that matches nothing is not (nothing new yet)."""
    # glob.glob, not Path.glob: the pattern is a whole (usually absolute) path.
    matches = sorted(Path(p) for p in glob.glob(pattern))  # noqa: PTH207
    if not matches and not glob.has_magic(pattern):
        raise SourceError(f"{pattern}: file not found")
    return matches
