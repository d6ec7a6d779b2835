"""``svdhub subscribe``: an analyst's copy of a recipient's streams.

It reads ``svd.shared.<recipient>.<type>`` for every event type an agreement
sends the recipient, as that recipient's principal, in a consumer group
named ``<recipient>.<name>`` (the only groups it may use). Every message is
checked before it is written:

1. the hub's signature (:mod:`wire.hub_signing`) over the exact value bytes,
   against the hub's published key file (``svdhub access hub-key``);
2. the share contract (:class:`wire.shares.Share`), and that the share names
   this recipient and the event type of its topic;
3. the stream's published JSON Schema (``svdhub schemas shares``).

A message that fails is counted and reported on stderr (never written), and
the stream goes on. Offsets are committed after each batch is safely on disk,
and the output is de-duplicated by ``share_id`` when it is opened again, so a
run killed at any point resumes without gaps or repeats.

Outputs: JSON Lines (one share per line, as the hub sent it), CSV, a SQLite
table ``shares``, or Parquet (a folder of part files, one per batch, each
written whole). CSV, SQLite and Parquet have one row per share with the
envelope as columns and the released fields as a JSON text column.

Exit codes: 0 done; 1 Kafka refused or could not be reached; 2 bad usage;
4 some messages were refused (forged or invalid) but the rest were written.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer
from jsonschema import Draft202012Validator

from hub import settings
from hub.cli_support import Bootstrap, Credentials, kafka_client
from wire.canonical import ContractError
from wire.hub_signing import HubKeyFileError, HubKeys, HubSignatureError
from wire.kafka_client import ClientSettings
from wire.private_files import private_dir
from wire.shares import KEYS, Share
from wire.topics import TopicNameError, TopicNames

EXIT_REFUSED_MESSAGES = 4

#: The columns of CSV, SQLite and Parquet outputs: a share's keys, ``fields`` last.
COLUMNS = KEYS


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    sqlite = "sqlite"
    parquet = "parquet"


def _row(share: Share) -> dict[str, Any]:
    data = share.to_dict()
    data["fields"] = json.dumps(share.fields, sort_keys=True, separators=(",", ":"))
    return {column: data[column] for column in COLUMNS}


class Output(Protocol):
    def seen(self) -> set[str]: ...
    def write(self, shares: Sequence[tuple[Share, bytes]]) -> None: ...
    def close(self) -> None: ...


class JsonLines:
    """One share per line, as the hub sent it. A line cut short by a kill is
    dropped when the file is opened again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _repair_last_line(path)
        self.handle = path.open("ab")

    def seen(self) -> set[str]:
        found = set()
        with self.path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    found.add(str(json.loads(line)["share_id"]))
        return found

    def write(self, shares: Sequence[tuple[Share, bytes]]) -> None:
        self.handle.write(b"".join(value + b"\n" for _, value in shares))
        _sync(self.handle)

    def close(self) -> None:
        self.handle.close()


class CsvFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        _repair_last_line(path)
        new = not path.exists() or path.stat().st_size == 0
        self.handle = path.open("a", encoding="utf-8", newline="")
        self.writer = csv.DictWriter(self.handle, fieldnames=COLUMNS)
        if new:
            self.writer.writeheader()

    def seen(self) -> set[str]:
        with self.path.open(encoding="utf-8", newline="") as handle:
            return {row["share_id"] for row in csv.DictReader(handle)}

    def write(self, shares: Sequence[tuple[Share, bytes]]) -> None:
        self.writer.writerows(_row(share) for share, _ in shares)
        _sync(self.handle)

    def close(self) -> None:
        self.handle.close()


# The columns are constants of this module, never input.
_INSERT = f"INSERT OR IGNORE INTO shares VALUES ({', '.join('?' for _ in COLUMNS)})"  # noqa: S608


class SqliteTable:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        columns = ", ".join(
            f"{c} TEXT PRIMARY KEY" if c == "share_id" else f"{c} TEXT" for c in COLUMNS
        )
        self.db.execute(f"CREATE TABLE IF NOT EXISTS shares ({columns})")

    def seen(self) -> set[str]:
        return {str(row[0]) for row in self.db.execute("SELECT share_id FROM shares")}

    def write(self, shares: Sequence[tuple[Share, bytes]]) -> None:
        rows = [tuple(_row(share).values()) for share, _ in shares]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(_INSERT, rows)
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


