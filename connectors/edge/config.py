"""Connector configuration: one YAML file per authority and extract.

A config says where the extract is, how its columns map onto a wire record,
which columns identify people or records (and are only ever pseudonymised),
and where the keys are. It names key *paths*, never keys.

Paths may use ``${SVDHUB_AUTHORITY_HOME}``, the authority's own state folder
(:func:`authority_home`), and other environment variables; relative paths
are relative to the config file. ``${SVDHUB_HOME}`` (the hub's state folder,
default ``.hub`` in the project) is still expanded, but an authority's keys,
extracts and connector state belong in its own folder, never in the hub's.
Every problem is reported as ``<file>: <dotted.path>: <reason>``.

Key custody: the authority's folder holds its Ed25519 signing key, its copy
of the partnership linkage key, the connector's checkpoint and reject files
(``<authority home>/connector/``) and, when they are local files, its
extracts. Only the *public* key leaves it (``svdhub connector keys`` exports
it to ``<authority home>/public/<key_id>.yaml`` for the hub to register).
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from wire import schemas
from wire.schemas import PAYLOADS
from wire.topics import PARTY_ID

AUTHORITY_TYPES = (
    "POLICE",
    "ICB_ED",
    "AMBULANCE",
    "FRS",
    "LA",
    "YOS",
    "PROBATION",
    "EDUCATION",
    "VCS",
)
_FIELD_KINDS = ("const", "column", "first_of", "concat", "age_band", "lsoa", "point")
#: The precisions a source's time may have, finest first.
PRECISIONS = ("minute", "hour", "day", "month")
_PSEUDONYM_KINDS = ("reference", "person", "record_key")


class ConfigError(Exception):
    """A connector config is missing, malformed or inconsistent."""


@cache
def retraction_reasons() -> tuple[str, ...]:
    """The symbols of the Retraction schema's ``reason`` enum (ENTERED_IN_ERROR, ...)."""
    record = schemas.current().expanded("Retraction")
    (reason,) = [f["type"] for f in record["fields"] if f["name"] == "reason"]
    return tuple(str(symbol) for symbol in reason["symbols"])


@dataclass(frozen=True)
class CsvSource:
    path: str  # a file or a glob, after variable expansion
    encoding: str = "utf-8"
    delimiter: str = ","
    comment_prefix: str | None = "#"


@dataclass(frozen=True)
class XlsxSource:
    """An Excel workbook (``.xlsx``), read-only and streamed: one sheet, its
    header on ``header_row``, one row per sheet row below it."""

    path: str  # a file or a glob, after variable expansion
    sheet: str | None = None  # None: the first sheet
    header_row: int = 1
    #: The most a workbook may unpack to, all its parts together, in MiB: a
    #: workbook is a zip archive, and one that would unpack to more is refused
    #: before it is opened (a "zip bomb" of a few kilobytes can hold gigabytes).
    max_unpacked_mb: int = 256


@dataclass(frozen=True)
class XmlSource:
    """An XML file, streamed: each ``record`` element is one row, whose columns
    are its leaf elements and attributes by path below it (``Assault/Method``,
    ``@id``); ``context`` adds values from outside the records (a header) to
    every row, by path from the root; ``xsd`` is checked first, whole file."""

    path: str  # a file or a glob, after variable expansion
    record: str  # the local name of the element that is one row
    context: dict[str, str] = field(default_factory=dict)  # column -> path from the root
    xsd: Path | None = None


#: The sources read file by file (a path or a glob), as against an SQL query.
FileSource = CsvSource | XlsxSource | XmlSource


@dataclass(frozen=True)
class Join:
    """Columns added to each row of a file source from CSV files that update
    it (``join:``): police.uk's monthly outcomes, for the street files' crimes.

    Every join file is read at the start of each run, in name order; for each
    value of ``by`` the last row read wins. A row whose ``on`` has no match
    gets the columns blank (``by``, not ``on``: YAML reads ``on`` as true)."""

    csv: CsvSource
    by: str  # the column that matches, by the same name in the source and the join files
    columns: dict[str, str]  # join file column -> the column name the rows get


@dataclass(frozen=True)
class Withdrawn:
    """A source column that marks a row withdrawn: a row whose ``column`` holds
    one of ``reasons``' values is published as a Retraction of the version the
    row names (its record key and record version), not as its record. A blank
    cell or a value in ``current`` publishes the row as its record; any other
    value rejects the row."""

    column: str
    reasons: dict[str, str]  # cell value -> Retraction reason
    current: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeletedRows:
    """An SQL query for the record versions deleted at the source: each row it
    returns (the config's record key column, its record version column if the
    config has one, and ``watermark``) is published as a Retraction of that
    version. Read incrementally like the main query, with a watermark of its own."""

    query: str  # ':watermark' is bound
    watermark: str  # column name
    reason: str = "UNKNOWN"  # when there is no reason column
    reason_column: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)  # cell value -> Retraction reason
    recorded_at: FieldSpec | None = None  # when the deletion was recorded (else: now)
    initial_watermark: str = ""


