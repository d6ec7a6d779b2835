"""A partner's witness of the audit log: ``svdhub audit witness``.

Threat model. The hub's operator runs the ledger and holds its audit key, so
on their own they can rewrite history and re-sign every checkpoint: delete or
change a decision, renumber the rows, or cut the newest rows off, and
``audit verify`` on that database alone would pass. A witness is run by a
partner authority, on its own machine, with its own Ed25519 key. Each run:

1. fetches the log's newest checkpoint (a C2SP signed note) and checks the
   log's signature with the verifier key the partner pinned;
2. compares it with the last checkpoint it co-signed (kept in its state
   folder): a smaller tree, another root at the same size, or a tree that a
   RFC 6962 consistency proof does not show to extend the old one, is
   refused, loudly (a non-zero exit), and the evidence is kept: both
   checkpoints and the proof;
3. otherwise co-signs it with a C2SP tlog-cosignature (Ed25519 v1,
   timestamped), keeps it as its new state, and hands the cosignature to
   the log, which attaches it to its checkpoint.

What this adds: once a quorum of witnesses has co-signed a tree, the operator
cannot remove or change any decision in it without every later run of those
witnesses refusing, and ``audit verify --witness ... --quorum N`` fails for a
ledger whose checkpoints the witnesses did not co-sign. What it does not: a
witness vouches for append-only growth, not for what the records say, and
a log that shows a witness a tree and hides it from others is caught only by
comparing witnesses' states (each keeps its latest note).

The log is reached through the ledger's database (``--log`` a SQLAlchemy URL,
for a witness run beside the hub, as the demo does) or the API
(``--log https://...``, checkpoints and consistency proofs over HTTP).
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, insert, select

from hub.audit import merkle, proofs
from hub.audit.ledger import checkpoints as checkpoints_table
from hub.audit.ledger import cosignatures, load_checkpoints
from hub.audit.note import (
    CheckpointBody,
    Note,
    NoteError,
    Signature,
    Verifier,
    cosign,
    cosigner_key,
    raw_public_key,
)
from wire.private_files import private_dir, write_private

log = logging.getLogger(__name__)

#: Exit codes of ``audit witness``.
EXIT_REFUSED = 3  # the log is not append-only: evidence kept
EXIT_UNAVAILABLE = 1  # the log could not be read or its signature does not verify


class WitnessError(Exception):
    """The witness could not do its work (unreachable log, bad signature, bad state)."""


class Refused(Exception):
    """The log's newest checkpoint is not an append-only extension of the last one
    co-signed; ``evidence`` is the folder that keeps what shows it."""

    def __init__(self, reason: str, evidence: Path) -> None:
        super().__init__(f"{reason} (evidence kept in {evidence})")
        self.reason = reason
        self.evidence = evidence


class Log(Protocol):
    """Where a witness reads the log, and hands its cosignatures."""

    def latest(self) -> str: ...

    def consistency(self, old_size: int, new_size: int) -> list[bytes]: ...

    def submit(self, tree_size: int, line: str, note: str) -> None:
        """Hand over the cosignature ``line`` of the checkpoint of ``tree_size``
        records; ``note`` is that checkpoint's note with the line in it."""
        ...


class DatabaseLog:
    """The ledger's own database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def latest(self) -> str:
        found = [c for c in load_checkpoints(self.engine) if c.origin is not None]
        if not found:
            raise WitnessError("the log has issued no checkpoint in the note format yet")
        return found[-1].to_note()

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        try:
            return proofs.consistency(self.engine, old_size, new_size)
        except proofs.ProofError as exc:
            raise WitnessError(str(exc)) from exc

    def submit(self, tree_size: int, line: str, note: str) -> None:
        with self.engine.begin() as conn:
            known = conn.execute(
                select(checkpoints_table.c.tree_size).where(
                    checkpoints_table.c.tree_size == tree_size
                )
            ).first()
            if known is None:
                raise WitnessError(f"the log has no checkpoint of size {tree_size}")
            conn.execute(
                insert(cosignatures).values(
                    tree_size=tree_size, line=line, received_at=_now().isoformat()
                )
            )


class HttpLog:
    """The log through the API: ``GET /audit/checkpoint`` (a signed note),
    ``GET /audit/proof/consistency?from=&to=`` (JSON with base64 hashes) and
    ``POST /audit/cosignature`` (the co-signed note, as text)."""

    def __init__(self, base: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, path: str, data: bytes | None = None) -> bytes:
        request = urllib.request.Request(self.base + path, data=data)  # noqa: S310 - configured
        request.add_header("Accept", "text/plain, application/json")
        if data is not None:
            request.add_header("Content-Type", "text/plain; charset=utf-8")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        method = "GET" if data is None else "POST"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            reason = self._reason(exc)
            raise WitnessError(f"{method} {self.base}{path}: {exc.code} {reason}") from exc
        except OSError as exc:
            raise WitnessError(f"{method} {self.base}{path}: {exc}") from exc

    def latest(self) -> str:
        return self._request("/audit/checkpoint").decode("utf-8")

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        query = urllib.parse.urlencode({"from": old_size, "to": new_size})
        data = json.loads(self._request(f"/audit/proof/consistency?{query}"))
        return [base64.b64decode(h) for h in data["proof"]]

    def submit(self, tree_size: int, line: str, note: str) -> None:
        """POST the co-signed note; WitnessError (with the status and the log's
        reason) if the log does not take it. The witness has kept it already."""
        self._request("/audit/cosignature", note.encode("utf-8"))
        log.info("cosignature of size %d handed to %s", tree_size, self.base)

    @staticmethod
    def _reason(error: urllib.error.HTTPError) -> str:
        """The reason the API gave for an error: its JSON ``detail``, else the text."""
        try:
            text = error.read(4096).decode("utf-8", "replace")
        except OSError:
            text = ""
        try:
            detail = json.loads(text).get("detail")
        except (ValueError, AttributeError):
            detail = None
        return str(detail) if detail else (text.strip()[:300] or str(error.reason))


@dataclass(frozen=True)
class Witnessed:
    """One run's outcome: the size and root co-signed, and the cosignature line."""

    tree_size: int
    root: bytes
    line: str
    grown_from: int | None  # the size co-signed before; None on the first run


