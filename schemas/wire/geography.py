"""Reference geography of a partnership: LSOA21 -> MSOA21 -> local authority.

Connectors use it to place an event in an LSOA of the partnership (and to
skip rows placed outside it); the hub uses it to roll LSOAs up to MSOAs and
local authority districts (LADs) before statistical disclosure control. Both
sides must agree on the hierarchy, so it lives in the contract. Which
districts count is the partnership's (:mod:`wire.partnership`), not this
module's: nothing here names a region.

Two sources, one parser:

* :meth:`GeographyLookup.load_ons` reads a real ONS lookup CSV (LSOA 2021 to
  MSOA 2021 to LAD). Headers are matched case-insensitively; the LAD columns
  may carry any year (``LAD21CD``/``LAD21NM`` ... ``LAD24CD``/``LAD24NM``);
  extra columns (``ObjectId``, ``OA21CD`` ...) and a UTF-8 byte-order mark are
  ignored. Rows whose LAD is one of the partnership's districts are kept; the
  LSOA codes of the others are remembered only as "outside the partnership",
  so a file covering England and Wales is fine, and a connector can tell a
  row placed outside the partnership (skipped) from a code that does not
  exist (rejected). A district the file does not cover is named in
  :attr:`GeographyLookup.uncovered` and logged as a warning.
* :meth:`GeographyLookup.synthetic_sample` reads the small SYNTHETIC lookup
  shipped in ``data/``. Its codes (``E019xxxxx``, ``E029xxxxx``) are in
  ranges ONS does not use, so they can never be mistaken for real areas. It
  is for demos and tests only, asked for by name (``synthetic``); its lookups
  have ``synthetic=True``.

There is no default: :meth:`GeographyLookup.load` needs a file or the word
``synthetic``, and refuses anything else with a message that says what to set.

Lines starting with ``#`` are comments and are skipped. Every problem with a
file raises :class:`GeographyError` whose message names the file, and where it
applies the row (the physical line number, so the header of a file without
comment lines is row 1) and the column, so the person supplying the file can
fix it. A lookup is immutable once built and safe to share between threads.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from wire.partnership import Partnership

log = logging.getLogger(__name__)

SYNTHETIC_SAMPLE_PATH = Path(__file__).resolve().parent / "data" / "synthetic_lsoa_lookup.csv"

#: The word that asks for the SYNTHETIC sample where a lookup file is expected.
SYNTHETIC = "synthetic"

#: What to tell someone who set no geography.
HOW_TO_SET = (
    "give the ONS LSOA21 -> MSOA21 -> LAD lookup CSV (e.g. the 'Output Area to Lower "
    "layer Super Output Area to Middle layer Super Output Area to Local Authority "
    "District (2021)' lookup from the ONS Open Geography Portal), or the word "
    f"{SYNTHETIC!r} for the demo's SYNTHETIC sample"
)

#: A 2021 LSOA or MSOA code of England (E01, E02) or Wales (W01, W02).
LSOA_CODE = re.compile(r"^[EW]01\d{6}$")
MSOA_CODE = re.compile(r"^[EW]02\d{6}$")
#: Any English or Welsh local authority district (ONS lookups cover both).
LAD_CODE = re.compile(r"^[EW]0[6-9]\d{6}$")

_LAD_COLUMN = re.compile(r"^LAD(\d\d)(CD|NM)$")
_FIXED_COLUMNS = ("LSOA21CD", "LSOA21NM", "MSOA21CD", "MSOA21NM")


class GeographyError(Exception):
    """A lookup file is unreadable, lacks a column, or holds a bad or conflicting row."""


class UnknownArea(GeographyError):
    """An area code that is not in the lookup (the message names the code)."""


class OutsidePartnership(UnknownArea):
    """An LSOA that exists (the ONS lookup lists it) but lies in a district
    outside the partnership; ``lad_cd`` and ``lad_nm`` name that district."""

    def __init__(self, lsoa21cd: str, lad_cd: str, lad_nm: str) -> None:
        self.lsoa21cd = lsoa21cd
        self.lad_cd = lad_cd
        self.lad_nm = lad_nm
        super().__init__(f"LSOA {lsoa21cd!r} is in {lad_nm} ({lad_cd}), outside the partnership")


@dataclass(frozen=True)
class Area:
    """One LSOA and the MSOA and LAD it nests in."""

    lsoa21cd: str
    lsoa21nm: str
    msoa21cd: str
    msoa21nm: str
    lad_cd: str
    lad_nm: str


@dataclass(frozen=True)
class Parsed:
    """What a lookup file holds: the partnership's areas, and the district of
    every other LSOA it lists."""

    areas: list[Area]
    outside: dict[str, tuple[str, str]] = field(default_factory=dict)


class GeographyLookup:
    """The LSOA -> MSOA -> LAD hierarchy of one partnership's districts.

    ``partnership`` says which districts count (its ``area_code`` is the
    ``region_cd`` of every shared geography); ``synthetic`` whether the codes
    are the made-up sample (never use those figures for real decisions);
    ``source`` where the lookup came from (a file path), for messages and
    provenance; ``uncovered`` the partnership's districts it has no LSOA for.
    ``outside`` maps LSOAs the file listed in other districts to that
    district's code and name.
    """

    def __init__(
        self,
        areas: Iterable[Area],
        synthetic: bool,
        source: str,
        *,
        partnership: Partnership,
        outside: Mapping[str, tuple[str, str]] | None = None,
        lsoa11: Mapping[str, str] | None = None,
    ) -> None:
        self.synthetic = synthetic
        self.source = source
        self.partnership = partnership
        by_lsoa: dict[str, Area] = {}
        for area in areas:
            known = by_lsoa.get(area.lsoa21cd)
            if known is not None and known != area:
                raise GeographyError(
                    f"{source}: LSOA {area.lsoa21cd} is given twice with different "
                    f"names or parents: {known} and {area}"
                )
            if area.lad_cd not in self.partnership:
                raise GeographyError(
                    f"{source}: LSOA {area.lsoa21cd} is in {area.lad_cd}, not a district of "
                    f"the partnership ({self.partnership.source})"
                )
            by_lsoa[area.lsoa21cd] = area
        self._areas = by_lsoa
        self._outside = dict(outside or {})
        self._lsoa11 = dict(lsoa11 or {})  # retired 2011 LSOA -> its best-fit 2021 LSOA
        self._lsoas = sorted(by_lsoa)
        self._msoas = sorted({area.msoa21cd for area in by_lsoa.values()})
        covered = {area.lad_cd for area in by_lsoa.values()}
        self.uncovered: tuple[str, ...] = tuple(
            code for code in self.partnership.districts if code not in covered
        )

    # ------------------------------------------------------------ constructors

    @classmethod
    def synthetic_sample(cls, partnership: Partnership | None = None) -> GeographyLookup:
        """The SYNTHETIC sample shipped with the package (405 LSOAs, 81 MSOAs) for
        ``partnership`` (default: :meth:`Partnership.demo`, the districts it covers)."""
        partnership = partnership or Partnership.demo()
        parsed = _parse_file(SYNTHETIC_SAMPLE_PATH, partnership)
        return cls._made(parsed, True, str(SYNTHETIC_SAMPLE_PATH), partnership)

    @classmethod
    def load_ons(cls, path: Path, partnership: Partnership) -> GeographyLookup:
        """Read an ONS LSOA21 -> MSOA21 -> LAD lookup CSV for ``partnership``.

        Raises GeographyError naming the file (and row and column) for a
        missing column, a malformed code, an LSOA given twice with different
        parents, an MSOA placed in two LADs, or a file with no row in any of
        the partnership's districts. A district with no rows is a warning
        (:attr:`uncovered`), since a lookup clipped to part of the area is a
        common mistake and the rows placed there would all be rejected as unknown.
        """
        return cls._made(_parse_file(path, partnership), False, str(path), partnership)

    @classmethod
    def load(cls, lookup: Path | str | None, partnership: Partnership | None) -> GeographyLookup:
        """The lookup a setting names: the word ``synthetic`` (the SYNTHETIC
        sample, for ``partnership`` or the demo's), or an ONS lookup file,
        which needs ``partnership``. Nothing set is an error that says what
        to set; there is no default."""
        if lookup is None or (isinstance(lookup, str) and not lookup.strip()):
            raise GeographyError(f"no geography lookup is set: {HOW_TO_SET}")
        if isinstance(lookup, str) and lookup.strip() == SYNTHETIC:
            return cls.synthetic_sample(partnership)
        path = Path(lookup)
        if partnership is None:
            raise GeographyError(
                f"{path}: an ONS lookup needs the partnership it is read for: give the "
                "partnership file (policies/partnership.yaml) that names its districts"
            )
        return cls.load_ons(path, partnership)

    @classmethod
    def _made(
        cls, parsed: Parsed, synthetic: bool, source: str, partnership: Partnership
    ) -> GeographyLookup:
        made = cls(parsed.areas, synthetic, source, partnership=partnership, outside=parsed.outside)
        if made.uncovered:
            log.warning("%s", made.coverage_warning())
        return made

    def with_lsoa11(self, path: Path) -> GeographyLookup:
        """This lookup, also translating 2011 LSOA codes with the ONS "LSOA (2011)
        to LSOA (2021) to LAD (2022) best fit lookup" at ``path`` (columns
        ``LSOA11CD`` and ``LSOA21CD``, any case; the rest ignored). Only codes
        that are not 2021 codes too are kept: an unchanged LSOA kept its code.

        Raises GeographyError naming the file, row and column for a missing
        column, a malformed code, or a 2011 LSOA given two 2021 LSOAs."""
        translation = _parse_lsoa11(path)
        retired = {old: new for old, new in translation.items() if old != new}
        made = GeographyLookup(
            self._areas.values(),
            self.synthetic,
            self.source,
            partnership=self.partnership,
            outside=self._outside,
            lsoa11={
                old: new
                for old, new in retired.items()
                if old not in self and old not in self._outside
            },
        )
        made.lsoa11_source = str(path)
        return made

    #: The best-fit file 2011 codes are translated with (None: no translation).
    lsoa11_source: str | None = None

    # ----------------------------------------------------------------- queries

    def place(self, lsoa: str) -> tuple[Area, str | None]:
        """The area of a 2021 LSOA code, or of a 2011 code through the best-fit
        lookup, and the 2011 code when it was translated (None otherwise).
        Raises what :meth:`area` raises, for the 2021 code it arrives at."""
        if lsoa in self._areas or lsoa in self._outside or lsoa not in self._lsoa11:
            return self.area(lsoa), None
        return self.area(self._lsoa11[lsoa]), lsoa

    def area(self, lsoa21cd: str) -> Area:
        """The area for an LSOA code. Raises :class:`OutsidePartnership` for an
        LSOA the file placed in another district, :class:`UnknownArea` for one
        it does not list at all."""
        try:
            return self._areas[lsoa21cd]
        except KeyError:
            elsewhere = self._outside.get(lsoa21cd)
            if elsewhere is not None:
                raise OutsidePartnership(lsoa21cd, *elsewhere) from None
            raise UnknownArea(
                f"LSOA {lsoa21cd!r} is not in the geography lookup ({self.source})"
            ) from None

    def coverage_warning(self) -> str:
        """What :attr:`uncovered` means, in words ("" when every district is covered)."""
        if not self.uncovered:
            return ""
        names = ", ".join(f"{self.partnership.districts[code]} ({code})" for code in self.uncovered)
        return (
            f"{self.source}: the lookup has no LSOA in {len(self.uncovered)} of the "
            f"partnership's {len(self.partnership.districts)} districts: {names}. Rows placed "
            "there cannot be mapped; use a lookup that covers the whole partnership "
            "(ONS publishes England and Wales in one file)"
        )

    def __contains__(self, lsoa21cd: object) -> bool:
        return isinstance(lsoa21cd, str) and lsoa21cd in self._areas

    def __len__(self) -> int:
        return len(self._areas)

    def lsoas(self, lad_cd: str | None = None) -> list[str]:
        """LSOA codes, sorted: all of them, or those in one LAD.

        Raises UnknownArea if ``lad_cd`` is not one of the partnership's districts.
        """
        if lad_cd is None:
            return list(self._lsoas)
        self._check_lad(lad_cd)
        return [code for code in self._lsoas if self._areas[code].lad_cd == lad_cd]

    def msoas(self, lad_cd: str | None = None) -> list[str]:
        """MSOA codes, sorted: all of them, or those in one LAD.

        Raises UnknownArea if ``lad_cd`` is not one of the partnership's districts.
        """
        if lad_cd is None:
            return list(self._msoas)
        self._check_lad(lad_cd)
        return sorted({a.msoa21cd for a in self._areas.values() if a.lad_cd == lad_cd})

    def _check_lad(self, lad_cd: str) -> None:
        if lad_cd not in self.partnership:
            raise UnknownArea(
                f"LAD {lad_cd!r} is not a district of the partnership ({self.partnership.source})"
            )

    def __repr__(self) -> str:
        kind = "synthetic" if self.synthetic else "ONS"
        return f"<GeographyLookup {kind} {len(self)} LSOAs from {self.source}>"


# ------------------------------------------------------------------ parsing


def _parse_file(path: Path, partnership: Partnership) -> Parsed:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _parse(handle, str(path), partnership)
    except OSError as exc:
        raise GeographyError(f"{path}: cannot read the geography lookup: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise GeographyError(f"{path}: is not UTF-8 text: {exc}") from exc


def _uncommented(handle: TextIO, line_numbers: list[int]) -> Iterator[str]:
    """Yield the lines not starting with ``#``, noting each one's physical number."""
    for number, line in enumerate(handle, start=1):
        if line.startswith("#"):
            continue
        line_numbers.append(number)
        yield line