class ParquetFolder:
    """A folder of ``part-NNNNNN.parquet`` files, one per batch, each written
    to a temporary name and renamed, so a kill never leaves half a file."""

    def __init__(self, path: Path) -> None:
        import pyarrow  # noqa: PLC0415 - large; only for this output

        self.path = private_dir(path)
        self.schema = pyarrow.schema([(c, pyarrow.string()) for c in COLUMNS])
        for partial in path.glob("*.parquet.tmp"):
            partial.unlink()

    def parts(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet"))

    def seen(self) -> set[str]:
        import pyarrow.parquet as pq  # noqa: PLC0415

        found: set[str] = set()
        for part in self.parts():
            found.update(str(v) for v in pq.read_table(part, columns=["share_id"])[0].to_pylist())
        return found

    def write(self, shares: Sequence[tuple[Share, bytes]]) -> None:
        import pyarrow  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        rows = [_row(share) for share, _ in shares]
        table = pyarrow.Table.from_pylist(rows, schema=self.schema)
        number = len(self.parts())
        final = self.path / f"part-{number:06d}.parquet"
        partial = final.with_suffix(".parquet.tmp")
        pq.write_table(table, partial)
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        partial.rename(final)

    def close(self) -> None:
        pass


def _repair_last_line(path: Path) -> None:
    """Drop a last line without its newline (the write a kill interrupted)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def _sync(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def open_output(path: Path, form: Format) -> Output:
    if form is Format.jsonl:
        return JsonLines(path)
    if form is Format.csv:
        return CsvFile(path)
    if form is Format.sqlite:
        return SqliteTable(path)
    return ParquetFolder(path)


def guess_format(path: Path) -> Format:
    suffix = path.suffix.lower().lstrip(".")
    known = {"jsonl": Format.jsonl, "ndjson": Format.jsonl, "csv": Format.csv}
    known |= {"sqlite": Format.sqlite, "db": Format.sqlite, "parquet": Format.parquet}
    if suffix not in known:
        raise ValueError(
            f"cannot tell the format of {path.name}: give --format "
            "(jsonl, csv, sqlite or parquet), or name it .jsonl, .csv, .sqlite or .parquet"
        )
    return known[suffix]


@dataclass
class Tally:
    written: int = 0
    repeats: int = 0
    refused: Counter[str] = field(default_factory=Counter)


class Checker:
    """Everything a share must pass before it is written."""

    def __init__(
        self,
        recipient: str,
        names: TopicNames,
        keys: HubKeys,
        schemas: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self.recipient = recipient
        self.names = names
        self.keys = keys
        self.validators = {topic: Draft202012Validator(schema) for topic, schema in schemas.items()}

    def check(self, topic: str, value: bytes | None, headers: object) -> Share:
        """The share, or ContractError with a code saying why not."""
        self.keys.verify(value, headers)  # HubSignatureError is a ContractError
        share = Share.from_bytes(value)
        try:
            recipient, kind = self.names.parse_shared(topic)
        except TopicNameError as exc:
            raise ContractError("topic", "wrong_topic", str(exc)) from exc
        if share.recipient != self.recipient or recipient != self.recipient:
            raise ContractError(
                "recipient", "wrong_topic", f"a share to {share.recipient!r} on {topic}"
            )
        if share.event_type.lower() != kind:
            raise ContractError(
                "event_type", "wrong_topic", f"a {share.event_type} share on {topic}"
            )
        validator = self.validators.get(topic)
        if validator is None:
            raise ContractError("topic", "no_schema", f"no published schema for {topic}")
        error = _first_error(validator, share)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(share)"
            raise ContractError(where, "schema", error.message[:300])
        return share


def _first_error(validator: Draft202012Validator, share: Share) -> Any:
    """The error that says why ``share`` fails its stream's schema, or None. A
    stream's schema has one branch per agreement (``oneOf``); the error shown
    is the first one of the branch for the share's own agreement."""
    errors = sorted(validator.iter_errors(share.to_dict()), key=lambda e: list(e.path))
    if not errors:
        return None
    top = errors[0]
    if top.validator == "oneOf" and top.context:
        branches: dict[Any, list[Any]] = {}
        for sub in top.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        for found in branches.values():
            if not any(list(e.absolute_path) == ["agreement_id"] for e in found):
                return found[0]
    return top


def published_schemas(
    recipient: str, names: TopicNames, folder: Path | None
) -> dict[str, dict[str, Any]]:
    """``topic -> JSON Schema`` of every stream the agreements send ``recipient``:
    from ``folder`` (what ``svdhub schemas shares --out`` wrote), else made from
    the project's policies."""
    if folder is not None:
        found = {}
        for path in sorted(folder.glob(f"{recipient}.*.schema.json")):
            kind = path.name.removeprefix(f"{recipient}.").removesuffix(".schema.json")
            found[names.shared(recipient, kind)] = json.loads(path.read_text(encoding="utf-8"))
        return found
    from hub.share_schemas import load, share_schemas  # noqa: PLC0415

    agreements, parties = load(settings.policies_dir())
    made = share_schemas(agreements, parties, recipients=(recipient,))
    return {names.shared(r, kind.lower()): schema for (r, kind), schema in made.items()}


def subscribe_command(
    *,
    recipient: Annotated[str, typer.Option("--recipient", help="The recipient, e.g. vrp.")],
    to: Annotated[
        Path,
        typer.Option(
            "--to",
            help="Output: a .jsonl, .csv, .sqlite file or a .parquet folder "
            "(appended to; shares already in it are skipped).",
        ),
    ],
    form: Annotated[
        Format | None, typer.Option("--format", help="Output format (default: from --to).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep reading new shares until Ctrl-C.")
    ] = False,
    group: Annotated[
        str, typer.Option(help="Consumer group name, after '<recipient>.' (resume point).")
    ] = "subscribe",
    credentials: Credentials = None,
    bootstrap: Bootstrap = None,
    hub_key: Annotated[
        Path | None,
        typer.Option(
            "--hub-key",
            exists=True,
            dir_okay=False,
            help="The hub's public key file (`svdhub access hub-key`; default: the hub's own).",
        ),
    ] = None,
    schemas: Annotated[
        Path | None,
        typer.Option(
            "--schemas",
            exists=True,
            file_okay=False,
            help="Folder of published share schemas (default: made from policies/).",
        ),
    ] = None,
) -> None:
    """Copy a recipient's shares to a file (JSON Lines, CSV, SQLite, Parquet),
    verifying the hub's signature and each stream's schema.

    Reads svd.shared.<recipient>.* as recipient-<recipient>, in the consumer
    group <recipient>.<group>; resumes where the last run stopped. Exit codes:
    0 done; 1 Kafka refused or is unreachable; 2 bad usage; 4 some messages
    were refused (forged or invalid) and the rest were written."""
    from hub.hub_key import hub_keys  # noqa: PLC0415

    try:
        names = TopicNames.from_env()
        output_format = form or guess_format(to)
        keys = hub_keys(settings.state_home(), hub_key)
        streams = published_schemas(recipient, names, schemas)
    except (TopicNameError, ValueError, HubKeyFileError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not streams:
        typer.echo(f"error: no agreement sends anything to {recipient!r}", err=True)
        raise typer.Exit(2)
    kafka = kafka_client(f"recipient-{recipient}", credentials, bootstrap)
    output = open_output(to, output_format)
    checker = Checker(recipient, names, keys, streams)
    tally = Tally()
    try:
        _run(
            kafka,
            f"{names.prefix}{recipient}.{group}",
            sorted(streams),
            checker=checker,
            output=output,
            tally=tally,
            follow=follow,
        )
    finally:
        output.close()
    refused = sum(tally.refused.values())
    typer.echo(
        f"{tally.written} shares written to {to} ({output_format}); "
        f"{tally.repeats} already there; {refused} refused",
        err=True,
    )
    for code, count in tally.refused.most_common():
        typer.echo(f"  {count:>6}  refused: {code}", err=True)
    if refused:
        raise typer.Exit(EXIT_REFUSED_MESSAGES)


@contextmanager
def _progress() -> Iterator[Any]:
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn  # noqa: PLC0415

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True) as progress:
        yield progress


def _run(
    kafka: ClientSettings,
    group: str,
    topics: list[str],
    *,
    checker: Checker,
    output: Output,
    tally: Tally,
    follow: bool,
) -> None:
    from kafka import KafkaConsumer  # noqa: PLC0415 - slow import
    from kafka.errors import (  # noqa: PLC0415
        GroupAuthorizationFailedError,
        KafkaError,
        TopicAuthorizationFailedError,
    )

    seen = output.seen()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    import signal  # noqa: PLC0415

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        consumer = KafkaConsumer(
            **kafka.kafka_python(),
            group_id=group,
            client_id=f"svdhub-subscribe-{group}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=1000,
        )
    except KafkaError as exc:
        typer.echo(f"error: cannot connect to Kafka as {kafka.principal}: {exc}", err=True)
        raise typer.Exit(1) from exc
    started = time.monotonic()
    try:
        consumer.subscribe(topics)
        with _progress() as progress:
            task = progress.add_task("subscribing", total=None) if progress else None
            while not stopping:
                batch = consumer.poll(timeout_ms=1000)
                good: list[tuple[Share, bytes]] = []
                for records in batch.values():
                    for message in records:
                        _take(message, checker, seen, good, tally)
                if good:
                    output.write(good)
                    seen.update(share.share_id for share, _ in good)
                    tally.written += len(good)
                if batch:
                    consumer.commit()
                if progress is not None and task is not None:
                    progress.update(
                        task,
                        description=f"{tally.written} shares written, "
                        f"{sum(tally.refused.values())} refused",
                    )
                if not follow and not batch and _caught_up(consumer, topics, started):
                    break
    except (TopicAuthorizationFailedError, GroupAuthorizationFailedError) as exc:
        what = f"group {group}" if isinstance(exc, GroupAuthorizationFailedError) else ""
        what = what or f"topics {', '.join(topics)}"
        typer.echo(f"error: Kafka refused {kafka.principal} access to {what}: {exc}", err=True)
        raise typer.Exit(1) from exc
    except (KafkaError, TimeoutError) as exc:
        typer.echo(f"error: Kafka at {kafka.bootstrap_servers}: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        consumer.close(autocommit=False)


def _take(
    message: Any, checker: Checker, seen: set[str], good: list[tuple[Share, bytes]], tally: Tally
) -> None:
    try:
        share = checker.check(message.topic, message.value, message.headers)
    except (HubSignatureError, ContractError) as exc:
        tally.refused[getattr(exc, "code", "invalid")] += 1
        typer.echo(
            f"refused: {message.topic}[{message.partition}]@{message.offset}: {exc}", err=True
        )
        return
    if share.share_id in seen or any(s.share_id == share.share_id for s, _ in good):
        tally.repeats += 1
        return
    good.append((share, message.value))


def _caught_up(consumer: Any, topics: list[str], waiting_since: float) -> bool:
    """Whether every assigned partition is read to its end. Before the group
    has assigned anything (a new member waits for the members of a killed run
    to time out), it is caught up only if no stream holds a message at all.
    Raises TimeoutError when no assignment comes for :data:`JOIN_TIMEOUT` s."""
    from kafka import TopicPartition  # noqa: PLC0415

    assigned = consumer.assignment()
    if assigned:
        ends = consumer.end_offsets(list(assigned))
        return all(consumer.position(tp) >= end for tp, end in ends.items())
    parts = [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    if not parts or not any(consumer.end_offsets(parts).values()):
        return True
    if time.monotonic() - waiting_since > JOIN_TIMEOUT:
        raise TimeoutError(f"the consumer group gave this member no partition in {JOIN_TIMEOUT} s")
    return False


#: Seconds to wait for the consumer group to assign partitions.
JOIN_TIMEOUT = 120
