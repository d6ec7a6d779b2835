"""Class counting, holding back and withholding (hub.enforcer.kanonymity), as pure
logic: what every released record's class holds, whatever the order records
come in; the changelog across a restart; the same outcome for a record
processed again. No services."""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.enforcer.app import StateInUse, lock_state
from hub.enforcer.kanonymity import (
    RETRACTED,
    SUPERSEDED,
    Changelog,
    KAnonymity,
    Member,
    Outcome,
    StreamId,
)
from hub.risk.classes import K_ANONYMITY, K_ANONYMITY_HELD

STREAM = StreamId("csp-birmingham", "wmp-csps", "Incident", "terms")
START = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
MIN_K = 5


@dataclass(frozen=True)
class Toy:
    """A record with a toy nested hierarchy: (area, hour) -> (area, day) ->
    (region, day) -> (region, week); area n is in region n // 4."""

    n: int
    area: int
    hour: int  # hours since START
    sensitive: bool = False  # released no finer than the area's day (a coarser floor)

    @property
    def time(self) -> datetime:
        return START + timedelta(hours=self.hour, minutes=10)

    def member(self) -> Member:
        day, week, region = self.hour // 24, self.hour // (24 * 7), self.area // 4
        keys: tuple[str, ...] = (
            f"a{self.area}h{self.hour}",
            f"a{self.area}d{day}",
            f"r{region}d{day}",
            f"r{region}w{week}",
        )
        closes: tuple[datetime, ...] = (
            START + timedelta(hours=self.hour + 1),
            START + timedelta(days=day + 1),
            START + timedelta(days=day + 1),
            START + timedelta(days=7 * (week + 1)),
        )
        if self.sensitive:
            keys, closes = keys[1:], closes[1:]
        return Member(f"e{self.n}", f"d{self.n}", keys, closes, self.time)


def state(path: Path | None = None, window_days: int = 28) -> KAnonymity:
    return KAnonymity(
        Changelog(path) if path is not None else None, window_days, timedelta(hours=0)
    )


def released_keys(outcomes: list[Outcome]) -> dict[str, str]:
    """event id -> the class key it was released with."""
    return {o.member.event_id: o.member.keys[o.level] for o in outcomes if o.level is not None}


def test_a_class_goes_out_together_once_it_has_min_k() -> None:
    k = state()
    records = [Toy(n, area=1, hour=3) for n in range(MIN_K)]
    outcomes = [k.offer(STREAM, MIN_K, r.member()) for r in records]
    for first in outcomes[:-1]:
        assert [(o.level, o.code) for o in first] == [(None, K_ANONYMITY_HELD)]
    last = outcomes[-1]
    assert [o.level for o in last] == [0] * MIN_K
    assert {o.member.event_id for o in last} == {f"e{n}" for n in range(MIN_K)}
    assert {o.member.released_by for o in last[1:]} == {"d4"}
    # The class has min_k now: the next record of it goes out at once, alone.
    assert [
        (o.member.event_id, o.level) for o in k.offer(STREAM, MIN_K, Toy(9, 1, 3).member())
    ] == [("e9", 0)]


def test_a_record_waits_for_its_finer_class_to_close_before_it_is_generalised() -> None:
    k = state()
    # Five records in five areas of one region, one hour each: no area-hour class
    # reaches five, but the region-day class does, once the days close.
    for n in range(MIN_K):
        assert k.offer(STREAM, MIN_K, Toy(n, area=n % 4, hour=2 + n).member())[0].code == (
            K_ANONYMITY_HELD
        )
    # Later on the same day: nothing closed at the day level yet.
    outcomes = k.offer(STREAM, MIN_K, Toy(10, area=9, hour=20).member())
    assert all(o.code == K_ANONYMITY_HELD for o in outcomes)
    # The next day: the first day closes; records 0-3 (areas 0-3, region 0) and
    # record 4 (area 0) make five in region 0's day.
    outcomes = k.offer(STREAM, MIN_K, Toy(11, area=9, hour=30).member())
    assert outcomes[0].code == K_ANONYMITY_HELD  # the record that arrived
    out = released_keys(outcomes)
    assert set(out) == {f"e{n}" for n in range(MIN_K)}
    assert set(out.values()) == {"r0d0"}
    assert {o.member.released_by for o in outcomes if o.released} == {"d11"}


def test_a_record_that_can_never_reach_min_k_is_withheld() -> None:
    k = state()
    lone = Toy(0, area=2, hour=1)
    assert k.offer(STREAM, MIN_K, lone.member())[0].code == K_ANONYMITY_HELD
    # A fortnight later every level of its class has closed, short of min_k.
    outcomes = k.offer(STREAM, MIN_K, Toy(1, area=7, hour=14 * 24).member())
    assert [(o.member.event_id, o.code) for o in outcomes] == [
        ("e1", K_ANONYMITY_HELD),
        ("e0", K_ANONYMITY),
    ]
    # A record arriving after all its classes closed is withheld at once.
    late = k.offer(STREAM, MIN_K, Toy(2, area=2, hour=2).member())
    assert [(o.member.event_id, o.code) for o in late] == [("e2", K_ANONYMITY)]


