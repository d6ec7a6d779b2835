"""Code lists and weights: each source's codes, and how often each value occurs.

The model draws canonical values (an :class:`Offence`, ``"KNIFE"``,
``"STREET"``) with the weights here, through
:func:`edge.synthetic.population.pick`; the writers turn them into each
source's own codes with the ``WMP_``, ``UHB_`` and ``SWBH_`` tables. A weight
is a relative frequency within its table, not a probability.

Police offence codes follow the Home Office Counting Rules (``1`` murder,
``2`` attempted murder, ``5D``, ``8N``, ``8P``, ``105A``, ``105B``, ``8L``,
``19C``, ``20A``, ``17A``, ``34B``, ``10A``, ``10D``); possession-of-weapons
crimes have no victim, so their victim columns are blank and ``VictimSex`` is
``U``. Changing any value or weight changes the generated files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Canonical assault methods and location types, mapped to each source's codes.
WMP_WEAPON = {
    "BODY": "Bodily force",
    "KNIFE": "Knife or sharp instrument",
    "BLUNT": "Blunt instrument",
    "GLASS": "Bottle or glass",
    "FIREARM": "Firearm",
    "OTHER": "Other",
    "UNKNOWN": "",
}
UHB_METHOD = {
    "BODY": "Body part",
    "KNIFE": "Knife/sharp",
    "BLUNT": "Blunt object",
    "GLASS": "Glass/bottle",
    "FIREARM": "Firearm",
    "OTHER": "Other",
    "UNKNOWN": "Not known",
}
SWBH_WEAPON = {
    "BODY": "1",
    "KNIFE": "2",
    "BLUNT": "3",
    "GLASS": "4",
    "FIREARM": "5",
    "OTHER": "6",
    "UNKNOWN": "9",
}
WMP_LOCATION = {
    "HOME": "Dwelling",
    "STREET": "Street",
    "PUB": "Licensed premises",
    "WORK": "Workplace",
    "SCHOOL": "School",
    "TRANSPORT": "Public transport",
    "OTHER": "Other",
}
UHB_LOCATION = {
    "HOME": "Home",
    "STREET": "Street/public place",
    "PUB": "Pub/club",
    "WORK": "Work",
    "SCHOOL": "School",
    "TRANSPORT": "Public transport",
    "OTHER": "Other",
}
SWBH_LOCATION = {
    "HOME": "H",
    "STREET": "S",
    "PUB": "P",
    "WORK": "W",
    "SCHOOL": "SC",
    "TRANSPORT": "T",
    "OTHER": "O",
}
UHB_SEX = {"M": "Male", "F": "Female", "U": "Unknown"}

Weights = Sequence[tuple[str, float]]


@dataclass(frozen=True)
class Offence:
    """A Home Office offence code: how often it is recorded, and who its victims are."""

    code: str
    group: str
    weight: float  # relative frequency among recorded violent crimes
    ed_weight: float  # relative chance a victim attends ED (0: never linked)
    domestic: float  # share flagged domestic abuse
    weapons: Weights
    victim: str  # "any", "F", "M" or "none"


OFFENCES = (
    Offence(
        "1",
        "Homicide",
        0.08,
        0.0,
        0.2,
        (("KNIFE", 5), ("BODY", 2), ("BLUNT", 1.5), ("FIREARM", 1), ("OTHER", 0.5)),
        "any",
    ),
    Offence(
        "2",
        "Violence with injury",
        0.3,
        3.0,
        0.1,
        (("KNIFE", 6), ("FIREARM", 1.5), ("BLUNT", 1.5), ("BODY", 1)),
        "any",
    ),
    Offence(
        "5D",
        "Violence with injury",
        3.5,
        3.0,
        0.15,
        (("KNIFE", 35), ("BLUNT", 20), ("GLASS", 10), ("BODY", 30), ("FIREARM", 2), ("OTHER", 3)),
        "any",
    ),
    Offence(
        "8N",
        "Violence with injury",
        26.0,
        1.0,
        0.3,
        (("BODY", 72), ("KNIFE", 6), ("BLUNT", 8), ("GLASS", 6), ("OTHER", 4), ("UNKNOWN", 4)),
        "any",
    ),
    Offence(
        "8P",
        "Violence with injury",
        0.8,
        1.0,
        0.0,
        (("BODY", 80), ("BLUNT", 10), ("GLASS", 5), ("OTHER", 5)),
        "any",
    ),
    Offence(
        "105A",
        "Violence without injury",
        30.0,
        0.05,
        0.35,
        (("UNKNOWN", 50), ("BODY", 45), ("OTHER", 5)),
        "any",
    ),
    Offence(
        "105B",
        "Violence without injury",
        2.0,
        0.0,
        0.0,
        (("UNKNOWN", 60), ("BODY", 40)),
        "any",
    ),
    Offence("8L", "Stalking and harassment", 14.0, 0.0, 0.45, (("UNKNOWN", 1),), "any"),
    Offence("19C", "Sexual offences", 2.5, 0.3, 0.35, (("BODY", 80), ("UNKNOWN", 20)), "F"),
    Offence("20A", "Sexual offences", 3.5, 0.05, 0.1, (("UNKNOWN", 70), ("BODY", 30)), "F"),
    Offence("17A", "Sexual offences", 0.5, 0.05, 0.05, (("UNKNOWN", 70), ("BODY", 30)), "M"),
    Offence(
        "34B",
        "Robbery",
        8.0,
        0.4,
        0.0,
        (("KNIFE", 30), ("BODY", 45), ("FIREARM", 2), ("BLUNT", 5), ("OTHER", 3), ("UNKNOWN", 15)),
        "any",
    ),
    Offence("10A", "Possession of weapons offences", 0.2, 0.0, 0.0, (("FIREARM", 1),), "none"),
    Offence("10D", "Possession of weapons offences", 4.0, 0.0, 0.0, (("KNIFE", 1),), "none"),
)

# Victim age bands (inclusive) and weights: victims of violence are young.
AGES_GENERAL = (
    ((10, 13), 4),
    ((14, 17), 14),
    ((18, 24), 38),
    ((25, 34), 22),
    ((35, 44), 12),
    ((45, 54), 6),
    ((55, 64), 2.5),
    ((65, 89), 1.5),
)
AGES_DOMESTIC = (
    ((16, 17), 3),
    ((18, 24), 26),
    ((25, 34), 34),
    ((35, 44), 21),
    ((45, 54), 10),
    ((55, 64), 4),
    ((65, 89), 2),
)
AGES_SEXUAL = (((16, 17), 14), ((18, 24), 40), ((25, 34), 24), ((35, 44), 12), ((45, 64), 10))
AGES_YOUTH = (((10, 12), 10), ((13, 15), 30), ((16, 17), 30), ((18, 20), 20), ((21, 24), 10))
AGES_SUSPECT = (((12, 17), 18), ((18, 24), 35), ((25, 34), 25), ((35, 44), 13), ((45, 64), 9))

# Hour-of-day weights by clock hour 0..23: evenings and early mornings dominate.
HOUR_WEIGHTS = (
    8.0, 7.0, 6.0, 4.0, 2.0, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0,
    3.5, 3.5, 4.0, 4.5, 5.0, 5.0, 5.5, 6.0, 7.0, 8.0, 9.0, 9.0,
)  # fmt: skip
# Weights of a "violence day" running from noon to noon, by weekday of its noon (Mon=0).
NIGHT_WEIGHTS = (0.85, 0.75, 0.78, 0.9, 1.4, 1.5, 1.05)

ETHNICITY = (("W", 55), ("A", 20), ("B", 9), ("M", 4), ("O", 3), ("", 9))

REFERRERS = (
    ("Police custody", 22),
    ("School", 25),
    ("YOS", 15),
    ("Social care", 18),
    ("Self", 5),
    ("Voluntary sector", 15),
)
PROGRAMMES = (("MENTOR", 40), ("SPORT-DIV", 30), ("FAMILY", 30))
REASONS = (
    ("Knife carrying", 20),
    ("Violence victim", 15),
    ("Violence perpetrator", 20),
    ("Exploitation risk", 15),
    ("Gang association", 10),
    ("Domestic abuse at home", 10),
    ("School exclusion", 10),
    ("Substance misuse", 10),
)
REASON_ORDER = tuple(reason for reason, _ in REASONS)
INTERVENTION_BY_PROGRAMME = {
    "NAV-ED": "ED navigator",
    "MENTOR": "Mentoring",
    "SPORT-DIV": "Sport/diversionary",
    "FAMILY": "Family support",
}
OTHER_INTERVENTIONS = (
    "Youth work",
    "Education support",
    "Employment support",
    "Mental health support",
    "Substance misuse support",
    "Restorative justice",
    "Other",
)
FIRST_OUTCOMES = (
    ("Engaged", 45),
    ("Declined", 10),
    ("Uncontactable", 15),
    ("ETE suitable", 8),
    ("Accommodation suitable", 5),
    ("FTE", 5),
    ("Completed", 7),
    ("Disengaged", 5),
)
LATER_OUTCOMES = (
    ("Completed", 45),
    ("Disengaged", 25),
    ("ETE suitable", 10),
    ("Accommodation suitable", 5),
    ("FTE", 5),
    ("Reoffended (violent)", 10),
)
EXIT_REASONS: dict[str, Weights] = {
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

# The Status of a crime record: current, or withdrawn (and how often, when it is).
WMP_CURRENT = "Active"
WMP_WITHDRAWN = (("Deleted", 70), ("Duplicate", 30))
# Why the youth service deletes a referral (table referral_deletions), and how often.
REFERRAL_DELETIONS = (("consent withdrawn", 50), ("entered in error", 30), ("duplicate", 20))
# What a version-2 crime record may reclassify an offence to.
RECLASSIFY = {"105A": "8N", "8N": "5D", "20A": "19C", "8L": "105A"}
OFFENCE_BY_CODE = {offence.code: offence for offence in OFFENCES}
# Where other violence happens, at night (20:00-04:00) and by day.
NIGHT_LOCATIONS = (
    ("STREET", 42), ("PUB", 25), ("HOME", 12), ("TRANSPORT", 5), ("WORK", 4), ("OTHER", 12),
)  # fmt: skip
DAY_LOCATIONS = (
    ("STREET", 38), ("HOME", 20), ("WORK", 10), ("SCHOOL", 6), ("PUB", 5), ("TRANSPORT", 7),
    ("OTHER", 14),
)  # fmt: skip
# How and where the assaults seen only by ED (never reported to the police) happen.
ED_ONLY_METHODS = (
    ("BODY", 55), ("KNIFE", 12), ("BLUNT", 10), ("GLASS", 7), ("FIREARM", 0.5), ("OTHER", 6),
    ("UNKNOWN", 9.5),
)  # fmt: skip
ED_ONLY_LOCATIONS = (
    ("STREET", 38), ("PUB", 14), ("HOME", 20), ("WORK", 4), ("SCHOOL", 3), ("TRANSPORT", 4),
    ("OTHER", 17),
)  # fmt: skip
# Ambulance call-out categories.
CALL_CATEGORIES = (
    ("Assault", 68), ("Sexual assault", 4), ("Stab/gunshot/penetrating", 16), ("Other", 12),
)  # fmt: skip
