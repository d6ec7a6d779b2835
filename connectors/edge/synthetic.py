"""Realistic, seeded, clearly SYNTHETIC West Midlands extracts, each in its source's own format.

Called by ``svdhub generate``, by the demo and by tests to give every
connector something to read. :func:`generate` writes six extracts and a
``manifest.json`` into one folder:

================================  ==============================================================
``wmp_crime.csv``                 West Midlands Police violent crime (UTF-8, LF)
``uhb_istv.csv``                  University Hospitals Birmingham ED ISTV (UTF-8, LF)
``swbh_istv.csv``                 Sandwell and West Birmingham ED ISTV (Windows-1252, CRLF,
                                  local headers and codes, ``SURNAME, Forename``)
``wmas_callouts.csv``             West Midlands Ambulance Service violence call-outs (UTF-8, LF)
``youth_service.sqlite``          Birmingham City Council youth service referrals (table
                                  ``referrals``; nine in ten children live in Birmingham)
``yos_outcomes.csv``              youth justice / intervention outcomes (UTF-8, LF)
================================  ==============================================================

Contracts:

* **Nothing here is real.** Every CSV starts with the comment line from
  :func:`synthetic_marker`; the SQLite file has a ``synthetic_marker(note)``
  table holding the same line; the manifest says ``"synthetic": true``. People
  are random combinations of common UK names; NHS numbers come from the
  ``999`` range the NHS keeps for testing (with valid check digits), so they
  cannot be anyone's; with the default lookup, LSOA codes are the synthetic
  ``E019xxxxx`` ones. The free text (``MOText``, ``LocationDescription``,
  ``CrewNotes``, ``notes``...) imitates the personal detail real free text
  carries, so it must be treated as if it were real: never shared.
* **Deterministic.** The same ``seed``, ``days``, ``start`` and lookup give
  byte-identical files. Only ``random.Random`` instances seeded from ``seed``
  are used; never the global generator or the clock.
* **Realistic where the views depend on it**, and measurably so (tests check
  each): about 10% of LSOAs hold at least 40% of incidents (rank-based Zipf
  weights over a seeded shuffle, Birmingham boosted); at least 45% of assaults
  fall between 20:00 and 04:00 and Friday and Saturday nights are the busiest;
  at least 40% of victims are under 25; 35-50% of ED attendances have no
  matching police crime, and every other one matches exactly one crime with
  the same victim (forename, surname, date of birth), the same LSOA and an
  assault time within 3 hours of ``CommittedDateTime``; outcomes follow
  referrals with consent by 14-70 days and are written only when dated before
  the end of the period. Volumes per day (police 120, UHB 15, SWBH 10,
  ambulance 16, youth referrals 5, a quarter of them by ED navigators linked
  to an attendance) scale linearly with ``days``.
* Times are local UK wall-clock times without a zone, as source systems
  export them. Rows are in recorded/arrival/call/referral order, so event
  times are not monotonic. Crimes may be recorded after the period ends: the
  extract is as at a time after its last record. About 3% of crimes have a
  ``RecordVersion`` 2 row (a reclassification or correction) recorded later
  under the same ``CrimeReference``.

Police offence codes follow the Home Office Counting Rules (``1`` murder,
``2`` attempted murder, ``5D``, ``8N``, ``8P``, ``105A``, ``105B``, ``8L``,
``19C``, ``20A``, ``17A``, ``34B``, ``10A``, ``10D``); possession-of-weapons
crimes have no victim, so their victim columns are blank and ``VictimSex`` is
``U``.
"""

from __future__ import annotations

import csv
import json
import random
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from itertools import accumulate
from pathlib import Path
from typing import IO, Any

from wire.geography import GeographyLookup

WMP_CRIME = "wmp_crime.csv"
UHB_ISTV = "uhb_istv.csv"
SWBH_ISTV = "swbh_istv.csv"
WMAS_CALLOUTS = "wmas_callouts.csv"
YOUTH_SERVICE = "youth_service.sqlite"
YOS_OUTCOMES = "yos_outcomes.csv"
MANIFEST = "manifest.json"

#: Rows per day of each extract (youth service: referrals).
DAILY_VOLUMES = {
    WMP_CRIME: 120,
    UHB_ISTV: 15,
    SWBH_ISTV: 10,
    WMAS_CALLOUTS: 16,
    YOUTH_SERVICE: 5,
}
#: Share of ED attendances that also reach the police (the rest are unreported).
ED_REPORTED_SHARE = 0.6
#: Share of youth referrals made by ED navigators.
ED_NAVIGATOR_SHARE = 0.25

_BIRMINGHAM = "E08000025"
_SOLIHULL = "E08000029"
_SANDWELL = "E08000028"
# LSOA weight = 1 / (rank + _HOTSPOT_OFFSET) ** _HOTSPOT_EXPONENT: the top 10% of LSOAs get
# about half the incidents, and no single LSOA more than about 4%.
_HOTSPOT_OFFSET = 6
_HOTSPOT_EXPONENT = 1.0
_BIRMINGHAM_BOOST = 1.5