@dataclass(frozen=True)
class SqlSource:
    url: str  # SQLAlchemy URL
    query: str  # must select the watermark column; ':watermark' is bound
    watermark: str  # column name
    initial_watermark: str = ""
    deleted_rows: DeletedRows | None = None


@dataclass(frozen=True)
class Keys:
    signing_key: Path
    signing_key_id: str
    linkage_key: Path
    linkage_key_version: str


@dataclass(frozen=True)
class FieldSpec:
    """How one record field is filled from a row. Exactly one of ``const``,
    ``column``, ``age_band`` or ``lsoa`` is set; the rest refine ``column``."""

    path: str  # the config path, for error messages
    const: Any = None
    column: str | None = None
    #: ``first_of`` (the first non-blank cell) or ``concat`` (the non-blank
    #: cells joined by ``separator``) of ``columns``; then refined like ``column``.
    combine: str | None = None
    columns: tuple[str, ...] = ()
    separator: str = " "
    age_band: dict[str, str] | None = None  # {dob, dob_format} or {age}
    lsoa: str | None = None  # column holding an LSOA 2021 code
    #: (longitude column, latitude column): a point placed in its LSOA
    point: tuple[str, str] | None = None

    def reads(self) -> set[str]:
        """The columns this field reads."""
        found = {c for c in (self.column, self.lsoa) if c} | set(self.columns)
        found |= set(self.point or ())
        return found | {v for k, v in (self.age_band or {}).items() if k in ("dob", "age")}

    value_map: dict[str, Any] | None = None
    unmapped: str = "reject"  # or "default"
    default: Any = None
    has_default: bool = False
    datetime_format: str | None = None
    date_format: str | None = None
    #: How precise the source's time is: minute, hour, day or month. A day or
    #: month is a calendar date, kept as 00:00 UTC of its first day (no zone).
    precision: str | None = None
    number: str | None = None  # "int" or "float"
    split: str | None = None  # separator: the column holds a list
    pattern: str | None = None
    max_length: int = 64


@dataclass(frozen=True)
class GeographySpec:
    """Where a connector's geography comes from: ``lookup`` is an ONS lookup
    file, or None for the SYNTHETIC sample (``lookup: synthetic``);
    ``partnership`` the partnership file (None: the demo's, allowed only with
    the synthetic sample)."""

    lookup: Path | None
    partnership: Path | None
    lsoa11: Path | None = None  # the ONS LSOA 2011 -> 2021 best-fit lookup
    boundaries: Path | None = None  # ONS LSOA 2021 boundaries (GeoJSON), for points

    @property
    def synthetic(self) -> bool:
        return self.lookup is None


@dataclass(frozen=True)
class Condition:
    """One row filter condition on a column: its trimmed value is one of
    ``values``, or (``blank``) it is blank or missing."""

    path: str  # the config path, for messages
    column: str
    values: frozenset[str] = frozenset()
    blank: bool = False

    def holds(self, value: str | None) -> bool:
        text = (value or "").strip()
        return not text if self.blank else text in self.values


@dataclass(frozen=True)
class RowFilter:
    """Which rows a connector publishes at all: a row is skipped (counted, not
    rejected) unless every ``include_if`` condition holds, or when any
    ``skip_if`` condition does."""

    include_if: tuple[Condition, ...] = ()
    skip_if: tuple[Condition, ...] = ()

    def columns(self) -> set[str]:
        return {c.column for c in (*self.include_if, *self.skip_if)}


@dataclass(frozen=True)
class PseudonymSpec:
    path: str
    kind: str  # "reference", "person" or "record_key" (the record key's own pseudonym)
    reference: str | None = None  # column with a record reference
    name: tuple[str, ...] = ()  # person: name column(s)
    dob: str | None = None  # person: date-of-birth column
    dob_format: str = "%Y-%m-%d"
    nhs_number: str | None = None  # person: NHS number column (instead of name + dob)
    optional: bool = False
    # reference: whose references these are (default: this authority). A reference to
    # another authority's record (an ED attendance cited by a referral) must be
    # pseudonymised in that authority's namespace to link with its events.
    namespace: str | None = None
    namespace_by_prefix: dict[str, str] | None = None


