"""Files that hold data or secrets: created owner-only (0600, in 0700 folders).

Keys, SQLite databases (and their ``-wal``/``-shm`` files), reject files, API
tokens, the stack's addresses and password, and the state folders that hold
them are readable by their owner only. Two mechanisms make that hold, and
each covers what the other cannot:

* **A umask of 077, set once** where the ``svdhub`` command starts
  (``hub.cli.main``). It covers every file the process and its child
  processes create, including what code we do not control creates: SQLite,
  faust, logging, the Kafka and OPA servers of the local stack.
* **Explicit modes where the hub and the connectors create a file that holds
  data or a secret**, through the helpers below. A umask applies to one
  entry point only: the same code also runs under a test runner, a service
  manager or a caller with a looser umask (often 022), and a umask never
  changes a file that already exists. So these helpers ask for 0600 (or
  0700) when they create, then ``chmod`` to exactly that, since the mode
  given to ``open``/``mkdir`` is only ever narrowed by the umask.

Existing folders are never changed: a parent may be shared (``/tmp``), and a
state folder that another user (PostgreSQL's) must traverse is the
operator's to tighten. Rewritten files are replaced whole (write to a new
0600 file, then rename), so a file a looser earlier version left behind is
private after its next write.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TextIO

FILE_MODE = 0o600
DIR_MODE = 0o700
UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents, each mode 0700; return it.

    Folders that already exist are left as they are."""
    missing: list[Path] = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            created.mkdir(mode=DIR_MODE)
            created.chmod(DIR_MODE)
    return path


def create_private(path: Path) -> bool:
    """Create ``path`` as an empty file, mode 0600, in a private folder, unless
    it exists (then it is left as it is). True if it was created.

    SQLite gives a database's ``-wal`` and ``-shm`` files the database file's
    own mode, so creating the database file this way before SQLite opens it
    makes all three private."""
    private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    os.fchmod(descriptor, FILE_MODE)
    os.close(descriptor)
    return True


def append_private(path: Path) -> TextIO:
    """Open ``path`` to append text (UTF-8), creating it mode 0600 in a
    private folder."""
    private_dir(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    with contextlib.suppress(OSError):  # a file of another owner keeps its mode
        os.fchmod(descriptor, FILE_MODE)
    return os.fdopen(descriptor, "a", encoding="utf-8")


def write_private(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (text as UTF-8): written to a new 0600
    file beside it, then renamed over it, so no reader ever sees a partial or
    a group-readable file."""
    private_dir(path.parent)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
