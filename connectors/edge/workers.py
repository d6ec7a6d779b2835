"""Map, pseudonymise, encode and sign rows in worker processes
(``svdhub connector run --workers N``).

A row's mapping, Avro encoding and Ed25519 signature are about three fifths
of the connector's CPU, and depend only on the row and the config: N worker
processes do that work on chunks of rows while the connector's own process
reads the source, keeps the checkpoint and publishes. Everything that
depends on the order of rows stays in the connector's process and happens
in row order, exactly as without workers: whether a row is already
published, a hashed record key's clash with an earlier row, the reject
file, batches, acknowledgements and the checkpoint. The events are the same
either way (Ed25519 signing is deterministic) except ``published_at``, which
each row takes from the clock as it is mapped.

Each worker builds its own mapper and writer from the config (:func:`build`),
reading the linkage key and the signing key from the authority's files, as
the connector does; no key crosses a pipe. Workers are started with
``spawn``, never ``fork``: the connector's process runs the Kafka producer's
threads, and a fork would copy their locks mid-use.

Records versioned by content (``record_version: {content: true}``) are
numbered in row order from the checkpoint, so such a config maps in the
connector's own process whatever ``--workers`` says; so do an SQL source's
``deleted_rows`` and a check (``svdhub connector check``).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from edge.boundaries import Boundaries
from edge.config import ConnectorConfig
from edge.mapping import Mapped, Mapper, RowError, RowSkipped
from edge.pseudonymise import Pseudonymiser
from edge.publisher import murmur2_words
from edge.versions import Versions
from wire import schemas
from wire.codec import AvroCodec, CodecError
from wire.envelope import EventWriter
from wire.geography import SYNTHETIC, GeographyLookup
from wire.partnership import Partnership
from wire.signing import Signer

#: Rows per task sent to a worker: enough that the pipes' cost per row is small
#: (a task's rows are pickled once), few enough that work spreads evenly.
CHUNK_ROWS = 200

#: Tasks in flight per worker: the next is queued while one is worked on, so
#: no worker waits on the reader. It bounds the rows read ahead, hence memory.
TASKS_PER_WORKER = 2

#: The most workers a run may ask for.
MAX_WORKERS = 64


@dataclass(frozen=True)
class Signed:
    """A row mapped, encoded and signed: what to publish, and (for a dry run,
    which prints it) the record."""

    record_type: str
    event_id: str
    message_key: str
    value: bytes
    record: dict[str, Any] | None = None
    key_hash: int | None = None  # the message key's murmur2, worked out in a worker


@dataclass(frozen=True)
class Refused:
    """A row left out: skipped by the config's filters, or rejected with its
    field and reason."""

    skipped: bool
    field: str
    reason: str


Outcome = Signed | Refused


class WorkerError(RuntimeError):
    """A worker process could not start, or stopped. Nothing is lost: the
    batch in flight stays pending in the checkpoint for the next run."""


def load_geography(config: ConnectorConfig) -> GeographyLookup:
    """The config's geography lookup, for its partnership. Raises
    ``wire.partnership.PartnershipError`` or ``wire.geography.GeographyError``
    (each naming the file); a lookup that leaves districts out is logged."""
    spec = config.geography
    partnership = Partnership.load(spec.partnership) if spec.partnership else None
    lookup = GeographyLookup.load(spec.lookup or SYNTHETIC, partnership)
    return lookup.with_lsoa11(spec.lsoa11) if spec.lsoa11 is not None else lookup


def build(
    config: ConnectorConfig,
    pseudonymiser: Pseudonymiser,
    signer: Signer,
    versions: Versions | None,
) -> tuple[Mapper, EventWriter]:
    """The mapper and the writer of a run of ``config``: the connector's own,
    and each worker's."""
    current = schemas.current()
    writer = EventWriter(AvroCodec(current, schemas.released().values()), signer)
    shapes = config.geography.boundaries
    mapper = Mapper(
        config,
        current,
        pseudonymiser,
        load_geography(config),
        Boundaries.load(shapes) if shapes is not None else None,
        versions=versions,
    )
    return mapper, writer


def sign_row(
    to_record: Callable[[dict[str, str | None], datetime], Mapped],
    writer: EventWriter,
    values: dict[str, str | None],
    *,
    keep_record: bool = False,
) -> Outcome:
    """One row through ``to_record`` (a :class:`Mapper` method) and the writer."""
    try:
        mapped = to_record(values, datetime.now(UTC))
        value = writer.write(mapped.record_type, mapped.record)
    except RowSkipped as skipped:
        return Refused(True, skipped.field, skipped.reason)
    except RowError as exc:
        return Refused(False, exc.field, exc.reason)
    except CodecError as exc:
        return Refused(False, "(schema)", str(exc))
    record = mapped.record if keep_record else None
    return Signed(mapped.record_type, mapped.event_id, mapped.message_key, value, record)


# -- inside a worker --------------------------------------------------------

_worker: tuple[Mapper, EventWriter] | str | None = None


def _start(config: ConnectorConfig) -> None:
    """A worker's initialiser: its own mapper and writer, from the key files.
    A failure is kept and told with each task, rather than killing the worker
    (which the pool would report only as "terminated abruptly")."""
    global _worker  # noqa: PLW0603 - one per worker process
    try:
        pseudonymiser = Pseudonymiser.load(config.keys.linkage_key, config.keys.linkage_key_version)
        signer = Signer.load(config.keys.signing_key, config.keys.signing_key_id, config.authority)
        _worker = build(config, pseudonymiser, signer, None)
    except Exception as exc:  # told to the connector, by name
        _worker = f"{type(exc).__name__}: {exc}"


def _map_rows(rows: list[dict[str, str | None]], keep_record: bool) -> list[Outcome]:
    """A task: ``rows`` mapped and signed, each message key's murmur2 with them
    (the partition it goes to needs only the topic's partition count)."""
    if not isinstance(_worker, tuple):
        raise WorkerError(f"a worker could not start: {_worker or 'not initialised'}")
    mapper, writer = _worker
    outcomes = [sign_row(mapper.map, writer, values, keep_record=keep_record) for values in rows]
    return [
        replace(o, key_hash=murmur2_words(o.message_key.encode())) if isinstance(o, Signed) else o
        for o in outcomes
    ]


# -- in the connector -------------------------------------------------------


class MapPool:
    """``workers`` processes mapping and signing rows of ``config``."""

    def __init__(self, config: ConnectorConfig, workers: int) -> None:
        if not 2 <= workers <= MAX_WORKERS:
            raise ValueError(f"a pool has 2 to {MAX_WORKERS} workers, not {workers}")
        self.workers = workers
        self._executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(config,),
        )

    @property
    def in_flight(self) -> int:
        """How many tasks to keep queued."""
        return self.workers * TASKS_PER_WORKER

    def submit(
        self, rows: list[dict[str, str | None]], *, keep_record: bool = False
    ) -> Future[list[Outcome]]:
        """Map and sign ``rows`` in a worker (``keep_record``: with the records,
        for a dry run to print)."""
        try:
            return self._executor.submit(_map_rows, rows, keep_record)
        except BrokenProcessPool as exc:
            raise WorkerError(f"a worker process stopped: {exc}") from exc

    @staticmethod
    def result(future: Future[list[Outcome]]) -> list[Outcome]:
        """The outcomes of a task, in the order of its rows. Raises WorkerError."""
        try:
            return future.result()
        except BrokenProcessPool as exc:
            raise WorkerError(f"a worker process stopped: {exc}") from exc

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