def _parse(handle: TextIO, source: str, partnership: Partnership) -> Parsed:
    line_numbers: list[int] = []
    reader = csv.reader(_uncommented(handle, line_numbers))
    columns: dict[str, int] | None = None
    names: dict[str, str] = {}
    header_width = 0
    areas: list[Area] = []
    outside: dict[str, tuple[str, str]] = {}
    elsewhere: dict[tuple[str, str], tuple[str, str]] = {}  # one tuple per district
    seen_lsoa: dict[str, tuple[int, Area]] = {}
    seen_msoa: dict[str, tuple[int, Area]] = {}
    while True:
        consumed = reader.line_num
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row = line_numbers[consumed] if consumed < len(line_numbers) else consumed + 1
            raise GeographyError(f"{source}: row {row}: not valid CSV: {exc}") from exc
        row = line_numbers[consumed]
        if not record or all(not value.strip() for value in record):
            continue
        if columns is None:
            columns, names = _header(record, source, row)
            header_width = len(record)
            continue
        if len(record) < header_width:
            raise GeographyError(
                f"{source}: row {row} has {len(record)} fields; the header has {header_width}"
            )
        area = _area(record, columns, names, source, row)
        if area.lad_cd not in partnership:
            district = (area.lad_cd, area.lad_nm)
            outside[area.lsoa21cd] = elsewhere.setdefault(district, district)
            continue
        previous = seen_lsoa.get(area.lsoa21cd)
        if previous is not None:
            if previous[1] != area:
                raise GeographyError(
                    f"{source}: LSOA {area.lsoa21cd} appears on row {previous[0]} and row {row} "
                    "with different names or parents"
                )
            continue
        msoa_first = seen_msoa.get(area.msoa21cd)
        if msoa_first is not None and (
            msoa_first[1].lad_cd != area.lad_cd or msoa_first[1].msoa21nm != area.msoa21nm
        ):
            raise GeographyError(
                f"{source}: MSOA {area.msoa21cd} appears on row {msoa_first[0]} and row {row} "
                "with a different name or local authority"
            )
        seen_lsoa[area.lsoa21cd] = (row, area)
        seen_msoa.setdefault(area.msoa21cd, (row, area))
        areas.append(area)
    if columns is None:
        raise GeographyError(f"{source}: the file is empty (no header row)")
    if not areas:
        raise GeographyError(
            f"{source}: no rows for any district of the partnership "
            f"({', '.join(partnership.districts)}, from {partnership.source}): is it the "
            "lookup for another area?"
        )
    return Parsed(areas, outside)


