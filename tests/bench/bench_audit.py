"""Audit ledger benchmarks (SQLite, the default), each beside a same-run baseline.

* Append: decision records through ``Ledger.apply``, as the enforcer writes
  them (one hub-signed batch of an event's three decisions per message), in
  polls of 999 rows (one transaction each: signature check, duplicate check,
  Merkle leaves, offsets, a signed checkpoint every 1,000 rows), beside plain
  SQL inserts of the very same rows into a table of the same shape.
* Consistency proof: from half the larger ledger to all of it, beside only
  reading its leaf hashes.
* Verify: ``verify`` over a ledger of N and of 10 x N rows. It reads every row
  once, so the rate (rows/s) should stay the same: a ratio near 1.0 is linear.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import MetaData

from hub.audit import proofs
from hub.audit.ledger import INDEXED, Ledger, entries
from hub.audit.note import Verifier
from hub.audit.verify import verify
from hub.audit.witness import DatabaseLog, Witness
from hub.database import open_engine
from hub.sink import Message, insert_rows
from tests.bench.harness import Result
from tests.bench.harness import rate as harness_rate
from tests.fixtures.records import HUB_KEYS, hub_message
from wire.audit import AuditRecord, Reason, SharedIds, batch_bytes
from wire.signing import generate_signer

BATCH = 1000
SIGNER = generate_signer("hub-audit-bench", "hub")

#: Decisions per raw event in the benchmark: three recipients (record()).
#: The enforcer writes one hub-signed AuditBatch per raw event, so the
#: ledger verifies one signature per event, not per decision; the demo's
#: events reach more recipients, so this is the costlier shape.
PER_EVENT = 3


def record(n: int) -> AuditRecord:
    """Decision ``n``: the decisions of one event (``n // PER_EVENT``) share what
    the event and its message say, as the enforcer's do."""
    allowed = n % 3 != 0
    event = n // PER_EVENT
    return AuditRecord(
        decision_id=str(uuid.UUID(int=n, version=4)),
        decided_at=f"2026-11-{1 + event % 28:02d}T{event % 24:02d}:00:00Z",
        decision="allow" if allowed else "deny",
        reasons=()
        if allowed
        else (Reason("outside_recipient_area", "event is outside csp-coventry's area"),),
        event_id=str(uuid.UUID(int=event, version=4)),
        event_type="INCIDENT",
        record_type="Incident",
        source_authority="wmp",
        source_topic="svd.raw.wmp.incident",
        source_partition=event % 3,
        source_offset=event,
        raw_sha256="ab" * 32,
        recipient=("csp-coventry", "vrp", "csp-birmingham")[n % 3],
        agreement_id="wmp-vrp",
        lawful_basis="DPA_PART3",
        purpose="Strategic needs assessment and problem profiles (Serious Violence Duty)",
        policy_revision="sha256:" + "cd" * 32,
        fields_released=("assault_datetime", "geo", "incident_pseudo_id", "offence_group")
        if allowed
        else (),
        shared_topic="svd.shared.vrp.incident" if allowed else None,
        payload_sha256="ef" * 32 if allowed else None,
        shared_ids=SharedIds(
            event_id=str(uuid.UUID(int=n // 3 + 2**64, version=4)),
            share_id=str(uuid.UUID(int=n + 2**64, version=4)),
            supersedes=None,
            retracted_event_id=None,
            message_key=str(uuid.UUID(int=n // 3 + 2**64, version=4)),
        )
        if allowed
        else None,
        subject_pseudonym=f"{event:064x}",
    )


def batches(count: int) -> list[list[Message]]:
    """``count`` decisions as the enforcer writes them (one signed
    :class:`~wire.audit.AuditBatch` per event), in polls of about BATCH rows."""
    values = [
        batch_bytes([record(n).to_bytes() for n in range(start, min(start + PER_EVENT, count))])
        for start in range(0, count, PER_EVENT)
    ]
    messages = [hub_message("svd.audit.decisions", n, value) for n, value in enumerate(values)]
    per_poll = BATCH // PER_EVENT
    return [messages[start : start + per_poll] for start in range(0, len(messages), per_poll)]


def append(folder: Path, count: int) -> tuple[float, Path]:
    """Rows/s through Ledger.apply into a new SQLite ledger; and its path."""
    path = folder / f"ledger-{count}.sqlite"
    ledger = Ledger(
        open_engine(f"sqlite:///{path}"),
        SIGNER,
        every_records=BATCH,
        every_seconds=3600,
        keys=HUB_KEYS,
    )
    work = batches(count)
    started = time.perf_counter()
    for batch in work:
        ledger.apply(batch)
    ledger.checkpoint()
    rate = count / (time.perf_counter() - started)
    ledger.engine.dispose()
    return rate, path


def append_witnessed(folder: Path, count: int) -> tuple[float, list[float]]:
    """Rows/s through Ledger.apply when two partners' witnesses co-sign every
    checkpoint (a consistency proof from their last, then a cosignature stored
    in the ledger), as the demo runs them; and each witness run's seconds."""
    engine = open_engine(f"sqlite:///{folder / f'witnessed-{count}.sqlite'}")
    ledger = Ledger(engine, SIGNER, every_records=BATCH, every_seconds=3600, keys=HUB_KEYS)
    verifier = Verifier(ledger.origin, SIGNER.public_key().raw_bytes())
    witnesses = [
        Witness(
            f"witness.{n}.bench/svdhub", Ed25519PrivateKey.generate(), folder / f"w{n}", verifier
        )
        for n in range(2)
    ]
    log = DatabaseLog(engine)
    runs: list[float] = []
    work = batches(count)
    started = time.perf_counter()
    for batch in work:
        if ledger.apply(batch).checkpoint is None:
            continue
        for witness in witnesses:
            begun = time.perf_counter()
            witness.run(log)
            runs.append(time.perf_counter() - begun)
    rate = count / (time.perf_counter() - started)
    engine.dispose()
    return rate, runs


def sign_and_verify_rate(count: int = 2000) -> float:
    """Ed25519 signatures and verifications of a checkpoint-sized message per second:
    the floor of one witness run's own cryptography."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    message = b"svdhub.local/0123456789abcdef/audit\n1000000\n" + b"A" * 44 + b"\n"

    def work() -> None:
        for _ in range(count):
            public.verify(key.sign(message), message)

    return harness_rate(work, count)


def plain_inserts(folder: Path, count: int) -> float:
    """Rows/s inserting the same rows into the same table (columns and indexes) in
    the same batches, through the same bulk path as the ledger (the driver's
    ``executemany``), with no duplicate check, tree, offsets or checkpoints."""
    engine = open_engine(f"sqlite:///{folder / f'plain-{count}.sqlite'}")
    table = entries.to_metadata(MetaData())
    table.metadata.create_all(engine)
    rows = []
    for n in range(count):
        value = record(n)
        rows.append(
            {
                **{name: getattr(value, name) for name in INDEXED},
                "seq": n,
                "leaf_hash": "00" * 32,
                "record": value.sequenced(n).to_bytes().decode(),
            }
        )
    columns = list(rows[0])
    tuples = [tuple(row[name] for name in columns) for row in rows]
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        with engine.begin() as conn:
            insert_rows(conn, table, columns, tuples[start : start + BATCH])
    rate = count / (time.perf_counter() - started)
    engine.dispose()
    return rate


def verify_rate(path: Path) -> tuple[float, float]:
    engine = open_engine(f"sqlite:///{path}")
    started = time.perf_counter()
    report = verify(engine)
    seconds = time.perf_counter() - started
    engine.dispose()
    if not report.ok:
        raise AssertionError(f"benchmark ledger failed verification: {report.problems[:3]}")
    return report.rows / seconds, seconds


def consistency_seconds(path: Path) -> tuple[float, float, int]:
    """Seconds to build a consistency proof from half the ledger to all of it
    (one streaming pass over the leaf hashes), beside the seconds to only read
    those leaf hashes; and the rows."""
    engine = open_engine(f"sqlite:///{path}")
    rows = proofs.rows(engine)
    started = time.perf_counter()
    read = sum(1 for _ in proofs.leaf_hashes(engine, rows))
    reading = time.perf_counter() - started
    started = time.perf_counter()
    proof = proofs.consistency(engine, rows // 2 + 1, rows)
    proving = time.perf_counter() - started
    engine.dispose()
    if read != rows or not proof:
        raise AssertionError("benchmark ledger gave no consistency proof")
    return proving, reading, rows


def run(folder: Path, small: int) -> list[Result]:
    large = small * 10
    ours, small_path = append(folder, small)
    baseline = plain_inserts(folder, small)
    big_rate, big_path = append(folder, large)
    small_verify, small_seconds = verify_rate(small_path)
    large_verify, large_seconds = verify_rate(big_path)
    witnessed, runs = append_witnessed(folder, small)
    proving, reading, proved_rows = consistency_seconds(big_path)
    median = sorted(runs)[len(runs) // 2] if runs else float("nan")
    return [
        Result(
            "audit",
            f"ledger append, {small:,} rows, two witnesses co-signing every checkpoint",
            witnessed,
            f"ledger append, {small:,} rows, no witness",
            ours,
            "rows/s",
            note="goal: at least 0.5x; the ledger itself is compared with plain inserts below",
        ),
        Result(
            "audit",
            f"witness runs (check, consistency proof, co-sign; median {median * 1000:.1f} ms "
            f"over {len(runs)} runs up to {small:,} rows)",
            1 / median if runs else 0.0,
            "Ed25519 sign + verify of a checkpoint",
            sign_and_verify_rate(),
            "runs/s",
        ),
        Result(
            "audit",
            f"consistency proof over {proved_rows:,} rows ({proving:.2f} s)",
            1 / proving,
            f"reading those rows' leaf hashes alone ({reading:.2f} s)",
            1 / reading,
            "proofs/s",
            note="one streaming pass: a ratio near 1.0 means the hashing costs little",
        ),
        Result(
            "audit",
            f"ledger append, {small:,} rows (checkpoint every {BATCH:,})",
            ours,
            "plain SQL inserts of the same rows (driver executemany)",
            baseline,
            "rows/s",
        ),
        Result(
            "audit",
            f"ledger append, {large:,} rows",
            big_rate,
            f"ledger append, {small:,} rows",
            ours,
            "rows/s",
        ),
        Result(
            "audit",
            f"verify {large:,} rows ({large_seconds:.1f} s)",
            large_verify,
            f"verify {small:,} rows ({small_seconds:.1f} s)",
            small_verify,
            "rows/s",
        ),
    ]