@dataclass(frozen=True)
class ConnectorConfig:
    file: Path
    authority: str
    authority_type: str
    source_system: str
    record_type: str
    source: FileSource | SqlSource
    keys: Keys
    record_key: str  # column of the source record key; for a hashed key, 'hash(A, B)'
    record_version: str | None  # column of the record version (None: always 1, or by content)
    occurred_at: FieldSpec
    recorded_at: FieldSpec
    timezone: str
    pseudonyms: dict[str, PseudonymSpec]
    fields: dict[str, FieldSpec]
    never_share: tuple[str, ...] = ()  # identifier and free-text columns
    #: The columns of a record key made from a hash of several (``record_key:
    #: {hash: [...]}``); empty when ``record_key`` names one column.
    key_hash: tuple[str, ...] = ()
    #: ``record_version: {content: true}``: versions numbered by the connector,
    #: a new one whenever the row's content changes (edge.versions).
    version_by_content: bool = False
    withdrawn: Withdrawn | None = None  # a column that marks rows withdrawn
    join: Join | None = None  # columns from files that update the source's rows
    geography: GeographySpec = GeographySpec(None, None)
    filter: RowFilter = RowFilter()
    batch_size: int = 500
    poll_seconds: float = 10.0
    authority_home: Path = field(default_factory=Path)  # the authority's own state folder

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The columns the record key is made from."""
        return self.key_hash or (self.record_key,)

    @property
    def state_dir(self) -> Path:
        """The connector's checkpoint and reject files, in the authority's folder."""
        return self.authority_home / "connector"

    @property
    def public_key_file(self) -> Path:
        """Where ``svdhub connector keys`` exports the public signing key for the hub."""
        return self.authority_home / "public" / f"{self.keys.signing_key_id}.yaml"

    @property
    def event_type(self) -> str:
        return next(kind for kind, record in PAYLOADS.items() if record == self.record_type)

    @property
    def deleted_rows(self) -> DeletedRows | None:
        return self.source.deleted_rows if isinstance(self.source, SqlSource) else None

    @property
    def retracts(self) -> bool:
        """Whether this connector may publish Retractions besides its records
        (a ``withdrawn`` column or a ``deleted_rows`` query)."""
        return self.withdrawn is not None or self.deleted_rows is not None

    @classmethod
    def load(cls, path: Path) -> ConnectorConfig:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: file not found") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        return _Parser(path).config(raw)


AUTHORITY_HOME_ENV = "SVDHUB_AUTHORITY_HOME"
AUTHORITIES_ENV = "SVDHUB_AUTHORITIES"


def _project() -> Path:
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "deploy" / "local" / "stack.toml").is_file():
            return folder
    return here


def home() -> Path:
    """The hub's state folder: $SVDHUB_HOME, else .hub in the project. A connector
    reads only the stack's addresses there (``stack.env``, local stack only)."""
    if value := os.environ.get("SVDHUB_HOME"):
        return Path(value)
    return _project() / ".hub"


def authorities_home() -> Path:
    """The folder that holds one folder per simulated authority (demo and tests):
    $SVDHUB_AUTHORITIES, else ``.authorities`` in the project."""
    if value := os.environ.get(AUTHORITIES_ENV):
        return Path(value).resolve()
    return _project() / ".authorities"


def authority_home(authority: str) -> Path:
    """The authority's own state folder: $SVDHUB_AUTHORITY_HOME (set by an authority
    that runs its connector; it names that authority's folder, whatever the
    config), else ``<authorities_home()>/<authority>``."""
    if value := os.environ.get(AUTHORITY_HOME_ENV):
        return Path(value).resolve()
    return authorities_home() / authority