def _header(record: list[str], source: str, row: int) -> tuple[dict[str, int], dict[str, str]]:
    """Column positions by canonical name (LADyy columns become LADCD/LADNM)."""
    found: dict[str, int] = {}
    spelt: dict[str, str] = {}
    for index, raw in enumerate(record):
        name = raw.strip().lstrip("\ufeff").strip().upper()
        if name and name not in found:
            found[name] = index
            spelt[name] = raw.strip().lstrip("\ufeff").strip()
    missing = [name for name in _FIXED_COLUMNS if name not in found]
    cd_years = sorted(m[1] for n in found if (m := _LAD_COLUMN.match(n)) and m[2] == "CD")
    nm_years = sorted(m[1] for n in found if (m := _LAD_COLUMN.match(n)) and m[2] == "NM")
    both = sorted(set(cd_years) & set(nm_years))
    if both:
        year = both[-1]
    elif cd_years:
        year = cd_years[-1]
        missing.append(f"LAD{year}NM")
    elif nm_years:
        year = nm_years[-1]
        missing.append(f"LAD{year}CD")
    else:
        year = ""
        missing.append("LADyyCD (e.g. LAD22CD)")
        missing.append("LADyyNM (e.g. LAD22NM)")
    if missing:
        raise GeographyError(
            f"{source}: missing required column(s) {', '.join(missing)} in the header (row {row})"
        )
    columns = {name: found[name] for name in _FIXED_COLUMNS}
    columns["LADCD"] = found[f"LAD{year}CD"]
    columns["LADNM"] = found[f"LAD{year}NM"]
    names = {canonical: spelt[_spelling(canonical, year)] for canonical in columns}
    return columns, names


