"""SQL engines for the ledger and the views.

SQLite is the default for a single machine. Its connections are set up for
one writer and many readers: write-ahead logging (the API reads while the
builder writes), a busy timeout, and a page cache large enough that the
indexes of a few million rows stay in memory. ``durable=False`` lets a
commit return before it reaches the disk (``synchronous=NORMAL``): a power
cut can lose the newest transactions, but never leaves a half-applied one,
and their offsets are lost with them, so the rows are read again. That suits
the views, which can always be rebuilt; the ledger keeps every commit durable.

A database file is created mode 0600 (in folders created 0700) before SQLite
opens it, whatever the umask; SQLite gives the ``-wal`` and ``-shm`` files the
database file's own mode, so they are private too (see
:mod:`wire.private_files`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from hub.settings import state_folder
from wire.private_files import create_private

CACHE_KIB = 256 * 1024


def open_engine(url: str, *, durable: bool = True) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            create_private(Path(database))
        synchronous = "FULL" if durable else "NORMAL"

        @event.listens_for(engine, "connect")
        def _tune(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            for pragma in (
                "journal_mode=WAL",
                f"synchronous={synchronous}",
                f"cache_size=-{CACHE_KIB}",
                "busy_timeout=30000",
            ):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

    return engine


def local_engine(url: str | None, folder: str, file: str, *, durable: bool = True) -> Engine:
    """The engine for ``url``; without one, SQLite at <state home>/<folder>/<file>."""
    if url is None:
        url = f"sqlite:///{state_folder(folder) / file}"
    return open_engine(url, durable=durable)
