"""The re-identification risk report over HTTP, for IG leads: ``GET /api/v1/risk``.

Only an IG lead's token reads it (``svdhub api tokens --ig-lead PARTY``), and
it sees the streams its party received, whole, and the streams its party
disclosed to, counting only the records it disclosed there (k is still
counted over the whole stream: a record is as identifying as its class in
what the recipient holds). Analysts' tokens are refused: the report is about
the data, not an analysis of it, and what was held back or withheld from a
recipient is for IG leads.

It is measured as ``svdhub risk report`` measures it (``hub.risk``), from the
views database, which keeps every share the view builder took in
(``view_shares``, each verified against the hub's key), since the API reads
no topic; the audit ledger, when the API serves one, gives what the enforcer
held back and withheld. The views do not read the ``public`` recipient's
stream, so it is not here: ``svdhub risk report`` measures it from its topic.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from hub.bundle import BundleError, load_agreements, load_parties
from hub.risk.classes import REPORT_K, WINDOW_DAYS, StreamRisk
from hub.risk.report import (
    Decisions,
    assess,
    count_decisions,
    ledger_decisions,
    views_shares,
)
from hub.settings import policies_dir
from hub.views.api import Context, context, ig_lead_of

router = APIRouter(prefix="/api/v1", tags=["risk"])

IgLead = Annotated[str, Depends(ig_lead_of)]


class Window(BaseModel):
    days: int
    start: str  # ISO time, inclusive
    end: str  # the stream's newest event time


class DecisionCounts(BaseModel):
    """What the enforcer did under the agreement's min_k, over the whole audit log."""

    released: int
    held_back: int
    withheld: int


class StreamReport(BaseModel):
    recipient: str
    agreement_id: str
    record_type: str
    min_k: int | None
    #: None: the stream releases no event time, so every record counts.
    window: Window | None
    #: "recipient": the whole stream; "discloser": the party's own records in it.
    seen_as: str
    records: int
    below_report_k: int
    below_min_k: int | None
    #: Whether every record of the stream (not only the party's) meets min_k.
    ok: bool
    #: The distribution of k (whole stream; only for the recipient's IG lead).
    k: dict[str, int] | None
    classes: int | None
    smallest_k: int | None
    decisions: DecisionCounts | None


class RiskReport(BaseModel):
    party: str
    window_days: int
    report_k: int
    source: str
    streams: list[StreamReport]


@router.get("/risk", response_model=RiskReport)
async def risk(
    request: Request,
    party: IgLead,
    window: Annotated[
        int, Query(ge=1, le=3650, description="days of event time back from each stream's newest")
    ] = WINDOW_DAYS,
) -> RiskReport:
    """k-anonymity of every stream the IG lead's party received or disclosed to,
    over the trailing window: records, those with k below 5 and below the
    agreement's min_k, and what the enforcer held back and withheld."""
    ctx = context(request)
    return await run_in_threadpool(report_for, ctx, party, window)


def report_for(ctx: Context, party: str, window: int) -> RiskReport:
    try:
        agreements = _agreements(policies_dir())
    except BundleError as exc:
        raise HTTPException(503, f"the agreements cannot be read: {exc}") from exc
    recipients = {
        recipient
        for agreement in agreements.values()
        if party in agreement["recipients"] or party in agreement["disclosers"]
        for recipient in agreement["recipients"]
    }
    shares = views_shares(ctx.engine, recipients)
    min_ks = {name: agreement.get("min_k") for name, agreement in agreements.items()}
    found = assess(shares, window, min_ks)
    records = ledger_decisions(ctx.ledger, recipients) if ctx.ledger is not None else None
    streams = []
    for stream_risk in found.streams:
        own = stream_risk.stream.recipient == party
        if not own and party not in stream_risk.by_source:
            continue
        decided = None
        if records is not None and stream_risk.min_k is not None:
            chosen = (r for r in records if own or r.source_authority == party)
            pair = (stream_risk.stream.recipient, stream_risk.stream.agreement_id)
            decided = count_decisions(chosen).get(pair, Decisions())
        streams.append(_stream(stream_risk, party, own=own, decided=decided))
    return RiskReport(
        party=party,
        window_days=window,
        report_k=REPORT_K,
        source="views database (view_shares); the public stream is not in it",
        streams=streams,
    )


def _stream(found: StreamRisk, party: str, *, own: bool, decided: Decisions | None) -> StreamReport:
    counts = found.counts if own else found.by_source[party]
    window = None
    if found.window_start is not None and found.window_end is not None:
        window = Window(
            days=found.window_days,
            start=found.window_start.isoformat().replace("+00:00", "Z"),
            end=found.window_end.isoformat().replace("+00:00", "Z"),
        )
    return StreamReport(
        recipient=found.stream.recipient,
        agreement_id=found.stream.agreement_id,
        record_type=found.stream.record_type,
        min_k=found.min_k,
        window=window,
        seen_as="recipient" if own else "discloser",
        records=counts.records,
        below_report_k=counts.below_report_k,
        below_min_k=counts.below_min_k if found.min_k is not None else None,
        ok=not found.failing,
        k=dict(found.k_bands) if own else None,
        classes=found.classes if own else None,
        smallest_k=found.smallest_k if own else None,
        decisions=None
        if decided is None
        else DecisionCounts(
            released=decided.released, held_back=decided.held, withheld=decided.withheld
        ),
    )


def _agreements(folder: Path) -> dict[str, dict[str, Any]]:
    """The agreements in force, read again only when a file in the folder changes."""
    stamp = tuple(
        (path.name, path.stat().st_mtime_ns)
        for path in sorted([*folder.glob("agreements/*"), folder / "parties.yaml"])
        if path.is_file()
    )
    return _load(folder, stamp)


@functools.lru_cache(maxsize=4)
def _load(folder: Path, stamp: tuple[tuple[str, int], ...]) -> dict[str, dict[str, Any]]:
    del stamp  # only part of the cache key
    return load_agreements(folder / "agreements", load_parties(folder / "parties.yaml"))