def _spelling(canonical: str, year: str) -> str:
    if canonical == "LADCD":
        return f"LAD{year}CD"
    if canonical == "LADNM":
        return f"LAD{year}NM"
    return canonical


def _area(
    record: list[str], columns: dict[str, int], names: dict[str, str], source: str, row: int
) -> Area:
    """The row's area, checked (whichever district it is in)."""

    def value(canonical: str) -> str:
        return record[columns[canonical]].strip()

    def bad(canonical: str, problem: str) -> GeographyError:
        return GeographyError(f"{source}: row {row}, column {names[canonical]}: {problem}")

    lad_cd = value("LADCD")
    if not LAD_CODE.fullmatch(lad_cd):
        raise bad("LADCD", f"{lad_cd!r} is not a local authority code (E06-E09/W06-W09)")
    lsoa21cd = value("LSOA21CD")
    if not LSOA_CODE.fullmatch(lsoa21cd):
        raise bad("LSOA21CD", f"{lsoa21cd!r} is not an LSOA 2021 code (E01 or W01 + 6 digits)")
    msoa21cd = value("MSOA21CD")
    if not MSOA_CODE.fullmatch(msoa21cd):
        raise bad("MSOA21CD", f"{msoa21cd!r} is not an MSOA 2021 code (E02 or W02 + 6 digits)")
    for canonical in ("LSOA21NM", "MSOA21NM", "LADNM"):
        if not value(canonical):
            raise bad(canonical, "is empty")
    return Area(
        lsoa21cd=lsoa21cd,
        lsoa21nm=value("LSOA21NM"),
        msoa21cd=msoa21cd,
        msoa21nm=value("MSOA21NM"),
        lad_cd=lad_cd,
        lad_nm=value("LADNM"),
    )