def test_a_record_tried_at_its_coarsest_level_before_is_tried_again_at_the_last() -> None:
    k = state()
    first = Toy(0, area=0, hour=1)
    k.offer(STREAM, MIN_K, first.member())
    # Day 2: its day has closed; tried as far as its week, it is alone there.
    k.offer(STREAM, MIN_K, Toy(90, area=9, hour=48).member())
    # Four on the Sunday of that week, in another area of the same region.
    for n in range(1, 5):
        k.offer(STREAM, MIN_K, Toy(n, area=1, hour=150 + n).member())
    k.offer(STREAM, MIN_K, Toy(91, area=9, hour=160).member())
    # The week closes: all five are tried in it together (the first of them has
    # tried it before, alone), and go out; none is withheld as well.
    outcomes = k.offer(STREAM, MIN_K, Toy(92, area=9, hour=170).member())
    released = released_keys(outcomes)
    assert {f"e{n}" for n in range(5)} <= set(released)
    assert {released[f"e{n}"] for n in range(5)} == {"r0w0"}
    assert not [o for o in outcomes if o.member.event_id in released and o.code == K_ANONYMITY]


def test_the_window_withholds_what_still_waits() -> None:
    k = state(window_days=1)
    k.offer(STREAM, MIN_K, Toy(0, area=2, hour=1).member())
    outcomes = k.offer(STREAM, MIN_K, Toy(1, area=2, hour=30).member())
    assert ("e0", K_ANONYMITY) in [(o.member.event_id, o.code) for o in outcomes]


def test_a_late_record_joins_a_class_that_already_has_min_k() -> None:
    k = state()
    for n in range(MIN_K):
        k.offer(STREAM, MIN_K, Toy(n, area=1, hour=3).member())
    k.offer(STREAM, MIN_K, Toy(10, area=5, hour=24 * 20).member())  # much later
    late = k.offer(STREAM, MIN_K, Toy(11, area=1, hour=3).member())
    assert [(o.member.event_id, o.level) for o in late] == [("e11", 0)]


def test_corrections_and_retractions() -> None:
    k = state()
    for n in range(MIN_K):
        k.offer(STREAM, MIN_K, Toy(n, area=1, hour=3).member())
    # A correction that still fits the class of the version it replaces goes there.
    correction = Toy(20, area=1, hour=3).member()
    correction.replaces = "e0"
    assert [(o.member.event_id, o.level) for o in k.offer(STREAM, MIN_K, correction)] == [
        ("e20", 0)
    ]
    assert k.streams[STREAM].released["a1h3"] == MIN_K  # e0 out, e20 in
    # A held record corrected before its release is superseded; retracted, retracted.
    k.offer(STREAM, MIN_K, Toy(30, area=3, hour=5).member())
    k.offer(STREAM, MIN_K, Toy(31, area=3, hour=5).member())
    later = Toy(32, area=3, hour=5).member()
    later.replaces = "e30"
    outcomes = k.offer(STREAM, MIN_K, later)
    assert ("e30", SUPERSEDED) in [(o.member.event_id, o.code) for o in outcomes]
    assert [(o.member.event_id, o.code) for o in k.drop_held("e31", RETRACTED)] == [
        ("e31", RETRACTED)
    ]
    # A retraction sent to the recipient shrinks the class it counted in.
    k.withdrawn("csp-birmingham", "e1")
    assert k.streams[STREAM].released["a1h3"] == MIN_K - 1


def test_every_released_class_has_min_k_whatever_the_order() -> None:
    """The property the report checks: after any arrival order, every record
    released is in a class (its released key) of at least min_k released
    records; and every record has exactly one outcome that stands."""
    rng = random.Random(7)  # noqa: S311 - a reproducible order, not a secret
    toys = [
        Toy(n, rng.randrange(12), rng.randrange(24 * 10), sensitive=rng.random() < 0.3)
        for n in range(600)
    ]
    for seed in range(8):
        order = sorted(toys, key=lambda t: (t.hour + rng.uniform(-30, 6), t.n))
        if seed % 2:
            random.Random(seed).shuffle(order)  # noqa: S311 - as above
        k = state()
        final: dict[str, str] = {}  # event id -> released key, or the code it ended with
        for toy in order:
            for outcome in k.offer(STREAM, MIN_K, toy.member()):
                event = outcome.member.event_id
                if outcome.level is not None:
                    assert event not in final or final[event] == K_ANONYMITY_HELD
                    final[event] = outcome.member.keys[outcome.level]
                elif outcome.code == K_ANONYMITY_HELD:
                    assert event not in final
                    final[event] = K_ANONYMITY_HELD
                else:
                    assert final.get(event, K_ANONYMITY_HELD) == K_ANONYMITY_HELD
                    final[event] = str(outcome.code)
        assert len(final) == len(toys)
        classes = Counter(v for v in final.values() if v not in (K_ANONYMITY_HELD, K_ANONYMITY))
        assert classes, "nothing was released"
        assert min(classes.values()) >= MIN_K, seed
        state_counts = k.streams[STREAM].released
        assert all(
            state_counts[key] == count for key, count in classes.items() if key in state_counts
        )


