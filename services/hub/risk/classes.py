"""Equivalence classes of record-level shares, and k over a trailing window.

A recipient holds records; each record's **class** is the set of records in
the same stream whose quasi-identifiers it cannot be told apart from. Here:

* a **stream** is one recipient's records of one record type under one
  agreement (:class:`Stream`): an agreement decides which fields travel, so
  records under two agreements differ in shape and are measured apart;
* the **quasi-identifiers** of a record type are its payload fields
  classified ``quasi_identifier`` in the wire schemas (``schemas/wire/avro``:
  for an Incident ``assault_datetime``, ``arrival_datetime``,
  ``location_type``, ``victim_age_band``, ``victim_sex``, the suspect's age
  band and sex, and ``geo``); a record's **class key** is the canonical JSON
  of the ones its share carries, exactly as the recipient received them
  (:func:`class_key`). Two records are in one class when their keys are equal,
  so a record the enforcer generalised to MSOA is never in a class with one
  released at LSOA, however they nest;
* the records a recipient **holds** are its current versions
  (:func:`holdings`): a correction (``supersedes``) replaces the version it
  names, a retraction withdraws the event it names, and a share delivered
  twice counts once;
* k of a record is the size of its class among the records of its stream
  **in the window** (:func:`measure`): those whose released event time
  (:data:`EVENT_TIME`, as the share carries it, so already truncated) is no
  more than ``window_days`` before the stream's latest. The event time is
  itself a quasi-identifier, so all the records of a class carry the same
  value and a class is always wholly inside the window or wholly outside it.
  A stream that does not release its event time has no window: all its
  records count.

The enforcer uses :func:`class_key` for the records it releases under an
agreement's ``min_k`` (``hub.enforcer.kanonymity``), so the classes it counts
are the ones this module measures.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hub.bundle import classifications
from wire.canonical import canonical_json, parse_time
from wire.shares import Share

QUASI_IDENTIFIER = "quasi_identifier"

#: The payload field each record type's window is measured on.
EVENT_TIME = {
    "Incident": "assault_datetime",
    "Referral": "referral_datetime",
    "Outcome": "outcome_date",
}

#: The k below which the report counts a record as at risk, whatever the
#: agreement says (the threshold of the finding the report answers).
REPORT_K = 5

#: The bands k is reported in: (label, lowest, highest or None).
K_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("1", 1, 1),
    ("2-4", 2, 4),
    ("5-9", 5, 9),
    ("10+", 10, None),
)

#: The default trailing window, in days.
WINDOW_DAYS = 28

#: The denial code of a record withheld because its class never reached the
#: agreement's min_k (audited by the enforcer).
K_ANONYMITY = "k_anonymity"
#: The code of the audit record that says a record is held back until its
#: class reaches min_k (a denial for now; its real decision follows).
K_ANONYMITY_HELD = "k_anonymity_held"


@functools.cache
def quasi_identifiers(record_type: str) -> frozenset[str]:
    """The payload fields of ``record_type`` classified ``quasi_identifier``."""
    return frozenset(
        name
        for name, classification in classifications().get(record_type, {}).items()
        if classification == QUASI_IDENTIFIER
    )


def class_key(record_type: str, fields: Mapping[str, Any]) -> str:
    """The class key of a record: the canonical JSON of the quasi-identifiers it
    releases, with their values as a share carries them (JSON: times as text)."""
    qi = quasi_identifiers(record_type)
    return canonical_json({name: value for name, value in fields.items() if name in qi}).decode()


def event_time(record_type: str, fields: Mapping[str, Any]) -> datetime | None:
    """The record's released event time (start of day, UTC, for a date), or None
    when the stream does not release it or it is null."""
    value = fields.get(EVENT_TIME.get(record_type, ""))
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        pass
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True, order=True)
class Stream:
    """One recipient's records of one record type under one agreement."""

    recipient: str
    agreement_id: str
    record_type: str

    def __str__(self) -> str:
        return f"{self.recipient}/{self.agreement_id}/{self.record_type}"