def _parse_lsoa11(path: Path) -> dict[str, str]:
    """LSOA11CD -> LSOA21CD of an ONS best-fit lookup CSV."""
    source = str(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            line_numbers: list[int] = []
            reader = csv.reader(_uncommented(handle, line_numbers))
            header = next(reader, None)
            if header is None:
                raise GeographyError(f"{source}: the file is empty (no header row)")
            names = [name.strip().lstrip("\ufeff").upper() for name in header]
            missing = [c for c in ("LSOA11CD", "LSOA21CD") if c not in names]
            if missing:
                raise GeographyError(
                    f"{source}: missing required column(s) {', '.join(missing)} in the header"
                )
            old_at, new_at = names.index("LSOA11CD"), names.index("LSOA21CD")
            found: dict[str, str] = {}
            first_row: dict[str, int] = {}
            for index, record in enumerate(reader, start=1):
                row = line_numbers[index] if index < len(line_numbers) else index + 1
                if not record or all(not cell.strip() for cell in record):
                    continue
                if len(record) <= max(old_at, new_at):
                    raise GeographyError(f"{source}: row {row} has {len(record)} fields")
                old, new = record[old_at].strip(), record[new_at].strip()
                for column, code in (("LSOA11CD", old), ("LSOA21CD", new)):
                    if not LSOA_CODE.fullmatch(code):
                        raise GeographyError(
                            f"{source}: row {row}, column {column}: {code!r} is not an LSOA code"
                        )
                if found.setdefault(old, new) != new:
                    raise GeographyError(
                        f"{source}: LSOA {old} is given {found[old]} on row {first_row[old]} "
                        f"and {new} on row {row}: a best-fit lookup gives one 2021 LSOA each"
                    )
                first_row.setdefault(old, row)
    except OSError as exc:
        raise GeographyError(f"{source}: cannot read the LSOA 2011 lookup: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise GeographyError(f"{source}: is not UTF-8 text: {exc}") from exc
    except csv.Error as exc:
        raise GeographyError(f"{source}: not valid CSV: {exc}") from exc
    if not found:
        raise GeographyError(f"{source}: no rows")
    return found
