"""``hub.enforcer.linkage.LinkageCheck``: which envelopes it refuses, and how it
follows the registered file (fail closed, re-read at most once a second)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.enforcer.linkage import (
    FOREIGN_LINKAGE_KEY,
    MISSING_LINKAGE_FINGERPRINT,
    UNREGISTERED_LINKAGE_KEY,
    LinkageCheck,
)
from hub.linkage import LinkageRegistry, LinkageRegistryError
from wire.linkage import fingerprint

ONE = fingerprint(b"\x01" * 32)
TWO = fingerprint(b"\x02" * 32)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def envelope(version: str | None, given: str | None) -> dict[str, Any]:
    return {"pseudonym_key_version": version, "linkage_key_fingerprint": given}


def registered(path: Path, **versions: str) -> None:
    registry = LinkageRegistry()
    for version, value in versions.items():
        registry = registry.register(version.replace("_", "-"), value, "2026-11-01T00:00:00Z")
    registry.save(path)


def code(check: LinkageCheck, version: str | None, given: str | None) -> str | None:
    reason = check.problem(envelope(version, given))
    return reason.code if reason is not None else None


def test_each_case_has_its_code(tmp_path: Path) -> None:
    path = tmp_path / "linkage.yaml"
    registered(path, local_1=ONE)
    check = LinkageCheck(path)
    assert code(check, "local-1", ONE) is None
    assert code(check, None, None) is None  # no pseudonyms, nothing to check
    assert code(check, "local-1", None) == MISSING_LINKAGE_FINGERPRINT
    assert code(check, "local-2", ONE) == UNREGISTERED_LINKAGE_KEY
    assert code(check, "local-1", TWO) == FOREIGN_LINKAGE_KEY
    reason = check.problem(envelope("local-1", TWO))
    assert reason is not None and ONE in reason.message and TWO in reason.message
    reason = check.problem(envelope("local-2", ONE))
    assert reason is not None
    assert f"svdhub linkage register --version local-2 {ONE}" in reason.message


def test_with_no_file_every_event_with_pseudonyms_is_refused(tmp_path: Path) -> None:
    check = LinkageCheck(tmp_path / "linkage.yaml")
    assert code(check, "local-1", ONE) == UNREGISTERED_LINKAGE_KEY
    assert code(check, None, None) is None


def test_a_malformed_file_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "linkage.yaml"
    path.write_text("versions: {local-1: {fingerprint: nope}}\n", encoding="utf-8")
    with pytest.raises(LinkageRegistryError, match=r"linkage\.yaml: versions\.local-1"):
        LinkageCheck(path)


def test_a_new_registration_is_picked_up_within_a_second(tmp_path: Path) -> None:
    path = tmp_path / "linkage.yaml"
    clock = Clock()
    check = LinkageCheck(path, clock=clock)
    assert code(check, "local-1", ONE) == UNREGISTERED_LINKAGE_KEY
    registered(path, local_1=ONE)
    clock.now += 0.5  # not looked at yet
    assert code(check, "local-1", ONE) == UNREGISTERED_LINKAGE_KEY
    clock.now += 0.6
    assert code(check, "local-1", ONE) is None


def test_the_file_is_looked_at_no_more_than_once_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "linkage.yaml"
    registered(path, local_1=ONE)
    clock = Clock()
    check = LinkageCheck(path, clock=clock)
    looks: list[Path] = []
    real_stat = Path.stat

    def counting_stat(self: Path, **kwargs: Any) -> Any:
        if self == path:
            looks.append(self)
        return real_stat(self, **kwargs)

    monkeypatch.setattr(Path, "stat", counting_stat)
    for _ in range(1000):
        assert code(check, "local-1", ONE) is None
    assert looks == []
    clock.now += 1.0
    for _ in range(1000):
        assert code(check, "local-1", ONE) is None
    assert len(looks) == 1


def test_a_file_turned_malformed_keeps_what_was_registered(tmp_path: Path) -> None:
    path = tmp_path / "linkage.yaml"
    registered(path, local_1=ONE)
    clock = Clock()
    check = LinkageCheck(path, clock=clock)
    path.write_text("versions: [broken\n", encoding="utf-8")
    clock.now += 2
    assert code(check, "local-1", ONE) is None
    assert code(check, "local-1", TWO) == FOREIGN_LINKAGE_KEY
    registered(path, local_1=ONE, local_2=TWO)  # mended: read again
    clock.now += 2
    assert code(check, "local-2", TWO) is None