class Witness:
    """A witness with its key, its name and its state folder."""

    def __init__(
        self,
        name: str,
        key: Ed25519PrivateKey,
        state: Path,
        log_verifier: Verifier,
    ) -> None:
        self.name = name
        self.key = key
        self.state = state
        self.verifier = log_verifier
        private_dir(state)

    @property
    def public_key(self) -> str:
        """The witness's key as logs and verifiers configure it (a C2SP vkey)."""
        return cosigner_key(self.name, raw_public_key(self.key.public_key()))

    @property
    def latest_file(self) -> Path:
        return self.state / "latest.note"

    def run(self, source: Log) -> Witnessed:
        """Check the log's newest checkpoint against the last one co-signed, then
        co-sign it; raise Refused (evidence kept) or WitnessError."""
        text = source.latest()
        new, new_body = self._open(text)
        old_text = self.latest_file.read_text("utf-8") if self.latest_file.is_file() else None
        grown_from = None
        if old_text is not None:
            _, old_body = self._open(old_text)
            grown_from = old_body.size
            if new_body.size < old_body.size:
                raise self._refuse(
                    f"the log shrank: it shows {new_body.size} records, after {old_body.size} "
                    "were co-signed (rows were removed)",
                    old_text,
                    text,
                )
            if new_body.size == old_body.size:
                if new_body.root != old_body.root:
                    raise self._refuse(
                        f"a fork: two different roots at size {new_body.size}", old_text, text
                    )
            elif old_body.size > 0:
                proof = source.consistency(old_body.size, new_body.size)
                if not merkle.verify_consistency(
                    old_body.size, new_body.size, old_body.root, new_body.root, proof
                ):
                    raise self._refuse(
                        f"the tree of {new_body.size} records does not extend the one of "
                        f"{old_body.size} co-signed before (a record was changed or removed)",
                        old_text,
                        text,
                        proof,
                    )
        line = cosign(new.text, self.name, self.key, int(time.time()))
        cosigned = new.with_signature(line)
        write_private(self.latest_file, str(cosigned))
        source.submit(new_body.size, line.line(), str(cosigned))
        return Witnessed(new_body.size, new_body.root, line.line(), grown_from)

    def _open(self, text: str) -> tuple[Note, CheckpointBody]:
        try:
            note = Note.parse(text)
            body = CheckpointBody.parse(note.text)
        except NoteError as exc:
            raise WitnessError(f"not a checkpoint note: {exc}") from exc
        if body.origin != self.verifier.name:
            raise WitnessError(f"a checkpoint of {body.origin!r}, not of {self.verifier.name!r}")
        if not note.signed_by(self.verifier):
            raise WitnessError(
                f"the checkpoint of size {body.size} is not signed by the pinned key "
                f"{self.verifier}"
            )
        return note, body

    def _refuse(self, reason: str, old: str, new: str, proof: list[bytes] | None = None) -> Refused:
        stamp = _now().strftime("%Y%m%dT%H%M%SZ")
        folder = self.state / "evidence" / f"{stamp}-{time.monotonic_ns() % 10**9:09d}"
        private_dir(folder)
        write_private(folder / "cosigned.note", old)
        write_private(folder / "offered.note", new)
        if proof is not None:
            lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
            write_private(folder / "consistency.proof", lines)
        write_private(folder / "reason.txt", reason + "\n")
        log.error("REFUSED: %s; evidence in %s", reason, folder)
        return Refused(reason, folder)


def signature_lines(lines: list[str]) -> list[Signature]:
    """The signatures in stored cosignature lines (each ``— name base64``)."""
    parsed = Note.parse("x\n\n" + "".join(lines))
    return list(parsed.signatures)


def _now() -> datetime:
    return datetime.now(UTC)