WMP_HEADER = (
    "CrimeReference",
    "RecordVersion",
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


def synthetic_marker(seed: int) -> str:
    """The first line of every generated CSV (and the SQLite marker row)."""
    return f"# SYNTHETIC DATA generated by svdhub (seed={seed}): not real people or events"


def nhs_check_digit(first9: str) -> int | None:
    """The NHS number check digit (modulus 11) for nine digits, or None if none is valid.

    Weights 10 down to 2; the check digit is 11 minus the remainder of the
    weighted sum divided by 11, with 11 becoming 0. A result of 10 means no
    NHS number starts with these nine digits. Raises ValueError unless
    ``first9`` is exactly nine ASCII digits.
    """
    if len(first9) != 9 or not first9.isascii() or not first9.isdigit():
        raise ValueError(f"expected nine digits, got {first9!r}")
    total = sum(int(digit) * weight for digit, weight in zip(first9, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


# ------------------------------------------------------------------ manifest


@dataclass(frozen=True)
class Manifest:
    """What one :func:`generate` run wrote: parameters, rows per file, ED linkage truth.

    ``files`` maps each file name (relative to the output folder) to its
    number of data rows (for the SQLite file, rows in ``referrals``).
    ``ed_matched_to_police`` of the ``ed_attendances`` (UHB + SWBH) have a
    matching police crime; the rest were never reported to the police.
    """

    seed: int
    days: int
    start: date
    files: dict[str, int]
    ed_attendances: int
    ed_matched_to_police: int

    def to_json(self) -> str:
        """The manifest as pretty-printed JSON, ending in a newline."""
        document = {
            "synthetic": True,
            "note": synthetic_marker(self.seed).removeprefix("# "),
            "seed": self.seed,
            "days": self.days,
            "start": self.start.isoformat(),
            "files": dict(self.files),
            "ed_attendances": self.ed_attendances,
            "ed_matched_to_police": self.ed_matched_to_police,
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    def write(self, path: Path) -> None:
        """Write :meth:`to_json` to the file ``path`` (UTF-8, LF)."""
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            handle.write(self.to_json())

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Read a manifest written by :meth:`write`. Raises ValueError if it is not one."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                seed=int(document["seed"]),
                days=int(document["days"]),
                start=date.fromisoformat(document["start"]),
                files={str(name): int(rows) for name, rows in document["files"].items()},
                ed_attendances=int(document["ed_attendances"]),
                ed_matched_to_police=int(document["ed_matched_to_police"]),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a synthetic data manifest: {exc}") from exc


# --------------------------------------------------------------- vocabulary

# Canonical assault methods and location types, mapped to each source's codes.
_WMP_WEAPON = {
    "BODY": "Bodily force",
    "KNIFE": "Knife or sharp instrument",
    "BLUNT": "Blunt instrument",
    "GLASS": "Bottle or glass",
    "FIREARM": "Firearm",
    "OTHER": "Other",
    "UNKNOWN": "",
}
_UHB_METHOD = {
    "BODY": "Body part",
    "KNIFE": "Knife/sharp",
    "BLUNT": "Blunt object",
    "GLASS": "Glass/bottle",
    "FIREARM": "Firearm",
    "OTHER": "Other",
    "UNKNOWN": "Not known",
}
_SWBH_WEAPON = {
    "BODY": "1",
    "KNIFE": "2",
    "BLUNT": "3",
    "GLASS": "4",
    "FIREARM": "5",
    "OTHER": "6",
    "UNKNOWN": "9",
}
_WMP_LOCATION = {
    "HOME": "Dwelling",
    "STREET": "Street",
    "PUB": "Licensed premises",
    "WORK": "Workplace",
    "SCHOOL": "School",
    "TRANSPORT": "Public transport",
    "OTHER": "Other",
}
_UHB_LOCATION = {
    "HOME": "Home",
    "STREET": "Street/public place",
    "PUB": "Pub/club",
    "WORK": "Work",
    "SCHOOL": "School",
    "TRANSPORT": "Public transport",
    "OTHER": "Other",
}
_SWBH_LOCATION = {
    "HOME": "H",
    "STREET": "S",
    "PUB": "P",
    "WORK": "W",
    "SCHOOL": "SC",
    "TRANSPORT": "T",
    "OTHER": "O",
}
_UHB_SEX = {"M": "Male", "F": "Female", "U": "Unknown"}

Weights = Sequence[tuple[str, float]]


@dataclass(frozen=True)
class _Offence:
    code: str
    group: str
    weight: float  # relative frequency among recorded violent crimes
    ed_weight: float  # relative chance a victim attends ED (0: never linked)
    domestic: float  # share flagged domestic abuse
    weapons: Weights
    victim: str  # "any", "F", "M" or "none"


_OFFENCES = (
    _Offence(
        "1",
        "Homicide",
        0.08,
        0.0,
        0.2,
        (("KNIFE", 5), ("BODY", 2), ("BLUNT", 1.5), ("FIREARM", 1), ("OTHER", 0.5)),
        "any",
    ),
    _Offence(
        "2",
        "Violence with injury",
        0.3,
        3.0,
        0.1,
        (("KNIFE", 6), ("FIREARM", 1.5), ("BLUNT", 1.5), ("BODY", 1)),
        "any",
    ),
    _Offence(
        "5D",
        "Violence with injury",
        3.5,
        3.0,
        0.15,
        (("KNIFE", 35), ("BLUNT", 20), ("GLASS", 10), ("BODY", 30), ("FIREARM", 2), ("OTHER", 3)),
        "any",
    ),
    _Offence(
        "8N",
        "Violence with injury",
        26.0,
        1.0,
        0.3,
        (("BODY", 72), ("KNIFE", 6), ("BLUNT", 8), ("GLASS", 6), ("OTHER", 4), ("UNKNOWN", 4)),
        "any",
    ),
    _Offence(
        "8P",
        "Violence with injury",
        0.8,
        1.0,
        0.0,
        (("BODY", 80), ("BLUNT", 10), ("GLASS", 5), ("OTHER", 5)),
        "any",
    ),
    _Offence(
        "105A",
        "Violence without injury",
        30.0,
        0.05,
        0.35,
        (("UNKNOWN", 50), ("BODY", 45), ("OTHER", 5)),
        "any",
    ),
    _Offence(
        "105B",
        "Violence without injury",
        2.0,
        0.0,
        0.0,
        (("UNKNOWN", 60), ("BODY", 40)),
        "any",
    ),
    _Offence("8L", "Stalking and harassment", 14.0, 0.0, 0.45, (("UNKNOWN", 1),), "any"),
    _Offence("19C", "Sexual offences", 2.5, 0.3, 0.35, (("BODY", 80), ("UNKNOWN", 20)), "F"),
    _Offence("20A", "Sexual offences", 3.5, 0.05, 0.1, (("UNKNOWN", 70), ("BODY", 30)), "F"),
    _Offence("17A", "Sexual offences", 0.5, 0.05, 0.05, (("UNKNOWN", 70), ("BODY", 30)), "M"),
    _Offence(
        "34B",
        "Robbery",
        8.0,
        0.4,
        0.0,
        (("KNIFE", 30), ("BODY", 45), ("FIREARM", 2), ("BLUNT", 5), ("OTHER", 3), ("UNKNOWN", 15)),
        "any",
    ),
    _Offence("10A", "Possession of weapons offences", 0.2, 0.0, 0.0, (("FIREARM", 1),), "none"),
    _Offence("10D", "Possession of weapons offences", 4.0, 0.0, 0.0, (("KNIFE", 1),), "none"),
)

# Victim age bands (inclusive) and weights: victims of violence are young.
_AGES_GENERAL = (
    ((10, 13), 4),
    ((14, 17), 14),
    ((18, 24), 38),
    ((25, 34), 22),
    ((35, 44), 12),
    ((45, 54), 6),
    ((55, 64), 2.5),
    ((65, 89), 1.5),
)
_AGES_DOMESTIC = (
    ((16, 17), 3),
    ((18, 24), 26),
    ((25, 34), 34),
    ((35, 44), 21),
    ((45, 54), 10),
    ((55, 64), 4),
    ((65, 89), 2),
)
_AGES_SEXUAL = (((16, 17), 14), ((18, 24), 40), ((25, 34), 24), ((35, 44), 12), ((45, 64), 10))
_AGES_YOUTH = (((10, 12), 10), ((13, 15), 30), ((16, 17), 30), ((18, 20), 20), ((21, 24), 10))
_AGES_SUSPECT = (((12, 17), 18), ((18, 24), 35), ((25, 34), 25), ((35, 44), 13), ((45, 64), 9))

# Hour-of-day weights by clock hour 0..23: evenings and early mornings dominate.
_HOUR_WEIGHTS = (
    8.0, 7.0, 6.0, 4.0, 2.0, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0,
    3.5, 3.5, 4.0, 4.5, 5.0, 5.0, 5.5, 6.0, 7.0, 8.0, 9.0, 9.0,
)  # fmt: skip
# Weights of a "violence day" running from noon to noon, by weekday of its noon (Mon=0).
_NIGHT_WEIGHTS = (0.85, 0.75, 0.78, 0.9, 1.4, 1.5, 1.05)

_ETHNICITY = (("W", 55), ("A", 20), ("B", 9), ("M", 4), ("O", 3), ("", 9))

# Common UK names, grouped loosely so that names and recorded ethnicity agree.
# Every name must be encodable in Windows-1252 (the SWBH extract's encoding).
_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "W": {
        "M": (
            "Jack", "Harry", "Oliver", "George", "Charlie", "Thomas", "James", "Liam",
            "Connor", "Kyle", "Callum", "Daniel", "Ryan", "Jordan", "Lewis", "Jake", "Dean",
            "Lee", "Craig", "Michael", "Paul", "Mark", "Darren", "Sean", "Tyler", "Reece",
            "Alfie", "Ethan", "Mason", "Kieran",
        ),
        "F": (
            "Olivia", "Amelia", "Emily", "Jessica", "Chloe", "Sophie", "Lauren", "Megan",
            "Charlotte", "Emma", "Hannah", "Jade", "Kelly", "Leanne", "Gemma", "Stacey", "Zoë",
            "Renée", "Paige", "Ellie", "Holly", "Danielle", "Sarah", "Rebecca", "Chloé",
            "Michelle", "Courtney", "Amy",
        ),
        "S": (
            "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson",
            "Thomas", "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White",
            "Edwards", "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Jackson", "Wood",
            "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "King", "Baker",
            "Harrison", "Morgan", "Allen", "O\u2019Brien", "O\u2019Connor", "Murphy", "Kelly",
            "McDonald",
        ),
    },
    "A": {
        "M": (
            "Mohammed", "Muhammad", "Ali", "Hassan", "Imran", "Usman", "Bilal", "Zain",
            "Ayaan", "Harpreet", "Gurpreet", "Jaspreet", "Arjun", "Rohan", "Amir", "Adnan",
            "Kamran", "Faisal", "Ibrahim", "Yusuf", "Sanjay", "Vikram",
        ),
        "F": (
            "Aisha", "Fatima", "Maryam", "Zara", "Amina", "Sana", "Ayesha", "Nadia", "Priya",
            "Simran", "Manpreet", "Harleen", "Anjali", "Noor", "Hafsa", "Iqra", "Sadia",
        ),
        "S": (
            "Khan", "Ahmed", "Hussain", "Ali", "Akhtar", "Iqbal", "Mahmood", "Rashid", "Patel",
            "Sandhu", "Gill", "Sidhu", "Bains", "Shah", "Mistry", "Sharma", "Chohan", "Islam",
            "Miah", "Uddin", "Rahman",
        ),
        "SM": ("Singh",),
        "SF": ("Begum", "Kaur"),
    },
    "B": {
        "M": (
            "Kwame", "Tyrone", "Marcus", "Jerome", "Andre", "Joshua", "Emmanuel", "Samuel",
            "David", "Malachi", "Tobi", "Chidi", "Abdi", "Mohamed", "Jermaine", "Kofi",
        ),
        "F": (
            "Shanice", "Chantelle", "Aaliyah", "Grace", "Blessing", "Precious", "Esther", "Tia",
            "Amara", "Nia", "Hodan", "Kemi", "Abena",
        ),
        "S": (
            "Campbell", "Brown", "Williams", "Johnson", "Francis", "Clarke", "Henry", "Grant",
            "Okafor", "Adeyemi", "Mensah", "Osei", "Hassan", "Mohamed", "Reid", "Bailey",
            "Robinson", "Farah",
        ),
    },
    "O": {
        "M": (
            "Piotr", "Tomasz", "Andrei", "Dawid", "Mehmet", "Ahmad", "Omar", "Karim", "José",
            "Mateusz",
        ),
        "F": ("Agnieszka", "Ewa", "Ioana", "Maria", "Elif", "Layla", "Inés", "Zuzana"),
        "S": (
            "Nowak", "Kowalski", "Popescu", "Ionescu", "Yilmaz", "Demir", "Haddad", "Karimi",
            "Rahimi", "Müller", "Pérez",
        ),
    },
}  # fmt: skip

_STREETS = (
    "Soho Rd", "Broad St", "Hurst St", "Stratford Rd", "Coventry Rd", "Ladypool Rd",
    "Alum Rock Rd", "Dudley Rd", "High St", "Lichfield Rd", "Washwood Heath Rd", "Bristol Rd",
    "Hagley Rd", "Warwick Rd", "Walsall Rd", "Stafford St", "Far Gosford St", "Hamstead Rd",
    "Bearwood Rd", "Lozells Rd", "St Paul\u2019s Rd", "Park Rd", "Church St", "Station Rd",
)  # fmt: skip
_VENUES = (
    "the chicken shop", "the chippy", "the off-licence", "a takeaway", "the bus stop",
    "the park", "a nightclub", "the pub", "a shisha lounge", "the petrol station",
    "the corner shop", "the Bull\u2019s Head", "the kebab shop", "Wetherspoons", "the bookies",
)  # fmt: skip
_HOSPITALS = (
    "QEHB", "Heartlands", "Good Hope", "City Hospital", "Midland Met", "Walsall Manor",
    "New Cross", "UHCW", "Russells Hall", "Sandwell General",
)  # fmt: skip

_MO_TEXT: dict[str, tuple[str, ...]] = {
    "Homicide": (
        "Male found with fatal injuries near {venue} on {street}, major incident declared",
        "Victim {forename} died at scene after altercation on {street}, suspects left in car",
    ),
    "Violence with injury": (
        "Victim punched outside {venue} on {street}",
        "Victim assaulted by unknown male near {venue}, cut above eye, {street}",
        "Victim struck with {weapon} during argument on {street}",
        "Group of youths attacked victim {forename} near {venue} on {street}",
        "Fight spilled out of {venue}, victim glassed, {street}",
    ),
    "Violence without injury": (
        "Victim pushed and threatened outside {venue}, {street}",
        "Suspect spat at victim on bus on {street}",
        "Victim grabbed by the throat during row with neighbour on {street}",
    ),
    "Stalking and harassment": (
        "Repeated unwanted messages from ex-partner to victim {forename}",
        "Suspect followed victim home from {venue} on several nights",
        "Suspect keeps turning up at victim's workplace on {street}",
    ),
    "Sexual offences": (
        "Victim reports being touched inappropriately in {venue} on {street}",
        "Victim {forename} reports offence by a man known to them, ABE interview arranged",
        "Unknown male approached victim walking home along {street}",
    ),
    "Robbery": (
        "Victim's phone taken by two males on bikes on {street}, threatened with {weapon}",
        "Victim {forename} robbed of cash and bank card outside {venue}",
        "Suspects demanded victim's coat and trainers at {venue}, {street}",
    ),
    "Possession of weapons offences": (
        "Male stopped and searched on {street}, found with {weapon}",
        "Report of youths with {weapon} near {venue}, one detained on {street}",
    ),
}
_MO_DOMESTIC = (
    "Victim {forename} assaulted by partner at home address, visible injury to face",
    "Ex-partner attended address and assaulted victim, neighbours called police",
    "Argument at home escalated, suspect threw victim {forename} against wall",
    "Victim reports ongoing abuse by partner, latest incident at home address",
)
_WEAPON_WORDS = {
    "BODY": "fists",
    "KNIFE": "a kitchen knife",
    "BLUNT": "a metal bar",
    "GLASS": "a bottle",
    "FIREARM": "a handgun",
    "OTHER": "an unknown object",
    "UNKNOWN": "an unknown object",
}
_ED_LOCATION_TEXT = {
    "HOME": ("at home", "partner\u2019s flat", "at a friend\u2019s house", "home address"),
    "STREET": ("outside {venue} on {street}", "{street} near the shops", "on {street}"),
    "PUB": (
        "in the Bull\u2019s Head",
        "outside a nightclub on {street}",
        "smoking area of the pub on {street}",
        "Wetherspoons on {street}",
    ),
    "WORK": ("at work", "car park at work on {street}"),
    "SCHOOL": ("school playground", "outside the school gates on {street}"),
    "TRANSPORT": ("on the bus on {street}", "at the train station", "tram stop on {street}"),
    "OTHER": ("in the park off {street}", "garage forecourt on {street}", "not stated"),
}
_METHOD_OTHER = (
    "hit with a scooter",
    "bitten",
    "struck with a brick",
    "hot drink thrown",
    "pushed down stairs",
    "hit with a phone",
)
_CREW_NOTES = {
    "Assault": (
        "Pt assaulted outside {venue}, head injury, GCS 15",
        "Pt punched multiple times on {street}, refused conveyance",
        "Pt kicked while on floor, police on scene, conveyed to {hospital}",
        "Facial injuries after fight at {venue}, alcohol involved",
    ),
    "Sexual assault": (
        "Pt reports sexual assault, police escort to {hospital}",
        "Pt distressed, alleged assault near {venue}, SARC informed",
    ),
    "Stab/gunshot/penetrating": (
        "Single stab wound to left thigh, police on scene, conveyed to {hospital}",
        "Penetrating injury to abdomen on {street}, pre-alert {hospital}",
        "Pt stabbed outside {venue}, tourniquet applied",
        "Reported gunshot wound on {street}, armed police on scene",
    ),
    "Other": (
        "Pt found injured on {street}, unclear mechanism",
        "Caller reports fight at {venue}, pt with minor injuries",
    ),
}
_REFERRERS = (
    ("Police custody", 22),
    ("School", 25),
    ("YOS", 15),
    ("Social care", 18),
    ("Self", 5),
    ("Voluntary sector", 15),
)
_PROGRAMMES = (("MENTOR", 40), ("SPORT-DIV", 30), ("FAMILY", 30))
_REASONS = (
    ("Knife carrying", 20),
    ("Violence victim", 15),
    ("Violence perpetrator", 20),
    ("Exploitation risk", 15),
    ("Gang association", 10),
    ("Domestic abuse at home", 10),
    ("School exclusion", 10),
    ("Substance misuse", 10),
)
_REASON_ORDER = tuple(reason for reason, _ in _REASONS)
_REFERRAL_NOTES: dict[str, tuple[str, ...]] = {
    "ED navigator": (
        "Seen in ED by navigator after assault; {forename} agreed to a follow-up call.",
        "Met {forename} at bedside with mum; agreed to meet at the youth centre on {street}.",
        "{forename} says they carry a blade for protection after being robbed on {street}.",
    ),
    "Police custody": (
        "Arrested for affray on {street}; released under investigation.",
        "Custody suite referral after {forename} was found with a knife near {venue}.",
    ),
    "School": (
        "Referred after fight at school; mum supportive, dad not in contact.",
        "Found with a knife at school, no previous contact with services.",
        "Concerns re older males collecting {forename} from school in a car.",
    ),
    "YOS": ("Out-of-court disposal; {forename} to be offered mentoring.",),
    "Social care": (
        "Family known to early help; {forename} missing from home twice this month.",
        "Child in need plan; concerns about exploitation around {street}.",
    ),
    "Self": ("Self-referral after sports session; wants help getting back into college.",),
    "Voluntary sector": ("Detached youth workers met {forename} near {venue} on {street}.",),
}
_OUTCOME_NOTES: dict[str, tuple[str, ...]] = {
    "Engaged": ("{forename} attended first sessions and engaged well.",),
    "Declined": ("Mum declined on {forename}'s behalf; leaflet left.",),
    "Uncontactable": ("Could not reach {forename} after three calls and a home visit.",),
    "Completed": ("Good progress; SDQ repeated at closure.", "{forename} completed the programme."),
    "Disengaged": ("{forename} stopped attending; last seen near {venue} on {street}.",),
    "ETE suitable": ("Started at college; mentor to check in monthly.",),
    "Accommodation suitable": ("Moved to stay with family; placement stable.",),
    "FTE": ("{forename} received a youth caution; worker informed YOS.",),
    "Reoffended (violent)": ("Re-arrested for assault on {street}; worker informed YOS.",),
}
_INTERVENTION_BY_PROGRAMME = {
    "NAV-ED": "ED navigator",
    "MENTOR": "Mentoring",
    "SPORT-DIV": "Sport/diversionary",
    "FAMILY": "Family support",
}
_OTHER_INTERVENTIONS = (
    "Youth work",
    "Education support",
    "Employment support",
    "Mental health support",
    "Substance misuse support",
    "Restorative justice",
    "Other",
)
_FIRST_OUTCOMES = (
    ("Engaged", 45),
    ("Declined", 10),
    ("Uncontactable", 15),
    ("ETE suitable", 8),
    ("Accommodation suitable", 5),
    ("FTE", 5),
    ("Completed", 7),
    ("Disengaged", 5),
)
_LATER_OUTCOMES = (
    ("Completed", 45),
    ("Disengaged", 25),
    ("ETE suitable", 10),
    ("Accommodation suitable", 5),
    ("FTE", 5),
    ("Reoffended (violent)", 10),
)
_EXIT_REASONS: dict[str, Weights] = {
    "Engaged": (("Not exited", 1),),
    "Declined": (("Declined", 1),),
    "Uncontactable": (("Other", 6), ("Moved away", 2), ("Disengaged", 2)),
    "Completed": (("Completed", 9), ("Referred on", 1)),
    "Disengaged": (("Disengaged", 8), ("Consent withdrawn", 1), ("Moved away", 1)),
    "ETE suitable": (("Not exited", 7), ("Completed", 3)),
    "Accommodation suitable": (("Not exited", 7), ("Completed", 3)),
    "FTE": (("Not exited", 6), ("Referred on", 4)),
    "Reoffended (violent)": (("Custody", 5), ("Not exited", 5)),
}


# ------------------------------------------------------------------ helpers


def _pick(rng: random.Random, weighted: Weights) -> str:
    values = [value for value, _ in weighted]
    return rng.choices(values, weights=[weight for _, weight in weighted])[0]


def _chance(rng: random.Random, probability: float) -> bool:
    return rng.random() < probability


def _age(rng: random.Random, bands: Sequence[tuple[tuple[int, int], float]]) -> int:
    low, high = rng.choices([band for band, _ in bands], weights=[w for _, w in bands])[0]
    return rng.randint(low, high)


def _dob_for_age(rng: random.Random, age: int, on: date) -> date:
    """A date of birth giving exactly ``age`` completed years on ``on``."""
    latest = _years_before(on, age)  # turned ``age`` on this day
    earliest = _years_before(on, age + 1) + timedelta(days=1)
    return earliest + timedelta(days=rng.randrange((latest - earliest).days + 1))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def age_on(dob: date, day: date) -> int:
    """Completed years of age on ``day``."""
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def _fill(rng: random.Random, template: str, forename: str = "", method: str = "UNKNOWN") -> str:
    """Fill a free-text template; every placeholder draws from a fixed list."""
    return template.format(
        street=rng.choice(_STREETS),
        venue=rng.choice(_VENUES),
        hospital=rng.choice(_HOSPITALS),
        forename=forename or "the victim",
        weapon=_WEAPON_WORDS[method],
    )


def _dmy(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _dmy_hm(moment: datetime) -> str:
    return moment.strftime("%d/%m/%Y %H:%M")


def _iso_hm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _iso_hms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class _Person:
    forename: str
    surname: str
    dob: date
    sex: str  # M, F or U
    ethnicity: str  # W, A, B, M, O or "" (not stated)
    nhs: str = ""


class _People:
    """Makes fictional people and hands out unique test-range NHS numbers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._nhs_used: set[str] = set()

    def person(
        self,
        on: date,
        ages: Sequence[tuple[tuple[int, int], float]],
        sex: str,
    ) -> _Person:
        rng = self.rng
        ethnicity = _pick(rng, _ETHNICITY)
        pool_key = {"W": "W", "A": "A", "B": "B", "O": "O"}.get(ethnicity)
        if pool_key is None:
            pool_key = rng.choice(("W", "A", "B", "O"))
        pool = _NAMES[pool_key]
        name_sex = sex if sex in ("M", "F") else rng.choice(("M", "F"))
        forename = rng.choice(pool[name_sex])
        surnames = pool["S"] + pool.get("S" + name_sex, ())
        surname = rng.choice(surnames)
        dob = _dob_for_age(rng, _age(rng, ages), on)
        return _Person(forename, surname, dob, sex, ethnicity)

    def nhs_number(self, person: _Person) -> str:
        """The person's NHS number, from the 999 test range, unique within the run."""
        while not person.nhs:
            first9 = f"999{self.rng.randrange(1_000_000):06d}"
            check = nhs_check_digit(first9)
            if check is not None and first9 not in self._nhs_used:
                self._nhs_used.add(first9)
                person.nhs = f"{first9}{check}"
        return person.nhs


class _Clock:
    """Draws event times inside the period [start, start + days)."""

    def __init__(self, start: date, days: int) -> None:
        self.start = datetime.combine(start, time())
        self.end = self.start + timedelta(days=days)
        self.days = days
        # A "violence day" runs noon to noon; it may start the day before the period.
        self._anchors = list(range(-1, days))
        self._anchor_cum = list(
            accumulate(_NIGHT_WEIGHTS[(start + timedelta(days=d)).weekday()] for d in self._anchors)
        )
        self._slot_cum = list(accumulate(_HOUR_WEIGHTS[(12 + k) % 24] for k in range(24)))
        self._office_days = list(range(days))
        office = (1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.05)
        self._office_cum = list(
            accumulate(office[(start + timedelta(days=d)).weekday()] for d in self._office_days)
        )

    def violent(self, rng: random.Random) -> datetime:
        """An assault time: evenings, nights and weekends weighted."""
        while True:
            day = rng.choices(self._anchors, cum_weights=self._anchor_cum)[0]
            slot = rng.choices(range(24), cum_weights=self._slot_cum)[0]
            moment = self.start + timedelta(days=day, hours=12 + slot, minutes=rng.randrange(60))
            if self.start <= moment < self.end:
                return moment

    def office(self, rng: random.Random) -> datetime:
        """A working-hours time (weekdays 09:00-17:59, a few at weekends), with seconds."""
        day = rng.choices(self._office_days, cum_weights=self._office_cum)[0]
        return self.start + timedelta(
            days=day, hours=rng.randint(9, 17), minutes=rng.randrange(60), seconds=rng.randrange(60)
        )


class _Places:
    """Skewed LSOA weights (hotspots) and the two ED trusts' catchments."""

    def __init__(self, lookup: GeographyLookup, rng: random.Random) -> None:
        self.lookup = lookup
        order = lookup.lsoas()
        rng.shuffle(order)
        weights = [
            (_BIRMINGHAM_BOOST if lookup.area(code).lad_cd == _BIRMINGHAM else 1.0)
            / (rank + _HOTSPOT_OFFSET) ** _HOTSPOT_EXPONENT
            for rank, code in enumerate(order)
        ]
        self.codes = order
        self.weight = dict(zip(order, weights, strict=True))
        self._cum = list(accumulate(weights))
        birmingham_msoas = lookup.msoas(_BIRMINGHAM)
        west = set(birmingham_msoas[: len(birmingham_msoas) // 3])
        self.trust: dict[str, str] = {}
        for code in order:
            area = lookup.area(code)
            if area.lad_cd == _SANDWELL or area.msoa21cd in west:
                self.trust[code] = "SWBH"
            elif area.lad_cd in (_BIRMINGHAM, _SOLIHULL):
                self.trust[code] = "UHB"
        self._catchment: dict[str, tuple[list[str], list[float]]] = {}
        for trust in ("UHB", "SWBH"):
            codes = [code for code in order if self.trust.get(code) == trust] or list(order)
            self._catchment[trust] = (codes, list(accumulate(self.weight[c] for c in codes)))
        # The youth service is Birmingham City Council's: its children mostly live there.
        codes = [code for code in order if lookup.area(code).lad_cd == _BIRMINGHAM] or list(order)
        self._catchment[_BIRMINGHAM] = (codes, list(accumulate(self.weight[c] for c in codes)))

    def pick(self, rng: random.Random) -> str:
        """An LSOA anywhere, hotspots first."""
        return rng.choices(self.codes, cum_weights=self._cum)[0]

    def pick_in(self, rng: random.Random, trust: str) -> str:
        """An LSOA in the trust's catchment (anywhere, if the lookup has none of it)."""
        codes, cum = self._catchment[trust]
        return rng.choices(codes, cum_weights=cum)[0]

    def home(self, rng: random.Random) -> str:
        """Where a child known to the (Birmingham) youth service lives."""
        if _chance(rng, 0.9):
            codes, cum = self._catchment[_BIRMINGHAM]
            return rng.choices(codes, cum_weights=cum)[0]
        return self.pick(rng)

    def serves(self, trust: str, lsoa: str) -> bool:
        """Whether victims injured in ``lsoa`` go to ``trust``'s ED."""
        return self.trust.get(lsoa) == trust or trust not in self.trust.values()


# ------------------------------------------------------------------ the model


@dataclass
class _Crime:
    person: _Person | None  # None: victimless offence (possession of weapons)
    dob_known: bool
    offence: _Offence
    committed: datetime
    recorded: datetime
    method: str
    domestic: bool
    lsoa: str
    location: str
    suspect_age: int | None
    suspect_sex: str
    mo_text: str
    reference: str = ""
    correction: dict[str, Any] | None = None  # fields changed by a version-2 record
    corrected_at: datetime | None = None


@dataclass
class _Attendance:
    trust: str  # UHB or SWBH
    person: _Person
    assault: datetime
    arrival: datetime
    method: str
    method_other: str
    location: str
    description: str
    lsoa: str
    crime: _Crime | None
    attendance_id: str = ""


@dataclass
class _Referral:
    person: _Person
    when: datetime
    referrer: str
    programme: str
    reasons: list[str]
    looked_after: int
    send: int
    excluded: int
    consent: str
    risk: str
    home_lsoa: str
    attendance: _Attendance | None
    updated: datetime
    notes: str
    referral_id: str = ""


@dataclass
class _Outcome:
    referral: _Referral
    day: date
    kind: str
    intervention: str
    offered: int
    attended: int
    score: int | None
    exit_reason: str
    notes: str
    outcome_id: str = ""


_RECLASSIFY = {"105A": "8N", "8N": "5D", "20A": "19C", "8L": "105A"}
_OFFENCE_BY_CODE = {offence.code: offence for offence in _OFFENCES}
_NIGHT_LOCATIONS = (
    ("STREET", 42), ("PUB", 25), ("HOME", 12), ("TRANSPORT", 5), ("WORK", 4), ("OTHER", 12),
)  # fmt: skip
_DAY_LOCATIONS = (
    ("STREET", 38), ("HOME", 20), ("WORK", 10), ("SCHOOL", 6), ("PUB", 5), ("TRANSPORT", 7),
    ("OTHER", 14),
)  # fmt: skip
_ED_ONLY_METHODS = (
    ("BODY", 55), ("KNIFE", 12), ("BLUNT", 10), ("GLASS", 7), ("FIREARM", 0.5), ("OTHER", 6),
    ("UNKNOWN", 9.5),
)  # fmt: skip
_ED_ONLY_LOCATIONS = (
    ("STREET", 38), ("PUB", 14), ("HOME", 20), ("WORK", 4), ("SCHOOL", 3), ("TRANSPORT", 4),
    ("OTHER", 17),
)  # fmt: skip
_CALL_CATEGORIES = (
    ("Assault", 68), ("Sexual assault", 4), ("Stab/gunshot/penetrating", 16), ("Other", 12),
)  # fmt: skip


def _police_location(rng: random.Random, offence: _Offence, domestic: bool, when: datetime) -> str:
    if domestic:
        return _pick(rng, (("HOME", 85), ("STREET", 8), ("OTHER", 7)))
    if offence.group == "Possession of weapons offences":
        return _pick(rng, (("STREET", 70), ("TRANSPORT", 10), ("SCHOOL", 5), ("OTHER", 15)))
    if offence.group == "Sexual offences":
        return _pick(rng, (("HOME", 45), ("STREET", 20), ("PUB", 15), ("OTHER", 20)))
    night = when.hour >= 20 or when.hour < 4
    return _pick(rng, _NIGHT_LOCATIONS if night else _DAY_LOCATIONS)


def _recording_delay(rng: random.Random, offence: _Offence) -> timedelta:
    if offence.group == "Sexual offences":
        bucket = _pick(rng, (("hours", 40), ("days", 35), ("weeks", 25)))
    else:
        bucket = _pick(rng, (("hours", 65), ("days", 28), ("weeks", 7)))
    if bucket == "hours":
        return timedelta(minutes=rng.randint(10, 6 * 60))
    if bucket == "days":
        return timedelta(minutes=rng.randint(6 * 60, 3 * 24 * 60))
    return timedelta(minutes=rng.randint(3 * 24 * 60, 21 * 24 * 60))


def _ed_delay(rng: random.Random) -> timedelta:
    """Assault to arrival at ED: 10 minutes to 12 hours, mostly within the hour and a half."""
    bucket = _pick(rng, (("soon", 55), ("hours", 35), ("late", 10)))
    if bucket == "soon":
        return timedelta(minutes=rng.randint(10, 90))
    if bucket == "hours":
        return timedelta(minutes=rng.randint(91, 5 * 60))
    return timedelta(minutes=rng.randint(5 * 60 + 1, 12 * 60))


def _assault_offset(rng: random.Random) -> timedelta:
    """How far the patient's account of the time differs from the police record (<= 150 min)."""
    bucket = _pick(rng, (("same", 40), ("near", 35), ("far", 25)))
    if bucket == "same":
        return timedelta(0)
    minutes = rng.randint(1, 30) if bucket == "near" else rng.randint(31, 150)
    return timedelta(minutes=minutes if _chance(rng, 0.5) else -minutes)


def _pick_weighted_without_replacement(
    rng: random.Random, candidates: list[_Crime], count: int
) -> list[_Crime]:
    """Up to ``count`` crimes, each draw proportional to the offence's ED weight."""
    buckets: dict[float, list[_Crime]] = {}
    for crime in candidates:
        buckets.setdefault(crime.offence.ed_weight, []).append(crime)
    keys = sorted(buckets)
    chosen: list[_Crime] = []
    while len(chosen) < count:
        live = [key for key in keys if buckets[key]]
        if not live:
            break
        key = rng.choices(live, weights=[key * len(buckets[key]) for key in live])[0]
        bucket = buckets[key]
        index = rng.randrange(len(bucket))
        bucket[index], bucket[-1] = bucket[-1], bucket[index]
        chosen.append(bucket.pop())
    return chosen


def _reasons(rng: random.Random, navigator: bool, method: str, excluded: int) -> list[str]:
    chosen: set[str] = set()
    if navigator:
        chosen.add("Violence victim")
        if method == "KNIFE" and _chance(rng, 0.3):
            chosen.add("Knife carrying")
        for reason in ("Gang association", "Exploitation risk"):
            if _chance(rng, 0.15):
                chosen.add(reason)
    else:
        for _ in range(rng.randint(1, 3)):
            chosen.add(_pick(rng, _REASONS))
    if excluded and _chance(rng, 0.7):
        chosen.add("School exclusion")
    return [reason for reason in _REASON_ORDER if reason in chosen]


class _Model:
    """Builds every source's records for one run, in a fixed order of random draws."""

    def __init__(self, seed: int, days: int, start: date, lookup: GeographyLookup) -> None:
        master = random.Random(seed)  # noqa: S311 (synthetic data, not security)
        self.rng = {
            name: random.Random(master.getrandbits(64))  # noqa: S311 (as above)
            for name in ("places", "people", "police", "ed", "ambulance", "youth", "outcomes")
        }
        self.days = days
        self.clock = _Clock(start, days)
        self.places = _Places(lookup, self.rng["places"])
        self.people = _People(self.rng["people"])
        self.crimes: list[_Crime] = []
        self.attendances: list[_Attendance] = []
        self.callouts: list[list[str]] = []
        self.referrals: list[_Referral] = []
        self.outcomes: list[_Outcome] = []

    def build(self) -> None:
        self._crimes(self.rng["police"])
        self._attendances(self.rng["ed"])
        self._callouts(self.rng["ambulance"])
        self._referrals(self.rng["youth"])
        self._outcomes(self.rng["outcomes"])

    def volume(self, name: str) -> int:
        return round(DAILY_VOLUMES[name] * self.days)

    # ---------------------------------------------------------------- police

    def _victim(self, rng: random.Random, offence: _Offence, domestic: bool, on: date) -> _Person:
        if offence.victim in ("F", "M"):
            sex = offence.victim
        elif domestic:
            sex = _pick(rng, (("F", 75), ("M", 24), ("U", 1)))
        else:
            sex = _pick(rng, (("M", 58), ("F", 40), ("U", 2)))
        if offence.group == "Sexual offences":
            ages: Sequence[tuple[tuple[int, int], float]] = _AGES_SEXUAL
        elif domestic:
            ages = _AGES_DOMESTIC
        else:
            ages = _AGES_GENERAL
        return self.people.person(on, ages, sex)

    def _crime(self, rng: random.Random, offence: _Offence) -> _Crime:
        committed = self.clock.violent(rng)
        domestic = _chance(rng, offence.domestic)
        person = None
        if offence.victim != "none":
            person = self._victim(rng, offence, domestic, committed.date())
        method = _pick(rng, offence.weapons)
        location = _police_location(rng, offence, domestic, committed)
        known_suspect = domestic or _chance(rng, 0.6)
        suspect_age = _age(rng, _AGES_SUSPECT) if known_suspect and _chance(rng, 0.9) else None
        if known_suspect:
            suspect_sex = _pick(rng, (("M", 80), ("F", 17), ("U", 3)))
        else:
            suspect_sex = _pick(rng, (("M", 40), ("U", 35), ("", 25)))
        templates: tuple[str, ...]
        if domestic and offence.group in ("Violence with injury", "Violence without injury"):
            templates = _MO_DOMESTIC
        else:
            templates = _MO_TEXT[offence.group]
        forename = person.forename if person else ""
        return _Crime(
            person=person,
            dob_known=person is not None and not _chance(rng, 0.03),
            offence=offence,
            committed=committed,
            recorded=committed + _recording_delay(rng, offence),
            method=method,
            domestic=domestic,
            lsoa=self.places.pick(rng),
            location=location,
            suspect_age=suspect_age,
            suspect_sex=suspect_sex,
            mo_text=_fill(rng, rng.choice(templates), forename, method),
        )

    def _crimes(self, rng: random.Random) -> None:
        weights = [offence.weight for offence in _OFFENCES]
        for _ in range(self.volume(WMP_CRIME)):
            self.crimes.append(self._crime(rng, rng.choices(_OFFENCES, weights=weights)[0]))
        self.crimes.sort(key=lambda crime: (crime.recorded, crime.committed))
        base = rng.randrange(100_000, 900_000)
        for number, crime in enumerate(self.crimes):
            crime.reference = f"CR-{crime.recorded.year}-{base + number:07d}"
            if not _chance(rng, 0.03):
                continue
            crime.corrected_at = crime.recorded + timedelta(minutes=rng.randint(120, 7 * 24 * 60))
            new_code = _RECLASSIFY.get(crime.offence.code)
            if new_code is not None and _chance(rng, 0.6):
                crime.correction = {"offence": _OFFENCE_BY_CODE[new_code]}
            elif crime.method == "UNKNOWN":
                method = _pick(rng, (("BODY", 70), ("KNIFE", 20), ("BLUNT", 10)))
                crime.correction = {"method": method}
            else:
                crime.correction = {"domestic": not crime.domestic}

    # -------------------------------------------------------------------- ED

    def _attendances(self, rng: random.Random) -> None:
        police_people = {
            (c.person.forename, c.person.surname, c.person.dob) for c in self.crimes if c.person
        }
        taken: set[int] = set()  # crimes already matched to an attendance
        for trust, volume in (("UHB", self.volume(UHB_ISTV)), ("SWBH", self.volume(SWBH_ISTV))):
            reported = sum(_chance(rng, ED_REPORTED_SHARE) for _ in range(volume))
            candidates = [
                crime
                for crime in self.crimes
                if crime.person is not None
                and crime.dob_known
                and crime.offence.ed_weight > 0
                and self.places.serves(trust, crime.lsoa)
                and id(crime) not in taken
            ]
            matched = _pick_weighted_without_replacement(rng, candidates, reported)
            taken.update(id(crime) for crime in matched)
            for crime in matched:
                if crime.person is None:  # never: every candidate has a victim
                    continue
                self._attend(
                    rng,
                    trust=trust,
                    person=crime.person,
                    assault=crime.committed + _assault_offset(rng),
                    method=crime.method,
                    location=crime.location,
                    lsoa=crime.lsoa,
                    crime=crime,
                )
            for _ in range(volume - len(matched)):
                assault = self.clock.violent(rng)
                while True:  # an unreported victim must not be a police victim by chance
                    sex = _pick(rng, (("M", 68), ("F", 31), ("U", 1)))
                    person = self.people.person(assault.date(), _AGES_GENERAL, sex)
                    if (person.forename, person.surname, person.dob) not in police_people:
                        break
                method = _pick(rng, _ED_ONLY_METHODS)
                location = _pick(rng, _ED_ONLY_LOCATIONS)
                in_catchment = _chance(rng, 0.9)
                lsoa = self.places.pick_in(rng, trust) if in_catchment else self.places.pick(rng)
                self._attend(
                    rng,
                    trust=trust,
                    person=person,
                    assault=assault,
                    method=method,
                    location=location,
                    lsoa=lsoa,
                    crime=None,
                )
        self.attendances.sort(key=lambda a: (a.trust, a.arrival, a.assault, a.person.surname))
        for trust, prefix in (("UHB", "UHB-"), ("SWBH", "SWBH-")):
            base = rng.randrange(1_000_000, 5_000_000)
            rows = [a for a in self.attendances if a.trust == trust]
            for number, attendance in enumerate(rows):
                attendance.attendance_id = f"{prefix}{base + number:07d}"
                self.people.nhs_number(attendance.person)

    def _attend(
        self,
        rng: random.Random,
        *,
        trust: str,
        person: _Person,
        assault: datetime,
        method: str,
        location: str,
        lsoa: str,
        crime: _Crime | None,
    ) -> None:
        other = ""
        if method == "OTHER":
            other = rng.choice(_METHOD_OTHER)
        elif _chance(rng, 0.03):
            other = "kicked while on the floor"
        self.attendances.append(
            _Attendance(
                trust=trust,
                person=person,
                assault=assault,
                arrival=assault + _ed_delay(rng),
                method=method,
                method_other=other,
                location=location,
                description=_fill(rng, rng.choice(_ED_LOCATION_TEXT[location])),
                lsoa=lsoa,
                crime=crime,
            )
        )

    # ------------------------------------------------------------- ambulance

    def _callouts(self, rng: random.Random) -> None:
        calls: list[tuple[datetime, list[str]]] = []
        for _ in range(self.volume(WMAS_CALLOUTS)):
            moment = self.clock.violent(rng) + timedelta(seconds=rng.randrange(60))
            category = _pick(rng, _CALL_CATEGORIES)
            sex = _pick(rng, (("M", 66), ("F", 31), ("U", 3)))
            patient = self.people.person(moment.date(), _AGES_GENERAL, sex)
            age = "" if _chance(rng, 0.1) else str(age_on(patient.dob, moment.date()))
            conveyed = {"Stab/gunshot/penetrating": 0.92, "Sexual assault": 0.6}.get(category, 0.55)
            name_style = _pick(rng, (("", 70), ("forename", 15), ("full", 10), ("unknown", 5)))
            name = {
                "": "",
                "forename": patient.forename,
                "full": f"{patient.forename} {patient.surname}",
                "unknown": "unknown male" if sex == "M" else "unknown",
            }[name_style]
            row = [
                "",
                moment.strftime("%Y-%m-%dT%H:%M:%S"),
                category,
                age,
                sex,
                self.places.pick(rng),
                "Y" if _chance(rng, conveyed) else "N",
                name,
                _fill(rng, rng.choice(_CREW_NOTES[category])),
            ]
            calls.append((moment, row))
        calls.sort(key=lambda call: call[0])
        base = rng.randrange(10_000_000, 50_000_000)
        for number, (_, row) in enumerate(calls):
            row[0] = f"WMAS-{base + number:08d}"
            self.callouts.append(row)

    # ----------------------------------------------------------------- youth

    def _referral_plans(
        self, rng: random.Random
    ) -> list[tuple[_Person, datetime, _Attendance | None]]:
        """Who is referred and when: ED-navigator referrals of young patients, then the rest."""
        total = self.volume(YOUTH_SERVICE)
        seen_in_ed: list[tuple[_Attendance, datetime]] = []
        for attendance in self.attendances:
            if not 10 <= age_on(attendance.person.dob, attendance.arrival.date()) <= 24:
                continue
            when = attendance.arrival + timedelta(
                minutes=rng.randint(30, 48 * 60), seconds=rng.randrange(60)
            )
            if when < self.clock.end:
                seen_in_ed.append((attendance, when))
        wanted = min(round(total * ED_NAVIGATOR_SHARE), len(seen_in_ed))
        plans: list[tuple[_Person, datetime, _Attendance | None]] = [
            (seen_in_ed[i][0].person, seen_in_ed[i][1], seen_in_ed[i][0])
            for i in sorted(rng.sample(range(len(seen_in_ed)), wanted))
        ]
        for _ in range(total - wanted):
            when = self.clock.office(rng)
            sex = _pick(rng, (("M", 70), ("F", 29), ("U", 1)))
            plans.append((self.people.person(when.date(), _AGES_YOUTH, sex), when, None))
        return plans

    def _referrals(self, rng: random.Random) -> None:
        for person, when, attendance in self._referral_plans(rng):
            excluded = int(_chance(rng, 0.12))
            if attendance is not None:
                referrer, programme = "ED navigator", "NAV-ED"
                consent = _pick(rng, (("given", 72), ("refused", 13), ("pending", 15)))
                home = attendance.lsoa if _chance(rng, 0.4) else self.places.home(rng)
            else:
                referrer, programme = _pick(rng, _REFERRERS), _pick(rng, _PROGRAMMES)
                consent = _pick(rng, (("given", 68), ("refused", 10), ("pending", 22)))
                home = self.places.home(rng)
            updated = when
            if _chance(rng, 0.12):
                later = when + timedelta(
                    days=rng.randint(1, 20), hours=rng.randint(0, 8), seconds=rng.randrange(3600)
                )
                if later < self.clock.end:
                    updated = later
            method = attendance.method if attendance else ""
            self.referrals.append(
                _Referral(
                    person=person,
                    when=when,
                    referrer=referrer,
                    programme=programme,
                    reasons=_reasons(rng, attendance is not None, method, excluded),
                    looked_after=int(_chance(rng, 0.08)),
                    send=int(_chance(rng, 0.22)),
                    excluded=excluded,
                    consent=consent,
                    risk=_pick(rng, (("low", 30), ("medium", 45), ("high", 25))),
                    home_lsoa=home,
                    attendance=attendance,
                    updated=updated,
                    notes=_fill(rng, rng.choice(_REFERRAL_NOTES[referrer]), person.forename),
                )
            )
        self.referrals.sort(key=lambda referral: (referral.when, referral.person.surname))
        base = rng.randrange(10_000, 90_000)
        for number, referral in enumerate(self.referrals):
            referral.referral_id = f"REF-{base + number:06d}"

    def _outcomes(self, rng: random.Random) -> None:
        end = self.clock.end.date()  # outcomes dated on or after this are not yet recorded
        for referral in self.referrals:
            if referral.consent != "given":
                continue
            intervention = _INTERVENTION_BY_PROGRAMME[referral.programme]
            if _chance(rng, 0.3):
                intervention = rng.choice(_OTHER_INTERVENTIONS)
            first_offset = rng.randint(14, 42)
            first = _pick(rng, _FIRST_OUTCOMES)
            plan = [(first_offset, first)]
            if first not in ("Declined", "Uncontactable") and _chance(rng, 0.5):
                plan.append((rng.randint(first_offset + 7, 70), _pick(rng, _LATER_OUTCOMES)))
            offered = 0
            for offset, kind in plan:
                if kind in ("Declined", "Uncontactable"):
                    offered, attended = rng.randint(0, 2), 0
                else:
                    offered = max(offered, rng.randint(2, 16))
                    attended = rng.randint(0 if kind == "Disengaged" else 1, offered)
                scored = kind in ("Engaged", "Completed", "Disengaged") and _chance(rng, 0.35)
                outcome = _Outcome(
                    referral=referral,
                    day=referral.when.date() + timedelta(days=offset),
                    kind=kind,
                    intervention=intervention,
                    offered=offered,
                    attended=attended,
                    score=rng.randint(0, 40) if scored else None,
                    exit_reason=_pick(rng, _EXIT_REASONS[kind]),
                    notes=_fill(rng, rng.choice(_OUTCOME_NOTES[kind]), referral.person.forename),
                )
                if outcome.day < end:
                    self.outcomes.append(outcome)
        self.outcomes.sort(key=lambda outcome: (outcome.day, outcome.referral.referral_id))
        base = rng.randrange(10_000, 90_000)
        for number, outcome in enumerate(self.outcomes):
            outcome.outcome_id = f"OUT-{base + number:06d}"


# ------------------------------------------------------------------ writers


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


def _crime_rows(world: _Model) -> list[list[str]]:
    rows: list[tuple[datetime, str, int, list[str]]] = []
    for crime in world.crimes:
        rows.append((crime.recorded, crime.reference, 1, _crime_row(crime, 1, crime.recorded)))
        if crime.corrected_at is not None and crime.correction is not None:
            corrected = replace(crime, **crime.correction)
            rows.append(
                (
                    crime.corrected_at,
                    crime.reference,
                    2,
                    _crime_row(corrected, 2, crime.corrected_at),
                )
            )
    rows.sort(key=lambda row: row[:3])
    return [row for *_, row in rows]


def _crime_row(crime: _Crime, version: int, recorded: datetime) -> list[str]:
    person = crime.person
    return [
        crime.reference,
        str(version),
        _dmy_hm(recorded),
        _dmy_hm(crime.committed),
        crime.offence.code,
        crime.offence.group,
        _WMP_WEAPON[crime.method],
        "Y" if crime.domestic else "N",
        person.forename if person else "",
        person.surname if person else "",
        _dmy(person.dob) if person and crime.dob_known else "",
        person.sex if person else "U",
        person.ethnicity if person else "",
        "" if crime.suspect_age is None else str(crime.suspect_age),
        crime.suspect_sex,
        crime.lsoa,
        _WMP_LOCATION[crime.location],
        crime.mo_text,
    ]


def _uhb_rows(world: _Model) -> list[list[str]]:
    nhs = "{0} {1} {2}".format
    return [
        [
            a.attendance_id,
            nhs(a.person.nhs[:3], a.person.nhs[3:6], a.person.nhs[6:]),
            a.person.forename,
            a.person.surname,
            a.person.dob.isoformat(),
            _UHB_SEX[a.person.sex],
            _iso_hm(a.arrival),
            _iso_hm(a.assault),
            _UHB_METHOD[a.method],
            a.method_other,
            _UHB_LOCATION[a.location],
            a.description,
            a.lsoa,
        ]
        for a in world.attendances
        if a.trust == "UHB"
    ]


def _swbh_rows(world: _Model) -> list[list[str]]:
    return [
        [
            a.attendance_id,
            a.person.nhs,
            f"{a.person.surname.upper()}, {a.person.forename}",
            _dmy(a.person.dob),
            a.person.sex,
            _dmy_hm(a.arrival),
            _dmy_hm(a.assault),
            _SWBH_WEAPON[a.method],
            _SWBH_LOCATION[a.location],
            a.description if not a.method_other else f"{a.description}; {a.method_other}",
            a.lsoa,
        ]
        for a in world.attendances
        if a.trust == "SWBH"
    ]


def _outcome_rows(world: _Model) -> list[list[str]]:
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


def _write_referrals(path: Path, seed: int, world: _Model) -> int:
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
        connection.commit()
    return len(world.referrals)


# ------------------------------------------------------------------ entry point


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
    world = _Model(seed, days, start, geography)
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
