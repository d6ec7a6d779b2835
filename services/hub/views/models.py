"""The shape of every views response (pydantic): ``/docs`` shows each one, and
``hub.views.api.respond`` validates each response against its model before
sending it. The models forbid fields they do not name, so a figure that was
not designed in (a true count, say) fails the response instead of leaving."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

#: A row of a table: its dimensions and published counts (None: not published).
Row = dict[str, str | int | float | bool | None]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Freshness(Strict):
    views_checked_at: str | None
    latest_share_at: str | None
    lag_seconds: float | None


class TableInfo(Strict):
    id: str
    title: str
    dimensions: list[str]
    grain: str
    shows: list[str]


class Disclosure(Strict):
    rule: str
    totals: str
    table: TableInfo | None = None
    concentration: str | None = None
    shares: str | None = None


class View(Strict):
    """What every view response carries."""

    view: str
    recipient: str
    disclosure_control: str
    freshness: Freshness


class TableView(View):
    table: str
    total: int
    disclosure: Disclosure
    rows: list[Row]


class HotspotsView(View):
    level: str
    table: str
    areas_with_a_published_count: int
    top_tenth_areas: int
    top_tenth_share: float | None
    total: int
    not_located: int
    disclosure: Disclosure
    rows: list[Row]


class EdVsPoliceView(View):
    available: bool
    reason: str | None = None
    method: str | None = None
    ed_attendances: int | None = None
    not_in_police_records: int | None = None
    unreported_share: float | None = None
    disclosure: Disclosure | None = None
    rows: list[Row]


class FunnelView(View):
    disclosure: Disclosure
    rows: list[Row]


class OutcomesView(View):
    total: int
    disclosure: Disclosure
    rows: list[Row]


class ShareView(View):
    table: str
    incidents: int
    under25: int | None = None
    night: int | None = None
    share: float | None
    disclosure: Disclosure
    rows: list[Row]


class TableListing(Strict):
    disclosure_control: str
    tables: list[dict[str, str | bool | list[str]]]


class WhoAmI(Strict):
    recipient: str
    finest_area_level: str
    disclosure_control: str
    freshness: Freshness


#: The model of each view, by the name ``respond`` is given.
MODELS: dict[str, type[View]] = {
    "incidents": TableView,
    "hotspots": HotspotsView,
    "ed-vs-police": EdVsPoliceView,
    "referral-funnel": FunnelView,
    "outcomes": OutcomesView,
    "under-25": ShareView,
    "night-time": ShareView,
}