@dataclass(frozen=True)
class Record:
    """One record a recipient holds: its (recipient-scoped) event id, who
    disclosed it, its class key and its released event time."""

    event_id: str
    source_authority: str
    key: str
    time: datetime | None


def holdings(shares: Iterable[Share]) -> dict[Stream, list[Record]]:
    """The records each recipient holds, per stream: every share but retractions,
    less the versions a later share supersedes and the events a retraction
    withdraws; a share seen twice (same share id) counts once. Order does not
    matter: a correction read before the version it replaces still replaces it."""
    seen: set[str] = set()
    withdrawn: dict[str, set[str]] = defaultdict(set)  # recipient -> event ids
    kept: list[Share] = []
    for share in shares:
        if share.share_id in seen:
            continue
        seen.add(share.share_id)
        if share.supersedes is not None:
            withdrawn[share.recipient].add(share.supersedes)
        if share.record_type == "Retraction":
            target = share.fields.get("retracted_event_id")
            if isinstance(target, str):
                withdrawn[share.recipient].add(target)
            continue
        kept.append(share)
    out: dict[Stream, list[Record]] = defaultdict(list)
    for share in kept:
        if share.event_id in withdrawn[share.recipient]:
            continue
        stream = Stream(share.recipient, share.agreement_id, share.record_type)
        out[stream].append(
            Record(
                share.event_id,
                share.source_authority,
                class_key(share.record_type, share.fields),
                event_time(share.record_type, share.fields),
            )
        )
    return dict(out)


@dataclass
class Counts:
    """Records, and how many of them have k below :data:`REPORT_K` and below min_k."""

    records: int = 0
    below_report_k: int = 0
    below_min_k: int = 0

    def add(self, k: int, min_k: int | None) -> None:
        self.records += 1
        self.below_report_k += k < REPORT_K
        self.below_min_k += min_k is not None and k < min_k

    @property
    def share_below_report_k(self) -> float | None:
        return self.below_report_k / self.records if self.records else None


@dataclass
class StreamRisk:
    """k over the window of one stream."""

    stream: Stream
    min_k: int | None
    window_days: int
    window_start: datetime | None  # None: the stream releases no event time
    window_end: datetime | None
    classes: int = 0
    counts: Counts = field(default_factory=Counts)
    k_bands: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_labels(), 0))
    by_source: dict[str, Counts] = field(default_factory=dict)
    smallest_k: int | None = None

    @property
    def failing(self) -> bool:
        """Some record has k below the agreement's min_k."""
        return self.counts.below_min_k > 0


def _labels() -> list[str]:
    return [label for label, _, _ in K_BANDS]


def band(k: int) -> str:
    """The label of the band ``k`` is in."""
    for label, low, high in K_BANDS:
        if k >= low and (high is None or k <= high):
            return label
    raise ValueError(f"k must be at least 1, got {k}")


def measure(
    stream: Stream, records: Iterable[Record], window_days: int, min_k: int | None
) -> StreamRisk:
    """k of every record of ``stream`` in its window (see the module docstring)."""
    kept = list(records)
    times = [r.time for r in kept if r.time is not None]
    end = max(times) if times else None
    start = end - timedelta(days=window_days) if end is not None else None
    if start is not None:
        kept = [r for r in kept if r.time is None or r.time >= start]
    sizes = Counter(r.key for r in kept)
    risk = StreamRisk(stream, min_k, window_days, start, end, classes=len(sizes))
    for record in kept:
        k = sizes[record.key]
        risk.counts.add(k, min_k)
        risk.by_source.setdefault(record.source_authority, Counts()).add(k, min_k)
        risk.k_bands[band(k)] += 1
        risk.smallest_k = k if risk.smallest_k is None else min(risk.smallest_k, k)
    return risk
