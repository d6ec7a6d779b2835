"""The figures the API serves, each built from published cells only.

Every function takes true cells from ``hub.views.queries``, passes them
through ``hub.views.disclosure.publish`` and computes totals, shares and
rankings from what that returns. No true count is read here: a figure can
always be recomputed from the published cells a response lists.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Engine

from hub.views import disclosure, queries
from hub.views.catalogue import PERIOD, Catalogue, CatalogueError, Table

#: The table each hotspot level is computed from.
HOTSPOT_TABLES = {"lad": "lad", "msoa": "msoa-quarter", "lsoa": "lsoa-year"}
#: The grain of the ED-vs-police cells (whole quarters).
ED_GRAIN = "quarter"


def _disclosure(
    table: Table | None, published: disclosure.Published, **more: Any
) -> dict[str, Any]:
    return {
        "rule": disclosure.RULE,
        **({"table": table.describe()} if table is not None else {}),
        "totals": published.statement(),
        **more,
    }


def table(
    engine: Engine, recipient: str, chosen: Table, filters: queries.Filters
) -> dict[str, Any]:
    """One catalogue table: its published cells rolled up to what it shows."""
    published = disclosure.publish(
        queries.incident_cells(engine, recipient, chosen, filters),
        chosen.cell_dimensions,
        chosen.present,
    )
    # The columns in the table's order, the period named by its grain (week,
    # month...), then the count.
    names = [(chosen.grain if d == PERIOD else d, d) for d in chosen.present]
    rows = [
        {**{name: row[d] for name, d in names}, "count": row["count"]} for row in published.rows
    ]
    return {
        "table": chosen.id,
        "total": published.total,
        "disclosure": _disclosure(chosen, published),
        "rows": rows,
    }


def hotspots(
    engine: Engine,
    recipient: str,
    catalogue: Catalogue,
    level: str,
    filters: queries.Filters,
    *,
    top: int = 10,
) -> dict[str, Any]:
    """The share of published incidents in the top tenth of areas that have a
    published count, and the top areas, at ``level``."""
    chosen = catalogue.get(HOTSPOT_TABLES[level])
    published = disclosure.publish(
        queries.incident_cells(engine, recipient, chosen, filters), chosen.cell_dimensions, [level]
    )
    # Incidents released without an area at this level (coarser, as k-anonymity
    # may release them) are counted apart, not ranked as an area.
    located = [r for r in published.rows if r[level] is not None]
    not_located = sum(r["count"] for r in published.rows if r[level] is None)
    ranked = sorted(located, key=lambda r: (-r["count"], str(r[level])))
    tenth = max(1, math.ceil(len(ranked) / 10)) if ranked else 0
    in_top = sum(r["count"] for r in ranked[:tenth])
    return {
        "level": level,
        "table": chosen.id,
        "areas_with_a_published_count": len(ranked),
        "top_tenth_areas": tenth,
        "top_tenth_share": disclosure.share(in_top, published.total - not_located),
        "total": published.total,
        "not_located": not_located,
        "disclosure": _disclosure(
            chosen,
            published,
            concentration=(
                f"the share of the published incidents located at {level} held by the top "
                f"tenth of the {len(ranked)} areas with a published count in table "
                f"{chosen.id}; each area's count is the sum of its published cells; areas "
                "whose cells are all 0-7 are not ranked or named; incidents released "
                f"without a {level} ({not_located} published) are not ranked"
            ),
        ),
        "rows": [{"area": r[level], "count": r["count"]} for r in ranked[:top]],
    }


def ed_vs_police(engine: Engine, recipient: str, filters: queries.Filters) -> dict[str, Any]:
    """The share of ED assault attendances whose person has no police record, where
    an agreement lets this recipient link them; otherwise not available."""
    if filters.week_from or filters.week_to:
        Table("ed-vs-police", "", ("lad",), ED_GRAIN, ("lad",)).check_range(
            filters.week_from, filters.week_to
        )
    if any(getattr(filters, name) for name in queries.FILTERABLE if name != "lad"):
        raise CatalogueError("ed-vs-police takes only lad and whole-quarter week filters")
    found = queries.ed_police_cells(engine, recipient, ED_GRAIN, filters)
    if found is None:
        return {
            "available": False,
            "reason": (
                "not available for this recipient: its agreements do not let it link ED "
                "attendances to police records by person, and comparing the two counts "
                "area by area would say nothing about which attendances police do not know of"
            ),
            "rows": [],
        }
    seen, missing = found
    dims = ("lad", "period")
    ed = disclosure.publish(seen, dims, ["lad"], "ed_attendances")
    unmatched = disclosure.publish(missing, dims, ["lad"], "not_in_police_records")
    by_lad = {r["lad"]: r for r in ed.rows}
    for row in unmatched.rows:
        by_lad.setdefault(row["lad"], {"lad": row["lad"], "ed_attendances": None})
        by_lad[row["lad"]]["not_in_police_records"] = row["not_in_police_records"]
    rows = [
        {
            "lad": lad,
            "ed_attendances": row.get("ed_attendances"),
            "not_in_police_records": row.get("not_in_police_records"),
        }
        for lad, row in sorted(by_lad.items(), key=lambda item: str(item[0]))
    ]
    return {
        "available": True,
        "method": (
            "linked: an ED assault attendance is matched when the same person (the "
            "recipient-scoped pseudonym) has a police record; counted per LAD and quarter"
        ),
        "ed_attendances": ed.total,
        "not_in_police_records": unmatched.total,
        "unreported_share": disclosure.share(unmatched.total, ed.total),
        "disclosure": _disclosure(
            None,
            ed,
            shares=(
                "the share is the published unmatched total over the published ED total; "
                "each total is the sum of its own published (LAD, quarter) cells"
            ),
        ),
        "rows": rows,
    }


def referral_funnel(engine: Engine, recipient: str) -> dict[str, Any]:
    """Referred -> engaged -> completed, by programme, each a published cell."""
    measures = queries.funnel_cells(engine, recipient)
    published = {
        m: disclosure.publish(cells, ("programme",), None, m) for m, cells in measures.items()
    }
    programmes = sorted({r["programme"] for p in published.values() for r in p.rows}, key=str)
    rows = []
    for programme in programmes:
        row: dict[str, Any] = {"programme": programme}
        for measure, found in published.items():
            row[measure] = next(
                (r[measure] for r in found.rows if r["programme"] == programme), None
            )
        rows.append(row)
    return {
        "disclosure": _disclosure(None, published["referred"]),
        "rows": rows,
    }


def outcomes(engine: Engine, recipient: str) -> dict[str, Any]:
    published = disclosure.publish(
        queries.outcome_cells(engine, recipient), ("outcome_type", "intervention")
    )
    return {
        "total": published.total,
        "disclosure": _disclosure(None, published),
        "rows": published.rows,
    }


def share_by_lad(
    engine: Engine, recipient: str, catalogue: Catalogue, part: str, filters: queries.Filters
) -> dict[str, Any]:
    """Per LAD, incidents that are ``under25`` or at ``night`` beside all incidents,
    both sums of the published cells of one table, and the share between them."""
    chosen = catalogue.get("lad-month-under25" if part == "under25" else "lad-month-night")
    published = disclosure.publish(
        queries.incident_cells(engine, recipient, chosen, filters),
        chosen.cell_dimensions,
        ["lad", part],
    )
    cells: dict[Any, list[int]] = {}
    for row in published.rows:
        counts = cells.setdefault(row["lad"], [0, 0])
        counts[0] += row["count"]
        counts[1] += row["count"] if row[part] == "yes" else 0
    rows = [
        {"lad": lad, "incidents": n, part: k, "share": disclosure.share(k, n)}
        for lad, (n, k) in sorted(cells.items(), key=lambda item: str(item[0]))
    ]
    every, chosen_part = sum(n for n, _ in cells.values()), sum(k for _, k in cells.values())
    return {
        "table": chosen.id,
        "incidents": every,
        part: chosen_part,
        "share": disclosure.share(chosen_part, every),
        "disclosure": _disclosure(chosen, published),
        "rows": rows,
    }
