"""The audit ledger over HTTP, under ``/api/v1/audit``: checkpoints, proofs, and
the cosignatures partners' witnesses hand over.

* ``GET /audit/checkpoint`` and ``GET /audit/checkpoint/{size}``: a signed
  checkpoint as a C2SP note, with the cosignature lines witnesses handed over
  for it (what ``svdhub audit checkpoint`` prints); ``format=json`` gives the
  JSON form. No token is needed: a checkpoint holds a size, a root hash and a
  time, nothing about anyone, and partners' tools must be able to fetch it.
* ``GET /audit/proof/consistency?from=N&to=M``: an RFC 6962 consistency proof
  (JSON as ``svdhub audit consistency --format json``, or ``format=lines``).
  Any token (a recipient's or an IG lead's) is enough: it names two sizes
  and hashes of whole subtrees, nothing about one decision.
* ``GET /audit/proof/inclusion?decision_id=...`` (or ``share_id=...``, and an
  optional ``size``): the inclusion proof of one decision, record and all, as
  ``svdhub audit prove`` prints it. Only an IG lead's token reads it, and only
  for decisions its party disclosed or received; any other decision is
  answered exactly as one that does not exist. Analysts' tokens are refused:
  an audit record carries the hub's internal event id and subject pseudonym,
  and its position sits next to the decisions for the same event's other
  recipients, so two recipients comparing proofs could link their streams,
  which the recipient-scoped ids exist to prevent.
* ``POST /audit/cosignature``: a witness's cosigned checkpoint note; see
  :func:`cosignature`.

Every path answers 404 when the API was started without a ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine, func, insert, select
from starlette.concurrency import run_in_threadpool

from hub.audit import proofs
from hub.audit.checkpoints import Checkpoint
from hub.audit.ledger import checkpoints, cosignatures, entries
from hub.audit.note import (
    COSIGNATURE_V1,
    CheckpointBody,
    Note,
    NoteError,
    Signature,
    cosigned_at,
    key_id,
    parse_cosigner_key,
)
from hub.audit.reports import SHARED_ID, Filters, query
from hub.audit.verify import prove
from hub.views.api import context, ig_lead_of, party_of
from wire.audit import AuditRecordError

log = logging.getLogger(__name__)

#: The largest cosigned note ``POST /audit/cosignature`` reads.
MAX_COSIGNATURE_BYTES = 64 * 1024
#: The largest tree size a path or query may name (SQL's BIGINT).
MAX_SIZE = 2**63 - 1
#: The one answer to an inclusion proof a token may not have: the same whether
#: the decision does not exist or is about another party, so it tells nothing.
NO_DECISION = "no such decision among those this token's party disclosed or received"
NO_SHARE = "no such share among those this token's party disclosed or received"
NOT_CONFIGURED = "no audit ledger configured"
TEXT = "text/plain; charset=utf-8"

#: A witness key as the API is configured with it: (name, Ed25519 public key).
WitnessKey = tuple[str, bytes]

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


def parse_witnesses(keys: Iterable[str]) -> tuple[WitnessKey, ...]:
    """The witness keys (vkeys, as ``svdhub audit witness-key`` prints them);
    NoteError for one that is malformed."""
    return tuple(parse_cosigner_key(text) for text in keys if text.strip())


def ledger_of(request: Request) -> Engine:
    """The ledger's engine, else 404."""
    found = context(request).ledger
    if found is None:
        raise HTTPException(404, NOT_CONFIGURED)
    return found


Ledger = Annotated[Engine, Depends(ledger_of)]
PartyId = Annotated[str, Depends(party_of)]
IgLead = Annotated[str, Depends(ig_lead_of)]
CheckpointFormat = Annotated[
    Literal["note", "json"], Query(alias="format", description="note (C2SP) or json")
]


# ---------------------------------------------------------------------- reading


