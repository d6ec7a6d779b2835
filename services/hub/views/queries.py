"""True counts from a recipient's fact tables, for disclosure control only.

Every function here returns *true* counts for one recipient, as grid cells
(``hub.views.disclosure.Cell``) or rows a test recounts with; nothing here is
ever served. ``hub.views.figures`` hands the cells to
``hub.views.disclosure.publish`` and builds every figure from what it
publishes. Only rows with status ``current`` count: retracted and superseded
events do not. A view can never reveal more than the recipient received,
because it reads only that recipient's rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, case, func, select

from hub.views.catalogue import CatalogueError, Table, month_period, period_of
from hub.views.disclosure import Cell
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
    "injury_intent",
    "police_outcome",
)
AREA_LEVELS = ("lad", "msoa", "lsoa")
UNDER_25 = ("0-9", "10-17", "18-24")
NIGHT_HOURS = (20, 21, 22, 23, 0, 1, 2, 3)  # 20:00 to 04:00, England
ED_SOURCES = ("ED_ISTV", "ECDS")
POLICE = "POLICE_CRIME"
#: The discloser types whose incidents are ED attendances and police records:
#: what tells them apart where an agreement releases no incident_source (the
#: VRP's linkage agreement) or k-anonymity withheld the share that did.
ED_TYPE, POLICE_TYPE = "ICB_ED", "POLICE"


@dataclass(frozen=True)
class Filters:
    lad: str | None = None
    week_from: str | None = None  # ISO date, inclusive
    week_to: str | None = None  # ISO date, inclusive
    category: str | None = None
    method: str | None = None
    age_band: str | None = None
    incident_source: str | None = None
    injury_intent: str | None = None
    police_outcome: str | None = None


def _where(recipient: str, filters: Filters) -> Any:
    """The recipient's current incidents that pass ``filters``. An incident
    known only by its month (no week) is inside a week range when its month
    is: catalogue ranges start and end on whole months or longer, so the
    Monday that starts one is in its first month and the Monday that ends
    one in its last."""
    conditions = [incidents.c.recipient == recipient, incidents.c.status == "current"]
    for column, value in (
        (incidents.c.lad, filters.lad),
        (incidents.c.category, filters.category),
        (incidents.c.method, filters.method),
        (incidents.c.age_band, filters.age_band),
        (incidents.c.incident_source, filters.incident_source),
        (incidents.c.injury_intent, filters.injury_intent),
        (incidents.c.police_outcome, filters.police_outcome),
    ):
        if value is not None:
            conditions.append(column == value)
    by_month = incidents.c.week.is_(None)
    if filters.week_from:
        conditions.append(
            (incidents.c.week >= filters.week_from)
            | (by_month & (incidents.c.month >= filters.week_from[:7]))
        )
    if filters.week_to:
        conditions.append(
            (incidents.c.week <= filters.week_to)
            | (by_month & (incidents.c.month <= filters.week_to[:7]))
        )
    return and_(*conditions)


def incident_counts(
    engine: Engine, recipient: str, by: Sequence[str], filters: Filters = Filters()
) -> list[dict[str, Any]]:
    """True incidents grouped by ``by`` (any of DIMENSIONS), with ``count``: for
    tests and checks that recount what was published; never served."""
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


# ---------------------------------------------------------------------- grid cells


def _dimension(name: str) -> Any:
    """The SQL expression of a catalogue dimension."""
    if name == "under25":
        return case(
            (incidents.c.age_band.is_(None), None),
            (incidents.c.age_band.in_(UNDER_25), "yes"),
            else_="no",
        ).label(name)
    if name == "night":
        return case(
            (incidents.c.hour.is_(None), None),
            (incidents.c.hour.in_(NIGHT_HOURS), "yes"),
            else_="no",
        ).label(name)
    return incidents.c[name]


FILTERABLE = (
    "lad",
    "category",
    "method",
    "age_band",
    "incident_source",
    "injury_intent",
    "police_outcome",
)


def incident_cells(
    engine: Engine, recipient: str, table: Table, filters: Filters = Filters()
) -> list[Cell]:
    """The true count and cell key of every non-empty grid cell of ``table``.

    Filters may only name the table's own dimensions and move on its time
    grid, so that they select whole cells: CatalogueError otherwise.

    An incident is in the period of its week; one known only by its month
    (police.uk) in the period of its month, in every grain but week, where
    it counts in no cell."""
    table.check_range(filters.week_from, filters.week_to)
    for name in FILTERABLE:
        if getattr(filters, name) is not None and name not in table.dimensions:
            raise CatalogueError(
                f"table {table.id} has no {name} dimension to filter on; choose a table "
                f"that shows {name}"
            )
    dims = [_dimension(name) for name in table.dimensions]
    dated: Any = incidents.c.week.is_not(None)
    if table.grain != "week":
        dated = dated | incidents.c.month.is_not(None)
    query = (
        select(
            *dims,
            incidents.c.week,
            incidents.c.month,
            func.count(),
            func.sum(incidents.c.record_key),
        )
        .where(_where(recipient, filters) & dated)
        .group_by(*dims, incidents.c.week, incidents.c.month)
    )
    counts: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    with engine.connect() as conn:
        for row in conn.execute(query):
            *values, week, month, count, keys = row
            period = period_of(week, table.grain) if week else month_period(month, table.grain)
            cell = counts[(*values, period)]
            cell[0] += int(count)
            cell[1] += int(keys or 0)
    return [Cell(key, count, keys % 256) for key, (count, keys) in counts.items()]


def ed_police_cells(
    engine: Engine, recipient: str, grain: str, filters: Filters = Filters()
) -> tuple[list[Cell], list[Cell]] | None:
    """Per (LAD, period): ED assault attendances, and those whose person (the
    recipient-scoped pseudonym) has no police record. None unless every ED
    attendance and some police record carry the recipient's pseudonyms, that
    is, unless an agreement lets this recipient link the two."""
    where = _where(recipient, filters)
    # The incident source where released, else the discloser's type.
    unknown = incidents.c.incident_source.is_(None)
    is_ed = incidents.c.incident_source.in_(ED_SOURCES) | (
        unknown & (incidents.c.source_type == ED_TYPE)
    )
    is_police = (incidents.c.incident_source == POLICE) | (
        unknown & (incidents.c.source_type == POLICE_TYPE)
    )
    with engine.connect() as conn:
        ed = conn.execute(
            select(
                incidents.c.subject, incidents.c.lad, incidents.c.week, incidents.c.record_key
            ).where(where & is_ed & incidents.c.week.is_not(None))
        ).all()
        police = {
            s
            for (s,) in conn.execute(
                select(incidents.c.subject).where(
                    (incidents.c.recipient == recipient)
                    & (incidents.c.status == "current")
                    & is_police
                    & incidents.c.subject.is_not(None)
                )
            )
        }
    if not ed or not police or not all(subject for subject, _, _, _ in ed):
        return None
    seen: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    missing: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for subject, lad, week, key in ed:
        where_cell = (lad, period_of(week, grain))
        for cells, counted in ((seen, True), (missing, subject not in police)):
            if counted:
                cells[where_cell][0] += 1
                cells[where_cell][1] += key
    return (
        [Cell(k, n, keys % 256) for k, (n, keys) in seen.items()],
        [Cell(k, n, keys % 256) for k, (n, keys) in missing.items()],
    )


def funnel_cells(engine: Engine, recipient: str) -> dict[str, list[Cell]]:
    """Per programme: referred, engaged and completed (each a cell of programme)."""
    engaged_types = ("ENGAGED", "COMPLETED", "ETE_SUITABLE", "ACCOMMODATION_SUITABLE", "FTE")
    with engine.connect() as conn:
        refs = conn.execute(
            select(referrals.c.referral, referrals.c.programme, referrals.c.record_key).where(
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
    measures: dict[str, dict[str, list[int]]] = {
        m: defaultdict(lambda: [0, 0]) for m in ("referred", "engaged", "completed")
    }
    for referral, programme, key in refs:
        for measure, counted in (
            ("referred", True),
            ("engaged", referral in engaged),
            ("completed", referral in completed),
        ):
            if counted:
                cell = measures[measure][programme or "unknown"]
                cell[0] += 1
                cell[1] += key
    return {
        m: [Cell((p,), n, keys % 256) for p, (n, keys) in found.items()]
        for m, found in measures.items()
    }


def outcome_cells(engine: Engine, recipient: str) -> list[Cell]:
    """Outcomes by type and intervention."""
    query = (
        select(
            outcomes.c.outcome_type,
            outcomes.c.intervention,
            func.count(),
            func.sum(outcomes.c.record_key),
        )
        .where((outcomes.c.recipient == recipient) & (outcomes.c.status == "current"))
        .group_by(outcomes.c.outcome_type, outcomes.c.intervention)
    )
    with engine.connect() as conn:
        return [
            Cell((kind, intervention), int(n), int(keys or 0) % 256)
            for kind, intervention, n, keys in conn.execute(query)
        ]
