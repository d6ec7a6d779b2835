"""``svdhub api``: the views over HTTP (FastAPI), and the dashboard.

Every endpoint needs ``Authorization: Bearer <token>``; a token belongs to one
recipient and sees only that recipient's views (``svdhub api tokens`` makes
them). The audit ledger's checkpoints and proofs are under ``/api/v1/audit``
(``hub.views.audit_routes``), where checkpoints need no token. Views are
tables of a reviewed catalogue (``policies/tables.yaml``, ``/api/v1/tables``);
every figure passes through disclosure control (``hub.views.disclosure``) and
every response states the rule, how its totals relate to its cells, and how
fresh the views are. ``format=csv`` gives the rows as
CSV, with the rule and the lag in response headers. The OpenAPI docs are at
``/docs``; the dashboard at ``/``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib.resources import files
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from hub.views import disclosure, figures, models, queries
from hub.views.catalogue import Catalogue, Table, load
from hub.views.freshness import freshness
from hub.views.security import Guard, SecurityConfig, SecurityHeaders, csv_escape, limit_rows
from hub.views.tokens import ANALYST, IG, Lookup, Tokens, timestamp

Format = Literal["json", "csv"]
AREA_ORDER = {"lad": 0, "msoa": 1, "lsoa": 2}


class Context:
    """What every request needs: the views database, the tokens and a clock; and
    for the audit paths, the ledger's database (None: not served) and the
    witness keys whose cosignatures the log accepts, as (name, public key)."""

    def __init__(
        self,
        engine: Engine,
        tokens: Tokens,
        clock: Callable[[], datetime],
        ledger: Engine | None = None,
        witnesses: tuple[tuple[str, bytes], ...] = (),
        *,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.engine = engine
        #: The published tables (policies/tables.yaml).
        self.catalogue = catalogue or load()
        self.tokens = tokens
        self.clock = clock
        self.ledger = ledger
        self.witnesses = witnesses
        #: The limits on requests and responses (set by create_app).
        self.limits = SecurityConfig()


def context(request: Request) -> Context:
    found: Context = request.app.state.context
    return found


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _unauthorised(found: Lookup, what: str = "a valid API token") -> HTTPException:
    """401: why (a token that expired or was revoked says so), and what is needed."""
    entry = found.entry
    if found.status == "expired" and entry is not None and entry.expires is not None:
        detail = (
            f"the API token {entry.id} expired at {timestamp(entry.expires)}; "
            f"{what} is needed: ask for a new one (svdhub api tokens issue)"
        )
    elif found.status == "revoked" and entry is not None and entry.revoked is not None:
        detail = (
            f"the API token {entry.id} was revoked at {timestamp(entry.revoked)}; {what} is needed"
        )
    else:
        detail = f"{what} is needed (Authorization: Bearer ...)"
    error = ' error="invalid_token"' if found.status in {"expired", "revoked"} else ""
    return HTTPException(401, detail, headers={"WWW-Authenticate": f"Bearer{error}"})


def _token_of(request: Request, roles: tuple[str, ...], what: str) -> str:
    """The party of the valid token of one of ``roles`` the request carries, else 401."""
    found = context(request).tokens.lookup(_bearer(request))
    if found.valid and found.entry is not None and found.entry.role in roles:
        return found.entry.party
    raise _unauthorised(found, what)


def recipient_of(request: Request) -> str:
    """The recipient whose (analyst's) token the request carries, else 401."""
    return _token_of(request, (ANALYST,), "a valid API token")


def ig_lead_of(request: Request) -> str:
    """The party whose IG lead's token the request carries, else 401."""
    return _token_of(request, (IG,), "an IG lead's API token (svdhub api tokens --ig-lead PARTY)")


def party_of(request: Request) -> str:
    """The recipient or IG lead's party whose token the request carries, else 401."""
    return _token_of(request, (ANALYST, IG), "a valid API token")


def filters(
    *,
    lad: str | None = None,
    week_from: Annotated[str | None, Query(description="ISO date, inclusive")] = None,
    week_to: Annotated[str | None, Query(description="ISO date, inclusive")] = None,
    category: str | None = None,
    method: str | None = None,
    age_band: str | None = None,
    incident_source: str | None = None,
    injury_intent: str | None = None,
    police_outcome: str | None = None,
) -> queries.Filters:
    return queries.Filters(
        lad,
        week_from,
        week_to,
        category,
        method,
        age_band,
        incident_source,
        injury_intent,
        police_outcome,
    )


Ctx = Annotated[Context, Depends(context)]
RecipientId = Annotated[str, Depends(recipient_of)]
FilterArgs = Annotated[queries.Filters, Depends(filters)]
Fmt = Annotated[Format, Query(alias="format", description="json or csv")]

router = APIRouter(prefix="/api/v1", tags=["views"])


def respond(
    ctx: Context,
    view: str,
    recipient: str,
    rows: list[dict[str, Any]],
    fmt: Format,
    **summary: Any,
) -> Response:
    """JSON with the rule, the freshness and any summary; or CSV with those in headers.
    413 if there are more rows than the limit."""
    limit_rows(rows, ctx.limits.max_rows)
    fresh = freshness(ctx.engine, recipient, ctx.clock())
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_escape(rows))
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="{recipient}-{view}.csv"',
                "X-Disclosure-Control": disclosure.RULE,
                "X-Views-Lag-Seconds": str(fresh["lag_seconds"]),
            },
        )
    body = {
        "view": view,
        "recipient": recipient,
        "disclosure_control": disclosure.RULE,
        "freshness": fresh,
        **summary,
        "rows": rows,
    }
    # Validated against the view's model: a field not designed in fails here.
    return JSONResponse(models.MODELS[view].model_validate(body).model_dump(mode="json"))