class _Parser:
    def __init__(self, file: Path) -> None:
        self.file = file
        self.authority: str | None = None  # set once read: ${SVDHUB_AUTHORITY_HOME} needs it

    def fail(self, where: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.file}: {where}: {reason}" if where else f"{self.file}: {reason}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a mapping")
        return value

    def text(self, table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}".lstrip("."), "must be a non-empty string")
        return value

    def expand(self, value: str) -> str:
        """Substitute ${VARIABLE}s: SVDHUB_AUTHORITY_HOME is :func:`authority_home`
        of the config's authority; SVDHUB_HOME defaults to the project's .hub."""
        env = {**os.environ, "SVDHUB_HOME": str(home())}
        if self.authority is not None:
            env[AUTHORITY_HOME_ENV] = str(authority_home(self.authority))
        return re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), m.group(0)), value)

    def path(self, value: str) -> Path:
        result = Path(self.expand(value))
        return result if result.is_absolute() else (self.file.parent / result).resolve()

    def config(self, raw: Any) -> ConnectorConfig:
        top = self.mapping(raw, "")
        known = {
            "authority",
            "authority_type",
            "source_system",
            "record_type",
            "source",
            "keys",
            "record_key",
            "record_version",
            "occurred_at",
            "recorded_at",
            "timezone",
            "pseudonyms",
            "fields",
            "never_share",
            "withdrawn",
            "geography",
            "include_if",
            "skip_if",
            "join",
            "batch_size",
            "poll_seconds",
        }
        if "partitions" in top:
            raise self.fail(
                "partitions",
                "a connector no longer creates its raw topic (the hub does, with "
                "`svdhub access apply`); remove this key",
            )
        if unknown := sorted(set(top) - known):
            raise self.fail("", f"unknown keys: {', '.join(unknown)}")
        authority = self.text(top, "authority", "")
        if not PARTY_ID.fullmatch(authority):
            raise self.fail("authority", f"{authority!r} must be lower-case letters, digits, '-'")
        self.authority = authority
        authority_type = self.text(top, "authority_type", "")
        if authority_type not in AUTHORITY_TYPES:
            raise self.fail("authority_type", f"must be one of {', '.join(AUTHORITY_TYPES)}")
        record_type = self.text(top, "record_type", "")
        if record_type not in PAYLOADS.values():
            raise self.fail("record_type", f"must be one of {', '.join(PAYLOADS.values())}")
        fields = {
            name: self.field(spec, f"fields.{name}")
            for name, spec in self.mapping(top.get("fields"), "fields").items()
        }
        pseudonyms = {
            name: self.pseudonym(spec, f"pseudonyms.{name}")
            for name, spec in self.mapping(top.get("pseudonyms", {}), "pseudonyms").items()
        }
        if overlap := sorted(set(fields) & set(pseudonyms)):
            raise self.fail("fields", f"also listed under pseudonyms: {', '.join(overlap)}")
        never_share = top.get("never_share", [])
        if not isinstance(never_share, list) or not all(isinstance(c, str) for c in never_share):
            raise self.fail("never_share", "must be a list of column names")
        for name, spec in fields.items():
            used = ({spec.column, spec.lsoa} | set(spec.columns)) & set(never_share)  # DOBs: ok
            if used:
                raise self.fail(
                    f"fields.{name}",
                    f"copies never_share column(s) "
                    f"{', '.join(sorted(c for c in used if c))} into the event",
                )
        record_key, key_hash = self.record_key(top.get("record_key"))
        version_column, by_content = self.record_version(top.get("record_version"))
        source = self.source(self.mapping(top.get("source"), "source"))
        withdrawn = None
        if "withdrawn" in top:
            withdrawn = self.withdrawn(top["withdrawn"])
        join = self.join(top["join"], source, never_share) if "join" in top else None
        if record_type == "Retraction" and (withdrawn or getattr(source, "deleted_rows", None)):
            raise self.fail(
                "withdrawn",
                "a Retraction config cannot withdraw rows; use withdrawn or deleted_rows "
                "in the config of the records they withdraw",
            )
        return ConnectorConfig(
            file=self.file,
            authority=authority,
            authority_type=authority_type,
            source_system=self.text(top, "source_system", ""),
            record_type=record_type,
            source=source,
            keys=self.keys(self.mapping(top.get("keys"), "keys")),
            record_key=record_key,
            key_hash=key_hash,
            record_version=version_column,
            version_by_content=by_content,
            occurred_at=self.field(top.get("occurred_at"), "occurred_at"),
            recorded_at=self.field(top.get("recorded_at", top.get("occurred_at")), "recorded_at"),
            timezone=self.text(top, "timezone", "", "Europe/London"),
            pseudonyms=pseudonyms,
            fields=fields,
            never_share=tuple(never_share),
            withdrawn=withdrawn,
            join=join,
            geography=self.geography(top.get("geography")),
            filter=RowFilter(
                include_if=self.conditions(top.get("include_if"), "include_if", never_share),
                skip_if=self.conditions(top.get("skip_if"), "skip_if", never_share),
            ),
            batch_size=self.positive(top, "batch_size", 500),
            poll_seconds=float(self.positive(top, "poll_seconds", 10)),
            authority_home=authority_home(authority),
        )

    def record_key(self, raw: Any) -> tuple[str, tuple[str, ...]]:
        """``record_key: COLUMN``, or ``record_key: {hash: [COLUMN, ...]}`` for a
        source without an id: the key is then made from those cells together."""
        if isinstance(raw, dict):
            if set(raw) != {"hash"}:
                raise self.fail("record_key", "a mapping must be {hash: [columns]}")
            columns = raw["hash"]
            if (
                not isinstance(columns, list)
                or len(columns) < 2
                or not all(isinstance(c, str) and c.strip() for c in columns)
            ):
                raise self.fail("record_key.hash", "must list two or more column names")
            if len(set(columns)) != len(columns):
                raise self.fail("record_key.hash", "names a column twice")
            return f"hash({', '.join(columns)})", tuple(columns)
        if not isinstance(raw, str) or not raw.strip():
            raise self.fail("record_key", "must be a column name or {hash: [columns]}")
        return raw, ()

    def record_version(self, raw: Any) -> tuple[str | None, bool]:
        """``record_version: COLUMN``, ``{content: true}``, or nothing (always 1)."""
        if raw is None:
            return None, False
        if isinstance(raw, dict):
            if raw != {"content": True}:
                raise self.fail("record_version", "a mapping must be {content: true}")
            return None, True
        if not isinstance(raw, str) or not raw.strip():
            raise self.fail("record_version", "must be a column name or {content: true}")
        return raw, False

    def geography(self, raw: Any) -> GeographySpec:
        """``geography: synthetic`` or ``{lookup: FILE|synthetic, partnership: FILE}``."""
        how = (
            "set geography: {lookup: FILE, partnership: FILE}: the ONS LSOA21 -> MSOA21 -> "
            "LAD lookup CSV and the partnership file the hub gives you "
            "(policies/partnership.yaml); or geography: synthetic for the demo's SYNTHETIC "
            "sample"
        )
        if raw is None:
            raise self.fail("geography", f"missing: {how}")
        if raw == "synthetic":
            return GeographySpec(None, None)
        if not isinstance(raw, dict):
            raise self.fail("geography", f"must be a mapping or 'synthetic': {how}")
        if unknown := sorted(set(raw) - {"lookup", "partnership", "lsoa11", "boundaries"}):
            raise self.fail("geography", f"unknown keys: {', '.join(unknown)}")
        boundaries = raw.get("boundaries")
        shapes = self.path(self.text(raw, "boundaries", "geography")) if boundaries else None
        lookup = self.text(raw, "lookup", "geography")
        partnership = raw.get("partnership")
        if partnership is not None and not (isinstance(partnership, str) and partnership.strip()):
            raise self.fail("geography.partnership", "must be a file name")
        lsoa11 = self.path(self.text(raw, "lsoa11", "geography")) if "lsoa11" in raw else None
        if lookup == "synthetic":
            return GeographySpec(
                None, self.path(partnership) if partnership else None, lsoa11, shapes
            )
        if partnership is None:
            raise self.fail(
                "geography.partnership",
                "missing: an ONS lookup needs the partnership file that names its districts "
                "(policies/partnership.yaml at the hub)",
            )
        return GeographySpec(self.path(lookup), self.path(partnership), lsoa11, shapes)

    def conditions(self, raw: Any, where: str, never_share: list[str]) -> tuple[Condition, ...]:
        """``include_if``/``skip_if``: one condition or a list of them, each
        ``{column: C, in: [values]}`` or ``{column: C, blank: true}``."""
        if raw is None:
            return ()
        items = raw if isinstance(raw, list) else [raw]
        found = []
        for number, item in enumerate(items):
            at = f"{where}[{number}]" if isinstance(raw, list) else where
            table = self.mapping(item, at)
            if unknown := sorted(set(table) - {"column", "in", "blank"}):
                raise self.fail(at, f"unknown keys: {', '.join(unknown)}")
            column = self.text(table, "column", at)
            if column in never_share:
                raise self.fail(at, f"column {column!r} is listed under never_share")
            if ("in" in table) == ("blank" in table):
                raise self.fail(at, "needs exactly one of in: [values] or blank: true")
            if "blank" in table:
                if table["blank"] is not True:
                    raise self.fail(f"{at}.blank", "must be true")
                found.append(Condition(at, column, blank=True))
                continue
            values = table["in"]
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)
            ):
                raise self.fail(f"{at}.in", "must be a non-empty list of values")
            found.append(Condition(at, column, frozenset(str(v).strip() for v in values)))
        return tuple(found)

    def positive(self, table: dict[str, Any], key: str, default: int) -> int:
        value = table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.fail(key, "must be a positive whole number")
        return value

    def source(self, table: dict[str, Any]) -> FileSource | SqlSource:
        if set(table) == {"csv"}:
            return self.csv(self.mapping(table["csv"], "source.csv"), "source.csv")
        if set(table) == {"sql"}:
            sql = self.mapping(table["sql"], "source.sql")
            url = self.expand(self.text(sql, "url", "source.sql"))
            if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
                url = f"sqlite:///{self.path(url.removeprefix('sqlite:///'))}"
            known = {"url", "query", "watermark", "initial_watermark", "deleted_rows"}
            if unknown := sorted(set(sql) - known):
                raise self.fail("source.sql", f"unknown keys: {', '.join(unknown)}")
            query = self.select(self.text(sql, "query", "source.sql"), "source.sql.query")
            deleted = None
            if "deleted_rows" in sql:
                deleted = self.deleted_rows(sql["deleted_rows"], "source.sql.deleted_rows")
            return SqlSource(
                url=url,
                query=query,
                watermark=self.text(sql, "watermark", "source.sql"),
                initial_watermark=str(sql.get("initial_watermark", "")),
                deleted_rows=deleted,
            )
        if set(table) == {"xlsx"}:
            return self.xlsx(self.mapping(table["xlsx"], "source.xlsx"))
        if set(table) == {"xml"}:
            return self.xml(self.mapping(table["xml"], "source.xml"))
        raise self.fail("source", "must hold exactly one of 'csv', 'xlsx', 'xml' or 'sql'")

    def csv(self, spec: dict[str, Any], where: str) -> CsvSource:
        if unknown := sorted(set(spec) - {"path", "encoding", "delimiter", "comment_prefix"}):
            raise self.fail(where, f"unknown keys: {', '.join(unknown)}")
        encoding = self.text(spec, "encoding", where, "utf-8")
        try:
            "".encode(encoding)
        except LookupError as exc:
            raise self.fail(f"{where}.encoding", f"unknown encoding {encoding!r}") from exc
        delimiter = self.text(spec, "delimiter", where, ",")
        if len(delimiter) != 1:
            raise self.fail(f"{where}.delimiter", "must be one character")
        return CsvSource(
            path=str(self.path(self.text(spec, "path", where))),
            encoding=encoding,
            delimiter=delimiter,
            comment_prefix=spec.get("comment_prefix", "#"),
        )

    def join(self, raw: Any, source: FileSource | SqlSource, never_share: list[str]) -> Join:
        """``join: {csv: {...}, by: COLUMN, columns: {JOIN_COLUMN: NEW_NAME}}``."""
        if isinstance(source, SqlSource):
            raise self.fail("join", "is for file sources; join in the SQL query instead")
        spec: dict[Any, Any] = self.mapping(raw, "join")
        if True in spec:
            raise self.fail("join", "YAML reads the key 'on' as true: name the column with 'by'")
        if unknown := sorted(str(k) for k in set(spec) - {"csv", "by", "columns"}):
            raise self.fail("join", f"unknown keys: {', '.join(unknown)}")
        by = self.text(spec, "by", "join")
        columns = self.mapping(spec.get("columns"), "join.columns")
        if not columns or not all(
            isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip()
            for k, v in columns.items()
        ):
            raise self.fail("join.columns", "must map each join file column to a new column name")
        names = list(columns.values())
        if len(set(names)) != len(names) or by in names:
            raise self.fail("join.columns", "each new column name must be distinct (and not 'by')")
        if hidden := sorted({by, *columns} & set(never_share)):
            raise self.fail("join", f"reads never_share column(s) {', '.join(hidden)}")
        return Join(
            csv=self.csv(self.mapping(spec.get("csv"), "join.csv"), "join.csv"),
            by=by,
            columns={str(k): str(v) for k, v in columns.items()},
        )

    def xlsx(self, spec: dict[str, Any]) -> XlsxSource:
        if unknown := sorted(set(spec) - {"path", "sheet", "header_row", "max_unpacked_mb"}):
            raise self.fail("source.xlsx", f"unknown keys: {', '.join(unknown)}")
        sheet = spec.get("sheet")
        if sheet is not None and not (isinstance(sheet, str) and sheet.strip()):
            raise self.fail("source.xlsx.sheet", "must be a sheet name")
        return XlsxSource(
            path=str(self.path(self.text(spec, "path", "source.xlsx"))),
            sheet=sheet,
            header_row=self.positive(spec, "header_row", 1),
            max_unpacked_mb=self.positive(spec, "max_unpacked_mb", 256),
        )

    def xml(self, spec: dict[str, Any]) -> XmlSource:
        if unknown := sorted(set(spec) - {"path", "record", "context", "xsd"}):
            raise self.fail("source.xml", f"unknown keys: {', '.join(unknown)}")
        record = self.text(spec, "record", "source.xml")
        if not re.fullmatch(r"[A-Za-z_][\w.-]*", record):
            raise self.fail("source.xml.record", f"{record!r} is not an element's local name")
        context = {
            str(k): v
            for k, v in self.mapping(spec.get("context", {}), "source.xml.context").items()
        }
        for column, path in context.items():
            if not isinstance(path, str) or not re.fullmatch(
                r"[\w.-]+(/[\w.-]+)*(/@[\w.-]+)?", path
            ):
                raise self.fail(
                    f"source.xml.context.{column}",
                    "must be a path of element names from the root, e.g. Header/SiteCode",
                )
        xsd = spec.get("xsd")
        return XmlSource(
            path=str(self.path(self.text(spec, "path", "source.xml"))),
            record=record,
            context=context,
            xsd=self.path(self.text(spec, "xsd", "source.xml")) if xsd is not None else None,
        )

    def select(self, query: str, where: str) -> str:
        """An incremental, read-only query: a SELECT that uses ``:watermark``."""
        if not re.match(r"\s*(select|with)\b", query, re.IGNORECASE):
            raise self.fail(where, "must be a SELECT (or WITH ... SELECT) query")
        if ":watermark" not in query:
            raise self.fail(where, "must use :watermark (incremental reads)")
        return query

    def reasons(self, raw: Any, where: str) -> dict[str, str]:
        """A map of cell values to Retraction reasons, every reason checked."""
        table = {str(k): v for k, v in self.mapping(raw, where).items()}
        if not table:
            raise self.fail(where, "must map at least one value to a reason")
        allowed = retraction_reasons()
        for value, reason in table.items():
            if reason not in allowed:
                raise self.fail(
                    f"{where}.{value}", f"{reason!r} must be one of {', '.join(allowed)}"
                )
        return table

    def withdrawn(self, raw: Any) -> Withdrawn:
        spec = self.mapping(raw, "withdrawn")
        if unknown := sorted(set(spec) - {"column", "values", "current"}):
            raise self.fail("withdrawn", f"unknown keys: {', '.join(unknown)}")
        reasons = self.reasons(spec.get("values"), "withdrawn.values")
        current = spec.get("current", [])
        if not isinstance(current, list):
            raise self.fail("withdrawn.current", "must be a list of values")
        current = [str(value) for value in current]
        if both := sorted(set(current) & set(reasons)):
            raise self.fail("withdrawn.current", f"also under withdrawn.values: {', '.join(both)}")
        return Withdrawn(self.text(spec, "column", "withdrawn"), reasons, tuple(current))

    def deleted_rows(self, raw: Any, where: str) -> DeletedRows:
        spec = self.mapping(raw, where)
        known = {"query", "watermark", "initial_watermark", "reason", "recorded_at"}
        if unknown := sorted(set(spec) - known):
            raise self.fail(where, f"unknown keys: {', '.join(unknown)}")
        query = self.select(self.text(spec, "query", where), f"{where}.query")
        reason_spec = self.mapping(spec.get("reason", {"const": "UNKNOWN"}), f"{where}.reason")
        if set(reason_spec) == {"const"}:
            const = reason_spec["const"]
            if const not in retraction_reasons():
                raise self.fail(
                    f"{where}.reason.const",
                    f"{const!r} must be one of {', '.join(retraction_reasons())}",
                )
            column, reasons = None, {}
        elif set(reason_spec) == {"column", "values"}:
            const = "UNKNOWN"
            column = self.text(reason_spec, "column", f"{where}.reason")
            reasons = self.reasons(reason_spec["values"], f"{where}.reason.values")
        else:
            raise self.fail(f"{where}.reason", "needs either 'const', or 'column' and 'values'")
        recorded_at = None
        if "recorded_at" in spec:
            recorded_at = self.field(spec["recorded_at"], f"{where}.recorded_at")
            if recorded_at.column is None or recorded_at.datetime_format is None:
                raise self.fail(
                    f"{where}.recorded_at", "needs 'column' and 'datetime' (its format)"
                )
        return DeletedRows(
            query=query,
            watermark=self.text(spec, "watermark", where),
            reason=const,
            reason_column=column,
            reasons=reasons,
            recorded_at=recorded_at,
            initial_watermark=str(spec.get("initial_watermark", "")),
        )

    def keys(self, table: dict[str, Any]) -> Keys:
        return Keys(
            signing_key=self.path(self.text(table, "signing_key", "keys")),
            signing_key_id=self.text(table, "signing_key_id", "keys"),
            linkage_key=self.path(self.text(table, "linkage_key", "keys")),
            linkage_key_version=self.text(table, "linkage_key_version", "keys"),
        )

    def field(self, raw: Any, where: str) -> FieldSpec:
        spec = self.mapping(raw, where)
        kinds = [kind for kind in _FIELD_KINDS if kind in spec]
        if len(kinds) != 1:
            raise self.fail(where, f"needs exactly one of {', '.join(_FIELD_KINDS)}")
        known = {
            *_FIELD_KINDS,
            "separator",
            "map",
            "map_file",
            "unmapped",
            "default",
            "datetime",
            "date",
            "precision",
            "number",
            "split",
            "pattern",
            "max_length",
        }
        if unknown := sorted(set(spec) - known):
            raise self.fail(where, f"unknown keys: {', '.join(unknown)}")
        value_map = self.value_map(spec, where)
        combine, columns, separator = self.combined(spec, where)
        unmapped = spec.get("unmapped", "reject")
        if unmapped not in ("reject", "default"):
            raise self.fail(f"{where}.unmapped", "must be 'reject' or 'default'")
        if unmapped == "default" and "default" not in spec:
            raise self.fail(f"{where}.unmapped", "'default' needs a default value")
        precision = self.precision(spec, where)
        point = self.point(spec, where)
        number = spec.get("number")
        if number not in (None, "int", "float"):
            raise self.fail(f"{where}.number", "must be 'int' or 'float'")
        age_band = spec.get("age_band")
        if age_band is not None:
            age_band = {
                str(k): str(v) for k, v in self.mapping(age_band, f"{where}.age_band").items()
            }
            if ("age" in age_band) == ("dob" in age_band):
                raise self.fail(
                    f"{where}.age_band", "needs either 'age' or 'dob' (age at occurred_at)"
                )
        pattern = spec.get("pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.fail(f"{where}.pattern", f"not a regular expression: {exc}") from exc
        return FieldSpec(
            path=where,
            const=spec.get("const"),
            column=spec.get("column"),
            combine=combine,
            columns=columns,
            separator=separator,
            age_band=age_band,
            lsoa=spec.get("lsoa"),
            point=point,
            value_map=value_map,
            unmapped=unmapped,
            default=spec.get("default"),
            has_default="default" in spec,
            datetime_format=spec.get("datetime"),
            date_format=spec.get("date"),
            precision=precision,
            number=number,
            split=spec.get("split"),
            pattern=pattern,
            max_length=int(spec.get("max_length", 64)),
        )

    def point(self, spec: dict[str, Any], where: str) -> tuple[str, str] | None:
        """``point: {longitude: COLUMN, latitude: COLUMN}`` (None: not a point)."""
        if "point" not in spec:
            return None
        table = self.mapping(spec["point"], f"{where}.point")
        if set(table) != {"longitude", "latitude"}:
            raise self.fail(f"{where}.point", "must be {longitude: COLUMN, latitude: COLUMN}")
        return (
            self.text(table, "longitude", f"{where}.point"),
            self.text(table, "latitude", f"{where}.point"),
        )

    def precision(self, spec: dict[str, Any], where: str) -> str | None:
        """A time field's ``precision`` (None: as precise as its format)."""
        precision = spec.get("precision")
        if precision is None:
            return None
        if precision not in PRECISIONS:
            raise self.fail(f"{where}.precision", f"must be one of {', '.join(PRECISIONS)}")
        if "datetime" not in spec and "date" not in spec:
            raise self.fail(f"{where}.precision", "needs a datetime or date format")
        if "date" in spec and precision in ("minute", "hour"):
            raise self.fail(f"{where}.precision", "a date is at most precise to the day")
        return str(precision)

    def value_map(self, spec: dict[str, Any], where: str) -> dict[str, Any] | None:
        """A field's ``map``, over the entries of its ``map_file`` (None: neither)."""
        value_map = None
        if "map_file" in spec:
            value_map = self.map_file(spec["map_file"], f"{where}.map_file")
        if spec.get("map") is not None:
            inline = {str(k): v for k, v in self.mapping(spec["map"], f"{where}.map").items()}
            value_map = {**(value_map or {}), **inline}  # the inline map wins
        return value_map

    def combined(self, spec: dict[str, Any], where: str) -> tuple[str | None, tuple[str, ...], str]:
        """A field's ``first_of`` or ``concat``: the kind, its columns, the separator."""
        combine = next((kind for kind in ("first_of", "concat") if kind in spec), None)
        columns: tuple[str, ...] = ()
        if combine is not None:
            listed = spec[combine]
            if (
                not isinstance(listed, list)
                or len(listed) < 2
                or not all(isinstance(c, str) and c.strip() for c in listed)
            ):
                raise self.fail(f"{where}.{combine}", "must list two or more column names")
            columns = tuple(listed)
        separator = spec.get("separator", " ")
        if "separator" in spec and combine != "concat":
            raise self.fail(f"{where}.separator", "is only for concat")
        if not isinstance(separator, str):
            raise self.fail(f"{where}.separator", "must be text")
        return combine, columns, separator

    def map_file(self, raw: Any, where: str) -> dict[str, Any]:
        """A value map shared between configs: a YAML mapping, or a CSV whose first
        two columns are the source value and the symbol (a header row first)."""
        if not isinstance(raw, str) or not raw.strip():
            raise self.fail(where, "must be a file name")
        path = self.path(raw)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail(where, f"cannot read {path}: {exc}") from exc
        if path.suffix.lower() == ".csv":
            rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
            found: dict[str, Any] = {}
            for number, row in enumerate(rows[1:], start=2):
                if len(row) < 2 or not row[0].strip() or not row[1].strip():
                    raise self.fail(where, f"{path}: row {number}: needs a value and a symbol")
                value = row[0].strip()
                if value in found and found[value] != row[1].strip():
                    raise self.fail(where, f"{path}: row {number}: {value!r} is mapped twice")
                found[value] = row[1].strip()
            if not found:
                raise self.fail(where, f"{path}: holds no values")
            return found
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise self.fail(where, f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict) or not loaded:
            raise self.fail(where, f"{path}: must be a non-empty mapping of value to symbol")
        return {str(k): v for k, v in loaded.items()}

    def pseudonym(self, raw: Any, where: str) -> PseudonymSpec:
        spec = self.mapping(raw, where)
        kinds = [kind for kind in _PSEUDONYM_KINDS if kind in spec]
        if len(kinds) != 1:
            raise self.fail(where, f"needs exactly one of {', '.join(_PSEUDONYM_KINDS)}")
        if "record_key" in spec:
            if spec["record_key"] is not True or set(spec) != {"record_key"}:
                raise self.fail(where, "record_key: true takes no other keys")
            return PseudonymSpec(where, "record_key")
        if "reference" in spec:
            by_prefix = spec.get("namespace_by_prefix")
            if by_prefix is not None:
                by_prefix = {
                    str(k): str(v)
                    for k, v in self.mapping(by_prefix, f"{where}.namespace_by_prefix").items()
                }
            for name in [spec.get("namespace"), *(by_prefix or {}).values()]:
                if name is not None and not PARTY_ID.fullmatch(str(name)):
                    raise self.fail(f"{where}.namespace", f"{name!r} is not an authority id")
            return PseudonymSpec(
                where,
                "reference",
                reference=self.text(spec, "reference", where),
                optional=bool(spec.get("optional", False)),
                namespace=spec.get("namespace"),
                namespace_by_prefix=by_prefix,
            )
        person = self.mapping(spec["person"], f"{where}.person")
        name = person.get("name", [])
        names = (name,) if isinstance(name, str) else tuple(str(n) for n in name)
        if bool(names) == ("nhs_number" in person):
            raise self.fail(
                f"{where}.person",
                "needs either 'name' (with 'dob') or "
                "'nhs_number': pseudonyms made from different identifiers never link",
            )
        if names and "dob" not in person:
            raise self.fail(f"{where}.person", "'name' needs 'dob' too")
        return PseudonymSpec(
            where,
            "person",
            name=names,
            dob=person.get("dob"),
            dob_format=str(person.get("dob_format", "%Y-%m-%d")),
            nhs_number=person.get("nhs_number"),
            optional=bool(spec.get("optional", False)),
        )
