"""The generalisation hierarchy the enforcer climbs to meet an agreement's ``min_k``.

Three kinds of quasi-identifier have a hierarchy; each is coarsened one notch
at a time, never finer than the agreement's own action:

* **age** (an ``AgeBand``: ``victim_age_band``, ``suspect_age_band``,
  ``age_band``): the wire's fine bands, then the Serious Violence Duty bands
  ``0-9``, ``10-17``, ``18-24``, ``25+`` (as ``band: age_svd`` gives them);
* **time** (a time classified ``quasi_identifier``: ``assault_datetime``,
  ``arrival_datetime``, ``referral_datetime``): the hour, then the **part of
  the day**, then the day, then the week, all in local time (England):
  night 00:00-06:00, morning 06:00-12:00, afternoon 12:00-18:00, evening
  18:00-24:00. A coarser time travels as the moment its part, day or week
  starts, in UTC like every share time (a morning in October is
  ``…T05:00:00Z``, the 06:00 of British Summer Time), so no share changes
  shape. Every time field of a record moves together. A time the agreement
  already truncates to a day, week or month keeps the agreement's UTC
  boundaries and climbs to the (UTC) week at most; a date (``outcome_date``)
  climbs from the day to the week;
* **geography** (``geo``, ``home_geo``): LSOA, then MSOA, then LAD.

A level is one notch for each kind. :data:`STEPS` is the order the notches
are taken in: age first (the SVD bands are what partnerships report in
anyway), then time (the part of the day, then the day), then geography (the
MSOA, then the LAD), and the week last. The place, which hotspot analysis
(the purpose of the sample CSP agreements) depends on, is kept longest; the
week is the last resort before a record is withheld. See docs/risk.md for
the measurements behind the order. Level 0 is what the agreement releases; each later level takes
the next step that changes something for that agreement. Other
quasi-identifiers (``location_type``, sex) have no hierarchy and are never
changed: they stay in every class as released.

:class:`Hierarchy` is built once per (record type, obligations) and gives, for
one anonymised record, its fields at each level (:meth:`Hierarchy.at`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.bundle import classifications
from hub.enforcer.anonymise import AGE_SVD, Anonymiser
from wire import schemas

#: Times are generalised in England's local time.
LOCAL_TIME = ZoneInfo("Europe/London")

#: The kinds of quasi-identifier with a hierarchy.
AGE, TIME, DATE, GEO = "age", "time", "date", "geo"

#: Each kind's notches, finest first. ``exact``/``fine``/``keep``: as the source
#: sent it; ``part``: the part of the day.
NOTCHES: dict[str, tuple[str, ...]] = {
    AGE: ("fine", "svd"),
    TIME: ("exact", "hour", "part", "day", "week", "month"),
    DATE: ("day", "week", "month"),
    GEO: ("keep", "lsoa", "msoa", "lad", "region"),
}

#: The generalisation order: (kind, notch) steps, taken one after another.
#: A time step applies to dates too where the notch exists (``day``, ``week``).
STEPS: tuple[tuple[str, str], ...] = (
    (AGE, "svd"),
    (TIME, "part"),
    (TIME, "day"),
    (GEO, "msoa"),
    (GEO, "lad"),
    (TIME, "week"),
)

#: The parts of the day: each starts at one of these local hours.
PART_STARTS = (0, 6, 12, 18)
PART_NAMES = ("night", "morning", "afternoon", "evening")


def part_of_day(moment: datetime) -> str:
    """``night``, ``morning``, ``afternoon`` or ``evening``: the part of the local day."""
    return PART_NAMES[moment.astimezone(LOCAL_TIME).hour // 6]


@functools.cache
def field_kinds(record_type: str) -> dict[str, str]:
    """The quasi-identifiers of ``record_type`` that have a hierarchy, with their kind."""
    classified = classifications().get(record_type, {})
    kinds: dict[str, str] = {}
    for wire_field in schemas.current().expanded(record_type)["fields"]:
        name = wire_field["name"]
        if classified.get(name) != "quasi_identifier":
            continue
        kind = _kind(wire_field["type"])
        if kind is not None:
            kinds[name] = kind
    return kinds


def _kind(node: Any) -> str | None:
    """The hierarchy kind of a wire type (a union's non-null branch), or None."""
    if isinstance(node, list):
        branches = [b for b in node if b != "null"]
        return _kind(branches[0]) if len(branches) == 1 else None
    if isinstance(node, str):
        name = node.rsplit(".", 1)[-1]
        return {"AgeBand": AGE, "Geography": GEO}.get(name)
    if not isinstance(node, dict):
        return None
    logical = node.get("logicalType")
    if logical in ("timestamp-millis", "timestamp-micros"):
        return TIME
    if logical == "date":
        return DATE
    return {"AgeBand": AGE, "Geography": GEO}.get(str(node.get("name", "")))


def _start(kind: str, obligation: Mapping[str, str]) -> str:
    """The notch an agreement's action releases a field at."""
    action = obligation.get("action")
    if kind == AGE:
        return "svd" if action == "band" and obligation.get("scheme") == "age_svd" else "fine"
    if kind == GEO:
        return obligation.get("level", "keep") if action == "generalise" else "keep"
    unit = obligation.get("unit") if action == "truncate" else None
    if kind == DATE:
        return unit if unit in ("week", "month") else "day"
    return unit or "exact"


@dataclass(frozen=True)
class Hierarchy:
    """The levels of one record type under one set of field obligations.

    ``fields`` maps each released quasi-identifier with a hierarchy to its kind
    and starting notch; ``levels`` is one notch per kind at each level, level 0
    first (what the agreement releases)."""

    record_type: str
    fields: tuple[tuple[str, str, str], ...]  # (field, kind, starting notch)
    levels: tuple[dict[str, str], ...]  # kind -> notch, per level

    @classmethod
    def of(cls, record_type: str, obligations: Mapping[str, Mapping[str, str]]) -> Hierarchy:
        """The hierarchy of ``record_type`` under an allowed decision's field obligations."""
        return _hierarchy(record_type, json.dumps(obligations, sort_keys=True))

    def at(
        self,
        level: int,
        fields: Mapping[str, Any],
        record: Mapping[str, Any],
        anonymiser: Anonymiser,
        recipient: str,
    ) -> dict[str, Any]:
        """``fields`` (what the agreement's obligations made of ``record``) with every
        quasi-identifier coarsened to ``level``. Raises AnonymiseError as the
        anonymiser does (a geography it cannot generalise)."""
        notches = self.levels[level]
        out = dict(fields)
        for name, kind, start in self.fields:
            if name not in out or out[name] is None:
                continue
            notch = notches[TIME if kind == DATE else kind]
            if notch == start:
                continue
            if kind == GEO:
                step = {name: {"action": "generalise", "level": notch}}
                out[name] = anonymiser.apply({name: record[name]}, step, recipient)[name]
            elif kind == AGE:
                out[name] = AGE_SVD.get(out[name], out[name])
            elif kind == TIME:
                out[name] = truncate(out[name], notch, local=start in ("exact", "hour"))
            else:
                out[name] = truncate_date(out[name], notch)
        return out

    @property
    def local(self) -> bool:
        """Whether its times climb in local time (they start at the hour or finer)."""
        return any(kind == TIME and start in ("exact", "hour") for _, kind, start in self.fields)

    def closes(self, moment: datetime) -> tuple[datetime, ...]:
        """For a record whose event time is ``moment``: when its class at each level
        stops growing, the end of that level's time bucket (``moment`` itself for
        a level without time, or at a time kept exact)."""
        out = []
        for notches in self.levels:
            notch = notches.get(TIME)
            if notch is None or notch == "exact":
                out.append(moment)
            else:
                out.append(bucket_end(moment, notch, self.local))
        return tuple(out)


def bucket_end(moment: datetime, notch: str, local: bool) -> datetime:
    """The end of the hour, part of the day, day, week or month ``moment`` is in
    (local time when ``local``, else UTC), in UTC."""
    if notch == "month":
        zone = LOCAL_TIME if local else UTC
        here = moment.astimezone(zone)
        year, month = (here.year + 1, 1) if here.month == 12 else (here.year, here.month + 1)
        return datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
    start = _truncate(moment, notch, local=local)
    # The next boundary: a nominal bucket on, plus two hours for the clocks
    # changing, truncated again.
    nominal = {
        "hour": timedelta(hours=1),
        "part": timedelta(hours=6),
        "day": timedelta(days=1),
        "week": timedelta(days=7),
    }[notch]
    if notch == "hour":
        return start + nominal
    return _truncate(start + nominal + timedelta(hours=2), notch, local=local)


@functools.cache
def _hierarchy(record_type: str, obligations_json: str) -> Hierarchy:
    obligations: dict[str, dict[str, str]] = json.loads(obligations_json)
    kinds = field_kinds(record_type)
    fields = tuple(
        (name, kind, _start(kind, obligation))
        for name, obligation in sorted(obligations.items())
        if (kind := kinds.get(name)) is not None and obligation.get("action") != "drop"
    )
    # One notch per kind, the coarsest any field of it starts at; a date field
    # shares the time notches (day, week), so it follows the time steps.
    current: dict[str, str] = {}
    for _, kind, start in fields:
        key = TIME if kind == DATE else kind
        scale = NOTCHES[TIME] if key == TIME else NOTCHES[kind]
        known = current.get(key)
        if known is None or scale.index(start) > scale.index(known):
            current[key] = start
    levels = [dict(current)]
    for kind, notch in STEPS:
        if kind not in current:
            continue
        scale = NOTCHES[kind]
        if scale.index(notch) <= scale.index(current[kind]):
            continue
        if kind == TIME and not _time_can_reach(fields, notch):
            continue
        current[kind] = notch
        levels.append(dict(current))
    return Hierarchy(record_type, fields, tuple(levels))


def _time_can_reach(fields: tuple[tuple[str, str, str], ...], notch: str) -> bool:
    """Whether some time field of the record can be coarsened to ``notch``: a
    time truncated by the agreement to a day or more climbs only to the week,
    and a date has no hour or part of the day."""
    for _, kind, start in fields:
        if kind == TIME and (start in ("exact", "hour") or notch == "week"):
            return True
        if kind == DATE and notch == "week" and start == "day":
            return True
    return False


def truncate(moment: Any, notch: str, *, local: bool) -> Any:
    """A time (timezone-aware) at the start of its hour, part of the day, day or
    week: in local time when ``local``, else in UTC; returned in UTC. A notch the
    time is already coarser than, or a value that is not a time, is returned as
    it is."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        return moment
    if notch not in ("hour", "part", "day", "week"):
        return moment
    return _truncate(moment, notch, local=local)


# Each event's time is truncated for every level, every bucket end and every
# recipient whose agreement holds records back; the answer depends only on the
# instant (aware times of one instant are equal and hash alike), so it is kept.
@functools.lru_cache(maxsize=4096)
def _truncate(moment: datetime, notch: str, *, local: bool) -> datetime:
    zone = LOCAL_TIME if local else UTC
    here = moment.astimezone(zone).replace(tzinfo=None)
    if notch == "hour":
        start = here.replace(minute=0, second=0, microsecond=0)
    elif notch == "part":
        start = here.replace(hour=here.hour // 6 * 6, minute=0, second=0, microsecond=0)
    else:
        day = here.date() - timedelta(days=here.weekday() if notch == "week" else 0)
        start = datetime(day.year, day.month, day.day)
    # Every part of the day starts at a wall-clock time England's clocks never
    # skip or repeat (they change at 01:00 and 02:00).
    return start.replace(tzinfo=zone).astimezone(UTC)


def truncate_date(day: Any, notch: str) -> Any:
    """A date at the start of its week (Monday) or month; any other notch, or a
    value that is not a date, as it is."""
    if not isinstance(day, date) or isinstance(day, datetime):
        return day
    if notch == "week":
        return day - timedelta(days=day.weekday())
    if notch == "month":
        return day.replace(day=1)
    return day
