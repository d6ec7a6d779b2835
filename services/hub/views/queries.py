"""The views, computed from a recipient's fact tables.

Every function returns *true* counts for one recipient; ``publish`` applies
disclosure control (``hub.views.sdc``) before anything leaves the hub. Only
rows with status ``current`` count: retracted and superseded events do not.
A view can never reveal more than the recipient received, because it reads
only that recipient's rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, select

from hub.views import sdc
from hub.views.tables import incidents, outcomes, referrals

#: Dimensions of the incidents view (column names).
DIMENSIONS = (
    "lad",
    "msoa",
    "lsoa",
    "week",
    "category",
    "method",
    "age_band",
    "hour",
    "dow",
    "incident_source",
    "source_authority",
)
AREA_LEVELS = ("lad", "msoa", "lsoa")
UNDER_25 = ("0-9", "10-17", "18-24")
NIGHT_HOURS = (20, 21, 22, 23, 0, 1, 2, 3)  # 20:00 to 04:00, England
ED_SOURCES = ("ED_ISTV", "ECDS")
POLICE = "POLICE_CRIME"


@dataclass(frozen=True)
class Filters:
    lad: str | None = None
    week_from: str | None = None  # ISO date, inclusive
    week_to: str | None = None  # ISO date, inclusive
    category: str | None = None
    method: str | None = None
    age_band: str | None = None
    incident_source: str | None = None


def _where(recipient: str, filters: Filters) -> Any:
    conditions = [incidents.c.recipient == recipient, incidents.c.status == "current"]
    for column, value in (
        (incidents.c.lad, filters.lad),
        (incidents.c.category, filters.category),
        (incidents.c.method, filters.method),
        (incidents.c.age_band, filters.age_band),
        (incidents.c.incident_source, filters.incident_source),
    ):
        if value is not None:
            conditions.append(column == value)
    if filters.week_from:
        conditions.append(incidents.c.week >= filters.week_from)
    if filters.week_to:
        conditions.append(incidents.c.week <= filters.week_to)
    return and_(*conditions)


def incident_counts(
    engine: Engine, recipient: str, by: Sequence[str], filters: Filters = Filters()
) -> list[dict[str, Any]]:
    """Incidents grouped by ``by`` (any of DIMENSIONS), with ``count``."""
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown:
        raise ValueError(
            f"cannot group by {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}"
        )
    columns = [incidents.c[name] for name in by]
    query = (
        select(*columns, func.count().label("count"))
        .where(_where(recipient, filters))
        .group_by(*columns)
        .order_by(*columns)
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def finest_level(engine: Engine, recipient: str) -> str:
    """The finest area level the recipient's incidents carry (what its agreements permit)."""
    with engine.connect() as conn:
        for level in ("lsoa", "msoa", "lad"):
            found = conn.execute(
                select(func.count()).where(
                    (incidents.c.recipient == recipient) & incidents.c[level].is_not(None)
                )
            ).scalar()
            if found:
                return level
    return "lad"


def hotspots(
    engine: Engine, recipient: str, level: str, filters: Filters = Filters(), top: int = 10
) -> dict[str, Any]:
    """Counts per area at ``level``; the share of incidents in the top 10% of areas,
    computed from published counts, and the top areas."""
    if level not in AREA_LEVELS:
        raise ValueError(f"level must be one of {', '.join(AREA_LEVELS)}")
    rows = [r for r in incident_counts(engine, recipient, [level], filters) if r[level]]
    published = sorted(
        ({"area": r[level], "count": sdc.protect(r["count"])} for r in rows),
        key=lambda r: (-(r["count"] or 0), r["area"]),
    )
    tenth = max(1, math.ceil(len(published) / 10)) if published else 0
    in_top = sdc.total(r["count"] for r in published[:tenth])
    everything = sdc.total(r["count"] for r in published)
    return {
        "level": level,
        "areas": len(published),
        "top_tenth_areas": tenth,
        "top_tenth_share": sdc.share(in_top, everything),
        "total": everything,
        "top": published[:top],
    }


