"""The model: every source's records for one run, drawn in a fixed order.

:meth:`Model.build` draws police crimes, then ED attendances (some of them
the victims of those crimes), ambulance call-outs, youth referrals (some by
ED navigators, linked to an attendance) and their outcomes, and last the
crime records later withdrawn or moved to another local authority's LSOA,
and the referrals later deleted.
Each source has its own ``random.Random``, seeded from the run's seed, so
the same seed, days, start and lookup give the same records. Any change to
the order or the number of draws changes the generated files; a new kind of
draw gets a stream of its own, added last, so earlier files stay the same.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from edge.synthetic.free_text import (
    CREW_NOTES,
    ED_LOCATION_TEXT,
    METHOD_OTHER,
    MO_DOMESTIC,
    MO_TEXT,
    OUTCOME_NOTES,
    REFERRAL_NOTES,
    fill,
)
from edge.synthetic.manifest import (
    SWBH_ISTV,
    UHB_ISTV,
    WMAS_CALLOUTS,
    WMP_CRIME,
    YOUTH_SERVICE,
)
from edge.synthetic.population import (
    Clock,
    People,
    Person,
    Places,
    age_on,
    assault_offset,
    chance,
    ed_delay,
    pick,
    random_age,
    recording_delay,
)
from edge.synthetic.records import Attendance, Crime, Outcome, Referral
from edge.synthetic.vocabulary import (
    AGES_DOMESTIC,
    AGES_GENERAL,
    AGES_SEXUAL,
    AGES_SUSPECT,
    AGES_YOUTH,
    CALL_CATEGORIES,
    DAY_LOCATIONS,
    ED_ONLY_LOCATIONS,
    ED_ONLY_METHODS,
    EXIT_REASONS,
    FIRST_OUTCOMES,
    INTERVENTION_BY_PROGRAMME,
    LATER_OUTCOMES,
    NIGHT_LOCATIONS,
    OFFENCE_BY_CODE,
    OFFENCES,
    OTHER_INTERVENTIONS,
    PROGRAMMES,
    REASON_ORDER,
    REASONS,
    RECLASSIFY,
    REFERRAL_DELETIONS,
    REFERRERS,
    WMP_WITHDRAWN,
    Offence,
)
from wire.geography import GeographyLookup

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


def _police_location(rng: random.Random, offence: Offence, domestic: bool, when: datetime) -> str:
    if domestic:
        return pick(rng, (("HOME", 85), ("STREET", 8), ("OTHER", 7)))
    if offence.group == "Possession of weapons offences":
        return pick(rng, (("STREET", 70), ("TRANSPORT", 10), ("SCHOOL", 5), ("OTHER", 15)))
    if offence.group == "Sexual offences":
        return pick(rng, (("HOME", 45), ("STREET", 20), ("PUB", 15), ("OTHER", 20)))
    night = when.hour >= 20 or when.hour < 4
    return pick(rng, NIGHT_LOCATIONS if night else DAY_LOCATIONS)


def _pick_weighted_without_replacement(
    rng: random.Random, candidates: list[Crime], count: int
) -> list[Crime]:
    """Up to ``count`` crimes, each draw proportional to the offence's ED weight."""
    buckets: dict[float, list[Crime]] = {}
    for crime in candidates:
        buckets.setdefault(crime.offence.ed_weight, []).append(crime)
    keys = sorted(buckets)
    chosen: list[Crime] = []
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
        if method == "KNIFE" and chance(rng, 0.3):
            chosen.add("Knife carrying")
        for reason in ("Gang association", "Exploitation risk"):
            if chance(rng, 0.15):
                chosen.add(reason)
    else:
        for _ in range(rng.randint(1, 3)):
            chosen.add(pick(rng, REASONS))
    if excluded and chance(rng, 0.7):
        chosen.add("School exclusion")
    return [reason for reason in REASON_ORDER if reason in chosen]