def stored_checkpoint(engine: Engine, size: int | None, *, note: bool) -> Checkpoint | None:
    """The checkpoint of ``size`` rows (else the latest); with ``note``, only one in
    the note format."""
    statement = select(checkpoints).order_by(checkpoints.c.tree_size.desc()).limit(1)
    if size is not None:
        if not 0 <= size <= MAX_SIZE:
            return None
        statement = statement.where(checkpoints.c.tree_size == size)
    if note:
        statement = statement.where(checkpoints.c.origin.is_not(None))
    with engine.connect() as conn:
        row = conn.execute(statement).mappings().first()
    return None if row is None else Checkpoint.from_dict(dict(row), "audit_checkpoints")


def cosignature_lines(engine: Engine, size: int) -> list[str]:
    """The cosignature lines stored for the checkpoint of ``size`` rows, in order."""
    with engine.connect() as conn:
        found = conn.execute(
            select(cosignatures.c.line)
            .where(cosignatures.c.tree_size == size)
            .order_by(cosignatures.c.id)
        )
        return [str(line) for (line,) in found]


def ledger_rows(engine: Engine) -> int:
    """How many rows the ledger holds (one past the largest position)."""
    with engine.connect() as conn:
        largest = conn.execute(select(func.max(entries.c.seq))).scalar()
    return 0 if largest is None else int(largest) + 1


def checkpoint_response(engine: Engine, size: int | None, fmt: str) -> Response:
    if fmt == "json":
        found = stored_checkpoint(engine, size, note=False)
        if found is None:
            raise HTTPException(404, "no such checkpoint")
        return Response(found.to_json(), media_type="application/json")
    found = stored_checkpoint(engine, size, note=True)
    if found is None:
        legacy = size is not None and stored_checkpoint(engine, size, note=False) is not None
        raise HTTPException(
            404,
            f"the checkpoint of size {size} predates the note format; ask for format=json"
            if legacy
            else "no such checkpoint in the note format",
        )
    text = found.to_note() + "".join(cosignature_lines(engine, found.tree_size))
    return PlainTextResponse(text, media_type=TEXT)


@router.get("/checkpoint", response_class=PlainTextResponse)
def latest_checkpoint(engine: Ledger, fmt: CheckpointFormat = "note") -> Response:
    """The newest checkpoint, as a C2SP signed note followed by the cosignatures
    partners' witnesses handed over for it. No token needed: checkpoints are public."""
    return checkpoint_response(engine, None, fmt)


@router.get("/checkpoint/{size}", response_class=PlainTextResponse)
def checkpoint_of_size(engine: Ledger, size: int, fmt: CheckpointFormat = "note") -> Response:
    """The checkpoint of exactly ``size`` rows (one a partner holds), in the same
    form. No token needed."""
    return checkpoint_response(engine, size, fmt)


@router.get("/proof/consistency")
def consistency_proof(
    party: PartyId,
    engine: Ledger,
    start: Annotated[int, Query(alias="from", description="the older tree size")],
    end: Annotated[int, Query(alias="to", description="the newer tree size")],
    fmt: Annotated[
        Literal["json", "lines"],
        Query(alias="format", description="json, or lines (base64 hashes, one a line)"),
    ] = "json",
) -> Response:
    """An RFC 6962 proof that the tree of ``from`` rows is a prefix of the tree
    of ``to`` rows. Needs a token."""
    if not 0 < start <= end:
        raise HTTPException(400, f"the sizes must satisfy 0 < from <= to (from {start}, to {end})")
    if end > ledger_rows(engine):
        raise HTTPException(404, f"the ledger holds fewer than {end} rows")
    try:
        proof = proofs.consistency(engine, start, end)
    except proofs.ProofError as exc:
        raise HTTPException(404, str(exc)) from exc
    if fmt == "lines":
        return PlainTextResponse(proofs.to_lines(proof), media_type=TEXT)
    return JSONResponse(proofs.to_json(start, end, proof))