def permitted(ctx: Context, recipient: str, levels: list[str]) -> None:
    """403 unless the recipient's data carries areas as fine as ``levels``."""
    finest = queries.finest_level(ctx.engine, recipient)
    for level in levels:
        if AREA_ORDER[level] > AREA_ORDER[finest]:
            raise HTTPException(
                403, f"{recipient}'s agreements release areas down to {finest}, not {level}"
            )


def served(ctx: Context, recipient: str, view: str, found: dict[str, Any], fmt: Format) -> Response:
    rows = found.pop("rows")
    return respond(ctx, view, recipient, rows, fmt, **found)


def refused(exc: ValueError) -> HTTPException:
    return HTTPException(400, str(exc))


@router.get("/whoami")
def whoami(ctx: Ctx, recipient: RecipientId) -> models.WhoAmI:
    """The recipient this token belongs to, and the finest area level it may see."""
    return models.WhoAmI(
        recipient=recipient,
        finest_area_level=queries.finest_level(ctx.engine, recipient),
        disclosure_control=disclosure.RULE,
        freshness=models.Freshness(**freshness(ctx.engine, recipient, ctx.clock())),
    )


@router.get("/tables")
def tables(ctx: Ctx, recipient: RecipientId) -> models.TableListing:
    """The published tables: their dimensions, time grain and what each shows."""
    finest = queries.finest_level(ctx.engine, recipient)
    return models.TableListing(
        disclosure_control=disclosure.RULE,
        tables=[
            {**found.describe(), "available": _allowed(found, finest)}
            for found in ctx.catalogue.tables.values()
        ],
    )


def _allowed(found: Table, finest: str) -> bool:
    level = found.area_level
    return level is None or AREA_ORDER[level] <= AREA_ORDER[finest]


@router.get("/views/incidents", responses={200: {"model": models.TableView}})
def incidents(  # noqa: PLR0917 - FastAPI's dependencies and query parameters
    ctx: Ctx,
    recipient: RecipientId,
    flt: FilterArgs,
    fmt: Fmt = "json",
    table: Annotated[
        str | None,
        Query(description="A table id from /api/v1/tables (or give by=; neither: lad-week)"),
    ] = None,
    by: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Comma-separated dimensions a published table shows (see /api/v1/tables)",
        ),
    ] = None,
) -> Response:
    """Incidents in one published table of the catalogue (``table=`` or ``by=``)."""
    try:
        if table is not None:
            chosen = ctx.catalogue.get(table)
        else:
            dims = [d.strip() for d in (by or "lad,week").split(",") if d.strip()]
            chosen = ctx.catalogue.matching(dims)
        permitted(ctx, recipient, [chosen.area_level] if chosen.area_level else [])
        found = figures.table(ctx.engine, recipient, chosen, flt)
    except ValueError as exc:
        raise refused(exc) from exc
    return served(ctx, recipient, "incidents", found, fmt)


@router.get("/views/hotspots", responses={200: {"model": models.HotspotsView}})
def hotspots(
    ctx: Ctx,
    recipient: RecipientId,
    flt: FilterArgs,
    fmt: Fmt = "json",
    level: Literal["lad", "msoa", "lsoa"] | None = None,
) -> Response:
    """The share of published incidents in the top tenth of areas, and the top areas."""
    chosen = level or queries.finest_level(ctx.engine, recipient)
    permitted(ctx, recipient, [chosen])
    try:
        found = figures.hotspots(ctx.engine, recipient, ctx.catalogue, chosen, flt)
    except ValueError as exc:
        raise refused(exc) from exc
    return served(ctx, recipient, "hotspots", found, fmt)


