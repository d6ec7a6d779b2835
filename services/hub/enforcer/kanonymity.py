"""k-anonymity for record-level shares: which level each record is released at,
which wait, and which are withheld.

An agreement may set ``min_k``. Then every record shared under it to a
recipient must be, among the records that recipient holds under that
agreement, one of at least ``min_k`` with the same quasi-identifiers as it
received them (its **class**, ``hub.risk.classes.class_key``). A record on its
own cannot be: the first record of any class would be alone in it. So the
enforcer **holds records back** until they can go out together:

* it works out the record's class key at every level of the generalisation
  hierarchy (``hub.enforcer.hierarchy``), finest first;
* at the finest level where the recipient already holds at least
  ``min_k - 1`` records of that class, the record is released there;
* otherwise, at the finest level where the records already released in that
  class, the records held back that fall in it, and this one make ``min_k``,
  this record and all those held back are released there together (each held
  record at its finest level with that key);
* otherwise the record is held back (audited, code ``k_anonymity_held``);
* a record still held back when the stream's newest event is more than the
  window (28 days by default) after it is **withheld** (a denial with the code
  ``k_anonymity``): its class did not reach ``min_k`` in time, even at the
  coarsest level. A record that arrives already older than the window is
  released only into a class that already has ``min_k - 1`` records.

So every record released joins a class with at least ``min_k`` members when it
is released, which is what ``svdhub risk report`` measures. What can lower a
class afterwards is the discloser: a retraction, or a correction that moves a
record out of its class (a correction that still fits the class of the version
it replaces is released in that class first). The report shows those.

:class:`KAnonymity` holds the state of every stream (recipient, agreement,
record type and the agreement's terms). It is pure bookkeeping: it never
decides anything from OPA and never produces messages; ``hub.enforcer.core``
does, with what it returns. Every change is written to a changelog
(:class:`Changelog`, JSON Lines in the enforcer's state folder) before the
messages it leads to are produced, and read back at start, so the state
survives restarts and a record processed again after a crash (at-least-once)
gets the same outcome as the first time (:meth:`KAnonymity.known`).
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hub.risk.classes import K_ANONYMITY, K_ANONYMITY_HELD, WINDOW_DAYS
from wire.canonical import iso, parse_time
from wire.private_files import private_dir, write_private

log = logging.getLogger(__name__)

#: The final code of a held record whose authority corrected it before it was released.
SUPERSEDED = "superseded"
#: The final code of a held record whose authority retracted it before it was released.
RETRACTED = "retracted"

#: How long after a class's time bucket ends (its hour, part of the day, day or
#: week) records that arrive late may still join it, before the records held in
#: it are tried at the next coarser level.
GRACE = timedelta(hours=6)

#: How long a decision is remembered after its record leaves the window, so that
#: the same record processed again after a crash gets the same outcome (the
#: enforcer commits its offsets every few seconds, so this is ample).
REMEMBER_SECONDS = 3600.0


@dataclass(frozen=True, order=True)
class StreamId:
    """One recipient's records of one record type under one agreement's terms.

    ``terms`` is a digest of the field obligations and min_k: a changed
    agreement starts a stream of its own, since its records' classes are
    shaped differently."""

    recipient: str
    agreement_id: str
    record_type: str
    terms: str

    def to_json(self) -> list[str]:
        return [self.recipient, self.agreement_id, self.record_type, self.terms]

    @classmethod
    def from_json(cls, value: Any) -> StreamId:
        recipient, agreement, record_type, terms = (str(v) for v in value)
        return cls(recipient, agreement, record_type, terms)


@dataclass
class Member:
    """One record of a stream, held back or released.

    ``keys`` is its class key at each level of its hierarchy (index = level),
    and ``closes`` when each of those classes stops growing: the end of the
    level's time bucket (its hour, part of the day, day or week), after which
    only a record arriving late can join it. ``payload`` is what the enforcer
    needs to release or withhold it later, as JSON (kept in the changelog);
    ``context`` the same, ready to use, in memory only."""

    event_id: str
    decision_id: str
    keys: tuple[str, ...]
    closes: tuple[datetime, ...]
    time: datetime
    level: int | None = None  # None while held back
    replaces: str | None = None  # the released version (event id) it supersedes
    released_by: str | None = None  # the decision whose record released it
    payload: dict[str, Any] | None = None
    context: Any = field(default=None, compare=False, repr=False)
    #: How many of its levels were closed when it was last looked at.
    seen_closed: int = field(default=0, compare=False, repr=False)

    @property
    def key(self) -> str | None:
        """Its class key as released (None while held back)."""
        return None if self.level is None else self.keys[self.level]


@dataclass(frozen=True)
class Outcome:
    """What happens to one record now: released at ``level``, held back (code
    ``k_anonymity_held``) or finally not released (``k_anonymity``,
    ``superseded`` or ``retracted``)."""

    stream: StreamId
    member: Member
    level: int | None
    code: str | None = None

    @property
    def released(self) -> bool:
        return self.level is not None


@dataclass(frozen=True)
class Known:
    """A decision already taken (a record processed again): its level or code,
    and the records its arrival released."""

    level: int | None
    code: str | None
    released: tuple[Outcome, ...] = ()


#: Where a record goes: released at a level (with the held records released
#: with it, each at its level), held back (None), or withheld (WITHHOLD).
WITHHOLD = -1


class StreamState:
    """The records of one stream in its window, and the counts of its classes.

    A held record is **open** at a level while the classes of every finer level
    can still grow; it is released only at a level it is open at, so a record
    is never generalised while a finer class might still reach min_k. Level 0
    is always open."""

    def __init__(self, min_k: int, window: timedelta, grace: timedelta) -> None:
        self.min_k = min_k
        self.window = window
        self.grace = grace
        self.members: dict[str, Member] = {}  # event id -> member
        self.released: Counter[str] = Counter()  # class key -> released members
        self.held: dict[str, set[str]] = {}  # class key -> held members with that key
        self.watermark: datetime | None = None  # the newest event time seen
        self._checks: list[tuple[datetime, str]] = []  # (when a held record opens further, id)
        # (event time, id) of every member added, oldest first, so that the
        # members leaving the window are found without a scan of all of them.
        # An entry whose member has gone since is skipped when it comes up.
        self._by_time: list[tuple[datetime, str]] = []

    # ----------------------------------------------------------- bookkeeping

    def _add(self, member: Member) -> None:
        if member.event_id not in self.members:
            heapq.heappush(self._by_time, (member.time, member.event_id))
        self.members[member.event_id] = member

    def hold(self, member: Member) -> None:
        member.level = None
        self._add(member)
        for key in set(member.keys):
            self.held.setdefault(key, set()).add(member.event_id)
        closed = self.closed(member)
        member.seen_closed = closed
        if closed < len(member.keys):
            heapq.heappush(self._checks, (member.closes[closed], member.event_id))

    def _unhold(self, member: Member) -> None:
        for key in set(member.keys):
            waiting = self.held.get(key)
            if waiting is not None:
                waiting.discard(member.event_id)
                if not waiting:
                    del self.held[key]

    def release(self, member: Member, level: int) -> None:
        known = self.members.get(member.event_id)
        if known is not None and known.level is None:
            self._unhold(known)
        member.level = level
        self._add(member)
        self.released[member.keys[level]] += 1
        if member.replaces is not None:
            self.remove(member.replaces)

    def remove(self, event_id: str) -> Member | None:
        """Forget a member (released: its class shrinks; held: it stops waiting)."""
        member = self.members.pop(event_id, None)
        if member is None:
            return None
        if member.level is None:
            self._unhold(member)
        else:
            key = member.keys[member.level]
            self.released[key] -= 1
            if self.released[key] <= 0:
                del self.released[key]
        return member

    def see(self, moment: datetime) -> None:
        if self.watermark is None or moment > self.watermark:
            self.watermark = moment

    def cutoff(self) -> datetime | None:
        """Records older than this are out of the window."""
        return None if self.watermark is None else self.watermark - self.window

    def closed(self, member: Member) -> int:
        """How many of its levels, finest first, have classes that can no longer
        grow (their bucket ended more than the grace before the newest event)."""
        if self.watermark is None:
            return 0
        count = 0
        for closes in member.closes:
            if closes + self.grace > self.watermark:
                break
            count += 1
        return count

    def _open(self, member: Member) -> int:
        """The coarsest level ``member`` is open at (levels 0 to this)."""
        return min(self.closed(member), len(member.keys) - 1)

    # ----------------------------------------------------------- deciding

    def place(self, member: Member) -> tuple[int | None, list[tuple[Member, int]]]:
        """Where an arriving ``member`` goes: the level it is released at (None:
        held back; :data:`WITHHOLD`: withheld, all its classes closed short of
        min_k), and the held members released with it, each with its level."""
        earlier = self.members.get(member.replaces) if member.replaces else None
        if earlier is not None and earlier.level is not None:
            # A correction that fits the class of the version it replaces goes
            # there: the class keeps its size.
            for level, key in enumerate(member.keys):
                if key == earlier.keys[earlier.level]:
                    return level, []
        found = self._try(member, range(self._open(member) + 1))
        if found is not None:
            return found
        cutoff = self.cutoff()
        late = cutoff is not None and member.time < cutoff
        if late or self.closed(member) == len(member.keys):
            return WITHHOLD, []
        return None, []

    def _try(self, member: Member, levels: range) -> tuple[int, list[tuple[Member, int]]] | None:
        """The first of ``levels`` whose class ``member`` can be released in now:
        one that already has min_k - 1 released, or where the released, the
        held records open at it and ``member`` make min_k."""
        for level in levels:
            key = member.keys[level]
            if self.released[key] >= self.min_k - 1:
                return level, []
            together = []
            for event_id in sorted(self.held.get(key, set()) - {member.event_id}):
                other = self.members[event_id]
                other_level = other.keys.index(key)
                if other_level <= self._open(other):
                    together.append((other, other_level))
            if self.released[key] + len(together) + 1 >= self.min_k:
                return level, together
        return None

    def advance(self) -> list[tuple[Member, int, list[tuple[Member, int]]]]:
        """After the newest event time moved on: held records whose finer classes
        have now closed are tried at their newly open levels. Returns, per record
        that goes, (record, level or :data:`WITHHOLD`, held records released with
        it)."""
        out: list[tuple[Member, int, list[tuple[Member, int]]]] = []
        while self._checks and self.watermark is not None:
            when, event_id = self._checks[0]
            if when + self.grace > self.watermark:
                break
            heapq.heappop(self._checks)
            member = self.members.get(event_id)
            if member is None or member.level is not None:
                continue
            closed = self.closed(member)
            if closed <= member.seen_closed:
                continue
            # Every level it is open at, finest first: a class it was tried in
            # before may have gained records open at it since.
            member.seen_closed = closed
            found = self._try(member, range(self._open(member) + 1))
            if found is not None:
                level, together = found
                out.append((member, level, together))
                self.release(member, level)
                for other, other_level in together:
                    self.release(other, other_level)
            elif closed == len(member.keys):
                # Out of every class now: no later record may take it along.
                self.remove(member.event_id)
                out.append((member, WITHHOLD, []))
            else:
                heapq.heappush(self._checks, (member.closes[closed], member.event_id))
        return out

    def out_of_window(self) -> tuple[list[Member], list[Member]]:
        """The members now out of the window, which the caller must remove: those
        held back (to be withheld) and those released (no class they are in can
        still grow), each oldest first. Amortised O(log n) per member: each
        leaves the window once."""
        cutoff = self.cutoff()
        held: list[Member] = []
        released: list[Member] = []
        if cutoff is None:
            return held, released
        seen: set[str] = set()
        while self._by_time and self._by_time[0][0] < cutoff:
            moment, event_id = heapq.heappop(self._by_time)
            member = self.members.get(event_id)
            if member is None or member.time != moment or event_id in seen:
                continue
            seen.add(event_id)
            (held if member.level is None else released).append(member)
        return held, released


class KAnonymity:
    """The state of every stream under an agreement with ``min_k``, and its changelog.

    ``window_days`` is the trailing window of event time that classes are
    counted in. Each method that changes the state writes the change to the
    changelog before it returns, so the caller may produce what follows from it."""

    def __init__(
        self,
        changelog: Changelog | None = None,
        window_days: int = WINDOW_DAYS,
        grace: timedelta = GRACE,
    ) -> None:
        self.window = timedelta(days=window_days)
        self.grace = grace
        self.streams: dict[StreamId, StreamState] = {}
        self.changelog = changelog
        #: decision id -> what was decided, for recent decisions (:meth:`known`).
        self.decided: OrderedDict[str, Decided] = OrderedDict()
        #: decision id -> the (stream, event id) of the held records its arrival released.
        self.released_by: dict[str, list[tuple[StreamId, str]]] = {}
        if changelog is not None:
            for entry in changelog.read():
                self._replay(entry)
            changelog.compact(self._snapshot())

    def state(self, stream: StreamId, min_k: int) -> StreamState:
        found = self.streams.get(stream)
        if found is None:
            found = self.streams[stream] = StreamState(min_k, self.window, self.grace)
        found.min_k = min_k
        return found

    def held(self) -> Iterator[tuple[StreamId, Member]]:
        """Every record held back."""
        for stream, state in self.streams.items():
            for member in state.members.values():
                if member.level is None:
                    yield stream, member

    def member(self, stream: StreamId, event_id: str) -> Member | None:
        state = self.streams.get(stream)
        return None if state is None else state.members.get(event_id)

    # ----------------------------------------------------------- the calls

    def known(self, decision_id: str) -> Known | None:
        """The outcome already given to this decision, if it was given recently (a
        record processed again after a crash): its level or code, and the held
        records its arrival released (those still known)."""
        found = self.decided.get(decision_id)
        if found is None:
            return None
        released = []
        for stream, event_id in self.released_by.get(decision_id, []):
            member = self.member(stream, event_id)
            if member is not None and member.level is not None:
                released.append(Outcome(stream, member, member.level))
        return Known(found.level, found.code, tuple(released))

    def offer(self, stream: StreamId, min_k: int, member: Member) -> list[Outcome]:
        """Place a record that has just arrived. The first outcome is its own
        (released, held back, or withheld when it arrives after all its classes
        closed); then those of the held records released with it; then those of
        held records that go now because the record moved the stream's newest
        event time on (released at a coarser level, or withheld), and of a held
        earlier version it supersedes (``superseded``). Every change is in the
        changelog when this returns."""
        state = self.state(stream, min_k)
        later: list[Outcome] = []
        if member.replaces is not None:
            earlier = state.members.get(member.replaces)
            if earlier is not None and earlier.level is None:
                self._final(stream, state, earlier, SUPERSEDED, later)
                earlier = None
            if earlier is None:
                member.replaces = None
        state.see(member.time)
        for other, other_level, others in state.advance():
            if other_level == WITHHOLD:
                self._final(stream, state, other, K_ANONYMITY, later)
                continue
            self._released(stream, other, others, member.decision_id, later)
        level, together = state.place(member)
        if level is None:
            state.hold(member)
            out = [Outcome(stream, member, None, K_ANONYMITY_HELD)]
            self._write("hold", stream, member, min_k=min_k)
            self._remember(stream, member, K_ANONYMITY_HELD)
        elif level == WITHHOLD:
            out = [Outcome(stream, member, None, K_ANONYMITY)]
            self._remember(stream, member, K_ANONYMITY)
            self._write("decided", stream, member, code=K_ANONYMITY)
        else:
            member.payload = None  # released now: its own record, processed again, remakes it
            state.release(member, level)
            out = [Outcome(stream, member, level)]
            self._write("add", stream, member, min_k=min_k)
            self._remember(stream, member, None)
            for other, other_level in together:
                state.release(other, other_level)
            self._released(stream, None, together, member.decision_id, out)
        out += later
        expired, stale = state.out_of_window()
        for gone in expired:
            self._final(stream, state, gone, K_ANONYMITY, out)
        for gone in stale:
            state.remove(gone.event_id)
            self._write("forget", stream, gone)
        self._flush()
        if self.changelog is not None and self.changelog.lines > Changelog.COMPACT_LINES:
            self.changelog.compact(self._snapshot())
        return out

    def _released(
        self,
        stream: StreamId,
        first: Member | None,
        together: list[tuple[Member, int]],
        by: str,
        out: list[Outcome],
    ) -> None:
        """Record held members just released (``first``, then ``together``) because
        the record of decision ``by`` arrived; their levels are set already."""
        members = ([first] if first is not None else []) + [m for m, _ in together]
        for other in members:
            other.released_by = by
            out.append(Outcome(stream, other, other.level))
            self._write("release", stream, other)
            self._remember(stream, other, None)
        if members:
            self.released_by.setdefault(by, []).extend((stream, m.event_id) for m in members)

    def drop_held(self, event_id: str, code: str) -> list[Outcome]:
        """Its authority corrected or retracted ``event_id``: wherever it is held
        back, it is finally not released, with ``code``."""
        out: list[Outcome] = []
        for stream, state in self.streams.items():
            member = state.members.get(event_id)
            if member is not None and member.level is None:
                self._final(stream, state, member, code, out)
        self._flush()
        return out

    def drop(self, stream: StreamId, event_id: str, code: str) -> list[Outcome]:
        """A record of ``stream`` is finally not released (held back), or no longer
        counted (released), with ``code``: the policy no longer allows it."""
        out: list[Outcome] = []
        state = self.streams.get(stream)
        member = None if state is None else state.members.get(event_id)
        if state is not None and member is not None:
            if member.level is None:
                self._final(stream, state, member, code, out)
            else:
                state.remove(event_id)
                self._write("forget", stream, member)
        self._flush()
        return out

    def withdrawn(self, recipient: str, event_id: str) -> None:
        """The recipient was sent a retraction of ``event_id``: it no longer holds
        it, in any of its streams, so its class shrinks."""
        for stream, state in self.streams.items():
            if stream.recipient != recipient:
                continue
            member = state.members.get(event_id)
            if member is not None and member.level is not None:
                state.remove(event_id)
                self._write("forget", stream, member)
        self._flush()

    # ----------------------------------------------------------- internals

    def _final(
        self, stream: StreamId, state: StreamState, member: Member, code: str, out: list[Outcome]
    ) -> None:
        state.remove(member.event_id)
        out.append(Outcome(stream, member, None, code))
        self._remember(stream, member, code)
        self._write("final", stream, member, code=code)

    def _remember(self, stream: StreamId, member: Member, code: str | None) -> None:
        """Keep what was decided for ``member`` (for :meth:`known`)."""
        now = time.time()
        self.decided[member.decision_id] = Decided(stream, member.event_id, member.level, code, now)
        self.decided.move_to_end(member.decision_id)
        self._evict(now - REMEMBER_SECONDS)

    def _evict(self, before: float) -> None:
        """Forget decisions taken before ``before``, and the payloads of records
        released then (only needed to produce them again)."""
        while self.decided:
            decision_id, oldest = next(iter(self.decided.items()))
            if oldest.at >= before:
                return
            del self.decided[decision_id]
            self.released_by.pop(decision_id, None)
            member = self.member(oldest.stream, oldest.event_id)
            if member is not None and member.level is not None:
                member.payload = member.context = None

    def _write(
        self,
        op: str,
        stream: StreamId,
        member: Member,
        *,
        min_k: int | None = None,
        code: str | None = None,
    ) -> None:
        if self.changelog is None:
            return
        entry: dict[str, Any] = {"op": op, "stream": stream.to_json(), "event": member.event_id}
        if op in ("add", "hold"):
            entry.update(_member_json(member), min_k=min_k)
        elif op == "release":
            entry.update(level=member.level, by=member.released_by, payload=member.payload)
        elif op == "final":
            entry["code"] = code
        elif op == "decided":
            entry.update(decision=member.decision_id, level=None, code=code)
        self.changelog.append({**entry, "at": time.time()})

    def _flush(self) -> None:
        if self.changelog is not None:
            self.changelog.flush()

    # ----------------------------------------------------------- the changelog

    def _replay(self, entry: dict[str, Any]) -> None:
        """Apply one changelog entry, exactly as it happened (nothing is decided)."""
        op = str(entry["op"])
        stream = StreamId.from_json(entry["stream"])
        at = float(entry.get("at", 0.0))
        if op == "decided":
            self.decided[str(entry["decision"])] = Decided(
                stream, str(entry["event"]), entry.get("level"), entry.get("code"), at
            )
            return
        if op in ("add", "hold"):
            state = self.state(stream, int(entry["min_k"]))
            member = _member_from_json(entry)
            state.see(member.time)
            if op == "hold":
                state.hold(member)
                code: str | None = K_ANONYMITY_HELD
            else:
                state.release(member, int(entry["level"]))
                code = None
                if member.released_by is not None:
                    self.released_by.setdefault(member.released_by, []).append(
                        (stream, member.event_id)
                    )
            self.decided[member.decision_id] = Decided(
                stream, member.event_id, member.level, code, at
            )
            return
        found = self.streams.get(stream)
        known = None if found is None else found.members.get(str(entry["event"]))
        if found is None or known is None:
            return
        self._replay_change(found, stream, known, entry, at)

    def _replay_change(
        self,
        state: StreamState,
        stream: StreamId,
        member: Member,
        entry: dict[str, Any],
        at: float,
    ) -> None:
        op = entry["op"]
        if op == "release":
            member.released_by = str(entry["by"])
            member.payload = entry.get("payload") or member.payload
            state.release(member, int(entry["level"]))
            self.released_by.setdefault(member.released_by, []).append((stream, member.event_id))
            self.decided[member.decision_id] = Decided(
                stream, member.event_id, member.level, None, at
            )
        elif op == "final":
            state.remove(member.event_id)
            self.decided[member.decision_id] = Decided(
                stream, member.event_id, None, str(entry["code"]), at
            )
        elif op == "forget":
            state.remove(member.event_id)

    def _snapshot(self) -> list[dict[str, Any]]:
        """The changelog's entries for the state as it is: every member, held or
        released, and the decisions still remembered for records no longer kept
        (so a record processed again after a crash still gets its outcome)."""
        latest = max((d.at for d in self.decided.values()), default=0.0)
        self._evict(latest - REMEMBER_SECONDS)
        entries: list[dict[str, Any]] = []
        live: set[str] = set()
        for stream, state in self.streams.items():
            for member in state.members.values():
                live.add(member.decision_id)
                found = self.decided.get(member.decision_id)
                entries.append(
                    {
                        "op": "hold" if member.level is None else "add",
                        "stream": stream.to_json(),
                        "event": member.event_id,
                        **_member_json(member),
                        "min_k": state.min_k,
                        "at": found.at if found is not None else 0.0,
                    }
                )
        for decision_id, found in self.decided.items():
            if decision_id not in live:
                entries.append(
                    {
                        "op": "decided",
                        "stream": found.stream.to_json(),
                        "event": found.event_id,
                        "decision": decision_id,
                        "level": found.level,
                        "code": found.code,
                        "at": found.at,
                    }
                )
        return entries


@dataclass(frozen=True)
class Decided:
    """A decision taken: the record, its level or code, and when (``time.time()``)."""

    stream: StreamId
    event_id: str
    level: int | None
    code: str | None
    at: float


def _member_json(member: Member) -> dict[str, Any]:
    return {
        "decision": member.decision_id,
        "keys": list(member.keys),
        "closes": [iso(moment) for moment in member.closes],
        "time": iso(member.time),
        "level": member.level,
        "replaces": member.replaces,
        "released_by": member.released_by,
        "payload": member.payload,
    }


def _member_from_json(entry: dict[str, Any]) -> Member:
    return Member(
        event_id=str(entry["event"]),
        decision_id=str(entry["decision"]),
        keys=tuple(str(key) for key in entry["keys"]),
        closes=tuple(parse_time(str(moment)) for moment in entry["closes"]),
        time=parse_time(str(entry["time"])),
        replaces=entry.get("replaces"),
        released_by=entry.get("released_by"),
        payload=entry.get("payload"),
    )


class Changelog:
    """The k-anonymity state's changes, one JSON object per line, appended as they
    happen (``<enforcer state>/k-anonymity.jsonl``, 0600).

    Lines are flushed to the operating system after each event, before the
    messages that follow from them are produced, so a killed enforcer loses no
    change it acted on; a machine that loses power may lose the last ones
    (the file is not fsynced per event), and those records are then decided
    again. A line cut short by a crash is skipped. At start the file is
    rewritten from the state it describes (:meth:`compact`), and again whenever
    it has grown to :data:`COMPACT_LINES` lines."""

    COMPACT_LINES = 1_000_000

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: list[str] = []
        self.lines = 0
        self._fd: int | None = None  # open for appending between compactions

    def read(self) -> Iterator[dict[str, Any]]:
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    entry = json.loads(line)
                except ValueError:
                    log.warning("%s:%d: skipped a line cut short", self.path, number)
                    continue
                if isinstance(entry, dict) and "op" in entry and "stream" in entry:
                    yield entry

    def compact(self, entries: list[dict[str, Any]]) -> None:
        """Replace the file with ``entries`` (atomically)."""
        self._pending.clear()
        self._close_file()
        private_dir(self.path.parent)
        text = "".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in entries)
        write_private(self.path, text)
        self.lines = len(entries)

    def append(self, entry: dict[str, Any]) -> None:
        """Add an entry; it is written at the next :meth:`flush`."""
        self._pending.append(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
        self.lines += 1

    def flush(self) -> None:
        """Write the entries added since the last flush to the operating system
        (unbuffered writes to a descriptor kept open until the next compaction)."""
        if not self._pending:
            return
        if self._fd is None:
            private_dir(self.path.parent)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        view = memoryview("".join(self._pending).encode("utf-8"))
        while view:
            view = view[os.write(self._fd, view) :]
        self._pending.clear()

    def close(self) -> None:
        """Write what is pending, and close the file."""
        self.flush()
        self._close_file()

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