@router.get("/proof/inclusion")
def inclusion_proof(
    party: IgLead,
    engine: Ledger,
    decision_id: Annotated[str | None, Query(max_length=128)] = None,
    share_id: Annotated[
        str | None, Query(max_length=128, description="the share id a recipient received")
    ] = None,
    size: Annotated[
        int | None, Query(description="the checkpoint to prove against (default: the latest)")
    ] = None,
) -> dict[str, Any]:
    """The inclusion proof of one decision (its audit record, position and audit
    path) against a checkpoint. Needs an IG lead's token, and answers only for a
    decision that lead's party disclosed or received; any other is answered as
    one that does not exist. Analysts' tokens get 401: see the module's notes."""
    if (decision_id is None) == (share_id is None):
        raise HTTPException(400, "give either decision_id or share_id")
    if share_id is not None:
        chosen = decision_of_share(engine, party, share_id)
        if chosen is None:
            raise HTTPException(404, NO_SHARE)
    elif decision_id is not None and party in parties_of_decision(engine, decision_id):
        chosen = decision_id
    else:
        raise HTTPException(404, NO_DECISION)
    # The decision is the party's own from here: what fails may be said.
    try:
        return prove(engine, chosen, size)
    except proofs.ProofError as exc:
        raise HTTPException(404, str(exc)) from exc


def parties_of_decision(engine: Engine, decision_id: str) -> set[str]:
    """The recipient and the disclosing authority of a decision (none if unknown)."""
    with engine.connect() as conn:
        found = conn.execute(
            select(entries.c.recipient, entries.c.source_authority).where(
                entries.c.decision_id == decision_id
            )
        ).first()
    return set() if found is None else {str(value) for value in found if value is not None}


def decision_of_share(engine: Engine, party: str, share_id: str) -> str | None:
    """The decision that sent the share ``share_id``, if ``party`` disclosed or
    received it."""
    if not SHARED_ID.fullmatch(share_id):
        raise HTTPException(400, "share_id is not an id a share carries")
    try:
        found = query(engine, Filters(shared_id=share_id))
    except AuditRecordError as exc:
        raise HTTPException(
            500, "a ledger row is not a valid audit record; the ledger needs `audit verify`"
        ) from exc
    for record in found:
        ids = record.shared_ids
        if party in {record.recipient, record.source_authority} and (
            ids is not None and ids.share_id == share_id
        ):
            return record.decision_id
    return None


# ---------------------------------------------------------------------- witnesses


@router.post("/cosignature")
async def cosignature(request: Request, engine: Ledger) -> JSONResponse:
    """Take a witness's cosignature: the body (``text/plain``, at most 64 KiB) is
    the checkpoint note the witness co-signed, with its cosignature line(s).

    No token is needed: a cosignature is authenticated by its own signature. It
    is kept only if the note's text is, byte for byte, a checkpoint this log
    issued, and a signature line in it is a valid C2SP cosignature
    (tlog-cosignature/v1, Ed25519) by a witness the API was configured with
    (``--witness``). Each witness's cosignature of a checkpoint is kept once:
    a repeat, or a later cosignature by the same witness of the same
    checkpoint, changes nothing. 400 malformed, 403 no witnesses configured
    or no valid cosignature by one, 404 not a checkpoint of this log, 409 a
    different checkpoint of that size, 413 too large."""
    witnesses: tuple[WitnessKey, ...] = context(request).witnesses
    if not witnesses:
        raise HTTPException(403, "this log accepts no cosignatures: no witness keys configured")
    body = await read_capped(request, MAX_COSIGNATURE_BYTES)
    try:
        text = body.decode("utf-8")
        note = Note.parse(text)
        checkpoint = CheckpointBody.parse(note.text)
    except (UnicodeDecodeError, NoteError) as exc:
        raise HTTPException(400, f"not a cosigned checkpoint note: {exc}") from exc
    valid = accepted_lines(note, witnesses)
    stored, held = await run_in_threadpool(
        keep, engine, note.text, checkpoint.size, valid, witnesses
    )
    return JSONResponse({"tree_size": checkpoint.size, "stored": stored, "already_held": held})


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, or 413 once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"a cosigned note is at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"a cosigned note is at most {limit} bytes")
    return bytes(body)