@router.get("/views/ed-vs-police", responses={200: {"model": models.EdVsPoliceView}})
def ed_vs_police(ctx: Ctx, recipient: RecipientId, flt: FilterArgs, fmt: Fmt = "json") -> Response:
    """The share of ED assault attendances whose person has no police record, where
    linkage is permitted; otherwise "not available"."""
    try:
        found = figures.ed_vs_police(ctx.engine, recipient, flt)
    except ValueError as exc:
        raise refused(exc) from exc
    return served(ctx, recipient, "ed-vs-police", found, fmt)


@router.get("/views/referral-funnel", responses={200: {"model": models.FunnelView}})
def referral_funnel(ctx: Ctx, recipient: RecipientId, fmt: Fmt = "json") -> Response:
    """Referred -> engaged -> completed, by programme."""
    return served(
        ctx, recipient, "referral-funnel", figures.referral_funnel(ctx.engine, recipient), fmt
    )


@router.get("/views/outcomes", responses={200: {"model": models.OutcomesView}})
def outcome_view(ctx: Ctx, recipient: RecipientId, fmt: Fmt = "json") -> Response:
    """Outcomes by type and intervention."""
    return served(ctx, recipient, "outcomes", figures.outcomes(ctx.engine, recipient), fmt)


@router.get("/views/under-25", responses={200: {"model": models.ShareView}})
def under_25(ctx: Ctx, recipient: RecipientId, flt: FilterArgs, fmt: Fmt = "json") -> Response:
    """Incidents with a victim under 25, by LAD, beside all incidents."""
    try:
        found = figures.share_by_lad(ctx.engine, recipient, ctx.catalogue, "under25", flt)
    except ValueError as exc:
        raise refused(exc) from exc
    return served(ctx, recipient, "under-25", found, fmt)


@router.get("/views/night-time", responses={200: {"model": models.ShareView}})
def night_time(ctx: Ctx, recipient: RecipientId, flt: FilterArgs, fmt: Fmt = "json") -> Response:
    """Incidents between 20:00 and 04:00, by LAD, beside all incidents."""
    try:
        found = figures.share_by_lad(ctx.engine, recipient, ctx.catalogue, "night", flt)
    except ValueError as exc:
        raise refused(exc) from exc
    return served(ctx, recipient, "night-time", found, fmt)


def dashboard() -> str:
    return files("hub.views").joinpath("static/dashboard.html").read_text(encoding="utf-8")


def create_app(
    engine: Engine,
    tokens: Tokens,
    clock: Callable[[], datetime] | None = None,
    *,
    ledger: Engine | None = None,
    witnesses: Iterable[str] = (),
    catalogue: Catalogue | None = None,
    security_config: SecurityConfig | None = None,
) -> FastAPI:
    """The API and the dashboard over one views database, and the audit ledger's
    checkpoints and proofs when ``ledger`` is given. ``witnesses`` are the witness
    keys (as ``svdhub audit witness-key`` prints them) whose cosignatures the log
    takes; a malformed one raises NoteError. ``security_config`` sets the limits,
    the rate limits and the access log (``hub.views.security``; default: its
    defaults, and no access log)."""
    from hub.views import audit_routes, risk_routes  # noqa: PLC0415 - they import this module

    app = FastAPI(
        title="svdhub views",
        version="1",
        description="Serious Violence Duty views for the VRP and the community safety "
        "partnerships. " + disclosure.RULE,
    )
    app.state.context = Context(
        engine,
        tokens,
        clock or (lambda: datetime.now(UTC)),
        ledger,
        audit_routes.parse_witnesses(witnesses),
        catalogue=catalogue,
    )
    app.state.security = config = security_config or SecurityConfig()
    app.state.context.limits = config
    app.include_router(router)
    app.include_router(audit_routes.router)
    app.include_router(risk_routes.router)
    app.get("/", response_class=HTMLResponse, include_in_schema=False)(dashboard)
    app.mount("/static", StaticFiles(packages=[("hub.views", "static")]), name="static")
    app.add_middleware(Guard, tokens=tokens, config=config)
    docs = (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    app.add_middleware(SecurityHeaders, docs=[path for path in docs if path])
    return app
