"""Who, where and when: fictional people, hotspot places and the clock of one run.

:class:`People` makes people whose names agree with their recorded ethnicity
and hands out NHS numbers from the ``999`` range the NHS keeps for testing.
:class:`Places` weights LSOAs so that a few hold most incidents (rank-based
Zipf weights over a seeded shuffle, Birmingham boosted) and knows each ED
trust's catchment. :class:`Clock` draws assault times (evenings, nights and
weekends weighted) and office times inside the period; the ``*_delay`` and
``*_offset`` functions draw the gaps between related events. Every draw uses
a ``random.Random`` the model seeded, never the global generator or the clock.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import accumulate

from edge.synthetic.free_text import NAMES
from edge.synthetic.vocabulary import ETHNICITY, HOUR_WEIGHTS, NIGHT_WEIGHTS, Offence, Weights
from wire.geography import GeographyLookup

_BIRMINGHAM = "E08000025"
_SOLIHULL = "E08000029"
_SANDWELL = "E08000028"
# LSOA weight = 1 / (rank + _HOTSPOT_OFFSET) ** _HOTSPOT_EXPONENT: the top 10% of LSOAs get
# about half the incidents, and no single LSOA more than about 4%.
_HOTSPOT_OFFSET = 6
_HOTSPOT_EXPONENT = 1.0
_BIRMINGHAM_BOOST = 1.5


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


def pick(rng: random.Random, weighted: Weights) -> str:
    values = [value for value, _ in weighted]
    return rng.choices(values, weights=[weight for _, weight in weighted])[0]


def chance(rng: random.Random, probability: float) -> bool:
    return rng.random() < probability


def random_age(rng: random.Random, bands: Sequence[tuple[tuple[int, int], float]]) -> int:
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


@dataclass
class Person:
    """A fictional person; ``nhs`` stays empty until :meth:`People.nhs_number` gives one."""

    forename: str
    surname: str
    dob: date
    sex: str  # M, F or U
    ethnicity: str  # W, A, B, M, O or "" (not stated)
    nhs: str = ""


class People:
    """Makes fictional people and hands out unique test-range NHS numbers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._nhs_used: set[str] = set()

    def person(
        self,
        on: date,
        ages: Sequence[tuple[tuple[int, int], float]],
        sex: str,
    ) -> Person:
        rng = self.rng
        ethnicity = pick(rng, ETHNICITY)
        pool_key = {"W": "W", "A": "A", "B": "B", "O": "O"}.get(ethnicity)
        if pool_key is None:
            pool_key = rng.choice(("W", "A", "B", "O"))
        pool = NAMES[pool_key]
        name_sex = sex if sex in ("M", "F") else rng.choice(("M", "F"))
        forename = rng.choice(pool[name_sex])
        surnames = pool["S"] + pool.get("S" + name_sex, ())
        surname = rng.choice(surnames)
        dob = _dob_for_age(rng, random_age(rng, ages), on)
        return Person(forename, surname, dob, sex, ethnicity)

    def nhs_number(self, person: Person) -> str:
        """The person's NHS number, from the 999 test range, unique within the run."""
        while not person.nhs:
            first9 = f"999{self.rng.randrange(1_000_000):06d}"
            check = nhs_check_digit(first9)
            if check is not None and first9 not in self._nhs_used:
                self._nhs_used.add(first9)
                person.nhs = f"{first9}{check}"
        return person.nhs


class Clock:
    """Draws event times inside the period [start, start + days)."""

    def __init__(self, start: date, days: int) -> None:
        self.start = datetime.combine(start, time())
        self.end = self.start + timedelta(days=days)
        self.days = days
        # A "violence day" runs noon to noon; it may start the day before the period.
        self._anchors = list(range(-1, days))
        self._anchor_cum = list(
            accumulate(NIGHT_WEIGHTS[(start + timedelta(days=d)).weekday()] for d in self._anchors)
        )
        self._slot_cum = list(accumulate(HOUR_WEIGHTS[(12 + k) % 24] for k in range(24)))
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


def recording_delay(rng: random.Random, offence: Offence) -> timedelta:
    """Committed to recorded by the police: 10 minutes to 3 weeks, sexual offences later."""
    if offence.group == "Sexual offences":
        bucket = pick(rng, (("hours", 40), ("days", 35), ("weeks", 25)))
    else:
        bucket = pick(rng, (("hours", 65), ("days", 28), ("weeks", 7)))
    if bucket == "hours":
        return timedelta(minutes=rng.randint(10, 6 * 60))
    if bucket == "days":
        return timedelta(minutes=rng.randint(6 * 60, 3 * 24 * 60))
    return timedelta(minutes=rng.randint(3 * 24 * 60, 21 * 24 * 60))


def ed_delay(rng: random.Random) -> timedelta:
    """Assault to arrival at ED: 10 minutes to 12 hours, mostly within the hour and a half."""
    bucket = pick(rng, (("soon", 55), ("hours", 35), ("late", 10)))
    if bucket == "soon":
        return timedelta(minutes=rng.randint(10, 90))
    if bucket == "hours":
        return timedelta(minutes=rng.randint(91, 5 * 60))
    return timedelta(minutes=rng.randint(5 * 60 + 1, 12 * 60))


def assault_offset(rng: random.Random) -> timedelta:
    """How far the patient's account of the time differs from the police record (<= 150 min)."""
    bucket = pick(rng, (("same", 40), ("near", 35), ("far", 25)))
    if bucket == "same":
        return timedelta(0)
    minutes = rng.randint(1, 30) if bucket == "near" else rng.randint(31, 150)
    return timedelta(minutes=minutes if chance(rng, 0.5) else -minutes)


class Places:
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
        if chance(rng, 0.9):
            codes, cum = self._catchment[_BIRMINGHAM]
            return rng.choices(codes, cum_weights=cum)[0]
        return self.pick(rng)

    def serves(self, trust: str, lsoa: str) -> bool:
        """Whether victims injured in ``lsoa`` go to ``trust``'s ED."""
        return self.trust.get(lsoa) == trust or trust not in self.trust.values()
