"""Audit ledger benchmarks (SQLite, the default), each beside a same-run baseline.

* Append: decision records through ``Ledger.apply`` in batches of 1,000 (one
  transaction each: duplicate check, Merkle leaves, offsets, a signed
  checkpoint every 1,000 rows), beside plain SQL inserts of the very same rows
  into a table of the same shape.
* Verify: ``verify`` over a ledger of N and of 10 x N rows. It reads every row
  once, so the rate (rows/s) should stay the same: a ratio near 1.0 is linear.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from sqlalchemy import MetaData, insert

from hub.audit.ledger import INDEXED, Ledger, entries
from hub.audit.verify import verify
from hub.database import open_engine
from hub.sink import Message
from tests.bench.harness import Result
from tests.fixtures.records import HUB_KEYS, hub_message
from wire.audit import AuditRecord, Reason
from wire.signing import generate_signer

BATCH = 1000
SIGNER = generate_signer("hub-audit-bench", "hub")


def record(n: int) -> AuditRecord:
    allowed = n % 3 != 0
    return AuditRecord(
        decision_id=str(uuid.UUID(int=n, version=4)),
        decided_at=f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00Z",
        decision="allow" if allowed else "deny",
        reasons=()
        if allowed
        else (Reason("outside_recipient_area", "event is outside csp-coventry's area"),),
        event_id=str(uuid.UUID(int=n // 3, version=4)),
        event_type="INCIDENT",
        record_type="Incident",
        source_authority="wmp",
        source_topic="svd.raw.wmp.incident",
        source_partition=n % 3,
        source_offset=n,
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
        subject_pseudonym=f"{n // 3:064x}",
    )


def batches(count: int) -> list[list[Message]]:
    values = [record(n).to_bytes() for n in range(count)]
    return [
        [
            hub_message("svd.audit.decisions", n, values[n])
            for n in range(start, min(start + BATCH, count))
        ]
        for start in range(0, count, BATCH)
    ]


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


def plain_inserts(folder: Path, count: int) -> float:
    """Rows/s inserting the same rows into the same table (columns and indexes) in
    the same batches, with no duplicate check, tree, offsets or checkpoints."""
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
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        with engine.begin() as conn:
            conn.execute(insert(table), rows[start : start + BATCH])
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


def run(folder: Path, small: int) -> list[Result]:
    large = small * 10
    ours, small_path = append(folder, small)
    baseline = plain_inserts(folder, small)
    big_rate, big_path = append(folder, large)
    small_verify, small_seconds = verify_rate(small_path)
    large_verify, large_seconds = verify_rate(big_path)
    return [
        Result(
            "audit",
            f"ledger append, {small:,} rows (checkpoint every {BATCH:,})",
            ours,
            "plain SQL inserts of the same rows",
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