class Model:
    """Builds every source's records for one run, in a fixed order of random draws."""

    def __init__(self, seed: int, days: int, start: date, lookup: GeographyLookup) -> None:
        master = random.Random(seed)  # noqa: S311 (synthetic data, not security)
        self.rng = {
            name: random.Random(master.getrandbits(64))  # noqa: S311 (as above)
            for name in (
                "places",
                "people",
                "police",
                "ed",
                "ambulance",
                "youth",
                "outcomes",
                "withdrawals",
            )
        }
        self.days = days
        self.clock = Clock(start, days)
        self.places = Places(lookup, self.rng["places"])
        self.people = People(self.rng["people"])
        self.crimes: list[Crime] = []
        self.attendances: list[Attendance] = []
        self.callouts: list[list[str]] = []
        self.referrals: list[Referral] = []
        self.outcomes: list[Outcome] = []

    def build(self) -> None:
        self._crimes(self.rng["police"])
        self._attendances(self.rng["ed"])
        self._callouts(self.rng["ambulance"])
        self._referrals(self.rng["youth"])
        self._outcomes(self.rng["outcomes"])
        self._later_changes(self.rng["withdrawals"])

    def volume(self, name: str) -> int:
        return round(DAILY_VOLUMES[name] * self.days)

    # ---------------------------------------------------------------- police

    def _victim(self, rng: random.Random, offence: Offence, domestic: bool, on: date) -> Person:
        if offence.victim in ("F", "M"):
            sex = offence.victim
        elif domestic:
            sex = pick(rng, (("F", 75), ("M", 24), ("U", 1)))
        else:
            sex = pick(rng, (("M", 58), ("F", 40), ("U", 2)))
        if offence.group == "Sexual offences":
            ages: Sequence[tuple[tuple[int, int], float]] = AGES_SEXUAL
        elif domestic:
            ages = AGES_DOMESTIC
        else:
            ages = AGES_GENERAL
        return self.people.person(on, ages, sex)

    def _crime(self, rng: random.Random, offence: Offence) -> Crime:
        committed = self.clock.violent(rng)
        domestic = chance(rng, offence.domestic)
        person = None
        if offence.victim != "none":
            person = self._victim(rng, offence, domestic, committed.date())
        method = pick(rng, offence.weapons)
        location = _police_location(rng, offence, domestic, committed)
        known_suspect = domestic or chance(rng, 0.6)
        suspect_age = random_age(rng, AGES_SUSPECT) if known_suspect and chance(rng, 0.9) else None
        if known_suspect:
            suspect_sex = pick(rng, (("M", 80), ("F", 17), ("U", 3)))
        else:
            suspect_sex = pick(rng, (("M", 40), ("U", 35), ("", 25)))
        templates: tuple[str, ...]
        if domestic and offence.group in ("Violence with injury", "Violence without injury"):
            templates = MO_DOMESTIC
        else:
            templates = MO_TEXT[offence.group]
        forename = person.forename if person else ""
        return Crime(
            person=person,
            dob_known=person is not None and not chance(rng, 0.03),
            offence=offence,
            committed=committed,
            recorded=committed + recording_delay(rng, offence),
            method=method,
            domestic=domestic,
            lsoa=self.places.pick(rng),
            location=location,
            suspect_age=suspect_age,
            suspect_sex=suspect_sex,
            mo_text=fill(rng, rng.choice(templates), forename, method),
        )

    def _crimes(self, rng: random.Random) -> None:
        weights = [offence.weight for offence in OFFENCES]
        for _ in range(self.volume(WMP_CRIME)):
            self.crimes.append(self._crime(rng, rng.choices(OFFENCES, weights=weights)[0]))
        self.crimes.sort(key=lambda crime: (crime.recorded, crime.committed))
        base = rng.randrange(100_000, 900_000)
        for number, crime in enumerate(self.crimes):
            crime.reference = f"CR-{crime.recorded.year}-{base + number:07d}"
            if not chance(rng, 0.03):
                continue
            crime.corrected_at = crime.recorded + timedelta(minutes=rng.randint(120, 7 * 24 * 60))
            new_code = RECLASSIFY.get(crime.offence.code)
            if new_code is not None and chance(rng, 0.6):
                crime.correction = {"offence": OFFENCE_BY_CODE[new_code]}
            elif crime.method == "UNKNOWN":
                method = pick(rng, (("BODY", 70), ("KNIFE", 20), ("BLUNT", 10)))
                crime.correction = {"method": method}
            else:
                crime.correction = {"domestic": not crime.domestic}

    def _later_changes(self, rng: random.Random) -> None:
        """About 1 crime in 200 is later withdrawn (its latest version marked
        ``Deleted`` or ``Duplicate``), about 1 in 200 of those not yet
        corrected gets a version 2 that moves it to another local authority's
        LSOA, and about 1 referral in 25 is later deleted. Drawn after every
        other source, from a stream of its own."""
        for crime in self.crimes:
            if crime.correction is None and chance(rng, 0.005):
                lsoa = self.places.pick(rng)
                if (
                    self.places.lookup.area(lsoa).lad_cd
                    != self.places.lookup.area(crime.lsoa).lad_cd
                ):
                    crime.correction = {"lsoa": lsoa}
                    crime.corrected_at = crime.recorded + timedelta(
                        minutes=rng.randint(120, 7 * 24 * 60)
                    )
            if chance(rng, 0.005):
                latest = crime.corrected_at or crime.recorded
                crime.withdrawn = pick(rng, WMP_WITHDRAWN)
                crime.withdrawn_at = latest + timedelta(minutes=rng.randint(60, 14 * 24 * 60))
        for referral in self.referrals:
            if chance(rng, 0.04):
                referral.deleted = pick(rng, REFERRAL_DELETIONS)
                delay = timedelta(minutes=rng.randint(60, 21 * 24 * 60))
                referral.deleted_at = referral.updated + delay

    # -------------------------------------------------------------------- ED

    def _attendances(self, rng: random.Random) -> None:
        police_people = {
            (c.person.forename, c.person.surname, c.person.dob) for c in self.crimes if c.person
        }
        taken: set[int] = set()  # crimes already matched to an attendance
        for trust, volume in (("UHB", self.volume(UHB_ISTV)), ("SWBH", self.volume(SWBH_ISTV))):
            reported = sum(chance(rng, ED_REPORTED_SHARE) for _ in range(volume))
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
                    assault=crime.committed + assault_offset(rng),
                    method=crime.method,
                    location=crime.location,
                    lsoa=crime.lsoa,
                    crime=crime,
                )
            for _ in range(volume - len(matched)):
                assault = self.clock.violent(rng)
                while True:  # an unreported victim must not be a police victim by chance
                    sex = pick(rng, (("M", 68), ("F", 31), ("U", 1)))
                    person = self.people.person(assault.date(), AGES_GENERAL, sex)
                    if (person.forename, person.surname, person.dob) not in police_people:
                        break
                method = pick(rng, ED_ONLY_METHODS)
                location = pick(rng, ED_ONLY_LOCATIONS)
                in_catchment = chance(rng, 0.9)
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
        person: Person,
        assault: datetime,
        method: str,
        location: str,
        lsoa: str,
        crime: Crime | None,
    ) -> None:
        other = ""
        if method == "OTHER":
            other = rng.choice(METHOD_OTHER)
        elif chance(rng, 0.03):
            other = "kicked while on the floor"
        self.attendances.append(
            Attendance(
                trust=trust,
                person=person,
                assault=assault,
                arrival=assault + ed_delay(rng),
                method=method,
                method_other=other,
                location=location,
                description=fill(rng, rng.choice(ED_LOCATION_TEXT[location])),
                lsoa=lsoa,
                crime=crime,
            )
        )

    # ------------------------------------------------------------- ambulance

    def _callouts(self, rng: random.Random) -> None:
        calls: list[tuple[datetime, list[str]]] = []
        for _ in range(self.volume(WMAS_CALLOUTS)):
            moment = self.clock.violent(rng) + timedelta(seconds=rng.randrange(60))
            category = pick(rng, CALL_CATEGORIES)
            sex = pick(rng, (("M", 66), ("F", 31), ("U", 3)))
            patient = self.people.person(moment.date(), AGES_GENERAL, sex)
            age = "" if chance(rng, 0.1) else str(age_on(patient.dob, moment.date()))
            conveyed = {"Stab/gunshot/penetrating": 0.92, "Sexual assault": 0.6}.get(category, 0.55)
            name_style = pick(rng, (("", 70), ("forename", 15), ("full", 10), ("unknown", 5)))
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
                "Y" if chance(rng, conveyed) else "N",
                name,
                fill(rng, rng.choice(CREW_NOTES[category])),
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
    ) -> list[tuple[Person, datetime, Attendance | None]]:
        """Who is referred and when: ED-navigator referrals of young patients, then the rest."""
        total = self.volume(YOUTH_SERVICE)
        seen_in_ed: list[tuple[Attendance, datetime]] = []
        for attendance in self.attendances:
            if not 10 <= age_on(attendance.person.dob, attendance.arrival.date()) <= 24:
                continue
            when = attendance.arrival + timedelta(
                minutes=rng.randint(30, 48 * 60), seconds=rng.randrange(60)
            )
            if when < self.clock.end:
                seen_in_ed.append((attendance, when))
        wanted = min(round(total * ED_NAVIGATOR_SHARE), len(seen_in_ed))
        plans: list[tuple[Person, datetime, Attendance | None]] = [
            (seen_in_ed[i][0].person, seen_in_ed[i][1], seen_in_ed[i][0])
            for i in sorted(rng.sample(range(len(seen_in_ed)), wanted))
        ]
        for _ in range(total - wanted):
            when = self.clock.office(rng)
            sex = pick(rng, (("M", 70), ("F", 29), ("U", 1)))
            plans.append((self.people.person(when.date(), AGES_YOUTH, sex), when, None))
        return plans

    def _referrals(self, rng: random.Random) -> None:
        for person, when, attendance in self._referral_plans(rng):
            excluded = int(chance(rng, 0.12))
            if attendance is not None:
                referrer, programme = "ED navigator", "NAV-ED"
                consent = pick(rng, (("given", 72), ("refused", 13), ("pending", 15)))
                home = attendance.lsoa if chance(rng, 0.4) else self.places.home(rng)
            else:
                referrer, programme = pick(rng, REFERRERS), pick(rng, PROGRAMMES)
                consent = pick(rng, (("given", 68), ("refused", 10), ("pending", 22)))
                home = self.places.home(rng)
            updated = when
            if chance(rng, 0.12):
                later = when + timedelta(
                    days=rng.randint(1, 20), hours=rng.randint(0, 8), seconds=rng.randrange(3600)
                )
                if later < self.clock.end:
                    updated = later
            method = attendance.method if attendance else ""
            self.referrals.append(
                Referral(
                    person=person,
                    when=when,
                    referrer=referrer,
                    programme=programme,
                    reasons=_reasons(rng, attendance is not None, method, excluded),
                    looked_after=int(chance(rng, 0.08)),
                    send=int(chance(rng, 0.22)),
                    excluded=excluded,
                    consent=consent,
                    risk=pick(rng, (("low", 30), ("medium", 45), ("high", 25))),
                    home_lsoa=home,
                    attendance=attendance,
                    updated=updated,
                    notes=fill(rng, rng.choice(REFERRAL_NOTES[referrer]), person.forename),
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
            intervention = INTERVENTION_BY_PROGRAMME[referral.programme]
            if chance(rng, 0.3):
                intervention = rng.choice(OTHER_INTERVENTIONS)
            first_offset = rng.randint(14, 42)
            first = pick(rng, FIRST_OUTCOMES)
            plan = [(first_offset, first)]
            if first not in ("Declined", "Uncontactable") and chance(rng, 0.5):
                plan.append((rng.randint(first_offset + 7, 70), pick(rng, LATER_OUTCOMES)))
            offered = 0
            for offset, kind in plan:
                if kind in ("Declined", "Uncontactable"):
                    offered, attended = rng.randint(0, 2), 0
                else:
                    offered = max(offered, rng.randint(2, 16))
                    attended = rng.randint(0 if kind == "Disengaged" else 1, offered)
                scored = kind in ("Engaged", "Completed", "Disengaged") and chance(rng, 0.35)
                outcome = Outcome(
                    referral=referral,
                    day=referral.when.date() + timedelta(days=offset),
                    kind=kind,
                    intervention=intervention,
                    offered=offered,
                    attended=attended,
                    score=rng.randint(0, 40) if scored else None,
                    exit_reason=pick(rng, EXIT_REASONS[kind]),
                    notes=fill(rng, rng.choice(OUTCOME_NOTES[kind]), referral.person.forename),
                )
                if outcome.day < end:
                    self.outcomes.append(outcome)
        self.outcomes.sort(key=lambda outcome: (outcome.day, outcome.referral.referral_id))
        base = rng.randrange(10_000, 90_000)
        for number, outcome in enumerate(self.outcomes):
            outcome.outcome_id = f"OUT-{base + number:06d}"
