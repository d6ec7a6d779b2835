"""``svdhub api``: the views over HTTP (FastAPI), and the dashboard.

Every endpoint needs ``Authorization: Bearer <token>``; a token belongs to one
recipient and sees only that recipient's views (``svdhub api tokens`` makes
them). The audit ledger's checkpoints and proofs are under ``/api/v1/audit``
(``hub.views.audit_routes``), where checkpoints need no token. Every aggregate
passes through disclosure control (``hub.views.sdc``) and every response
states the rule and how fresh the views are. ``format=csv`` gives the rows as
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

from hub.views import queries, sdc
from hub.views.freshness import freshness
from hub.views.security import Guard, SecurityConfig, SecurityHeaders, csv_escape
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
    ) -> None:
        self.engine = engine
        self.tokens = tokens
        self.clock = clock
        self.ledger = ledger
        self.witnesses = witnesses


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
) -> queries.Filters:
    return queries.Filters(lad, week_from, week_to, category, method, age_band, incident_source)


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
    """JSON with the rule, the freshness and any summary; or CSV with those in headers."""
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
                "X-Disclosure-Control": sdc.RULE,
                "X-Views-Lag-Seconds": str(fresh["lag_seconds"]),
            },
        )
    return JSONResponse(
        {
            "view": view,
            "recipient": recipient,
            "disclosure_control": sdc.RULE,
            "freshness": fresh,
            **summary,
            "rows": rows,
        }
    )


def permitted(ctx: Context, recipient: str, levels: list[str]) -> None:
    """403 unless the recipient's data carries areas as fine as ``levels``."""
    finest = queries.finest_level(ctx.engine, recipient)
    for level in levels:
        if AREA_ORDER[level] > AREA_ORDER[finest]:
            raise HTTPException(
                403, f"{recipient}'s agreements release areas down to {finest}, not {level}"
            )


@router.get("/whoami")
def whoami(ctx: Ctx, recipient: RecipientId) -> dict[str, Any]:
    """The recipient this token belongs to, and the finest area level it may see."""
    return {
        "recipient": recipient,
        "finest_area_level": queries.finest_level(ctx.engine, recipient),
        "disclosure_control": sdc.RULE,
        "freshness": freshness(ctx.engine, recipient, ctx.clock()),
    }


@router.get("/views/incidents")
def incidents(
    ctx: Ctx,
    recipient: RecipientId,
    flt: FilterArgs,
    fmt: Fmt = "json",
    by: Annotated[
        str, Query(description="Comma-separated: " + ", ".join(queries.DIMENSIONS))
    ] = "lad,week",
) -> Response:
    """Incidents by area x week x category x method x age band x hour x day of week."""
    dims = [d.strip() for d in by.split(",") if d.strip()]
    try:
        permitted(ctx, recipient, [d for d in dims if d in AREA_ORDER])
        rows = sdc.protect_rows(queries.incident_counts(ctx.engine, recipient, dims, flt))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    total = sdc.total(r["count"] for r in rows)
    return respond(ctx, "incidents", recipient, rows, fmt, total=total)


@router.get("/views/hotspots")
def hotspots(
    ctx: Ctx,
    recipient: RecipientId,
    flt: FilterArgs,
    fmt: Fmt = "json",
    level: Literal["lad", "msoa", "lsoa"] | None = None,
) -> Response:
    """The share of incidents in the top 10% of areas, and the top areas."""
    chosen = level or queries.finest_level(ctx.engine, recipient)
    permitted(ctx, recipient, [chosen])
    found = queries.hotspots(ctx.engine, recipient, chosen, flt)
    rows = found.pop("top")
    return respond(ctx, "hotspots", recipient, rows, fmt, **found)


@router.get("/views/ed-vs-police")
def ed_vs_police(ctx: Ctx, recipient: RecipientId, flt: FilterArgs, fmt: Fmt = "json") -> Response:
    """The share of ED assault attendances with no matching police record."""
    found = queries.ed_vs_police(ctx.engine, recipient, flt)
    rows = found.pop("rows")
    return respond(ctx, "ed-vs-police", recipient, rows, fmt, **found)


@router.get("/views/referral-funnel")
def referral_funnel(ctx: Ctx, recipient: RecipientId, fmt: Fmt = "json") -> Response:
    """Referred -> engaged -> completed, by programme."""
    rows = sdc.protect_rows(
        queries.referral_funnel(ctx.engine, recipient), ("referred", "engaged", "completed")
    )
    return respond(ctx, "referral-funnel", recipient, rows, fmt)


@router.get("/views/outcomes")
def outcome_view(ctx: Ctx, recipient: RecipientId, fmt: Fmt = "json") -> Response:
    """Outcomes by type and intervention."""
    rows = sdc.protect_rows(queries.outcome_counts(ctx.engine, recipient))
    total = sdc.total(r["count"] for r in rows)
    return respond(ctx, "outcomes", recipient, rows, fmt, total=total)


@router.get("/views/under-25")
def under_25(ctx: Ctx, recipient: RecipientId, flt: FilterArgs, fmt: Fmt = "json") -> Response:
    """Incidents with a victim under 25, by LAD, beside all incidents."""
    found = queries.share_by_lad(ctx.engine, recipient, "under25", flt)
    rows = found.pop("rows")
    return respond(ctx, "under-25", recipient, rows, fmt, **found)


@router.get("/views/night-time")
def night_time(ctx: Ctx, recipient: RecipientId, flt: FilterArgs, fmt: Fmt = "json") -> Response:
    """Incidents between 20:00 and 04:00, by LAD, beside all incidents."""
    found = queries.share_by_lad(ctx.engine, recipient, "night", flt)
    rows = found.pop("rows")
    return respond(ctx, "night-time", recipient, rows, fmt, **found)


def dashboard() -> str:
    return files("hub.views").joinpath("static/dashboard.html").read_text(encoding="utf-8")


def create_app(
    engine: Engine,
    tokens: Tokens,
    clock: Callable[[], datetime] | None = None,
    *,
    ledger: Engine | None = None,
    witnesses: Iterable[str] = (),
    security_config: SecurityConfig | None = None,
) -> FastAPI:
    """The API and the dashboard over one views database, and the audit ledger's
    checkpoints and proofs when ``ledger`` is given. ``witnesses`` are the witness
    keys (as ``svdhub audit witness-key`` prints them) whose cosignatures the log
    takes; a malformed one raises NoteError. ``security_config`` sets the limits,
    the rate limits and the access log (``hub.views.security``; default: its
    defaults, and no access log)."""
    from hub.views import audit_routes  # noqa: PLC0415 - it imports this module

    app = FastAPI(
        title="svdhub views",
        version="1",
        description="Serious Violence Duty views for the VRP and the community safety "
        "partnerships. " + sdc.RULE,
    )
    app.state.context = Context(
        engine,
        tokens,
        clock or (lambda: datetime.now(UTC)),
        ledger,
        audit_routes.parse_witnesses(witnesses),
    )
    app.state.security = config = security_config or SecurityConfig()
    app.include_router(router)
    app.include_router(audit_routes.router)
    app.get("/", response_class=HTMLResponse, include_in_schema=False)(dashboard)
    app.mount("/static", StaticFiles(packages=[("hub.views", "static")]), name="static")
    app.add_middleware(Guard, tokens=tokens, config=config)
    docs = (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    app.add_middleware(SecurityHeaders, docs=[path for path in docs if path])
    return app
