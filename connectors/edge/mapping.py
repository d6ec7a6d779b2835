"""Mapper: one source row -> one wire record, or a RowError naming the field.

A row becomes the config's record type, or a Retraction: when the config's
``withdrawn`` column marks the row withdrawn (:meth:`Mapper.map`), and for
every row of an SQL source's ``deleted_rows`` query (:meth:`Mapper.deleted`).
A Retraction withdraws exactly the version the row names:
``event_id(authority, pseudonymised record key, record version)``, the id
that version was published under; its own id is
:func:`wire.envelope.retraction_id` of the same three, so it too is the same
on every replay.

The record is built only from the schema's fields, filled as the config says;
every other column of the row is left behind. Person and record identifiers
reach the record only as pseudonyms, and columns listed under
``never_share`` can never be copied into a field (the config refuses it).

Each row is parsed, mapped, pseudonymised and checked here; the codec then
validates the whole record against the Avro schema when it is encoded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.boundaries import Boundaries, coordinate
from edge.config import ConfigError, ConnectorConfig, DeletedRows, FieldSpec, PseudonymSpec
from edge.dates import parser
from edge.pseudonymise import PseudonymError, Pseudonymiser
from edge.versions import Versions, digest
from wire.canonical import uuid5
from wire.envelope import EVENT_NAMESPACE, event_id
from wire.geography import GeographyLookup, OutsidePartnership, UnknownArea
from wire.schemas import SchemaSet

#: Cells that a spreadsheet would run as a formula when opened.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_AGE_BANDS = (
    (10, "AGE_0_9"),
    (18, "AGE_10_17"),
    (25, "AGE_18_24"),
    (35, "AGE_25_34"),
    (45, "AGE_35_44"),
    (55, "AGE_45_54"),
    (65, "AGE_55_64"),
)


class RowError(ValueError):
    """A row that cannot become an event: which field, and why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class RowSkipped(Exception):
    """A row the config says not to publish at all (a row filter, or a place
    outside the partnership): counted by reason, neither published nor
    rejected."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


RETRACTION = "Retraction"

#: The longest cell value a skip reason quotes (longer ones are cut).
_SKIP_VALUE_CHARS = 40


@dataclass(frozen=True)
class Mapped:
    """A row turned into a record, ready to encode and sign."""

    record: dict[str, Any]
    event_id: str
    message_key: str  # the subject pseudonym where there is one, else the event id
    record_type: str  # the config's record type, or Retraction


def _skip_value(value: str | None) -> str:
    """A cell value for a skip reason: blank, or quoted and cut short."""
    text = (value or "").strip()
    if not text:
        return "blank"
    if len(text) > _SKIP_VALUE_CHARS:
        text = text[:_SKIP_VALUE_CHARS] + "..."
    return repr(text)


def age_band(age: int) -> str:
    if age < 0 or age > 130:
        raise ValueError(f"age {age} is out of range")
    for upper, band in _AGE_BANDS:
        if age < upper:
            return band
    return "AGE_65_PLUS"


class Mapper:
    """Maps rows of one extract, as one config describes. Built once per run."""

    def __init__(
        self,
        config: ConnectorConfig,
        schemas: SchemaSet,
        pseudonymiser: Pseudonymiser,
        lookup: GeographyLookup,
        boundaries: Boundaries | None = None,
        *,
        versions: Versions | None = None,
    ) -> None:
        self.config = config
        self.pseudonymiser = pseudonymiser
        self.lookup = lookup
        self.boundaries = boundaries
        self.versions = versions or Versions(None)
        self._content: frozenset[str] | None = None
        if boundaries is None and (
            points := sorted(n for n, f in config.fields.items() if f.point is not None)
        ):
            raise ConfigError(
                f"{config.file}: geography.boundaries: needed to place fields.{points[0]}.point "
                "in an LSOA (the ONS LSOA 2021 boundaries, GeoJSON)"
            )
        try:
            self.zone = ZoneInfo(config.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{config.file}: timezone: unknown zone {config.timezone!r}") from exc
        record = schemas.expanded(config.record_type)
        self.nullable = {f["name"]: _nullable(f["type"]) for f in record["fields"]}
        configured = set(config.fields) | set(config.pseudonyms)
        if unknown := sorted(configured - set(self.nullable)):
            raise ConfigError(
                f"{config.file}: fields: {config.record_type} has no field(s) {', '.join(unknown)}"
            )
        required = {
            name for name, nullable in self.nullable.items() if not nullable and name != "envelope"
        }
        if missing := sorted(required - configured):
            raise ConfigError(
                f"{config.file}: fields: {config.record_type} needs {', '.join(missing)}"
            )
        if config.retracts and config.record_type == RETRACTION:  # the parser refuses it too
            raise ConfigError(f"{config.file}: withdrawn: a Retraction cannot be withdrawn")
        # The ids' checks of the authority, once: each row's record key is a
        # pseudonym (hex), which always passes them.
        event_id(config.authority, "0", 1)

    def columns(self) -> set[str]:
        """Every column the config reads (to check a file's header up front)."""
        used = set(self.config.key_columns) | self.config.filter.columns()
        if self.config.record_version:
            used.add(self.config.record_version)
        if self.config.withdrawn:
            used.add(self.config.withdrawn.column)
        for spec in [
            *self.config.fields.values(),
            self.config.occurred_at,
            self.config.recorded_at,
        ]:
            used |= spec.reads()
        for pseudonym in self.config.pseudonyms.values():
            used |= {c for c in (pseudonym.reference, pseudonym.dob, pseudonym.nhs_number) if c}
            used |= set(pseudonym.name)
        return used

    def _content_columns(self) -> frozenset[str]:
        """The cells a record's content is made of: every column the config
        reads but the record key and the ``withdrawn`` column."""
        if self._content is None:
            left_out = set(self.config.key_columns)
            if self.config.withdrawn is not None:
                left_out.add(self.config.withdrawn.column)
            self._content = frozenset(self.columns() - left_out)
        return self._content

    def deleted_columns(self) -> set[str]:
        """Every column the config reads from a ``deleted_rows`` query's rows."""
        spec = self.config.deleted_rows
        if spec is None:
            return set()
        used = {*self.config.key_columns, spec.watermark}
        if self.config.record_version:
            used.add(self.config.record_version)
        if spec.reason_column:
            used.add(spec.reason_column)
        if spec.recorded_at is not None and spec.recorded_at.column:
            used.add(spec.recorded_at.column)
        return used

    def map(self, row: Mapping[str, str | None], published_at: datetime) -> Mapped:
        """The row as the config's record, or as a Retraction when the
        ``withdrawn`` column marks it withdrawn. Raise RowError for the first
        field that cannot be filled (``withdrawn`` for a status value that is
        neither a withdrawal nor current), and RowSkipped for a row the
        config's filters (``include_if``, ``skip_if``) leave out, or placed
        outside the partnership. Filters come first: a row they leave out is
        skipped whatever its status."""
        self.skip(row)
        withdrawn = self.config.withdrawn
        if withdrawn is not None:
            status = _cell(row, withdrawn.column)
            if status in withdrawn.reasons:
                recorded = self._value(self.config.recorded_at, row, "recorded_at", nullable=False)
                return self._retraction(row, withdrawn.reasons[status], recorded, published_at)
            if status and status not in withdrawn.current:
                known = [*withdrawn.reasons, *withdrawn.current]
                raise RowError(
                    "withdrawn",
                    f"column {withdrawn.column!r}: value {_show(status)} is not one of "
                    f"{', '.join(map(repr, known))} (or blank)",
                )
        return self._record(row, published_at)

    def skip(self, row: Mapping[str, str | None]) -> None:
        """Raise RowSkipped when the config's filters leave ``row`` out."""
        rules = self.config.filter
        for condition in rules.include_if:
            value = row.get(condition.column)
            if not condition.holds(value):
                raise RowSkipped(
                    "include_if",
                    f"{condition.column} is {_skip_value(value)}, not included",
                )
        for condition in rules.skip_if:
            value = row.get(condition.column)
            if condition.holds(value):
                raise RowSkipped("skip_if", f"{condition.column} is {_skip_value(value)}")

    def deleted(self, row: Mapping[str, str | None], published_at: datetime) -> Mapped:
        """A row of the ``deleted_rows`` query as a Retraction of the version it
        names. Raise RowError (``record_key``, ``record_version``, ``reason``,
        ``recorded_at``) when it cannot be."""
        spec = self.config.deleted_rows
        if spec is None:
            raise ValueError(f"{self.config.file}: the source has no deleted_rows query")
        recorded = published_at
        if spec.recorded_at is not None:
            recorded = self._value(spec.recorded_at, row, "recorded_at", nullable=False)
        return self._retraction(row, _deleted_reason(spec, row), recorded, published_at)

    def _retraction(
        self,
        row: Mapping[str, str | None],
        reason: str,
        recorded: datetime,
        published_at: datetime,
    ) -> Mapped:
        """The Retraction of the version ``row`` names. It carries no pseudonym
        (only ids), and its Kafka key is its own id."""
        cfg = self.config
        record_key = self._record_key(row)
        if cfg.version_by_content:
            latest = self.versions.current(record_key)
            if latest is None:
                raise RowError("record_version", "no version of this record was published")
            version = latest
        else:
            version = _version(row, cfg.record_version)
        this_id = _uuid5(f"{cfg.authority}\x1f{record_key}\x1fretraction\x1f{version}")
        record: dict[str, Any] = {
            "envelope": {
                "event_id": this_id,
                "source_authority": cfg.authority,
                "source_authority_type": cfg.authority_type,
                "source_system": cfg.source_system,
                # A withdrawal happens when it is recorded.
                "occurred_at": recorded,
                "recorded_at": recorded,
                "published_at": published_at,
                "supersedes": None,
                "pseudonym_key_version": None,
            },
            "retracted_event_id": _event_id(cfg.authority, record_key, version),
            "reason": reason,
        }
        return Mapped(record, this_id, this_id, RETRACTION)

    def _record_key(self, row: Mapping[str, str | None]) -> str:
        """The row's record key, pseudonymised in this authority's namespace.

        A hashed key (``record_key: {hash: [...]}``) is made from its cells
        together, each trimmed and compared exactly (case included); at least
        one must be filled (:meth:`Pseudonymiser.hashed_record`)."""
        config = self.config
        if config.key_hash:
            cells = [_cell(row, column) for column in config.key_hash]
            if not any(cells):
                raise RowError(
                    "record_key", f"columns {', '.join(map(repr, config.key_hash))} are all blank"
                )
            return self.pseudonymiser.hashed_record(config.authority, cells)
        key_cell = _cell(row, config.record_key)
        if not key_cell:
            raise RowError("record_key", f"column {config.record_key!r} is blank")
        try:
            return self.pseudonymiser.record(config.authority, key_cell)
        except PseudonymError as exc:
            raise RowError("record_key", str(exc)) from exc

    def _record(self, row: Mapping[str, str | None], published_at: datetime) -> Mapped:
        cfg = self.config
        occurred = self._value(cfg.occurred_at, row, "occurred_at", nullable=False)
        recorded = self._value(cfg.recorded_at, row, "recorded_at", nullable=False)
        record_key = self._record_key(row)
        if cfg.version_by_content:
            version = self.versions.assign(record_key, digest(row, self._content_columns()))
        else:
            version = _version(row, cfg.record_version)
        this_id = _event_id(cfg.authority, record_key, version)
        record: dict[str, Any] = {
            "envelope": {
                "event_id": this_id,
                "source_authority": cfg.authority,
                "source_authority_type": cfg.authority_type,
                "source_system": cfg.source_system,
                "occurred_at": occurred,
                "recorded_at": recorded,
                "published_at": published_at,
                "supersedes": _event_id(cfg.authority, record_key, version - 1)
                if version > 1
                else None,
                "pseudonym_key_version": self.pseudonymiser.version,
                "linkage_key_fingerprint": self.pseudonymiser.fingerprint,
            },
        }
        for name, pseudonym in cfg.pseudonyms.items():
            record[name] = self._pseudonym(pseudonym, name, row, record_key)
        for name, spec in cfg.fields.items():
            record[name] = self._value(
                spec, row, name, nullable=self.nullable[name], occurred=occurred
            )
        precision = cfg.occurred_at.precision
        if (
            precision
            and "occurred_precision" in self.nullable
            and "occurred_precision" not in (cfg.fields)
        ):
            record["occurred_precision"] = precision.upper()
        for name in self.nullable:  # unconfigured nullable fields
            record.setdefault(name, None)
        subject = record.get("subject_pseudo_id")
        message_key = subject if isinstance(subject, str) else this_id
        return Mapped(record, this_id, message_key, cfg.record_type)

    # -- pseudonyms --------------------------------------------------------

    def _pseudonym(
        self, spec: PseudonymSpec, name: str, row: Mapping[str, str | None], record_key: str
    ) -> str | None:
        """The pseudonym, None if the spec is optional and the identifier is missing
        or unusable, else RowError."""
        if spec.kind == "record_key":
            return record_key
        try:
            if spec.kind == "reference":
                return self._reference(spec, name, row, record_key)
            return self._person(spec, name, row)
        except (PseudonymError, RowError) as exc:
            if spec.optional:
                return None
            if isinstance(exc, RowError):
                raise
            raise RowError(name, str(exc)) from exc

    def _reference(
        self, spec: PseudonymSpec, name: str, row: Mapping[str, str | None], record_key: str
    ) -> str:
        assert spec.reference is not None  # noqa: S101 - guaranteed by the config parser
        value = _cell(row, spec.reference)
        if not value:
            raise RowError(name, f"column {spec.reference!r} is blank")
        if (
            spec.reference == self.config.record_key
            and not self.config.key_hash
            and (spec.namespace is None)
        ):
            return record_key
        return self.pseudonymiser.record(self._namespace(spec, name, value), value)

    def _person(self, spec: PseudonymSpec, name: str, row: Mapping[str, str | None]) -> str:
        if spec.nhs_number:
            value = _cell(row, spec.nhs_number)
            if not value:
                raise RowError(name, f"column {spec.nhs_number!r} is blank")
            return self.pseudonymiser.person_by_nhs_number(value)
        names = [_cell(row, column) for column in spec.name]
        dob_text = _cell(row, spec.dob) if spec.dob else ""
        if not all(names) or not dob_text:
            raise RowError(name, "name or date of birth is blank")
        dob = _strptime(dob_text, spec.dob_format, name).date()
        return self.pseudonymiser.person_by_name(names, dob)

    def _namespace(self, spec: PseudonymSpec, name: str, value: str) -> str:
        if spec.namespace_by_prefix:
            for prefix, authority in spec.namespace_by_prefix.items():
                if value.upper().startswith(prefix.upper()):
                    return authority
            raise RowError(
                name,
                f"reference {_show(value)} starts with none of "
                f"{', '.join(map(repr, spec.namespace_by_prefix))}",
            )
        return spec.namespace or self.config.authority

    # -- fields ------------------------------------------------------------

    def _value(
        self,
        spec: FieldSpec,
        row: Mapping[str, str | None],
        name: str,
        *,
        nullable: bool,
        occurred: Any = None,
    ) -> Any:
        if spec.lsoa is not None or spec.point is not None:
            return self._geography(spec, row, name, nullable)
        if spec.age_band is not None:
            return self._age_band(spec, row, name, nullable, occurred)
        if spec.combine is not None:
            text = _combined(spec, row)
        elif spec.column is not None:
            text = _cell(row, spec.column)
        else:
            return spec.const
        if not text:
            return self._blank(spec, name, nullable)
        if spec.split is not None:
            return [
                self._convert(spec, part.strip(), name)
                for part in text.split(spec.split)
                if part.strip()
            ]
        return self._convert(spec, text, name)

    def _blank(self, spec: FieldSpec, name: str, nullable: bool) -> Any:
        if spec.has_default:
            return spec.default
        if nullable:
            return None
        if spec.split is not None:
            return []
        if spec.combine is not None:
            columns = ", ".join(map(repr, spec.columns))
            raise RowError(name, f"columns {columns} are all blank and the field is required")
        raise RowError(name, f"column {spec.column!r} is blank and the field is required")

    def _convert(self, spec: FieldSpec, text: str, name: str) -> Any:
        if spec.value_map is not None:
            if text in spec.value_map:
                return spec.value_map[text]
            if spec.unmapped == "default":
                return spec.default
            raise RowError(
                name,
                f"value {_show(text)} is not in the value map "
                f"({', '.join(map(repr, list(spec.value_map)[:8]))}...)"
                if len(spec.value_map) > 8
                else f"value {_show(text)} is not one of {', '.join(map(repr, spec.value_map))}",
            )
        if spec.datetime_format is not None or spec.date_format is not None:
            return self._time(spec, text, name)
        if spec.number is not None:
            try:
                return int(text) if spec.number == "int" else float(text)
            except ValueError:
                kind = "a whole number" if spec.number == "int" else "a number"
                raise RowError(name, f"{_show(text)} is not {kind}") from None
        if text.startswith(_FORMULA_START):
            raise RowError(name, f"{_show(text)} looks like a spreadsheet formula; refused")
        if len(text) > spec.max_length:
            raise RowError(
                name, f"value is {len(text)} characters long; the limit is {spec.max_length}"
            )
        if spec.pattern is not None and not re.fullmatch(spec.pattern, text):
            raise RowError(name, f"{_show(text)} does not match {spec.pattern}")
        return text

    def _time(self, spec: FieldSpec, text: str, name: str) -> datetime | date:
        """A ``datetime`` (local, to UTC; a day or month precision: that calendar
        day or month, in UTC) or a ``date`` (its month's first day for month
        precision)."""
        if spec.datetime_format is not None:
            try:
                if spec.precision in ("day", "month"):
                    return _calendar(_parse(text, spec.datetime_format).date(), spec.precision)
                return _truncated(_instant(text, spec.datetime_format, self.zone), spec.precision)
            except ValueError:
                raise RowError(name, _not_a_date(text, spec.datetime_format)) from None
        assert spec.date_format is not None  # noqa: S101 - the caller checks
        day = _strptime(text, spec.date_format, name).date()
        return day.replace(day=1) if spec.precision == "month" else day

    def _geography(
        self, spec: FieldSpec, row: Mapping[str, str | None], name: str, nullable: bool
    ) -> Any:
        code = self._point(spec, row, name) if spec.point else _cell(row, spec.lsoa or "")
        if not code:
            if nullable:
                return None
            if spec.point:
                raise RowError(name, f"columns {spec.point[0]!r} and {spec.point[1]!r} are blank")
            raise RowError(name, f"column {spec.lsoa!r} (LSOA) is blank")
        try:
            area, translated = self.lookup.place(code.upper())
        except OutsidePartnership as outside:
            if nullable:
                return None  # e.g. a home address outside: not known to the partnership
            raise RowSkipped(
                name, f"outside the partnership ({outside.lad_nm}, {outside.lad_cd})"
            ) from None
        except UnknownArea:
            which = "synthetic sample" if self.lookup.synthetic else self.lookup.source
            hint = (
                f", nor a 2011 LSOA in {self.lookup.lsoa11_source}"
                if self.lookup.lsoa11_source
                else " (a 2011 code? give geography.lsoa11, the ONS best-fit lookup)"
            )
            raise RowError(
                name, f"LSOA {_show(code)} is not in the geography lookup ({which}){hint}"
            ) from None
        return {
            "lsoa21cd": area.lsoa21cd,
            "msoa21cd": area.msoa21cd,
            "lad_cd": area.lad_cd,
            "ward_cd": None,
            "lsoa11cd": translated,
        }

    def _point(self, spec: FieldSpec, row: Mapping[str, str | None], name: str) -> str:
        """The LSOA holding the row's point ("" when both cells are blank)."""
        assert spec.point is not None and self.boundaries is not None  # noqa: S101
        lon_text, lat_text = (_cell(row, column) for column in spec.point)
        if not lon_text and not lat_text:
            return ""
        longitude = coordinate(lon_text, -180.0, 180.0)
        latitude = coordinate(lat_text, -90.0, 90.0)
        if longitude is None or latitude is None:
            raise RowError(
                name, f"({_show(lon_text)}, {_show(lat_text)}) is not a longitude and latitude"
            )
        found = self.boundaries.locate(longitude, latitude)
        if found is None:
            raise RowError(name, f"no LSOA in {self.boundaries.source} holds the point")
        return found

    def _age_band(
        self,
        spec: FieldSpec,
        row: Mapping[str, str | None],
        name: str,
        nullable: bool,
        occurred: Any,
    ) -> Any:
        assert spec.age_band is not None  # noqa: S101
        if "age" in spec.age_band:
            text = _cell(row, spec.age_band["age"])
            if not text:
                return None if nullable else "UNKNOWN"
            try:
                return age_band(int(text))
            except ValueError:
                raise RowError(
                    name, f"age {_show(text)} is not a whole number from 0 to 130"
                ) from None
        text = _cell(row, spec.age_band["dob"])
        if not text:
            return None if nullable else "UNKNOWN"
        dob = _strptime(text, spec.age_band.get("dob_format", "%Y-%m-%d"), name).date()
        when = occurred.date() if isinstance(occurred, datetime) else date.today()
        years = when.year - dob.year - ((when.month, when.day) < (dob.month, dob.day))
        try:
            return age_band(years)
        except ValueError as exc:
            raise RowError(name, f"date of birth gives an {exc}") from None


def _combined(spec: FieldSpec, row: Mapping[str, str | None]) -> str:
    """``first_of``: the first non-blank cell; ``concat``: the non-blank cells
    joined by the separator ("" when every cell is blank)."""
    cells = [_cell(row, column) for column in spec.columns]
    if spec.combine == "first_of":
        return next((cell for cell in cells if cell), "")
    return spec.separator.join(cell for cell in cells if cell)


def _cell(row: Mapping[str, str | None], column: str) -> str:
    value = row.get(column)
    return value.strip() if value else ""


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _not_a_date(text: str, fmt: str) -> str:
    return f"{_show(text)} is not a date in the format {fmt}"


def _strptime(text: str, fmt: str, name: str) -> datetime:
    try:
        return _parse(text, fmt)
    except ValueError:
        raise RowError(name, _not_a_date(text, fmt)) from None


@lru_cache(maxsize=4096)
def _parse(text: str, fmt: str) -> datetime:
    """strptime (:func:`edge.dates.parser`), remembered: extracts repeat the
    same dates and times many times. Naive; the caller attaches the zone."""
    return parser(fmt)(text)


@lru_cache(maxsize=4096)
def _instant(text: str, fmt: str, zone: ZoneInfo) -> datetime:
    """A local date and time in ``zone`` as UTC, remembered like :func:`_parse`.
    An ambiguous or skipped local time (at a change of clocks) is read with
    ``fold=0``, as ``datetime.replace`` leaves it."""
    return parser(fmt)(text).replace(tzinfo=zone).astimezone(UTC)


def _calendar(day: date, precision: str) -> datetime:
    """A calendar day or month as the first instant of it in UTC: the source
    gave no time of day, so no time zone can move it into another day."""
    first = day.replace(day=1) if precision == "month" else day
    return datetime(first.year, first.month, first.day, tzinfo=UTC)


def _truncated(moment: datetime, precision: str | None) -> datetime:
    """``moment`` cut to the minute or hour the source is precise to."""
    if precision == "minute":
        return moment.replace(second=0, microsecond=0)
    if precision == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(EVENT_NAMESPACE, name))``, without the UUID object."""
    return uuid5(EVENT_NAMESPACE, name)


def _event_id(authority: str, record_key: str, version: int) -> str:
    """:func:`wire.envelope.event_id`, for an authority checked once and a
    pseudonymised record key (hex)."""
    return _uuid5(f"{authority}\x1f{record_key}\x1f{version}")


def _version(row: Mapping[str, str | None], column: str | None) -> int:
    if column is None:
        return 1
    text = _cell(row, column)
    try:
        version = int(text)
    except ValueError:
        raise RowError("record_version", f"{_show(text)} is not a whole number") from None
    if version < 1:
        raise RowError("record_version", f"{version} must be 1 or more")
    return version


def _deleted_reason(spec: DeletedRows, row: Mapping[str, str | None]) -> str:
    if spec.reason_column is None:
        return spec.reason
    text = _cell(row, spec.reason_column)
    if not text:
        return "UNKNOWN"
    if text not in spec.reasons:
        raise RowError(
            "reason",
            f"column {spec.reason_column!r}: value {_show(text)} is not one of "
            f"{', '.join(map(repr, spec.reasons))}",
        )
    return spec.reasons[text]


def _nullable(node: Any) -> bool:
    return isinstance(node, list) and "null" in node