def test_the_changelog_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "k.jsonl"
    first = state(path)
    for n in range(MIN_K - 1):
        first.offer(STREAM, MIN_K, Toy(n, area=1, hour=3).member())
    for n in range(10, 10 + MIN_K):
        first.offer(STREAM, MIN_K, Toy(n, area=2, hour=3).member())
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"op": "hold", "cut sh')  # a line a crash cut short
    assert first.changelog is not None
    first.changelog.close()

    second = state(path)
    held = {m.event_id for _, m in second.held()}
    assert held == {f"e{n}" for n in range(MIN_K - 1)}
    assert second.streams[STREAM].released == Counter({"a2h3": MIN_K})
    # A record processed again gets the outcome it had.
    known = second.known("d14")
    assert known is not None and known.level == 0
    assert {o.member.event_id for o in known.released} == {f"e{n}" for n in range(10, 14)}
    held_known = second.known("d0")
    assert held_known is not None and held_known.code == K_ANONYMITY_HELD
    # And the held ones go out when their class fills, after the restart.
    out = second.offer(STREAM, MIN_K, Toy(4, area=1, hour=3).member())
    assert sorted(released_keys(out)) == [f"e{n}" for n in range(MIN_K)]
    assert second.changelog is not None
    second.changelog.close()
    third = state(path)
    assert third.streams[STREAM].released == Counter({"a2h3": MIN_K, "a1h3": MIN_K})
    assert not list(third.held())


@pytest.mark.parametrize("min_k", [2, 3, 10])
def test_min_k_is_the_agreements(min_k: int) -> None:
    k = state()
    outcomes = [k.offer(STREAM, min_k, Toy(n, area=1, hour=3).member()) for n in range(min_k)]
    assert all(o[0].code == K_ANONYMITY_HELD for o in outcomes[:-1])
    assert len(released_keys(outcomes[-1])) == min_k


def test_records_out_of_the_window_are_withheld_or_forgotten_and_stay_so(tmp_path: Path) -> None:
    """Held records leaving the window are withheld, oldest first; released
    ones are forgotten (their classes shrink), in the changelog too."""
    path = tmp_path / "k.jsonl"
    k = state(path, window_days=2)
    for n in range(MIN_K):
        k.offer(STREAM, MIN_K, Toy(n, area=1, hour=3).member())  # released together
    k.offer(STREAM, MIN_K, Toy(20, area=3, hour=5).member())  # held
    k.offer(STREAM, MIN_K, Toy(21, area=3, hour=4).member())  # held, older
    assert k.streams[STREAM].released == Counter({"a1h3": MIN_K})
    # A record three days on moves the window past all of them.
    out = k.offer(STREAM, MIN_K, Toy(30, area=6, hour=24 * 3 + 6).member())
    withheld = [o.member.event_id for o in out if o.code == K_ANONYMITY]
    assert withheld == ["e21", "e20"]
    live = k.streams[STREAM]
    assert live.released == Counter()
    assert set(live.members) == {"e30"}
    # The same again after a restart, and nothing leaves the window twice.
    assert k.changelog is not None
    k.changelog.close()
    again = state(path, window_days=2)
    assert set(again.streams[STREAM].members) == {"e30"}
    later = again.offer(STREAM, MIN_K, Toy(31, area=6, hour=24 * 3 + 7).member())
    assert [o.member.event_id for o in later] == ["e31"]


def test_one_process_at_a_time_holds_an_enforcers_state(tmp_path: Path) -> None:
    """Two enforcer processes on one state folder would write one k-anonymity
    changelog; the second is refused, and the folder is free once the first ends."""
    folder = tmp_path / "enforcer" / "svdhub-enforcer"
    held = lock_state(folder)
    with pytest.raises(StateInUse, match="--state-dir"):
        lock_state(folder)
    assert folder.stat().st_mode & 0o777 == 0o700
    os.close(held)  # as when the process ends
    os.close(lock_state(folder))
