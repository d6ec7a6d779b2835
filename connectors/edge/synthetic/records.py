"""The records the model draws and the writers turn into rows.

Crimes, ED attendances, youth referrals and their outcomes, in canonical
values (see :mod:`edge.synthetic.vocabulary`). Ambulance call-outs have no
record type: the model draws them straight as rows. Identifiers
(``reference``, ``attendance_id``, ``referral_id``, ``outcome_id``) stay empty
until the model numbers each source's records in that source's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from edge.synthetic.population import Person
from edge.synthetic.vocabulary import Offence


@dataclass
class Crime:
    """A police crime; ``correction`` is what its version-2 record changes, if it has
    one; ``withdrawn`` the Status (``Deleted``, ``Duplicate``) its latest version is
    later marked with, if any."""

    person: Person | None  # None: victimless offence (possession of weapons)
    dob_known: bool
    offence: Offence
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
    withdrawn: str | None = None  # the Status its latest version is later marked with
    withdrawn_at: datetime | None = None


@dataclass
class Attendance:
    """An ED attendance; ``crime`` is the police crime it matches, if it was reported."""

    trust: str  # UHB or SWBH
    person: Person
    assault: datetime
    arrival: datetime
    method: str
    method_other: str
    location: str
    description: str
    lsoa: str
    crime: Crime | None
    attendance_id: str = ""


@dataclass
class Referral:
    """A youth service referral; ``attendance`` is the ED attendance it came from, if any."""

    person: Person
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
    attendance: Attendance | None
    updated: datetime
    notes: str
    referral_id: str = ""
    deleted: str | None = None  # why it was later deleted, if it was
    deleted_at: datetime | None = None


@dataclass
class Outcome:
    """An outcome of a referral with consent, dated 14-70 days after it."""

    referral: Referral
    day: date
    kind: str
    intervention: str
    offered: int
    attended: int
    score: int | None
    exit_reason: str
    notes: str
    outcome_id: str = ""