def accepted_lines(note: Note, witnesses: tuple[WitnessKey, ...]) -> list[Signature]:
    """The valid cosignatures in ``note`` by configured witnesses, one per witness
    key; 403 (with the reason) when there is none."""
    valid: dict[tuple[str, bytes], Signature] = {}
    problems: list[str] = []
    for signature in note.signatures:
        known = [
            (name, key)
            for name, key in witnesses
            if name == signature.name and key_id(name, COSIGNATURE_V1, key) == signature.key_id
        ]
        if not known:
            if any(name == signature.name for name, _ in witnesses):
                problems.append(f"{signature.name}: not signed with the key configured for it")
            continue  # the log's own signature, or someone this log does not know
        name, key = known[0]
        if cosigned_at(Note(note.text, (signature,)), name, key) is None:
            problems.append(f"{name}: the cosignature does not verify")
        else:
            valid.setdefault((name, signature.key_id), signature)
    if not valid:
        reason = "; ".join(problems) or "no line is signed by a witness this log accepts"
        raise HTTPException(403, f"no valid cosignature by a configured witness: {reason}")
    return list(valid.values())


def keep(
    engine: Engine,
    text: str,
    size: int,
    valid: list[Signature],
    witnesses: tuple[WitnessKey, ...],
) -> tuple[list[str], list[str]]:
    """Store each witness's cosignature of the checkpoint ``text`` of ``size`` rows,
    unless a valid one by that witness key is held already; return the witnesses
    stored and those already held."""
    stored_at = stored_checkpoint(engine, size, note=True) if size <= MAX_SIZE else None
    if stored_at is None:
        raise HTTPException(404, f"this log has issued no checkpoint of size {size}")
    if stored_at.body().text() != text:
        # A valid cosignature by a configured witness of another checkpoint of this
        # size: the witness was shown another tree (or another log's). Worth a look.
        log.warning(
            "a witness's cosignature of another checkpoint of size %d was refused: %r",
            size,
            text[:300],
        )
        raise HTTPException(
            409, f"the note is not this log's checkpoint of size {size} (another root or text)"
        )
    stored: list[str] = []
    held: list[str] = []
    with engine.begin() as conn:
        lines = [
            str(line)
            for (line,) in conn.execute(
                select(cosignatures.c.line).where(cosignatures.c.tree_size == size)
            )
        ]
        present = {(s.name, s.key_id) for s in _signatures(lines) if valid_by(text, s, witnesses)}
        for signature in valid:
            if (signature.name, signature.key_id) in present:
                held.append(signature.name)
                continue
            conn.execute(
                insert(cosignatures).values(
                    tree_size=size, line=signature.line(), received_at=_now()
                )
            )
            stored.append(signature.name)
    return stored, held


def valid_by(text: str, signature: Signature, witnesses: tuple[WitnessKey, ...]) -> bool:
    """Whether ``signature`` is a valid cosignature of ``text`` by one of ``witnesses``."""
    return any(
        name == signature.name
        and key_id(name, COSIGNATURE_V1, key) == signature.key_id
        and cosigned_at(Note(text, (signature,)), name, key) is not None
        for name, key in witnesses
    )


def _signatures(lines: list[str]) -> list[Signature]:
    found: list[Signature] = []
    for line in lines:
        try:
            found.extend(Note.parse("x\n\n" + line).signatures)
        except NoteError:
            continue  # an unreadable stored line is nobody's
    return found


def _now() -> str:
    return datetime.now(UTC).isoformat()
