"""Each authority's extract in its own format, and :func:`generate`, which writes them all.

Every writer turns the model's records into its source's header, codes,
date formats, encoding and line endings (see the package docstring for the
table), starting with :func:`edge.synthetic.manifest.synthetic_marker`. Rows
are in each source's recorded/arrival/call/referral order.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from edge.synthetic.manifest import (
    MANIFEST,
    SWBH_ISTV,
    UHB_ISTV,
    WMAS_CALLOUTS,
    WMP_CRIME,
    YOS_OUTCOMES,
    YOUTH_SERVICE,
    Manifest,
    synthetic_marker,
)
from edge.synthetic.model import Model
from edge.synthetic.records import Crime
from edge.synthetic.vocabulary import (
    SWBH_LOCATION,
    SWBH_WEAPON,
    UHB_LOCATION,
    UHB_METHOD,
    UHB_SEX,
    WMP_CURRENT,
    WMP_LOCATION,
    WMP_WEAPON,
)
from wire.geography import GeographyLookup

WMP_HEADER = (
    "CrimeReference",
    "RecordVersion",
    "Status",
    "RecordedDateTime",
    "CommittedDateTime",
    "HOOffenceCode",
    "OffenceGroup",
    "WeaponType",
    "DomesticAbuseFlag",
    "VictimForename",
    "VictimSurname",
    "VictimDOB",
    "VictimSex",
    "VictimEthnicity",
    "SuspectAge",
    "SuspectSex",
    "LSOA21",
    "LocationType",
    "MOText",
)
UHB_HEADER = (
    "AttendanceID",
    "NHSNumber",
    "Forename",
    "Surname",
    "DOB",
    "Sex",
    "ArrivalDateTime",
    "AssaultDateTime",
    "AssaultMethod",
    "AssaultMethodOther",
    "LocationType",
    "LocationDescription",
    "LSOA21",
)
SWBH_HEADER = (
    "Attendance Ref",
    "NHS No",
    "Patient Name",
    "Date of Birth",
    "Gender",
    "Arrived",
    "Time of Assault",
    "Weapon",
    "Where",
    "Where (details)",
    "LSOA",
)
WMAS_HEADER = (
    "IncidentNumber",
    "CallDateTime",
    "Category",
    "PatientAge",
    "PatientSex",
    "LSOA21",
    "Conveyed",
    "PatientName",
    "CrewNotes",
)
REFERRALS_COLUMNS = (
    "referral_id",
    "child_forename",
    "child_surname",
    "date_of_birth",
    "referral_date",
    "referrer",
    "programme",
    "reasons",
    "looked_after",
    "send",
    "excluded",
    "consent",
    "risk",
    "home_lsoa21",
    "linked_attendance_id",
    "updated_at",
    "notes",
)
YOS_HEADER = (
    "OutcomeID",
    "ReferralID",
    "ChildForename",
    "ChildSurname",
    "DOB",
    "OutcomeDate",
    "OutcomeType",
    "Intervention",
    "SessionsOffered",
    "SessionsAttended",
    "MeasureCode",
    "MeasureScore",
    "FollowUpDays",
    "ExitReason",
    "WorkerNotes",
)

_REFERRALS_DDL = """
CREATE TABLE referrals (
    referral_id TEXT PRIMARY KEY,
    child_forename TEXT,
    child_surname TEXT,
    date_of_birth TEXT,
    referral_date TEXT,
    referrer TEXT,
    programme TEXT,
    reasons TEXT,
    looked_after INTEGER,
    send INTEGER,
    excluded INTEGER,
    consent TEXT,
    risk TEXT,
    home_lsoa21 TEXT,
    linked_attendance_id TEXT,
    updated_at TEXT,
    notes TEXT
)
"""

_DELETIONS_DDL = """
CREATE TABLE referral_deletions (
    referral_id TEXT NOT NULL,
    deleted_at TEXT NOT NULL,
    reason TEXT
)
"""


def _dmy(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _dmy_hm(moment: datetime) -> str:
    return moment.strftime("%d/%m/%Y %H:%M")


def _iso_hm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _iso_hms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _open_csv(path: Path, seed: int, encoding: str, terminator: str) -> tuple[IO[str], Any]:
    handle = path.open("w", encoding=encoding, newline="")
    handle.write(synthetic_marker(seed) + terminator)
    return handle, csv.writer(handle, lineterminator=terminator)


def _write_csv(
    path: Path,
    seed: int,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    encoding: str = "utf-8",
    terminator: str = "\n",
) -> int:
    handle, writer = _open_csv(path, seed, encoding, terminator)
    with handle:
        writer.writerow(header)
        writer.writerows(rows)
    return len(rows)


def _crime_rows(world: Model) -> list[list[str]]:
    """Each crime's version 1, its version 2 (a correction) if it has one, and
    a copy of its latest version with ``Status`` withdrawn, recorded later, if
    it is withdrawn: the row names the version it withdraws."""
    rows: list[tuple[datetime, str, int, list[str]]] = []
    for crime in world.crimes:
        rows.append((crime.recorded, crime.reference, 1, _crime_row(crime, 1, crime.recorded)))
        latest, version = crime, 1
        if crime.corrected_at is not None and crime.correction is not None:
            latest, version = replace(crime, **crime.correction), 2
            rows.append(
                (
                    crime.corrected_at,
                    crime.reference,
                    2,
                    _crime_row(latest, 2, crime.corrected_at),
                )
            )
        if crime.withdrawn is not None and crime.withdrawn_at is not None:
            row = _crime_row(latest, version, crime.withdrawn_at, crime.withdrawn)
            rows.append((crime.withdrawn_at, crime.reference, version, row))
    rows.sort(key=lambda row: row[:3])
    return [row for *_, row in rows]


def _crime_row(
    crime: Crime, version: int, recorded: datetime, status: str = WMP_CURRENT
) -> list[str]:
    person = crime.person
    return [
        crime.reference,
        str(version),
        status,
        _dmy_hm(recorded),
        _dmy_hm(crime.committed),
        crime.offence.code,
        crime.offence.group,
        WMP_WEAPON[crime.method],
        "Y" if crime.domestic else "N",
        person.forename if person else "",
        person.surname if person else "",
        _dmy(person.dob) if person and crime.dob_known else "",
        person.sex if person else "U",
        person.ethnicity if person else "",
        "" if crime.suspect_age is None else str(crime.suspect_age),
        crime.suspect_sex,
        crime.lsoa,
        WMP_LOCATION[crime.location],
        crime.mo_text,
    ]


def _uhb_rows(world: Model) -> list[list[str]]:
    nhs = "{0} {1} {2}".format
    return [
        [
            a.attendance_id,
            nhs(a.person.nhs[:3], a.person.nhs[3:6], a.person.nhs[6:]),
            a.person.forename,
            a.person.surname,
            a.person.dob.isoformat(),
            UHB_SEX[a.person.sex],
            _iso_hm(a.arrival),
            _iso_hm(a.assault),
            UHB_METHOD[a.method],
            a.method_other,
            UHB_LOCATION[a.location],
            a.description,
            a.lsoa,
        ]
        for a in world.attendances
        if a.trust == "UHB"
    ]


def _swbh_rows(world: Model) -> list[list[str]]:
    return [
        [
            a.attendance_id,
            a.person.nhs,
            f"{a.person.surname.upper()}, {a.person.forename}",
            _dmy(a.person.dob),
            a.person.sex,
            _dmy_hm(a.arrival),
            _dmy_hm(a.assault),
            SWBH_WEAPON[a.method],
            SWBH_LOCATION[a.location],
            a.description if not a.method_other else f"{a.description}; {a.method_other}",
            a.lsoa,
        ]
        for a in world.attendances
        if a.trust == "SWBH"
    ]


def _outcome_rows(world: Model) -> list[list[str]]:
    return [
        [
            o.outcome_id,
            o.referral.referral_id,
            o.referral.person.forename,
            o.referral.person.surname,
            _dmy(o.referral.person.dob),
            _dmy(o.day),
            o.kind,
            o.intervention,
            str(o.offered),
            str(o.attended),
            "" if o.score is None else "SDQ",
            "" if o.score is None else str(o.score),
            str((o.day - o.referral.when.date()).days),
            o.exit_reason,
            o.notes,
        ]
        for o in world.outcomes
    ]


def _write_referrals(path: Path, seed: int, world: Model) -> int:
    path.unlink(missing_ok=True)
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE synthetic_marker (note TEXT)")
        connection.execute(
            "INSERT INTO synthetic_marker (note) VALUES (?)", (synthetic_marker(seed),)
        )
        connection.execute(_REFERRALS_DDL)
        placeholders = ", ".join("?" for _ in REFERRALS_COLUMNS)
        connection.executemany(
            f"INSERT INTO referrals ({', '.join(REFERRALS_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608 (fixed column names)
            [
                (
                    r.referral_id,
                    r.person.forename,
                    r.person.surname,
                    r.person.dob.isoformat(),
                    _iso_hms(r.when),
                    r.referrer,
                    r.programme,
                    ";".join(r.reasons),
                    r.looked_after,
                    r.send,
                    r.excluded,
                    r.consent,
                    r.risk,
                    r.home_lsoa,
                    r.attendance.attendance_id if r.attendance else None,
                    _iso_hms(r.updated),
                    r.notes,
                )
                for r in world.referrals
            ],
        )
        # Deletions, as the case management system logs them; the deleted
        # referrals stay in ``referrals`` (published before they were deleted).
        connection.execute(_DELETIONS_DDL)
        connection.executemany(
            "INSERT INTO referral_deletions (referral_id, deleted_at, reason) VALUES (?, ?, ?)",
            [
                (r.referral_id, _iso_hms(r.deleted_at), r.deleted)
                for r in sorted(world.referrals, key=lambda r: r.deleted_at or r.updated)
                if r.deleted is not None and r.deleted_at is not None
            ],
        )
        connection.commit()
    return len(world.referrals)


def generate(
    out: Path,
    days: int = 30,
    seed: int = 1,
    *,
    start: date = date(2026, 10, 1),
    lookup: GeographyLookup | None = None,
    progress: Callable[[str], None] | None = None,
) -> Manifest:
    """Write the six synthetic extracts and ``manifest.json`` into ``out`` (created).

    Files already in ``out`` with the same names are replaced; others are left
    alone. ``lookup`` supplies the LSOAs (default: the synthetic sample).
    ``progress`` is called once per file written with a short message.
    Raises ValueError if ``days`` is less than 1.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    geography = lookup if lookup is not None else GeographyLookup.synthetic_sample()
    world = Model(seed, days, start, geography)
    world.build()

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, int] = {}

    def done(name: str, rows: int) -> None:
        files[name] = rows
        if progress is not None:
            progress(f"wrote {out / name} ({rows} rows)")

    done(WMP_CRIME, _write_csv(out / WMP_CRIME, seed, WMP_HEADER, _crime_rows(world)))
    done(UHB_ISTV, _write_csv(out / UHB_ISTV, seed, UHB_HEADER, _uhb_rows(world)))
    swbh = _swbh_rows(world)
    done(
        SWBH_ISTV,
        _write_csv(out / SWBH_ISTV, seed, SWBH_HEADER, swbh, encoding="cp1252", terminator="\r\n"),
    )
    done(WMAS_CALLOUTS, _write_csv(out / WMAS_CALLOUTS, seed, WMAS_HEADER, world.callouts))
    done(YOUTH_SERVICE, _write_referrals(out / YOUTH_SERVICE, seed, world))
    done(YOS_OUTCOMES, _write_csv(out / YOS_OUTCOMES, seed, YOS_HEADER, _outcome_rows(world)))
    manifest = Manifest(
        seed=seed,
        days=days,
        start=start,
        files=files,
        ed_attendances=len(world.attendances),
        ed_matched_to_police=sum(1 for a in world.attendances if a.crime is not None),
    )
    manifest.write(out / MANIFEST)
    if progress is not None:
        progress(f"wrote {out / MANIFEST}")
    return manifest