def ed_vs_police(engine: Engine, recipient: str, filters: Filters = Filters()) -> dict[str, Any]:
    """The share of ED assault attendances with no matching police record.

    Where the recipient's ED and police incidents both carry its pseudonyms of
    the person (an agreement allows linkage), an ED attendance is matched when
    the same person has a police incident. Otherwise the estimate compares ED
    and police counts area by area and week by week (LAD x week)."""
    where = _where(recipient, filters)
    with engine.connect() as conn:
        ed = conn.execute(
            select(incidents.c.subject, incidents.c.lad, incidents.c.week).where(
                where & incidents.c.incident_source.in_(ED_SOURCES)
            )
        ).all()
        police_subjects = {
            s
            for (s,) in conn.execute(
                select(incidents.c.subject).where(
                    (incidents.c.recipient == recipient)
                    & (incidents.c.status == "current")
                    & (incidents.c.incident_source == POLICE)
                    & incidents.c.subject.is_not(None)
                )
            )
        }
        police_cells = {
            (lad, week): n
            for lad, week, n in conn.execute(
                select(incidents.c.lad, incidents.c.week, func.count())
                .where(where & (incidents.c.incident_source == POLICE))
                .group_by(incidents.c.lad, incidents.c.week)
            )
        }
    linked = bool(ed) and all(subject for subject, _, _ in ed) and bool(police_subjects)
    by_lad: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # lad -> [ed, unmatched]
    if linked:
        method = "linked: same person (recipient-scoped pseudonym) in a police record"
        for subject, lad, _ in ed:
            by_lad[lad or "unknown"][0] += 1
            by_lad[lad or "unknown"][1] += subject not in police_subjects
    else:
        method = "aggregate: ED attendances beyond police records, per LAD and week"
        ed_cells: dict[tuple[str, str], int] = defaultdict(int)
        for _, lad, week in ed:
            ed_cells[(lad or "unknown", week)] += 1
        for (lad, week), count in ed_cells.items():
            by_lad[lad][0] += count
            by_lad[lad][1] += max(0, count - police_cells.get((lad, week), 0))
    cells = [(lad, sdc.protect(n), sdc.protect(u)) for lad, (n, u) in sorted(by_lad.items())]
    rows = [{"lad": lad, "ed_attendances": n, "not_in_police_records": u} for lad, n, u in cells]
    ed_total = sdc.total(n for _, n, _ in cells)
    unmatched = sdc.total(u for _, _, u in cells)
    return {
        "method": method,
        "rows": rows,
        "ed_attendances": ed_total,
        "not_in_police_records": unmatched,
        "unreported_share": sdc.share(unmatched, ed_total),
        "true_counts": {
            "ed": sum(n for n, _ in by_lad.values()),
            "unmatched": sum(u for _, u in by_lad.values()),
        },
    }


def referral_funnel(engine: Engine, recipient: str) -> list[dict[str, Any]]:
    """Per programme: referred, engaged (any outcome showing engagement) and completed."""
    engaged_types = ("ENGAGED", "COMPLETED", "ETE_SUITABLE", "ACCOMMODATION_SUITABLE", "FTE")
    with engine.connect() as conn:
        refs = conn.execute(
            select(referrals.c.referral, referrals.c.programme).where(
                (referrals.c.recipient == recipient) & (referrals.c.status == "current")
            )
        ).all()
        outs = conn.execute(
            select(outcomes.c.referral, outcomes.c.outcome_type).where(
                (outcomes.c.recipient == recipient) & (outcomes.c.status == "current")
            )
        ).all()
    engaged = {r for r, t in outs if t in engaged_types}
    completed = {r for r, t in outs if t == "COMPLETED"}
    funnel: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for referral, programme in refs:
        cell = funnel[programme or "unknown"]
        cell[0] += 1
        cell[1] += referral in engaged
        cell[2] += referral in completed
    return [
        {"programme": p, "referred": n, "engaged": e, "completed": c}
        for p, (n, e, c) in sorted(funnel.items())
    ]


def outcome_counts(engine: Engine, recipient: str) -> list[dict[str, Any]]:
    query = (
        select(outcomes.c.outcome_type, outcomes.c.intervention, func.count().label("count"))
        .where((outcomes.c.recipient == recipient) & (outcomes.c.status == "current"))
        .group_by(outcomes.c.outcome_type, outcomes.c.intervention)
        .order_by(outcomes.c.outcome_type, outcomes.c.intervention)
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def share_by_lad(
    engine: Engine, recipient: str, part: str, filters: Filters = Filters()
) -> dict[str, Any]:
    """Per LAD, incidents that are ``under25`` or at ``night``, beside all incidents."""
    rows = incident_counts(
        engine, recipient, ["lad", "age_band" if part == "under25" else "hour"], filters
    )

    def chosen(row: dict[str, Any]) -> bool:
        return row["age_band"] in UNDER_25 if part == "under25" else row["hour"] in NIGHT_HOURS

    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        cells[row["lad"] or "unknown"][0] += row["count"]
        cells[row["lad"] or "unknown"][1] += row["count"] if chosen(row) else 0
    out: list[dict[str, Any]] = []
    for lad, (n, k) in sorted(cells.items()):
        total, part_count = sdc.protect(n), sdc.protect(k)
        out.append(
            {
                "lad": lad,
                "incidents": total,
                part: part_count,
                "share": sdc.share(part_count, total),
            }
        )
    all_total = sdc.total(int(r["incidents"]) if r["incidents"] is not None else None for r in out)
    all_part = sdc.total(int(r[part]) if r[part] is not None else None for r in out)
    return {
        "rows": out,
        "incidents": all_total,
        part: all_part,
        "share": sdc.share(all_part, all_total),
    }
