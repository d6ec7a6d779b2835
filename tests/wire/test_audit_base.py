"""The audit base: what every decision on one raw event shares, checked once,
and the records made from it. A record made from a base must be exactly the
record :class:`AuditRecord` makes, and refused exactly when it refuses, so
checking the shared part once never lets through what the contract refuses."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.records import audit_record
from tests.wire.contract_strategies import LARGE_REPR, SLOW, audit_values
from wire import audit
from wire.audit import (
    BASE_KEYS,
    DECISION_KEYS,
    KEYS,
    OWN_KEYS,
    VERDICT_KEYS,
    AuditBase,
    AuditRecord,
    AuditRecordError,
)
from wire.canonical import uuid5, uuid_text

pytestmark = LARGE_REPR


def made_from_a_base(values: dict[str, Any]) -> AuditRecord:
    base = AuditBase.of(**{key: values[key] for key in BASE_KEYS})
    return base.record(**{key: values[key] for key in DECISION_KEYS})


def outcome(make: Any, values: dict[str, Any]) -> AuditRecord | str:
    try:
        record: AuditRecord = make(values)
    except AuditRecordError as exc:
        return exc.code
    except (TypeError, AttributeError) as exc:  # a Python value of the wrong type
        return type(exc).__name__
    return record


def test_the_base_and_the_decision_keys_are_every_key_once() -> None:
    assert sorted((*BASE_KEYS, *DECISION_KEYS)) == sorted(KEYS)
    assert not set(BASE_KEYS) & set(DECISION_KEYS)


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(audit_values(sequenced=False))
def test_a_record_from_a_base_is_the_record_the_constructor_makes(
    values: dict[str, Any],
) -> None:
    """Accepted by both or refused by both; accepted, the same record and bytes."""
    theirs = outcome(lambda v: AuditRecord(**v), values)
    ours = outcome(made_from_a_base, values)
    if isinstance(theirs, str) or isinstance(ours, str):
        assert isinstance(theirs, str) and isinstance(ours, str), (theirs, ours)
        return
    assert ours == theirs
    assert ours.to_bytes() == theirs.to_bytes()
    assert AuditRecord.from_bytes(ours.to_bytes()) == theirs


ODD_VALUES = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.sampled_from(["allow", "deny", "INCIDENT", "Incident", "RETRACTION", "wmp", "-"]),
    st.integers(min_value=-3, max_value=2**64),
    st.booleans(),
    st.lists(st.text(max_size=70), max_size=3),
    st.just(()),
)


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW)
@given(audit_values(sequenced=False), st.sampled_from(KEYS), ODD_VALUES)
def test_a_record_with_one_odd_value_is_refused_by_both_or_neither(
    values: dict[str, Any], key: str, value: Any
) -> None:
    values = {**values, key: value}
    theirs = outcome(lambda v: AuditRecord(**v), values)
    ours = outcome(made_from_a_base, values)
    if isinstance(theirs, str) or isinstance(ours, str):
        assert isinstance(theirs, str) and isinstance(ours, str), (theirs, ours)
    else:
        assert ours.to_bytes() == theirs.to_bytes()


def test_the_verdict_and_own_keys_are_the_decision_keys_once() -> None:
    assert sorted((*VERDICT_KEYS, *OWN_KEYS)) == sorted(DECISION_KEYS)
    assert not set(VERDICT_KEYS) & set(OWN_KEYS)


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW)
@given(audit_values(sequenced=False), st.sampled_from(DECISION_KEYS), ODD_VALUES)
def test_once_a_verdict_was_checked_a_record_with_one_odd_value_is_still_refused_by_both(
    values: dict[str, Any], key: str, value: Any
) -> None:
    """The base remembers a verdict it has checked and then checks only the
    decision's own values: a record made after a good one with the same verdict
    is accepted or refused exactly as the constructor does."""
    outcome(made_from_a_base, values)  # the verdict checked (if it is good)
    again = {**values, key: value}
    theirs = outcome(lambda v: AuditRecord(**v), again)
    ours = outcome(made_from_a_base, again)
    if isinstance(theirs, str) or isinstance(ours, str):
        assert isinstance(theirs, str) and isinstance(ours, str), (theirs, ours)
    else:
        assert ours == theirs
        assert ours.to_bytes() == theirs.to_bytes()


def test_a_remembered_verdict_takes_a_second_record_through_the_short_path() -> None:
    record = audit_record(1)
    values = record.to_dict()
    base = AuditBase.of(**{key: values[key] for key in BASE_KEYS})
    own = {key: getattr(record, key) for key in DECISION_KEYS}
    audit._VERDICTS.clear()
    assert base.record(**own) == record
    assert len(audit._VERDICTS) == 1
    other = base.record(**{**own, "decision_id": str(uuid.uuid4())})
    assert len(audit._VERDICTS) == 1
    assert (
        other.to_bytes()
        == AuditRecord(
            **{
                **values,
                "decision_id": other.decision_id,
                "reasons": record.reasons,
                "fields_released": record.fields_released,
                "shared_ids": record.shared_ids,
            }
        ).to_bytes()
    )
    with pytest.raises(AuditRecordError) as caught:
        base.record(**{**own, "decision_id": "E3E70682-C209-4CAC-629F-6FBED82C07CD"})
    assert caught.value.field == "decision_id"
    with pytest.raises(AuditRecordError) as caught:
        base.record(**{**own, "payload_sha256": "ab" * 31 + '"}'})
    assert caught.value.field == "payload_sha256"


def test_the_remembered_verdicts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "_MAX_VERDICTS", 3)
    record = audit_record(0)
    values = record.to_dict()
    base = AuditBase.of(**{key: values[key] for key in BASE_KEYS})
    own = {key: getattr(record, key) for key in DECISION_KEYS}
    audit._VERDICTS.clear()
    for n in range(10):
        base.record(**{**own, "purpose": f"purpose {n}"})
        assert len(audit._VERDICTS) <= 3


def test_a_bad_shared_value_is_refused_when_the_base_is_made() -> None:
    values = audit_record(1).to_dict()
    base = {key: values[key] for key in BASE_KEYS}
    for key, bad in (
        ("source_topic", "not a topic"),
        ("source_offset", -1),
        ("decided_at", "yesterday"),
        ("raw_sha256", "00"),
        ("record_type", "Referral"),  # does not go with INCIDENT
    ):
        with pytest.raises(AuditRecordError) as caught:
            AuditBase.of(**{**base, key: bad})
        assert caught.value.field == key
    with pytest.raises(AuditRecordError, match="missing"):
        AuditBase.of(**{k: v for k, v in base.items() if k != "event_id"})
    with pytest.raises(AuditRecordError, match="not a field"):
        AuditBase.of(**base, decision="allow")  # a decision's key is not shared


def test_a_record_checks_the_decisions_own_values_and_keys() -> None:
    values = audit_record(1).to_dict()
    base = AuditBase.of(**{key: values[key] for key in BASE_KEYS})
    own = {key: getattr(audit_record(1), key) for key in DECISION_KEYS}
    assert base.record(**own) == audit_record(1)
    with pytest.raises(AuditRecordError) as caught:
        base.record(**{**own, "shared_topic": "no spaces allowed"})
    assert caught.value.field == "shared_topic"
    with pytest.raises(AuditRecordError, match="allow decision has no reasons"):
        base.record(**{**own, "reasons": audit_record(0).reasons})
    with pytest.raises(AuditRecordError, match="not a field"):
        base.record(**own, source_offset=3)  # a shared key: only the base sets it
    with pytest.raises(AuditRecordError, match="missing"):
        base.record(**{k: v for k, v in own.items() if k != "decision_id"})


def test_a_replaced_base_is_checked_again() -> None:
    values = audit_record(1).to_dict()
    base = AuditBase.of(**{key: values[key] for key in BASE_KEYS})
    assert base.replace(source_offset=9).record(
        **{key: getattr(audit_record(1), key) for key in DECISION_KEYS}
    ) == replace(audit_record(1), source_offset=9)
    with pytest.raises(AuditRecordError) as caught:
        base.replace(event_type="RETRACTION")  # record_type is still Incident's
    assert caught.value.field == "record_type"


# ------------------------------------------------------------ name-based ids


@settings(max_examples=200)
@given(st.uuids(), st.text())
def test_uuid5_is_the_standard_librarys(namespace: uuid.UUID, name: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            uuid5(namespace, name)
        return
    assert uuid5(namespace, name) == str(uuid.uuid5(namespace, name))


@settings(max_examples=200)
@given(st.binary(min_size=16, max_size=64), st.sampled_from([5, 8]))
def test_uuid_text_sets_the_version_and_the_variant(digest: bytes, version: int) -> None:
    text = uuid_text(digest, version)
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == version and parsed.variant == uuid.RFC_4122
    # Every other bit is the digest's.
    mask = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
    assert parsed.int & mask == int.from_bytes(digest[:16], "big") & mask
